//! A counting global allocator: the bytes live on the heap now, their peak, and the number
//! of allocations made (a reallocation counts as one). It replaces
//! the allocator of the binary that includes it, so it is not a module of `support`: only the
//! test binaries that measure the heap include it (`#[path = "support/heap.rs"] mod heap;`).

// Each including binary uses some of these functions.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated and not yet freed, in the whole process.
pub fn live() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Start a new peak from now; returns the bytes live now (the baseline to subtract).
pub fn reset_peak() -> usize {
    let now = live();
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// The most bytes live at once since the last [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Allocations made so far in the whole process (a reallocation counts as one: the default
/// `realloc` allocates anew).
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}
