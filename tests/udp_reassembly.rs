//! RELIABILITY.md row 13: a UDP server reassembles nothing — a datagram carries exactly one
//! whole frame or is refused (PROTOCOL.md §12) — so fragments of a frame, gapped or out of
//! order, are refused on arrival (or dropped with the session the first refusal ended) and
//! none is kept waiting for the rest. The heap is
//! measured by a counting allocator, so this test has a binary of its own.

#[path = "support/heap.rs"]
mod heap;
mod support;

use std::time::Duration;

use bytes::BytesMut;
use erpc::protocol::Kind;
use erpc::{Code, CodecId, ServerConfig};
use support::udp::*;
use support::*;

/// Frames sent in fragments, and the bytes of each (a JSON string body).
const FRAMES: u64 = 100;
const FRAME_BODY: usize = 30_000;
/// The fragment size: a typical path MTU's worth.
const FRAGMENT: usize = 1_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gapped_and_reordered_fragments_are_refused_and_hold_no_memory() {
    let server = start("udp", ServerConfig::default()).await;
    let s = raw_socket(&server.addr).await;
    let cookie = cookie(&s).await;
    let whole = |id: u64| request(id, "len", CodecId::JSON, b"\"abc\"");
    // Warm up: a whole call, and one refused fragment (the error path's first allocations).
    s.send(&datagram(&cookie, &whole(1))).await.unwrap();
    let answer = reply_frame(&s).await.expect("an answer");
    assert_eq!((answer.header.request_id, answer.header.status), (1, 0));
    let mut body = b"\"".to_vec();
    body.resize(FRAME_BODY - 1, b'x');
    body.push(b'"');
    let mut wire = BytesMut::new();
    request(2, "len", CodecId::JSON, &body)
        .encode(&mut wire)
        .unwrap();
    let fragment = |part: &[u8]| {
        let mut d = vec![CLIENT_FRAME];
        d.extend_from_slice(&cookie);
        d.extend_from_slice(part);
        d
    };
    s.send(&fragment(&wire[..FRAGMENT])).await.unwrap();
    reply_frame(&s)
        .await
        .expect("an ERROR for the warm-up fragment");

    let baseline = heap::reset_peak();
    let (mut sent, mut refused, mut bytes) = (0u64, 0u64, 0usize);
    for id in 10..10 + FRAMES {
        let mut wire = BytesMut::new();
        request(id, "len", CodecId::JSON, &body)
            .encode(&mut wire)
            .unwrap();
        let parts: Vec<&[u8]> = wire.chunks(FRAGMENT).collect();
        // Last fragment first, one in the middle never sent: out of order and gapped.
        let gap = parts.len() / 2;
        let burst: Vec<Vec<u8>> = (0..parts.len())
            .rev()
            .filter(|&i| i != gap)
            .map(|i| fragment(parts[i]))
            .collect();
        for d in &burst {
            s.send(d).await.unwrap();
            bytes += d.len();
        }
        sent += burst.len() as u64;
    }
    // The first refused fragment ends the peer's session with an ERROR (the server's read
    // fails, as on a stream transport); later fragments are refused by the sessions after it,
    // or dropped with the session they were queued for. None is answered as a call.
    while let Some(reply) = reply_within(&s, Duration::from_millis(500)).await {
        assert_eq!(reply.header.kind, Kind::ERROR, "{reply:?}");
        assert_eq!(reply.header.status, Code::InvalidArgument as u8);
        refused += 1;
    }
    assert!(refused >= 1, "no fragment was refused");
    let held = heap::live().saturating_sub(baseline);
    let peak = heap::peak() - baseline;
    println!(
        "{FRAMES} frames of {FRAME_BODY} B in {FRAGMENT} B fragments, last first, one missing \
         each: {sent} fragments ({:.1} MiB) sent, {refused} ERRORs back, 0 answered as calls; \
         heap held after them {held} B, peak growth while they arrived {:.1} KiB",
        bytes as f64 / (1 << 20) as f64,
        peak as f64 / 1024.0,
    );
    // Were any fragments kept for reassembly, the heap would hold megabytes here (2.8 MiB
    // were sent). The bounds leave room for the runtime's own growth.
    assert!(held < 256 << 10, "{held} bytes held after the fragments");
    assert!(peak < 1 << 20, "peak heap growth {peak} bytes");
    // And the address is still served.
    s.send(&datagram(&cookie, &whole(500))).await.unwrap();
    let answer = reply_frame(&s).await.expect("an answer");
    assert_eq!((answer.header.request_id, answer.header.status), (500, 0));
    server.handle.shutdown().await;
}

/// The next frame from the server within `wait` (PINGs skipped), or None.
async fn reply_within(s: &tokio::net::UdpSocket, wait: Duration) -> Option<erpc::protocol::Frame> {
    tokio::time::timeout(wait, reply_frame(s))
        .await
        .ok()
        .flatten()
}
