//! How the load generator itself fares during a share: CPU time (total and busiest second),
//! peak memory and event-loop lag, so a saturated client is not blamed on the server.

use crate::record::SessionRecord;
use crate::summary::LoadgenStats;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How one process did during its share (what a worker's `done` line carries).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    pub max_lag: f64,
    pub wall: f64,
    /// See [`crate::observe::Counters::close_timeouts`] (absent from an older worker: 0).
    #[serde(default)]
    pub close_timeouts: usize,
    /// CPU seconds per second of the event loop in its busiest second (see [`BusiestWindow`]);
    /// absent from an older worker: 0 (then cpu / wall is used).
    #[serde(default)]
    pub busiest_cpu_fraction: f64,
}

/// Measures the current process from [`Meter::start`] to [`Meter::finish`]. Start it inside the
/// runtime that runs the sessions: its lag probe is a task there.
pub(crate) struct Meter {
    cpu0: Duration,
    wall0: Instant,
    clock: EventLoopClock,
    max_lag_us: Arc<AtomicU64>,
    busiest: Arc<Mutex<BusiestWindow>>,
    probe: tokio::task::JoinHandle<()>,
}

impl Meter {
    pub fn start() -> Meter {
        let cpu0 = openenv_sys::cpu_time();
        openenv_sys::reset_peak_rss();
        let wall0 = Instant::now();
        let clock = EventLoopClock::new(wall0);
        let max_lag_us = Arc::new(AtomicU64::new(0));
        let busiest = Arc::new(Mutex::new(BusiestWindow::new(Duration::from_secs(1))));
        clock.sample_into(&busiest);
        let probe = tokio::spawn(probe(clock, max_lag_us.clone(), busiest.clone()));
        Meter {
            cpu0,
            wall0,
            clock,
            max_lag_us,
            busiest,
            probe,
        }
    }

    pub fn finish(self, close_timeouts: usize) -> ProcessStats {
        self.probe.abort();
        self.clock.sample_into(&self.busiest);
        let busiest_cpu_fraction = self.busiest.lock().expect("not poisoned").busiest();
        ProcessStats {
            cpu_seconds: (openenv_sys::cpu_time() - self.cpu0).as_secs_f64(),
            peak_rss_bytes: openenv_sys::peak_rss_bytes(),
            max_lag: self.max_lag_us.load(Ordering::Relaxed) as f64 / 1e6,
            wall: self.wall0.elapsed().as_secs_f64(),
            close_timeouts,
            busiest_cpu_fraction,
        }
    }
}

/// Event-loop lag: how late a 10 ms timer fires (a busy load generator delays its own
/// sessions, and that delay would be blamed on the server). Every ~100 ms it also samples the
/// event loop's CPU time for the busiest second.
async fn probe(
    clock: EventLoopClock,
    max_lag_us: Arc<AtomicU64>,
    busiest: Arc<Mutex<BusiestWindow>>,
) {
    let period = Duration::from_millis(10);
    let mut next = tokio::time::Instant::now() + period;
    let mut sampled = Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let late = tokio::time::Instant::now().saturating_duration_since(next);
        max_lag_us.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
        if sampled.elapsed() >= Duration::from_millis(100) {
            sampled = Instant::now();
            clock.sample_into(&busiest);
        }
        next = tokio::time::Instant::now() + period;
    }
}

/// (seconds since `since`, CPU seconds of the event loop since creation). On a current-thread
/// runtime (ours, and each worker's) every task runs on this thread, so its CPU time is the
/// load generator's alone, even when `experiment` runs the server in another thread of the same
/// process; on a multi-thread runtime, the whole process's.
#[derive(Debug, Clone, Copy)]
struct EventLoopClock {
    since: Instant,
    thread_only: bool,
    cpu0: Duration,
}

impl EventLoopClock {
    fn new(since: Instant) -> EventLoopClock {
        let thread_only = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        let mut c = EventLoopClock {
            since,
            thread_only,
            cpu0: Duration::ZERO,
        };
        c.cpu0 = c.cpu();
        c
    }

    fn cpu(&self) -> Duration {
        if self.thread_only {
            openenv_sys::thread_cpu_time()
        } else {
            openenv_sys::cpu_time()
        }
    }

    fn sample_into(&self, w: &Mutex<BusiestWindow>) {
        let t = self.since.elapsed().as_secs_f64();
        let cpu = self.cpu().saturating_sub(self.cpu0).as_secs_f64();
        w.lock().expect("not poisoned").push(t, cpu);
    }
}

/// The cell's load-generator columns from every process's stats and the merged records.
pub(crate) fn combine(stats: &[ProcessStats], records: &[SessionRecord]) -> LoadgenStats {
    LoadgenStats {
        processes: stats.len(),
        cpu_seconds: stats.iter().map(|s| s.cpu_seconds).sum(),
        peak_rss_bytes: stats.iter().map(|s| s.peak_rss_bytes).sum(),
        max_lag: stats.iter().map(|s| s.max_lag).fold(0.0, f64::max),
        busiest_cpu_fraction: stats
            .iter()
            .map(|s| match s.busiest_cpu_fraction {
                f if f > 0.0 => f,
                // An older worker without the busiest-second sample: its cell average.
                _ if s.wall > 0.0 => s.cpu_seconds / s.wall,
                _ => 0.0,
            })
            .fold(0.0, f64::max),
        launch_spread: records.iter().map(|r| r.start_delay).fold(0.0, f64::max),
        close_timeouts: stats.iter().map(|s| s.close_timeouts).sum(),
    }
}

