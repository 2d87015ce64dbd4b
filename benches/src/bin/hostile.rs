//! Figures for RELIABILITY.md items 1 and 3, measured with a peak-tracking global allocator:
//! `cargo run --release -p erpc-benches --bin hostile`.
//!
//! 1. A header declaring a 4 GiB body, then nothing: how much the decoder allocates.
//! 3. gzip, zlib and zstd bombs inflating to 64 MiB against the default 4 MiB limit: peak heap
//!    and CPU time spent refusing each.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use bytes::BytesMut;
use erpc::codec::compression::{self, CompressionId};
use erpc::protocol::{Frame, FrameDecoder, Header, Kind, Limits};

struct Peak;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grow(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

/// Reset the peak to the current live size and return that baseline.
fn baseline() -> isize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// Figures for RELIABILITY.md items 1 and 3: the decoder's allocation for a 4 GiB
/// declaration, and the peak heap and CPU time refusing gzip, zlib and zstd bombs.
#[derive(Debug, clap::Parser)]
#[command(name = "hostile")]
struct Cli {}

fn main() {
    <Cli as clap::Parser>::parse();
    // 1: a 4 GiB declaration.
    let mut wire = BytesMut::with_capacity(64);
    Header {
        body_len: u32::MAX,
        ..Frame::new(Kind::REQUEST, 1).header
    }
    .encode(&mut wire);
    let base = baseline();
    let mut decoder = FrameDecoder::new(Limits::default());
    let verdict = decoder.decode(&mut wire);
    let growth = PEAK.load(Ordering::Relaxed) - base;
    println!(
        "4 GiB declared body: {} after {growth} bytes of heap growth",
        match verdict {
            Err(e) => format!("refused ({e})"),
            Ok(other) => format!("NOT refused: {other:?}"),
        }
    );

    // 3: bombs.
    let limit = Limits::default().max_decompressed;
    let zeros = vec![0u8; 64 << 20];
    for id in [
        CompressionId::GZIP,
        CompressionId::ZLIB,
        CompressionId::ZSTD,
    ] {
        let bomb = compression::compress(id, &zeros).expect("compress");
        let base = baseline();
        let started = Instant::now();
        let verdict = compression::decompress(id, &bomb, limit);
        let cpu = started.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - base;
        println!(
            "{id} bomb of {} bytes (inflates to 64 MiB), limit {} MiB: {} in {:.1} ms, peak heap {:.2} MiB",
            bomb.len(),
            limit >> 20,
            match verdict {
                Err(e) => format!("refused ({e})"),
                Ok(body) => format!("NOT refused: {} bytes", body.len()),
            },
            cpu.as_secs_f64() * 1000.0,
            peak as f64 / (1 << 20) as f64
        );
    }
}
