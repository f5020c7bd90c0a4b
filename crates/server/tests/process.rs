//! The `openenv-bench serve` process: env vars, WORKERS sharing the port (one pid each),
//! signals. Uses the built binary (target/<profile>/openenv-bench), which `cargo test
//! --workspace` builds; skipped with a note when it is not there.

mod common;

use common::PROMPT;
use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

fn binary() -> Option<PathBuf> {
    // target/<profile>/deps/<this test> -> target/<profile>/openenv-bench
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("openenv-bench");
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!(
            "skipped: {} not built (run cargo test --workspace)",
            bin.display()
        );
        None
    }
}

struct Served {
    child: Child,
    port: u16,
    banner: String,
    /// The server's stderr.
    log: PathBuf,
}

impl Served {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn log_path() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "openenv-serve-test-{}-{}.log",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// Start `serve` with these env vars (config by env, as the Python original's scripts do) and read the
/// port from the startup banner.
fn serve(bin: &PathBuf, envs: &[(&str, &str)]) -> Served {
    serve_cmd(command(bin, envs))
}

fn command(bin: &PathBuf, envs: &[(&str, &str)]) -> (Command, PathBuf) {
    let log = log_path();
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env_remove(openenv_server::process::WORKER_ENV)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    (cmd, log)
}

fn serve_cmd((mut cmd, log): (Command, PathBuf)) -> Served {
    let mut child = cmd.spawn().expect("spawn serve");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    let mut port = 0;
    // The parent's banner (its first line has the port); worker lines may interleave.
    while !(port != 0 && banner.contains("RLIMIT_NOFILE")) {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line
            .strip_prefix("openenv-bench serve: listening on http://")
            .filter(|_| port == 0)
        {
            port = rest
                .split([' ', '\n', ','])
                .next()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
        }
        banner.push_str(&line);
    }
    // Keep draining stdout (worker lines) so no pipe fills up.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    assert_ne!(
        port,
        0,
        "no port in banner:\n{banner}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Served {
        child,
        port,
        banner,
        log,
    }
}

async fn reset_pid(port: u16) -> Option<u64> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(
        b"POST /reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let (_, _, body) = common::parse_response(&buf);
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["observation"]["pid"].as_u64()
}

