//! The cost oracle every fuzz target shares (issue 21: "work bounded by the bytes
//! received"). A counting global allocator adds up every byte the Rust side allocates
//! while one input runs, and the thread's CPU time is read around it; an input whose
//! cost passes `base + per_byte × len` is a finding, reported as a panic (libFuzzer
//! saves it as a crash). SQLite allocates through libc, not this allocator: its share
//! is seen only as CPU time.
//!
//! The count is per thread, like the CPU time. A process-wide cache that grows once
//! is charged to the input that makes it grow, and that input costs little when run
//! alone: `wire_decode` twice charged an input with 1.84 MB that way (the verifying
//! key cache's table growing past 3,584 keys; `identity::verifying_key` now holds
//! 1,024, whose one growth is 0.46 MB, inside every target's fixed part).
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

pub struct Counting;

thread_local! {
    // Const-initialised and without a destructor: usable inside the allocator.
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

fn count(n: usize) {
    let _ = ALLOCATED.try_with(|a| a.set(a.get() + n as u64));
}

fn allocated() -> u64 {
    ALLOCATED.try_with(Cell::get).unwrap_or(0)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A growing buffer costs what it grows by (a doubling vector: ≤ 2× its final size).
        count(new_size.saturating_sub(layout.size()));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What one input may cost: a fixed part (opening a store, the first page of SQLite)
/// and a part per byte of input.
pub struct Bound {
    pub alloc_base: u64,
    pub alloc_per_byte: u64,
    pub cpu_base: Duration,
    pub cpu_per_byte: Duration,
}

/// Runs `f` on `data` and panics when it cost more than `b` allows.
pub fn within<R>(b: &Bound, data: &[u8], f: impl FnOnce() -> R) -> R {
    let a0 = allocated();
    let t0 = thread_cpu();
    let r = f();
    let alloc = allocated() - a0;
    let cpu = thread_cpu() - t0;
    let n = data.len() as u64;
    let alloc_bound = b.alloc_base + b.alloc_per_byte * n;
    let cpu_bound = b.cpu_base + b.cpu_per_byte * n as u32;
    if std::env::var_os("CONGLANG_FUZZ_COST").is_some() {
        eprintln!("cost: {n} B in, {alloc} B allocated, {cpu:?} CPU");
    }
    assert!(
        alloc <= alloc_bound,
        "cost oracle: {n} bytes of input allocated {alloc} bytes (bound {alloc_bound})"
    );
    assert!(
        cpu <= cpu_bound,
        "cost oracle: {n} bytes of input took {cpu:?} of CPU (bound {cpu_bound:?})"
    );
    r
}
