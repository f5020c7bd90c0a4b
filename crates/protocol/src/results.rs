//! The result-file contract shared with the Python tools (DESIGN.md §3).
//!
//! `scale` writes these files and `analyze` reads them (ours and the Python tools' alike), so the
//! key and column order lives here once. Extra fields may follow, never precede, these.

/// Keys of one `raw.jsonl` line, in order.
pub const RAW_KEYS: [&str; 17] = [
    "request_id",
    "mode",
    "timestamp",
    "wait_requested",
    "batch_size",
    "hardware",
    "connect_latency",
    "reset_latency",
    "step_latency",
    "total_latency",
    "waited_seconds",
    "pid",
    "session_hash",
    "host_url",
    "success",
    "error_type",
    "error_message",
];

/// Columns of `summary.csv`, in order.
pub const SUMMARY_COLUMNS: [&str; 33] = [
    "mode",
    "url",
    "num_requests",
    "batch_size",
    "wait_seconds",
    "repetition",
    "timestamp",
    "hardware",
    "successful",
    "failed",
    "error_rate",
    "total_wall_time",
    "connect_p50",
    "connect_p95",
    "connect_p99",
    "reset_p50",
    "reset_p95",
    "reset_p99",
    "step_p50",
    "step_p95",
    "step_p99",
    "total_min",
    "total_max",
    "total_avg",
    "total_p50",
    "total_p90",
    "total_p95",
    "total_p99",
    "requests_per_second",
    "effective_concurrency",
    "unique_pids",
    "unique_sessions",
    "unique_hosts",
];

/// Percentile by linear interpolation between closest ranks, as numpy's default
/// (`numpy.percentile(values, p)`) and so the Python tools compute it. `sorted` must be sorted
/// ascending; `p` in 0..=100. Returns 0.0 for no values, as the reference does.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 95.0) - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
