//! `openenv-bench health`: exit 0 against a live server, non-zero (with the reason) against a
//! closed port, a wrong answer and a server that never answers.

use openenv_server::{ServerConfig, ServerHandle};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_openenv-bench");

fn health(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("health")
        .args(args)
        .env_remove("PORT")
        .env_remove("HOST");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run openenv-bench health")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A one-shot HTTP server answering every connection with `response` (or never, when `None`).
fn fake_server(response: Option<&'static str>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            if let Some(r) = response {
                let _ = s.write_all(r.as_bytes());
            }
            held.push(s); // keep it open: a silent server must hit --timeout
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_server_exits_0_and_a_stopped_one_does_not() {
    let server = ServerHandle::start("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = server.http_url();
    let port = server.local_addr().port().to_string();

    let o = tokio::task::spawn_blocking({
        let url = url.clone();
        move || health(&["--url", &url], &[])
    })
    .await
    .unwrap();
    assert!(o.status.success(), "live server: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(r#"{"status":"healthy"}"#));

    // No --url: http://127.0.0.1:$PORT, as a container's HEALTHCHECK runs it.
    let o =
        tokio::task::spawn_blocking(move || health(&[], &[("PORT", &port), ("HOST", "0.0.0.0")]))
            .await
            .unwrap();
    assert!(o.status.success(), "default URL from PORT: {}", stderr(&o));

    server.shutdown().await.unwrap();
    let o = tokio::task::spawn_blocking(move || health(&["--url", &url, "--timeout", "2"], &[]))
        .await
        .unwrap();
    assert!(!o.status.success(), "stopped server reported healthy");
    assert!(stderr(&o).contains("no answer"), "{}", stderr(&o));
}

#[test]
fn closed_port_exits_non_zero() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again
    let url = format!("http://127.0.0.1:{port}");
    let o = health(&["--url", &url], &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains(&format!("{url}/health")) && e.contains("refused"),
        "{e}"
    );
}

#[test]
fn wrong_answers_exit_non_zero() {
    let starting = fake_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n{\"status\":\"starting\"}",
    ));
    let o = health(&["--url", &format!("http://127.0.0.1:{starting}")], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("starting"), "{}", stderr(&o));

    let unavailable = fake_server(Some(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 20\r\n\r\n{\"status\":\"healthy\"}",
    ));
    let o = health(&["--url", &format!("http://127.0.0.1:{unavailable}/")], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("503"), "{}", stderr(&o));

    let silent = fake_server(None);
    let t = Instant::now();
    let url = format!("http://127.0.0.1:{silent}");
    let o = health(&["--url", &url, "--timeout", "1"], &[]);
    assert!(!o.status.success());
    assert!(t.elapsed() < Duration::from_secs(10), "--timeout ignored");
    assert!(stderr(&o).contains("within 1 s"), "{}", stderr(&o));

    let o = health(&["--url", "https://127.0.0.1:1"], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("plain http"), "{}", stderr(&o));
}