fn signal(pid: u32, sig: i32) {
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test]
async fn workers_share_the_port_and_drain_on_sigterm() {
    let Some(bin) = binary() else { return };
    let mut served = serve(&bin, &[("WORKERS", "2"), ("MAX_CONCURRENT_ENVS", "3")]);
    assert!(served.banner.contains("workers: 2"), "{}", served.banner);
    assert!(served.banner.contains("capacity: 3"), "{}", served.banner);
    assert!(
        served.banner.contains("open files limit"),
        "{}",
        served.banner
    );
    let parent = served.child.id() as u64;

    // Each worker answers with its own pid; new connections spread over both.
    let mut pids = std::collections::HashSet::new();
    let deadline = Instant::now() + PROMPT;
    while pids.len() < 2 && Instant::now() < deadline {
        if let Some(pid) = reset_pid(served.port).await {
            pids.insert(pid);
        }
    }
    assert_eq!(pids.len(), 2, "pids seen: {pids:?}");
    assert!(pids.contains(&parent));
    let child_pid = *pids.iter().find(|p| **p != parent).unwrap();

    // SIGTERM to the parent: forwarded, both drain and exit.
    signal(served.child.id(), libc::SIGTERM);
    let st = wait_exit(&mut served.child, Duration::from_secs(10)).expect("parent exits");
    assert!(st.success(), "{st:?}");
    assert!(
        !PathBuf::from(format!("/proc/{child_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{child_pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true),
        "worker {child_pid} still running"
    );
}

#[tokio::test]
async fn sigint_closes_sessions_with_1001() {
    let Some(bin) = binary() else { return };
    let mut served = serve(&bin, &[("WORKERS", "1"), ("DRAIN_GRACE", "3")]);
    let url = format!("ws://127.0.0.1:{}/ws", served.port);
    let (mut idle, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (mut busy, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    idle.send(Message::text(r#"{"type":"reset"}"#))
        .await
        .unwrap();
    idle.next().await.unwrap().unwrap();
    busy.send(Message::text(
        r#"{"type":"step","data":{"wait_seconds":0.5}}"#,
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    signal(served.child.id(), libc::SIGINT);
    let close_code = |m: Option<Result<Message, _>>| match m {
        Some(Ok(Message::Close(Some(f)))) => Some(f.code),
        _ => None,
    };
    let m = tokio::time::timeout(PROMPT, idle.next()).await.unwrap();
    assert_eq!(close_code(m), Some(CloseCode::Away));
    let reply = tokio::time::timeout(PROMPT, busy.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        reply.to_text().unwrap().contains(r#""waited_seconds":0.5"#),
        "{reply:?}"
    );
    let m = tokio::time::timeout(PROMPT, busy.next()).await.unwrap();
    assert_eq!(close_code(m), Some(CloseCode::Away));
    let st = wait_exit(&mut served.child, Duration::from_secs(10)).expect("exits");
    assert!(st.success(), "{st:?}");
}

/// `GET /metrics` until the answer comes from `pid` (workers share the port); the value of `name`.
async fn metric_of(port: u16, pid: u32, name: &str) -> Option<u64> {
    let deadline = Instant::now() + PROMPT;
    while Instant::now() < deadline {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = s
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf);
        let want = format!("{name}{{pid=\"{pid}\"}} ");
        if let Some(line) = text.lines().find(|l| l.starts_with(&want)) {
            return line[want.len()..].trim().parse().ok();
        }
    }
    None
}

fn is_gone(pid: u64) -> bool {
    // Reaped: no /proc entry at all (a zombie keeps one, state Z).
    !PathBuf::from(format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn a_killed_worker_is_reaped_logged_replaced_and_reported() {
    let Some(bin) = binary() else { return };
    let mut served = serve(&bin, &[("WORKERS", "2")]);
    let parent = served.child.id();
    let mut other = None;
    let deadline = Instant::now() + PROMPT;
    while other.is_none() && Instant::now() < deadline {
        other = reset_pid(served.port).await.filter(|p| *p != parent as u64);
    }
    let victim = other.expect("the second worker answers");
    signal(victim as u32, libc::SIGKILL);

    // Reaped (no zombie), logged, and replaced by a new worker that serves.
    let deadline = Instant::now() + PROMPT;
    while !(is_gone(victim) && served.log().contains("replaced by pid")) {
        assert!(
            Instant::now() < deadline,
            "worker {victim} not reaped/replaced; log:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = served.log();
    assert!(
        log.contains(&format!("(pid {victim}) was killed by signal 9")),
        "{log}"
    );
    let mut replacement = None;
    let deadline = Instant::now() + PROMPT;
    while replacement.is_none() && Instant::now() < deadline {
        replacement = reset_pid(served.port)
            .await
            .filter(|p| *p != parent as u64 && *p != victim);
    }
    assert!(replacement.is_some(), "no replacement worker answers");
    assert_eq!(
        metric_of(served.port, parent, "openenv_worker_deaths_total").await,
        Some(1)
    );
    assert_eq!(
        metric_of(served.port, parent, "openenv_worker_restarts_total").await,
        Some(1)
    );

    // A clean drain afterwards still reports the loss in the exit status.
    signal(parent, libc::SIGTERM);
    let st = wait_exit(&mut served.child, Duration::from_secs(15)).expect("parent exits");
    assert_eq!(st.code(), Some(3), "{st:?}\n{}", served.log());
    assert!(
        served.log().contains("1 worker process(es) died"),
        "{}",
        served.log()
    );
}

#[tokio::test]
async fn running_out_of_file_descriptors_is_logged_and_counted() {
    let Some(bin) = binary() else { return };
    let (mut cmd, log) = command(&bin, &[("WORKERS", "1")]);
    // A tiny open-files limit (soft = hard, so serve cannot raise it).
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let served = serve_cmd((cmd, log));
    assert!(
        served.banner.contains("(RLIMIT_NOFILE): 48"),
        "{}",
        served.banner
    );
    // More connections than descriptors: the server cannot accept them all.
    let mut held = Vec::new();
    for _ in 0..80 {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", served.port)).await {
            held.push(s);
        }
    }
    let deadline = Instant::now() + PROMPT;
    while !served.log().contains("out of file descriptors") {
        assert!(
            Instant::now() < deadline,
            "nothing logged:\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    let n = metric_of(
        served.port,
        served.child.id(),
        "openenv_accept_fd_exhausted_total",
    )
    .await
    .expect("metrics answer once the connections are gone");
    assert!(n >= 1, "{n}");
    // Rate-limited: one message for the whole burst, not one per failed accept.
    let lines = served.log().matches("out of file descriptors").count();
    assert!((1..=2).contains(&lines), "{lines} lines:\n{}", served.log());
}

/// Settings as people type them; nonsense is an error at startup, not a silent default.
#[tokio::test]
async fn settings_are_validated() {
    let Some(bin) = binary() else { return };
    for (k, v) in [
        ("IDLE_TIMEOUT", "nan"),
        ("IDLE_TIMEOUT", "-1"),
        ("DRAIN_GRACE", "inf"),
        ("HEADER_TIMEOUT", "1e400"),
        ("MAX_WAIT_SECONDS", "nan"),
        ("NO_WS_FAST_PATH", "maybe"),
        ("WORKERS", "0"),
        ("SERVER_THREADS", "0"),
        ("MAX_MESSAGE_SIZE", "10"),
    ] {
        let out = Command::new(&bin)
            .arg("serve")
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env(k, v)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{k}={v}: {err}");
        assert!(
            err.contains(&format!("`{v}`")) || err.contains(v),
            "{k}={v}: {err}"
        );
    }
    for (k, v) in [
        ("NO_WS_FAST_PATH", "1"),
        ("NO_WS_FAST_PATH", "Yes"),
        ("NO_WS_FAST_PATH", "off"),
        ("REUSE_PORT", "TRUE"),
    ] {
        let mut served = serve(&bin, &[(k, v)]);
        assert!(reset_pid(served.port).await.is_some(), "{k}={v}");
        signal(served.child.id(), libc::SIGTERM);
        let st = wait_exit(&mut served.child, Duration::from_secs(10)).expect("exits");
        assert!(st.success(), "{k}={v}: {st:?}");
    }
}
