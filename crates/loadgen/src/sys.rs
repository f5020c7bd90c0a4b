//! What the load generator knows about its own process and host (for honesty columns and run.json).

use std::time::Duration;

/// user + system CPU time of this process so far.
pub fn cpu_time() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// user + system CPU time of the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

fn rusage(who: libc::c_int) -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
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

/// Resets the kernel's peak-RSS counter (VmHWM) so the next [`peak_rss_bytes`] covers one cell.
/// Writing "5" to clear_refs does that since Linux 4.0; harmless if it fails.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last [`reset_peak_rss`] (VmHWM), bytes.
pub fn peak_rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// (soft, hard) open-files limit.
pub fn nofile_limit() -> (u64, u64) {
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit fills the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    (rl.rlim_cur as u64, rl.rlim_max as u64)
}

/// Raises the soft open-files limit to the hard one; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let (soft, hard) = nofile_limit();
    if soft < hard {
        let rl = libc::rlimit {
            rlim_cur: hard as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: plain setrlimit on our own process.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    }
    nofile_limit().0
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Sessions one process may hold: the open-files limit minus room for the rest of the process.
pub fn default_sessions_per_process() -> usize {
    let soft = nofile_limit().0.min(1 << 20) as usize;
    soft.saturating_sub(1000).max(100)
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

    #[test]
    fn own_process_numbers_are_plausible() {
        let before = cpu_time();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(cpu_time() > before);
        // getrusage and the thread clock are accounted differently (ticks vs. nanoseconds), so
        // compare with a margin: the thread's time cannot exceed the process's by more than that.
        let (thread, process) = (thread_cpu_time(), cpu_time());
        assert!(thread > Duration::ZERO && thread <= process + Duration::from_millis(20));
        reset_peak_rss();
        assert!(peak_rss_bytes() > 0);
        let (soft, hard) = nofile_limit();
        assert!(soft <= hard && soft > 0);
        assert!(cores() >= 1);
    }
}
