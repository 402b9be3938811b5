//! Failed authentication attempts per client address: after `limit` failures within a window, the address gets
//! `429 Too Many Requests` (with `Retry-After`) until the window ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses kept before windows that have ended are swept out.
const SWEEP_AT: usize = 10_000;

/// Counts failed attempts per address in fixed windows.
#[derive(Debug)]
pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// At most `limit` failures per `window` for each address.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` while `ip` has used up its failures in the current window.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (start, n) = seen.get(&ip)?;
        let left = self.window.checked_sub(start.elapsed())?;
        (*n >= self.limit).then(|| left.as_secs().max(1))
    }

    /// Records one failure of `ip`.
    pub fn fail(&self, ip: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SWEEP_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| start.elapsed() < window);
        }
        let e = seen.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= self.window {
            *e = (Instant::now(), 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let l = FailureLimiter::new(2, Duration::from_millis(200));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        l.fail(a);
        assert!(l.blocked(a).is_none());
        l.fail(a);
        assert_eq!(l.blocked(a), Some(1));
        assert!(l.blocked(b).is_none());
        std::thread::sleep(Duration::from_millis(250));
        assert!(l.blocked(a).is_none());
    }
}
