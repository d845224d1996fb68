//! Request counters in the Prometheus text format, served on their own
//! listener so they can never be exposed on the public address by mistake.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS_MS: [f64; 8] = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0];

static BY_CLASS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
static LATENCY: [AtomicU64; 9] = [const { AtomicU64::new(0) }; 9];
static LATENCY_SUM_US: AtomicU64 = AtomicU64::new(0);

pub fn record_request(status: u16, latency_ms: f64) {
    let class = ((status / 100) as usize).clamp(1, 5) - 1;
    BY_CLASS[class].fetch_add(1, Ordering::Relaxed);
    let bucket = BUCKETS_MS
        .iter()
        .position(|b| latency_ms <= *b)
        .unwrap_or(BUCKETS_MS.len());
    LATENCY[bucket].fetch_add(1, Ordering::Relaxed);
    LATENCY_SUM_US.fetch_add((latency_ms * 1000.0) as u64, Ordering::Relaxed);
}

/// The current counters as Prometheus text.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str("# HELP hs_http_requests_total HTTP requests by status class.\n");
    out.push_str("# TYPE hs_http_requests_total counter\n");
    for (i, counter) in BY_CLASS.iter().enumerate() {
        let _ = writeln!(
            out,
            "hs_http_requests_total{{class=\"{}xx\"}} {}",
            i + 1,
            counter.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP hs_http_request_duration_seconds Request latency.\n");
    out.push_str("# TYPE hs_http_request_duration_seconds histogram\n");
    let mut cumulative = 0;
    for (i, bound) in BUCKETS_MS.iter().enumerate() {
        cumulative += LATENCY[i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "hs_http_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}",
            bound / 1000.0
        );
    }
    cumulative += LATENCY[BUCKETS_MS.len()].load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "hs_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(
        out,
        "hs_http_request_duration_seconds_sum {}",
        LATENCY_SUM_US.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(out, "hs_http_request_duration_seconds_count {cumulative}");
    out
}
