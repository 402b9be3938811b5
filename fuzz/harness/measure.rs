//! A counting global allocator for the bound tests (`crates/*/tests/hostile_bounds.rs`): the peak of bytes held
//! during one call, measured honestly (every allocation of the process passes through it), and the call's time.
//! Tests of one binary take [`LOCK`] so that no other test allocates during a measurement.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Serialises measurements within one test binary.
pub static LOCK: Mutex<()> = Mutex::new(());

/// The system allocator, counting bytes held and their peak.
pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::SeqCst)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::SeqCst);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
            }
        }
        p
    }
}

/// Runs `f`; returns its result, its wall time and the peak bytes allocated above what was held when it started.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Duration, usize) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let t = Instant::now();
    let r = f();
    let dt = t.elapsed();
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    (r, dt, peak)
}
