//! What the load generator knows about its own process and host (for honesty columns and run.json).

use std::time::Duration;

/// user + system CPU time of this process so far.
pub fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
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

    #[test]
    fn own_process_numbers_are_plausible() {
        let before = cpu_time();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(cpu_time() > before);
        reset_peak_rss();
        assert!(peak_rss_bytes() > 0);
        let (soft, hard) = nofile_limit();
        assert!(soft <= hard && soft > 0);
        assert!(cores() >= 1);
    }
}