/// CPU time over the busiest window of at least `window` seconds, from samples of cumulative
/// CPU time: for each sample, the span back to the latest earlier sample at least `window`
/// before it. A cell-wide average hides a saturated launch second behind idle waits.
#[derive(Debug, Clone)]
pub struct BusiestWindow {
    window: f64,
    /// (seconds, cumulative CPU seconds); the front is the newest sample still `window` behind.
    samples: std::collections::VecDeque<(f64, f64)>,
    first: Option<(f64, f64)>,
    best: Option<f64>,
}

impl BusiestWindow {
    pub fn new(window: Duration) -> BusiestWindow {
        BusiestWindow {
            window: window.as_secs_f64(),
            samples: std::collections::VecDeque::new(),
            first: None,
            best: None,
        }
    }

    /// A sample at `t` seconds with `cpu` cumulative CPU seconds; out-of-order samples are ignored.
    pub fn push(&mut self, t: f64, cpu: f64) {
        if self.samples.back().is_some_and(|&(last, _)| t <= last) {
            return;
        }
        self.first.get_or_insert((t, cpu));
        self.samples.push_back((t, cpu));
        while self.samples.len() >= 2 && t - self.samples[1].0 >= self.window {
            self.samples.pop_front();
        }
        let (t0, c0) = self.samples[0];
        if t - t0 >= self.window {
            let f = (cpu - c0) / (t - t0);
            self.best = Some(self.best.map_or(f, |b| b.max(f)));
        }
    }

    /// CPU seconds per second over the busiest window; when the samples span less than one
    /// window, the CPU time they span per window (a 50 ms burst is not a saturated second).
    pub fn busiest(&self) -> f64 {
        if let Some(b) = self.best {
            return b;
        }
        match (self.first, self.samples.back()) {
            (Some((t0, c0)), Some(&(t1, c1))) if t1 > t0 => (c1 - c0) / (t1 - t0).max(self.window),
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples every 0.1 s of a process that is idle except from `busy.0` to `busy.1`, where it
    /// uses `rate` CPU seconds per second.
    fn window_over(until: f64, busy: (f64, f64), rate: f64) -> BusiestWindow {
        let mut w = BusiestWindow::new(Duration::from_secs(1));
        for i in 0..=(until * 10.0).round() as usize {
            let t = i as f64 / 10.0;
            let cpu = rate * (t.min(busy.1) - busy.0).max(0.0);
            w.push(t, cpu);
        }
        w
    }

    #[test]
    fn busiest_window_finds_the_busy_second_among_idle_ones() {
        // 10 s cell, 0.9 CPU-s in second 3..4: the cell average is 9%, its busiest second 90%.
        let w = window_over(10.0, (3.0, 4.0), 0.9);
        assert!((w.busiest() - 0.9).abs() < 1e-9, "{}", w.busiest());
        // Busy for half a second only: a 1 s window sees half of it.
        let w = window_over(10.0, (3.0, 3.5), 1.0);
        assert!((w.busiest() - 0.5).abs() < 1e-9, "{}", w.busiest());
        // Idle throughout.
        assert_eq!(window_over(10.0, (0.0, 0.0), 1.0).busiest(), 0.0);
    }

    #[test]
    fn busiest_window_handles_short_sparse_and_unordered_samples() {
        // Shorter than a window: what it used, per window (0.3 CPU-s in its only second).
        let w = window_over(0.5, (0.0, 0.5), 0.6);
        assert!((w.busiest() - 0.3).abs() < 1e-9, "{}", w.busiest());
        assert_eq!(BusiestWindow::new(Duration::from_secs(1)).busiest(), 0.0);
        // A blocked event loop takes no samples for 5 s: that gap is one window of 5 s.
        let mut w = BusiestWindow::new(Duration::from_secs(1));
        w.push(0.0, 0.0);
        w.push(0.1, 0.0);
        w.push(5.1, 4.5);
        w.push(5.2, 4.5);
        assert!((w.busiest() - 0.9).abs() < 1e-9, "{}", w.busiest());
        // A sample from the past is ignored.
        w.push(1.0, 100.0);
        assert!((w.busiest() - 0.9).abs() < 1e-9, "{}", w.busiest());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_meter_sees_its_own_busy_event_loop() {
        let m = Meter::start();
        // Hold the event loop for 60 ms of CPU: the lag probe fires late by at least that much.
        tokio::task::yield_now().await;
        let c0 = openenv_sys::thread_cpu_time();
        let mut x = 0u64;
        while openenv_sys::thread_cpu_time() - c0 < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        let s = m.finish(3);
        assert!(s.max_lag >= 0.03, "{s:?}");
        assert!(
            s.cpu_seconds >= 0.03 && s.busiest_cpu_fraction > 0.0,
            "{s:?}"
        );
        assert!(s.peak_rss_bytes > 0 && s.wall >= 0.09, "{s:?}");
        assert_eq!(s.close_timeouts, 3);
    }
}
