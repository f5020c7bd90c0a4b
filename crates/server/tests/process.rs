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
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `serve` with these env vars (config by env, as the seed's scripts do) and read the
/// port from the startup banner.
fn serve(bin: &PathBuf, envs: &[(&str, &str)]) -> Served {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env_remove(openenv_server::process::WORKER_ENV)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
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
    assert_ne!(port, 0, "no port in banner:\n{banner}");
    Served {
        child,
        port,
        banner,
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
