//! A counting global allocator for the bound tests (`crates/*/tests/hostile_bounds.rs`): the peak of bytes held
//! during one call, measured honestly (every allocation of the process passes through it), and the call's time.
//! Tests of one binary take [`LOCK`] so that no other test allocates during a measurement; [`refused`] is the
//! check they share: a hostile input is refused, naming its file, within [`MAX_TIME`] and [`MAX_BYTES`].

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::{Debug, Display};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The time a parser may take to refuse a hostile input (issue #18).
pub const MAX_TIME: Duration = Duration::from_millis(100);
/// The peak of bytes a parser may allocate while refusing a hostile input (issue #18).
pub const MAX_BYTES: usize = 50 << 20;

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

/// Runs `parse` on the path `dir/name` (the caller's parser reads its input from memory; the path only names it)
/// under [`measure`], holding [`LOCK`], and checks that it is refused with a message naming the path and containing
/// every `expect`, within [`MAX_TIME`] and [`MAX_BYTES`]. Returns the message.
pub fn refused<T: Debug, E: Display>(
    dir: &str,
    name: &str,
    expect: &[&str],
    parse: impl FnOnce(&Path) -> Result<T, E>,
) -> String {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = Path::new(dir).join(name);
    let (r, dt, peak) = measure(|| parse(&path));
    let msg = r.expect_err("must be refused").to_string();
    eprintln!("{name}: {dt:?}, peak {peak} bytes: {msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    for e in expect {
        assert!(msg.contains(e), "{msg}");
    }
    assert!(dt < MAX_TIME, "{name}: {dt:?}");
    assert!(peak < MAX_BYTES, "{name}: {peak} bytes");
    msg
}
