//! The service's idea of "now".
//!
//! Everything that depends on time (session timeouts, lockouts, rate
//! limits, "today" in a patient's time zone) reads this clock, so tests can
//! move it instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock plus an offset that only tests change.
#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    fn system_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        Self::system_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward (or back, with a negative value).
    pub fn advance(&self, seconds: i64) {
        self.offset_ms.fetch_add(seconds * 1000, Ordering::Relaxed);
    }

    /// Sets the clock so that `now()` reads `unix_seconds`.
    pub fn set(&self, unix_seconds: i64) {
        let offset = unix_seconds * 1000 - Self::system_ms();
        self.offset_ms.store(offset, Ordering::Relaxed);
    }
}
