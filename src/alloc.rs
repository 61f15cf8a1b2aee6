//! The global allocator: mimalloc, with a byte count kept per thread so `used_memory` is the
//! true number of bytes the process has allocated, at the cost of one uncontended atomic add
//! per allocation.
//!
//! Each thread adds to its own cache-line-padded slot (threads beyond the slot count share
//! slots, which stays correct, only slower). A block freed by another thread than the one that
//! allocated it makes one slot go down and another up: only the sum means anything.
//!
//! Also here: what mimalloc itself reports (committed memory, its statistics text), the peak of
//! `used_memory` (sampled by every shard's cron, as Redis's serverCron does), and MEMORY PURGE.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};

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

// mimalloc's own reporting API. libmimalloc-sys always compiles these into the library it links;
// its Rust declarations sit behind a feature this crate does not enable, so the three used here
// are declared directly (signatures from mimalloc.h).
extern "C" {
    fn mi_process_info(
        elapsed_msecs: *mut usize,
        user_msecs: *mut usize,
        system_msecs: *mut usize,
        current_rss: *mut usize,
        peak_rss: *mut usize,
        current_commit: *mut usize,
        peak_commit: *mut usize,
        page_faults: *mut usize,
    );
    fn mi_stats_print_out(out: Option<unsafe extern "C" fn(msg: *const std::ffi::c_char, arg: *mut std::ffi::c_void)>, arg: *mut std::ffi::c_void);
    fn mi_collect(force: bool);
}

/// Bytes mimalloc holds committed from the OS for its heaps: the allocator's "active" and
/// "resident" memory (mimalloc decommits what it purges, so committed is what it keeps
/// resident). The rest of the RSS is the program, stacks, and memory mapped outside mimalloc.
pub fn allocator_committed() -> u64 {
    let mut commit = 0usize;
    // SAFETY: mi_process_info accepts null for every figure not wanted.
    unsafe {
        let null = std::ptr::null_mut();
        mi_process_info(null, null, null, null, null, &mut commit, null, null);
    }
    commit as u64
}

/// mimalloc's statistics text (MEMORY MALLOC-STATS).
pub fn allocator_stats_text() -> String {
    unsafe extern "C" fn collect(msg: *const std::ffi::c_char, arg: *mut std::ffi::c_void) {
        // SAFETY (the caller's): `arg` is the String passed below, alive for the whole call;
        // mimalloc passes NUL-terminated text.
        let out = &mut *(arg as *mut String);
        out.push_str(&std::ffi::CStr::from_ptr(msg).to_string_lossy());
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call.
    unsafe { mi_stats_print_out(Some(collect), (&mut out as *mut String).cast()) };
    out
}

static PEAK: AtomicU64 = AtomicU64::new(0);
static PURGE_GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static PURGED_GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// The highest `used_memory` seen so far (INFO used_memory_peak), updated with the current one.
pub fn peak_memory() -> u64 {
    let used = used_memory();
    PEAK.fetch_max(used, Relaxed).max(used)
}

/// MEMORY PURGE: returns this thread's free pages to the OS now, and asks every shard thread to
/// do the same on its next cron run (mimalloc's heaps are per thread; each collects its own).
pub fn purge() {
    PURGE_GENERATION.fetch_add(1, Relaxed);
    collect_here();
}

fn collect_here() {
    PURGED_GENERATION.with(|g| g.set(PURGE_GENERATION.load(Relaxed)));
    // SAFETY: mi_collect has no preconditions.
    unsafe { mi_collect(true) };
}

/// The allocator's share of a shard's cron: sample the peak, and purge if MEMORY PURGE asked.
pub fn cron() {
    peak_memory();
    if PURGED_GENERATION.with(|g| g.get()) != PURGE_GENERATION.load(Relaxed) {
        collect_here();
    }
}
