//! A pure per-key rate limiter for log storms: at most `burst` events per
//! key in a fixed window; the rest are counted and reported once the window
//! has ended. Time is passed in, so tests need no clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Keys tracked at once; beyond this, new keys pass unlimited until old
/// windows expire (a bounded map matters more than a perfect limit).
pub const MAX_KEYS: usize = 4096;

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write it.
    Allow,
    /// Write it, after a line saying the key's previous window suppressed
    /// this many events.
    AllowAfterSuppressed(u64),
    /// Drop it (counted).
    Suppress,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    passed: u32,
    suppressed: u64,
}

/// Per-key fixed-window limiter.
#[derive(Debug)]
pub struct RateLimiter<K> {
    burst: u32,
    window: Duration,
    windows: HashMap<K, Window>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// At most `burst` (at least 1) events per key in each `window`.
    pub fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst: burst.max(1),
            window,
            windows: HashMap::new(),
        }
    }

    /// Decides on one event of `key` at `now`. The first event of a key opens
    /// its window; an event after the window ended opens a new one and
    /// carries the old window's suppressed count.
    pub fn allow(&mut self, key: K, now: Instant) -> Decision {
        let window = self.window;
        let burst = self.burst;
        if let Some(open) = self.windows.get_mut(&key) {
            if now.saturating_duration_since(open.start) < window {
                if open.passed < burst {
                    open.passed += 1;
                    return Decision::Allow;
                }
                open.suppressed = open.suppressed.saturating_add(1);
                return Decision::Suppress;
            }
            let suppressed = open.suppressed;
            *open = Window {
                start: now,
                passed: 1,
                suppressed: 0,
            };
            return if suppressed > 0 {
                Decision::AllowAfterSuppressed(suppressed)
            } else {
                Decision::Allow
            };
        }
        if self.windows.len() < MAX_KEYS {
            let fresh = Window {
                start: now,
                passed: 1,
                suppressed: 0,
            };
            self.windows.insert(key, fresh);
        }
        Decision::Allow
    }

    /// Forgets every window that has ended by `now` and returns the keys
    /// whose window suppressed something, with the count: the caller reports
    /// them even if the key never logs again.
    pub fn expire(&mut self, now: Instant) -> Vec<(K, u64)> {
        let window = self.window;
        let mut ended = Vec::new();
        self.windows.retain(|key, open| {
            if now.saturating_duration_since(open.start) < window {
                return true;
            }
            if open.suppressed > 0 {
                ended.push((key.clone(), open.suppressed));
            }
            false
        });
        ended
    }

    /// Keys currently tracked.
    pub fn tracked(&self) -> usize {
        self.windows.len()
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        self.window
    }
}
