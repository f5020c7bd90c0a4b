//! The `/ws` session over real sockets: every message type, every error code, capacity, bad
//! frames, vanished and idle clients, the drain, and the hyper upgrade path.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use openenv_server::{Faults, ServerConfig};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;

fn code(v: &Value) -> &str {
    v["data"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn every_message_type() {
    let server = start_default().await;
    let mut ws = connect(&server).await;
    let r = request(&mut ws, r#"{"type":"reset","data":{"episode_id":"ep-7"}}"#).await;
    assert_eq!(r["type"], "observation");
    let obs = &r["data"]["observation"];
    assert_eq!(obs["step_count"], 0);
    assert_eq!(obs["waited_seconds"], 0.0);
    assert_eq!(obs["pid"], std::process::id());
    let hash = obs["session_hash"].as_str().unwrap().to_owned();
    let port = server.local_addr().port();
    assert!(obs["host_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{port}")));
    assert_eq!(r["data"]["reward"], Value::Null);
    assert_eq!(r["data"]["done"], false);

    let r = request(&mut ws, r#"{"type":"state"}"#).await;
    assert_eq!(r["data"]["episode_id"], "ep-7");

    let t = Instant::now();
    let r = request(&mut ws, r#"{"type":"step","data":{"wait_seconds":0.2}}"#).await;
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(r["data"]["observation"]["waited_seconds"], 0.2);
    assert_eq!(r["data"]["observation"]["step_count"], 1);
    assert_eq!(r["data"]["observation"]["session_hash"], hash.as_str());

    let r = request(&mut ws, r#"{"type":"step","data":{"wait_seconds":0}}"#).await;
    assert_eq!(r["data"]["observation"]["step_count"], 2);
    let r = request(&mut ws, r#"{"type":"state"}"#).await;
    assert_eq!(r["type"], "state");
    assert_eq!(r["data"]["step_count"], 2);

    // A reset starts a new episode in the same environment (same hash).
    let r = request(&mut ws, r#"{"type":"reset"}"#).await;
    assert_eq!(r["data"]["observation"]["step_count"], 0);
    assert_eq!(r["data"]["observation"]["session_hash"], hash.as_str());
    let r = request(&mut ws, r#"{"type":"state"}"#).await;
    let ep = r["data"]["episode_id"].as_str().unwrap();
    assert_eq!(ep.len(), 36, "a fresh uuid: {ep}");

    let r = request(
        &mut ws,
        r#"{"type":"mcp","data":{"jsonrpc":"2.0","method":"tools/list","params":{},"id":9}}"#,
    )
    .await;
    assert_eq!(r["type"], "mcp");
    assert_eq!(r["data"]["id"], 9);

    send(&mut ws, r#"{"type":"close"}"#).await;
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Normal));
}

#[tokio::test]
async fn errors_that_keep_the_session() {
    let server = start(ServerConfig {
        max_wait_seconds: 10.0,
        faults: Faults {
            execution_error_on_wait: Some(0.25),
            ..Faults::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&server).await;
    let cases: &[(&str, &str)] = &[
        ("{not json", "INVALID_JSON"),
        ("", "INVALID_JSON"),
        (r#"{"type":"bogus"}"#, "UNKNOWN_TYPE"),
        (r#"{"data":{}}"#, "UNKNOWN_TYPE"),
        (r#"[1,2]"#, "VALIDATION_ERROR"),
        (r#"{"type":"step"}"#, "VALIDATION_ERROR"),
        (r#"{"type":"step","data":[]}"#, "VALIDATION_ERROR"),
        (
            r#"{"type":"step","data":{"wait_seconds":-1}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type":"step","data":{"wait_seconds":NaN}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type":"step","data":{"wait_seconds":Infinity}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type":"step","data":{"wait_seconds":10.5}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type":"step","data":{"wait_seconds":1e999}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type":"step","data":{"wait_seconds":null}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type":"step","data":{"wait_seconds":0},"x":1}"#,
            "VALIDATION_ERROR",
        ),
        (r#"{"type":"reset","data":5}"#, "VALIDATION_ERROR"),
        (r#"{"type":"state","data":{}}"#, "VALIDATION_ERROR"),
        (
            r#"{"type":"step","data":{"wait_seconds":0.25}}"#,
            "EXECUTION_ERROR",
        ),
    ];
    for (req, want) in cases {
        let r = request(&mut ws, req).await;
        assert_eq!(r["type"], "error", "{req}: {r}");
        assert_eq!(code(&r), *want, "{req}: {r}");
        let data = r["data"].as_object().unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        if *want == "VALIDATION_ERROR" {
            assert_eq!(keys, ["message", "code", "errors"], "{req}");
            assert_eq!(data["message"], "Invalid message");
            for e in data["errors"].as_array().unwrap() {
                let ek: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
                assert_eq!(&ek[..4], ["type", "loc", "msg", "input"], "{req}: {e}");
                assert_eq!(ek.last(), Some(&"url"), "{req}: {e}");
            }
        } else {
            assert_eq!(keys, ["message", "code"], "{req}");
        }
    }
    let r = request(&mut ws, r#"{"type":"step","data":{"wait_seconds":"0.01"}}"#).await;
    assert_eq!(
        r["data"]["observation"]["step_count"], 1,
        "still alive: {r}"
    );
    assert_eq!(r["data"]["observation"]["waited_seconds"], 0.01);
}

#[tokio::test]
async fn factory_error_then_close() {
    let server = start(ServerConfig {
        faults: Faults {
            factory_error: true,
            ..Faults::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&server).await;
    let r = recv_json(&mut ws).await;
    assert_eq!(code(&r), "FACTORY_ERROR");
    let keys: Vec<&String> = r["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["message", "code", "factory_name"]);
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Normal));
}

#[tokio::test]
async fn capacity_two_then_rejection_then_slot_freed() {
    let server = start(ServerConfig {
        max_concurrent_envs: 2,
        ..ServerConfig::default()
    })
    .await;
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    request(&mut a, r#"{"type":"reset"}"#).await;
    request(&mut b, r#"{"type":"reset"}"#).await;

    // A client that sends right away gets the error as the answer to its request.
    let mut c = connect(&server).await;
    let r = request(&mut c, r#"{"type":"reset"}"#).await;
    assert_eq!(code(&r), "CAPACITY_REACHED");
    assert_eq!(r["data"]["active_sessions"], 2);
    assert_eq!(r["data"]["max_sessions"], 2);
    assert_eq!(
        r["data"]["message"],
        "Server at capacity: 2/2 sessions active. Cannot accept new connections."
    );
    assert_eq!(expect_close(&mut c).await, Some(CloseCode::Normal));
    // One that sends nothing still gets error + close 1000.
    let mut d = connect(&server).await;
    assert_eq!(code(&recv_json(&mut d).await), "CAPACITY_REACHED");
    assert_eq!(expect_close(&mut d).await, Some(CloseCode::Normal));
    assert_eq!(
        metric(&server, "openenv_capacity_rejections_total").await,
        2.0
    );

    send(&mut a, r#"{"type":"close"}"#).await;
    expect_close(&mut a).await;
    wait_metric(&server, "openenv_active_sessions", 1.0).await;
    new_session(&server).await;
}

#[tokio::test]
async fn unlimited_capacity_with_zero() {
    let server = start(ServerConfig {
        max_concurrent_envs: 0,
        ..ServerConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..150 {
        held.push(new_session(&server).await);
    }
    assert_eq!(metric(&server, "openenv_active_sessions").await, 150.0);
}

#[tokio::test]
async fn oversized_message_closes_1009_and_server_lives_on() {
    let server = start(ServerConfig {
        max_message_size: 1024,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&server).await;
    let big = format!(
        r#"{{"type":"reset","data":{{"pad":"{}"}}}}"#,
        "x".repeat(4000)
    );
    let _ = ws.send(Message::text(big)).await;
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Size));
    // A message just under the limit is fine.
    let mut ws = connect(&server).await;
    let ok = format!(
        r#"{{"type":"reset","data":{{"pad":"{}"}}}}"#,
        "x".repeat(900)
    );
    assert_eq!(request(&mut ws, &ok).await["type"], "observation");
}

#[tokio::test]
async fn client_vanishing_mid_step_releases_the_slot() {
    let server = start(ServerConfig {
        max_concurrent_envs: 1,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&server).await;
    send(&mut ws, r#"{"type":"step","data":{"wait_seconds":30}}"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(metric(&server, "openenv_active_sessions").await, 1.0);
    drop(ws); // TCP close without a WebSocket close
    let t = Instant::now();
    wait_metric(&server, "openenv_active_sessions", 0.0).await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "released long before the 30 s step"
    );
    new_session(&server).await;
}

#[tokio::test]
async fn idle_timeout_closes_and_releases() {
    let server = start(ServerConfig {
        idle_timeout: Some(Duration::from_millis(300)),
        max_concurrent_envs: 1,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&server).await;
    // Activity keeps it open...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        request(&mut ws, r#"{"type":"state"}"#).await;
    }
    // ...and a step longer than the timeout is not idleness.
    let r = request(&mut ws, r#"{"type":"step","data":{"wait_seconds":0.5}}"#).await;
    assert_eq!(r["type"], "observation");
    let t = Instant::now();
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Normal));
    assert!(t.elapsed() >= Duration::from_millis(250));
    wait_metric(&server, "openenv_active_sessions", 0.0).await;
}

#[tokio::test]
async fn steps_wait_on_timers_not_threads() {
    let server = start(ServerConfig {
        max_concurrent_envs: 0,
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();
    let took = concurrently(400, || {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            ws.send(Message::text(
                r#"{"type":"step","data":{"wait_seconds":1.0}}"#,
            ))
            .await
            .unwrap();
            let m = ws.next().await.unwrap().unwrap();
            let v: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
            assert_eq!(v["data"]["observation"]["waited_seconds"], 1.0);
        }
    })
    .await;
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "400 concurrent 1 s steps took {took:?}"
    );
}

#[tokio::test]
async fn pipelined_requests_answered_in_order_with_read_ahead() {
    let server = start_default().await;
    let mut ws = connect(&server).await;
    let mut reqs = vec![r#"{"type":"reset"}"#.to_owned()];
    for i in 0..100 {
        let w = if i % 10 == 0 { "0.01" } else { "0" };
        reqs.push(format!(
            r#"{{"type":"step","data":{{"wait_seconds":{w}}}}}"#
        ));
        if i % 7 == 0 {
            reqs.push(r#"{"type":"bogus"}"#.into());
        }
    }
    reqs.push(r#"{"type":"state"}"#.into());
    for r in &reqs {
        ws.feed(Message::text(r.clone())).await.unwrap();
    }
    ws.flush().await.unwrap();
    let mut steps = 0;
    for r in &reqs {
        let v = recv_json(&mut ws).await;
        if r.contains("bogus") {
            assert_eq!(code(&v), "UNKNOWN_TYPE");
        } else if r.contains("step") {
            steps += 1;
            assert_eq!(v["data"]["observation"]["step_count"], steps);
        } else if r.contains("state") {
            assert_eq!(v["data"]["step_count"], 100);
        }
    }
}

#[tokio::test]
async fn ping_gets_pong() {
    let server = start_default().await;
    let mut ws = connect(&server).await;
    ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
    let m = tokio::time::timeout(PROMPT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m, Message::Pong(b"hi".to_vec().into()));
    assert_eq!(
        request(&mut ws, r#"{"type":"reset"}"#).await["type"],
        "observation"
    );
}

#[tokio::test]
async fn drain_closes_idle_with_1001_and_lets_steps_finish() {
    let server = start(ServerConfig {
        drain_grace: Duration::from_secs(5),
        ..ServerConfig::default()
    })
    .await;
    let addr = server.local_addr();
    let mut idle = connect(&server).await;
    request(&mut idle, r#"{"type":"reset"}"#).await;
    let mut busy = connect(&server).await;
    send(&mut busy, r#"{"type":"step","data":{"wait_seconds":2.0}}"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let t = Instant::now();
    let stop = tokio::spawn(server.shutdown());
    assert_eq!(expect_close(&mut idle).await, Some(CloseCode::Away));
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "idle closed at once, not after the step: {:?}",
        t.elapsed()
    );
    // The in-flight step completes, then 1001.
    let r = recv_json(&mut busy).await;
    assert_eq!(r["data"]["observation"]["waited_seconds"], 2.0);
    assert!(t.elapsed() >= Duration::from_millis(1800));
    assert_eq!(expect_close(&mut busy).await, Some(CloseCode::Away));
    stop.await.unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    // Not accepting any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn drain_grace_bounds_long_steps() {
    let server = start(ServerConfig {
        drain_grace: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let mut busy = connect(&server).await;
    send(&mut busy, r#"{"type":"step","data":{"wait_seconds":60}}"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let stop = tokio::spawn(server.shutdown());
    assert_eq!(expect_close(&mut busy).await, Some(CloseCode::Away));
    assert!(t.elapsed() >= Duration::from_millis(250) && t.elapsed() < Duration::from_secs(3));
    stop.await.unwrap().unwrap();
}

#[tokio::test]
async fn hyper_upgrade_path_serves_the_same_protocol() {
    // With the fast path off every upgrade goes through hyper + axum.
    let server = start(ServerConfig {
        ws_fast_path: false,
        max_concurrent_envs: 1,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&server).await;
    request(&mut ws, r#"{"type":"reset"}"#).await;
    let r = request(&mut ws, r#"{"type":"step","data":{"wait_seconds":0.05}}"#).await;
    assert_eq!(r["data"]["observation"]["step_count"], 1);
    let mut rejected = connect(&server).await;
    assert_eq!(code(&recv_json(&mut rejected).await), "CAPACITY_REACHED");
    assert_eq!(expect_close(&mut rejected).await, Some(CloseCode::Normal));
    let (status, _, body) = http(&server, "GET", "/health", None, None).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"healthy"}"#));
}

#[tokio::test]
async fn upgrade_after_keep_alive_requests() {
    // An HTTP request first, then the upgrade on the same connection: hyper's path.
    let server = start_default().await;
    let mut s = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("healthy"));
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(s, Role::Client, None).await;
    ws.send(Message::text(r#"{"type":"reset"}"#)).await.unwrap();
    let m = tokio::time::timeout(PROMPT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(m.to_text().unwrap().contains(r#""type":"observation""#));
}

#[tokio::test]
async fn metrics_count_sessions_and_steps() {
    let server = start_default().await;
    for _ in 0..3 {
        let mut ws = connect(&server).await;
        request(&mut ws, r#"{"type":"reset"}"#).await;
        request(&mut ws, r#"{"type":"step","data":{"wait_seconds":0.01}}"#).await;
        send(&mut ws, r#"{"type":"close"}"#).await;
        expect_close(&mut ws).await;
    }
    http(&server, "POST", "/step", None, Some(r#"{"action":{}}"#)).await;
    wait_metric(&server, "openenv_sessions_closed_total", 3.0).await;
    assert_eq!(metric(&server, "openenv_sessions_opened_total").await, 3.0);
    let (status, headers, body) = http(&server, "GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("text/plain"));
    let pid = std::process::id();
    assert!(body.contains(&format!(
        "openenv_steps_total{{pid=\"{pid}\",transport=\"ws\"}} 3"
    )));
    assert!(body.contains(&format!(
        "openenv_steps_total{{pid=\"{pid}\",transport=\"http\"}} 1"
    )));
    assert!(body.contains(&format!(
        "openenv_step_duration_seconds_count{{pid=\"{pid}\"}} 4"
    )));
    assert!(body.contains("# TYPE openenv_step_duration_seconds histogram"));
}
