//! The HTTP routes over real sockets, and bad HTTP: garbage, slow clients, large bodies.

mod common;

use common::*;
use openenv_server::ServerConfig;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn every_route() {
    let server = start_default().await;
    let (s, _, b) = http(&server, "GET", "/health", None, None).await;
    assert_eq!((s, json(&b)["status"].as_str()), (200, Some("healthy")));
    let (s, _, b) = http(&server, "GET", "/metadata", None, None).await;
    assert_eq!(
        (s, json(&b)["name"].as_str()),
        (200, Some("BenchmarkEnvironment"))
    );
    let (s, _, b) = http(&server, "GET", "/schema", None, None).await;
    let v = json(&b);
    assert_eq!(s, 200);
    assert_eq!(v["action"]["title"], "BenchmarkAction");
    assert_eq!(v["observation"]["title"], "BenchmarkObservation");
    assert_eq!(v["state"]["title"], "State");
    let (s, _, b) = http(&server, "GET", "/state", None, None).await;
    let v = json(&b);
    assert_eq!((s, v["step_count"].as_u64()), (200, Some(0)));
    assert_eq!(v["episode_id"].as_str().unwrap().len(), 36);
    let (s, _, b) = http(&server, "GET", "/openapi.json", None, None).await;
    assert_eq!((s, json(&b)["openapi"].as_str()), (200, Some("3.1.0")));
    let (s, _, b) = http(&server, "GET", "/metrics", None, None).await;
    assert_eq!(s, 200);
    assert!(b.contains("openenv_active_sessions"));

    let (s, _, b) = http(&server, "POST", "/reset", None, None).await;
    let v = json(&b);
    assert_eq!(s, 200);
    assert_eq!(v["observation"]["step_count"], 0);
    assert_eq!(v["observation"]["pid"], std::process::id());
    let port = server.local_addr().port();
    assert!(v["observation"]["host_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{port}")));

    // Stateless: each /step is a fresh env with step_count 1 and a new hash.
    let mut hashes = std::collections::HashSet::new();
    for _ in 0..3 {
        let (s, _, b) = post_json(&server, "/step", r#"{"action":{"wait_seconds":0.05}}"#).await;
        let v = json(&b);
        assert_eq!(s, 200);
        assert_eq!(v["observation"]["step_count"], 1);
        assert_eq!(v["observation"]["waited_seconds"], 0.05);
        hashes.insert(
            v["observation"]["session_hash"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(hashes.len(), 3);
}

#[tokio::test]
async fn not_found_and_method_not_allowed() {
    let server = start_default().await;
    for path in ["/", "/web", "/ws", "/docs-nope", "/health/x"] {
        let (s, h, b) = http(&server, "GET", path, None, None).await;
        assert_eq!(
            (s, b.as_str()),
            (404, r#"{"detail":"Not Found"}"#),
            "{path}"
        );
        assert_eq!(header(&h, "content-type"), Some("application/json"));
    }
    for (m, path, allow) in [
        ("GET", "/reset", "POST"),
        ("GET", "/step", "POST"),
        ("POST", "/health", "GET,HEAD"),
        ("DELETE", "/state", "GET,HEAD"),
    ] {
        let (s, h, b) = http(&server, m, path, None, None).await;
        assert_eq!(
            (s, b.as_str()),
            (405, r#"{"detail":"Method Not Allowed"}"#),
            "{m} {path}"
        );
        assert_eq!(header(&h, "allow"), Some(allow), "{m} {path}");
    }
}

#[tokio::test]
async fn validation_errors_are_422_with_pydantic_details() {
    let server = start(ServerConfig {
        max_wait_seconds: 60.0,
        ..ServerConfig::default()
    })
    .await;
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        (
            "/step",
            Some("application/json"),
            r#"{"action":{"wait_seconds":-1}}"#,
            "greater_than_equal",
        ),
        (
            "/step",
            Some("application/json"),
            r#"{"action":{"wait_seconds":NaN}}"#,
            "finite_number",
        ),
        (
            "/step",
            Some("application/json"),
            r#"{"action":{"wait_seconds":61}}"#,
            "less_than_equal",
        ),
        (
            "/step",
            Some("application/json"),
            r#"{"action":5}"#,
            "dict_type",
        ),
        (
            "/step",
            Some("application/json"),
            r#"[1]"#,
            "model_attributes_type",
        ),
        (
            "/step",
            Some("application/json"),
            r#"{"action":{},"request_id":7}"#,
            "string_type",
        ),
        ("/step", Some("application/json"), "{", "json_invalid"),
        (
            "/reset",
            Some("application/json"),
            r#"{"seed":1.5}"#,
            "int_from_float",
        ),
        (
            "/reset",
            Some("application/json"),
            r#"{"seed":"x"}"#,
            "int_parsing",
        ),
        (
            "/reset",
            Some("application/vnd.api+json"),
            r#"{"episode_id":5}"#,
            "string_type",
        ),
    ];
    for (path, ct, body, kind) in cases {
        let (s, _, b) = http(&server, "POST", path, *ct, Some(body)).await;
        assert_eq!(s, 422, "{path} {body}: {b}");
        let v = json(&b);
        assert_eq!(v["detail"][0]["type"], *kind, "{path} {body}: {b}");
    }
    // Extra keys on the request bodies are allowed, as in the reference.
    let (s, _, _) = post_json(&server, "/reset", r#"{"seed":1,"whatever":[1,2]}"#).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn http_steps_wait_concurrently() {
    let server = start_default().await;
    let addr = server.local_addr();
    let took = concurrently(200, || async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = r#"{"action":{"wait_seconds":1.0}}"#;
        let req = format!(
            "POST /step HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let (status, _, _) = parse_response(&buf);
        assert_eq!(status, 200);
    })
    .await;
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "200 concurrent 1 s HTTP steps took {took:?}"
    );
}

#[tokio::test]
async fn keep_alive_serves_several_requests() {
    let server = start_default().await;
    let mut s = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with(r#"{"status":"healthy"}"#), "{text}");
    }
}

#[tokio::test]
async fn garbage_gets_400_and_the_server_lives_on() {
    let server = start_default().await;
    for junk in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"HELLO THERE\r\n\r\n",
        b"GET /health HTTP/9.9\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
    ] {
        let (s, _, _) = http_raw(&server, junk).await;
        assert_eq!(s, 400, "{junk:?}");
    }
    // A huge request head is refused, not buffered forever.
    let mut big = b"GET /health HTTP/1.1\r\n".to_vec();
    for i in 0..2000 {
        big.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "y".repeat(20)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let text = exchange(&server, &big).await;
    assert!(text.starts_with("HTTP/1.1 4"), "{text}");
    assert_healthy(&server).await;
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let server = start(ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    // Never finishes its request head.
    let mut slow = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(PROMPT, slow.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    // Never sends anything at all.
    let mut mute = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let _ = tokio::time::timeout(PROMPT, mute.read_to_end(&mut buf))
        .await
        .unwrap();
    // Others are served meanwhile.
    assert_healthy(&server).await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let server = start(ServerConfig {
        max_message_size: 1024,
        ..ServerConfig::default()
    })
    .await;
    let body = format!(r#"{{"action":{{}},"pad":"{}"}}"#, "x".repeat(5000));
    let (s, _, _) = post_json(&server, "/step", &body).await;
    assert_eq!(s, 413);
}
