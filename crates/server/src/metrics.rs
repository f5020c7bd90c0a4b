//! Prometheus counters of one worker, rendered by `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the step-duration histogram buckets.
pub const STEP_BUCKETS: [f64; 16] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    pub sessions_opened: AtomicU64,
    pub sessions_closed: AtomicU64,
    pub capacity_rejections: AtomicU64,
    pub ws_messages: AtomicU64,
    pub ws_errors: AtomicU64,
    pub http_requests: AtomicU64,
    pub steps_ws: AtomicU64,
    pub steps_http: AtomicU64,
    /// Handlers that panicked (answered with an internal error instead of a dropped connection).
    pub internal_errors: AtomicU64,
    /// WebSocket sessions closed because their writes made no progress for the idle timeout.
    pub write_timeouts: AtomicU64,
    /// `accept` failures for lack of file descriptors (EMFILE / ENFILE).
    pub accept_fd_exhausted: AtomicU64,
    /// Other `accept` failures (e.g. ENOMEM, ENOBUFS).
    pub accept_errors: AtomicU64,
    buckets: [AtomicU64; STEP_BUCKETS.len()],
    step_count: AtomicU64,
    step_sum_us: AtomicU64,
}

impl Metrics {
    pub fn observe_step(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = STEP_BUCKETS.iter().position(|&b| s <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.step_count.fetch_add(1, Relaxed);
        self.step_sum_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    /// The Prometheus text exposition, every sample labelled with this worker's `pid`.
    pub fn render(&self, pid: u32, active: usize, max: usize) -> String {
        let mut o = String::with_capacity(4096);
        let l = format!("pid=\"{pid}\"");
        let mut counter = |name: &str, help: &str, kind: &str, v: String| {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{l}}} {v}"
            );
        };
        counter(
            "openenv_active_sessions",
            "WebSocket sessions holding an environment now.",
            "gauge",
            active.to_string(),
        );
        counter(
            "openenv_max_sessions",
            "MAX_CONCURRENT_ENVS of this worker (0 = unlimited).",
            "gauge",
            max.to_string(),
        );
        counter(
            "openenv_sessions_opened_total",
            "WebSocket sessions that got an environment.",
            "counter",
            self.sessions_opened.load(Relaxed).to_string(),
        );
        counter(
            "openenv_sessions_closed_total",
            "WebSocket sessions that ended (any reason).",
            "counter",
            self.sessions_closed.load(Relaxed).to_string(),
        );
        counter(
            "openenv_capacity_rejections_total",
            "WebSocket sessions refused with CAPACITY_REACHED.",
            "counter",
            self.capacity_rejections.load(Relaxed).to_string(),
        );
        counter(
            "openenv_ws_messages_total",
            "WebSocket text messages received.",
            "counter",
            self.ws_messages.load(Relaxed).to_string(),
        );
        counter(
            "openenv_ws_errors_total",
            "WebSocket error messages sent.",
            "counter",
            self.ws_errors.load(Relaxed).to_string(),
        );
        counter(
            "openenv_http_requests_total",
            "HTTP requests answered (excluding WebSocket upgrades on the fast path).",
            "counter",
            self.http_requests.load(Relaxed).to_string(),
        );
        counter(
            "openenv_internal_errors_total",
            "Requests whose handler panicked (answered with HTTP 500 / EXECUTION_ERROR + close 1011).",
            "counter",
            self.internal_errors.load(Relaxed).to_string(),
        );
        counter(
            "openenv_write_timeouts_total",
            "WebSocket sessions closed because the client read nothing for IDLE_TIMEOUT.",
            "counter",
            self.write_timeouts.load(Relaxed).to_string(),
        );
        counter(
            "openenv_accept_fd_exhausted_total",
            "Connections the kernel could not hand over: out of file descriptors (EMFILE/ENFILE).",
            "counter",
            self.accept_fd_exhausted.load(Relaxed).to_string(),
        );
        counter(
            "openenv_accept_errors_total",
            "Other failed accepts (out of memory or buffers).",
            "counter",
            self.accept_errors.load(Relaxed).to_string(),
        );
        let (deaths, restarts) = crate::process::worker_deaths();
        counter(
            "openenv_worker_deaths_total",
            "Worker processes that exited unexpectedly (counted by the first worker, which supervises the others).",
            "counter",
            deaths.to_string(),
        );
        counter(
            "openenv_worker_restarts_total",
            "Worker processes started to replace one that died.",
            "counter",
            restarts.to_string(),
        );
        let _ = writeln!(
            o,
            "# HELP openenv_steps_total Steps completed.\n# TYPE openenv_steps_total counter\n\
             openenv_steps_total{{{l},transport=\"ws\"}} {}\nopenenv_steps_total{{{l},transport=\"http\"}} {}",
            self.steps_ws.load(Relaxed),
            self.steps_http.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP openenv_step_duration_seconds Time from a step request to its reply being handed to the socket.\n\
             # TYPE openenv_step_duration_seconds histogram"
        );
        let mut cum = 0;
        for (i, b) in STEP_BUCKETS.iter().enumerate() {
            cum += self.buckets[i].load(Relaxed);
            let _ = writeln!(
                o,
                "openenv_step_duration_seconds_bucket{{{l},le=\"{b}\"}} {cum}"
            );
        }
        let count = self.step_count.load(Relaxed);
        let _ = writeln!(
            o,
            "openenv_step_duration_seconds_bucket{{{l},le=\"+Inf\"}} {count}\n\
             openenv_step_duration_seconds_sum{{{l}}} {}\n\
             openenv_step_duration_seconds_count{{{l}}} {count}",
            self.step_sum_us.load(Relaxed) as f64 / 1e6
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_step(Duration::from_millis(3));
        m.observe_step(Duration::from_millis(700));
        m.observe_step(Duration::from_secs(1000));
        let text = m.render(42, 1, 2);
        assert!(text.contains("openenv_step_duration_seconds_bucket{pid=\"42\",le=\"0.005\"} 1"));
        assert!(text.contains("openenv_step_duration_seconds_bucket{pid=\"42\",le=\"1\"} 2"));
        assert!(text.contains("openenv_step_duration_seconds_bucket{pid=\"42\",le=\"+Inf\"} 3"));
        assert!(text.contains("openenv_step_duration_seconds_count{pid=\"42\"} 3"));
        assert!(text.contains("openenv_active_sessions{pid=\"42\"} 1"));
    }
}
