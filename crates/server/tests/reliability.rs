//! Crash, hang and resource limits of the server (in-process): hostile input is answered, a
//! panic in a handler is answered and counted, slow or stalled clients lose their resources.

mod common;

use common::*;
use futures_util::SinkExt;
use openenv_server::{Faults, ServerConfig};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn non_ascii_next_to_a_non_finite_number_is_invalid_json() {
    let server = start_default().await;
    let mut ws = connect(&server).await;
    for bad in ["éNaN", "é1e400", "ü Infinity", "[\"x\", é, -Infinity]"] {
        let r = request(&mut ws, bad).await;
        assert_eq!(r["data"]["code"], "INVALID_JSON", "{bad}: {r}");
    }
    // The session is still there.
    let r = request(&mut ws, r#"{"type":"reset"}"#).await;
    assert_eq!(r["type"], "observation", "{r}");
    for path in ["/step", "/reset"] {
        let (s, _, body) = post_json(&server, path, "éNaN").await;
        assert_eq!(s, 422, "{path}: {body}");
        assert!(body.contains("json_invalid"), "{body}");
    }
    assert_eq!(metric(&server, "openenv_internal_errors_total").await, 0.0);
}

#[tokio::test]
async fn a_panicking_handler_is_answered_counted_and_the_server_lives_on() {
    let server = start(ServerConfig {
        faults: Faults {
            panic_on_wait: Some(0.125),
            ..Faults::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&server).await;
    let r = request(&mut ws, r#"{"type":"step","data":{"wait_seconds":0.125}}"#).await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["data"]["code"], "EXECUTION_ERROR", "{r}");
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Error));

    let (s, h, body) = post_json(&server, "/step", r#"{"action":{"wait_seconds":0.125}}"#).await;
    assert_eq!(s, 500, "{body}");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert_eq!(body, r#"{"detail":"Internal Server Error"}"#);

    assert_eq!(metric(&server, "openenv_internal_errors_total").await, 2.0);
    let mut ws = connect(&server).await;
    let r = request(&mut ws, r#"{"type":"step","data":{"wait_seconds":0}}"#).await;
    assert_eq!(r["type"], "observation", "{r}");
}

#[tokio::test]
async fn a_request_body_that_never_comes_is_cut_off() {
    for fast_path in [true, false] {
        let server = start(ServerConfig {
            header_read_timeout: Duration::from_millis(300),
            ws_fast_path: fast_path,
            ..ServerConfig::default()
        })
        .await;
        let t = Instant::now();
        let text = exchange(
            &server,
            b"POST /step HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"act",
        )
        .await;
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.ends_with(r#"{"detail":"Request Timeout"}"#), "{text}");
        assert_healthy(&server).await;
    }
}

#[tokio::test]
async fn an_over_limit_body_is_refused_by_its_declared_length() {
    let server = start(ServerConfig {
        max_message_size: 1024,
        ..ServerConfig::default()
    })
    .await;
    // Declared too long, never sent: answered at once, not after a timeout.
    let t = Instant::now();
    let text = exchange(
        &server,
        b"POST /step HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let (s, h, body) = parse_response(text.as_bytes());
    assert_eq!(s, 413, "{text}");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert_eq!(body, r#"{"detail":"Request Entity Too Large"}"#);

    // Expect: 100-continue over the limit: 413 instead of 100 Continue.
    let text = exchange(
        &server,
        b"POST /step HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    // An expectation we don't know: 417.
    let text = exchange(
        &server,
        b"POST /step HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 417"), "{text}");
    // Within the limit, 100-continue works as before.
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    let body = r#"{"action":{}}"#;
    s.write_all(
        format!(
            "POST /step HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut first = [0u8; 25];
    tokio::time::timeout(PROMPT, s.read_exact(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert!(first.starts_with(b"HTTP/1.1 100 Continue"), "{first:?}");
    s.write_all(body.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PROMPT, s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&rest).contains("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    // A chunked body over the limit (no length declared) is still 413.
    let (s, _, _) = post_json(
        &server,
        "/step",
        &format!(r#"{{"pad":"{}"}}"#, "x".repeat(5000)),
    )
    .await;
    assert_eq!(s, 413);
}

#[tokio::test]
async fn websocket_handshakes_are_checked_as_rfc_6455_says() {
    for fast_path in [true, false] {
        let server = start(ServerConfig {
            ws_fast_path: fast_path,
            ..ServerConfig::default()
        })
        .await;
        let upgrade = |version: &str, key: &str| {
            format!(
                "GET /ws HTTP/{version}\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
            )
        };
        for key in [
            "abc",
            "dGhlIHNhbXBsZSBub25jZQ",       // no padding
            "!!!!!!!!!!!!!!!!!!!!!!==",     // not base64
            "AAAAAAAAAAAAAAAAAAAA",         // 15 bytes
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", // 21 bytes
            "dGhlIHNhbXBsZSBub25jZQ==x",
        ] {
            let text = exchange(&server, upgrade("1.1", key).as_bytes()).await;
            assert!(
                text.starts_with("HTTP/1.1 400"),
                "fast={fast_path} {key}: {text}"
            );
        }
        let text = exchange(
            &server,
            upgrade("1.0", "dGhlIHNhbXBsZSBub25jZQ==").as_bytes(),
        )
        .await;
        assert!(
            text.starts_with("HTTP/1.0 400") || text.starts_with("HTTP/1.1 400"),
            "fast={fast_path} HTTP/1.0: {text}"
        );
        // RFC 6455's own example.
        let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
        s.write_all(upgrade("1.1", "dGhlIHNhbXBsZSBub25jZQ==").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(PROMPT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 101"), "{text}");
        assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
        // And a real client still connects.
        new_session(&server).await;
    }
}

/// A client that pipelines requests and never reads its replies: once the server's writes stop
/// making progress for the idle timeout, the session ends and its slot is free for others.
#[tokio::test]
async fn a_client_that_never_reads_loses_its_slot() {
    let server = start(ServerConfig {
        max_concurrent_envs: 1,
        idle_timeout: Some(Duration::from_millis(500)),
        ..ServerConfig::default()
    })
    .await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(server.local_addr()).await.unwrap();
    let (mut hog, _) = tokio_tungstenite::client_async(server.ws_url(), stream)
        .await
        .unwrap();
    let writer = tokio::spawn(async move {
        // Bounded: stops when the server cuts it off, or after 8 s.
        let _ = tokio::time::timeout(Duration::from_secs(8), async {
            for _ in 0..2_000_000 {
                if hog
                    .feed(Message::text(r#"{"type":"state"}"#))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let _ = hog.flush().await;
        })
        .await;
        hog
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        let mut ws = connect(&server).await;
        last = request(&mut ws, r#"{"type":"reset"}"#).await;
        if last["type"] == "observation" {
            let _hog = writer.await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the slot stayed taken by a client that never reads: {last}");
}
