//! openenv-sys: the one copy of the operating-system helpers that the server, the load generator
//! and the CLI share: the hostname, the open-files limit, CPU clocks and peak memory, and name
//! resolution. Linux (getrusage, `/proc/self`); no async runtime here.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The machine's hostname (`gethostname`, as Python's `socket.gethostname()`).
pub fn hostname() -> std::io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Usable cores (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The open-files limit (RLIMIT_NOFILE) after [`raise_nofile_limit`]; all 0 when unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit before raising it.
    pub before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// (soft, hard) open-files limit; (0, 0) when unreadable.
// rlim_t is u64 on Linux/glibc but not on every target: keep the casts.
#[allow(clippy::unnecessary_cast)]
pub fn nofile_limit() -> (u64, u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return (0, 0);
    }
    (rl.rlim_cur as u64, rl.rlim_max as u64)
}

/// Raises the soft open-files limit to the hard one (every session holds a descriptor) and
/// says what it got.
pub fn raise_nofile_limit() -> NofileLimit {
    let (before, hard) = nofile_limit();
    if before < hard {
        let rl = libc::rlimit {
            rlim_cur: hard as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: plain setrlimit on our own process with a struct we own.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    }
    let (soft, hard) = nofile_limit();
    NofileLimit { before, soft, hard }
}

/// user + system CPU time of this process so far.
pub fn cpu_time() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// user + system CPU time of the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Resets the kernel's peak-RSS counter (VmHWM) so the next [`peak_rss_bytes`] covers what
/// follows. Writing "5" to clear_refs does that since Linux 4.0; harmless if it fails.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last [`reset_peak_rss`] (VmHWM), bytes; 0 when unreadable.
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

/// Memory the kernel says can be allocated without swapping (MemAvailable), bytes; None when
/// unreadable (not Linux, or a kernel before 3.14).
pub fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Resolves `host` (a name or an address literal) within `timeout`, preferring an IPv4 address:
/// loopback source spreading is IPv4, and `localhost` should mean the same address to the server
/// and its clients. The system resolver cannot be cancelled, so a lookup past the deadline is
/// left to finish on its own thread.
pub fn resolve(host: &str, port: u16, timeout: Duration) -> std::io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>());
            let _ = tx.send(found);
        })?;
    let addrs = match rx.recv_timeout(timeout) {
        Ok(found) => found?,
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", timeout.as_secs_f64()),
            ))
        }
    };
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
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
        // getrusage and the thread clock are accounted differently (ticks vs. nanoseconds), so
        // compare with a margin: the thread's time cannot exceed the process's by more than that.
        let (thread, process) = (thread_cpu_time(), cpu_time());
        assert!(thread > Duration::ZERO && thread <= process + Duration::from_millis(20));
        reset_peak_rss();
        assert!(peak_rss_bytes() > 0);
        assert!(cores() >= 1);
        assert!(!hostname().unwrap().is_empty());
    }

    #[test]
    fn raising_the_open_files_limit_reports_what_it_got() {
        let l = raise_nofile_limit();
        assert!(
            l.soft > 0 && l.before <= l.soft && l.soft <= l.hard,
            "{l:?}"
        );
        assert_eq!(nofile_limit(), (l.soft, l.hard));
        // Raising again changes nothing.
        assert_eq!(raise_nofile_limit().before, l.soft);
    }

    #[test]
    fn resolution_prefers_ipv4_and_passes_literals_through() {
        let t = Duration::from_secs(10);
        let lo = resolve("localhost", 8000, t).unwrap();
        assert!(lo.is_ipv4() && lo.ip().is_loopback(), "{lo}");
        assert_eq!(lo.port(), 8000);
        assert_eq!(
            resolve("::1", 9, t).unwrap(),
            "[::1]:9".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            resolve("127.0.0.5", 1, t).unwrap(),
            "127.0.0.5:1".parse::<SocketAddr>().unwrap()
        );
    }
}
