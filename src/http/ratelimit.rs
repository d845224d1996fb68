//! Fixed-window rate limits kept in memory.
//!
//! TODO: limits live in each process, so with several app servers behind
//! one PostgreSQL a client gets the limit once per server; moving the
//! counters to the database (or a shared cache) would make them global.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Clock;
use crate::config::Limit;

#[derive(Debug, Clone, Copy)]
struct Window {
    started_ms: i64,
    count: u32,
}

/// Counters per (bucket, key), e.g. ("login-ip", "203.0.113.7").
pub struct RateLimiter {
    clock: Clock,
    windows: Mutex<HashMap<(&'static str, String), Window>>,
}

/// Beyond this many keys, expired windows are swept on the next check so
/// the map cannot grow without bound under a flood of distinct keys.
const SWEEP_AT: usize = 50_000;

impl RateLimiter {
    pub fn new(clock: Clock) -> RateLimiter {
        RateLimiter {
            clock,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request for `key` in `bucket`. `Err(seconds)` says the
    /// limit is reached and when the window reopens.
    pub fn check(&self, bucket: &'static str, key: &str, limit: Limit) -> Result<(), u64> {
        let now = self.clock.now_ms();
        let window_ms = limit.window.as_millis() as i64;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| now - w.started_ms < 24 * 3600 * 1000);
        }
        let entry = windows.entry((bucket, key.to_owned())).or_insert(Window {
            started_ms: now,
            count: 0,
        });
        if now - entry.started_ms >= window_ms || now < entry.started_ms {
            *entry = Window {
                started_ms: now,
                count: 0,
            };
        }
        if entry.count >= limit.max {
            let remaining_ms = entry.started_ms + window_ms - now;
            return Err(((remaining_ms + 999) / 1000).max(1) as u64);
        }
        entry.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_refuses_past_max_and_reopens() {
        let clock = Clock::default();
        let limiter = RateLimiter::new(clock.clone());
        let limit = Limit::per_minute(2);
        assert!(limiter.check("t", "a", limit).is_ok());
        assert!(limiter.check("t", "a", limit).is_ok());
        let retry = limiter.check("t", "a", limit).unwrap_err();
        assert!((59..=60).contains(&retry));
        assert!(
            limiter.check("t", "b", limit).is_ok(),
            "other keys are separate"
        );
        clock.advance(60);
        assert!(limiter.check("t", "a", limit).is_ok());
    }
}
