//! The global allocator: mimalloc, with a byte count kept per thread so `used_memory` is the
//! true number of bytes the process has allocated, at the cost of one uncontended atomic add
//! per allocation.
//!
//! Each thread adds to its own cache-line-padded slot (threads beyond the slot count share
//! slots, which stays correct, only slower). A block freed by another thread than the one that
//! allocated it makes one slot go down and another up: only the sum means anything.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};

use mimalloc::MiMalloc;

const SLOTS: usize = 64;

#[repr(align(64))]
struct Slot(AtomicI64);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: Slot = Slot(AtomicI64::new(0));
static COUNTS: [Slot; SLOTS] = [ZERO; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: using it never allocates.
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn slot() -> &'static AtomicI64 {
    let idx = MY_SLOT
        .try_with(|s| {
            let v = s.get();
            if v != usize::MAX {
                return v;
            }
            let v = NEXT_SLOT.fetch_add(1, Relaxed) % SLOTS;
            s.set(v);
            v
        })
        .unwrap_or(0);
    &COUNTS[idx].0
}

pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to mimalloc; the counting has no effect on memory.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = MiMalloc.alloc(layout);
        if !p.is_null() {
            slot().fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        MiMalloc.dealloc(ptr, layout);
        slot().fetch_sub(layout.size() as i64, Relaxed);
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = MiMalloc.alloc_zeroed(layout);
        if !p.is_null() {
            slot().fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = MiMalloc.realloc(ptr, layout, new_size);
        if !p.is_null() {
            slot().fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        }
        p
    }
}

/// Bytes currently allocated by the whole process through the global allocator.
pub fn used_memory() -> u64 {
    COUNTS.iter().map(|s| s.0.load(Relaxed)).sum::<i64>().max(0) as u64
}

/// Resident set size from /proc/self/statm, in bytes.
pub fn rss_bytes() -> u64 {
    let page = 4096u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map(|p| p * page)
        .unwrap_or(0)
}

/// Total memory of the machine, from /proc/meminfo.
pub fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok())))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
