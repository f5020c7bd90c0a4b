//! Property-based fuzzing of the WebSocket frame path of a real server (over loopback TCP):
//! pipelined frames (mutated protocol messages, binary, pings) are each answered in order until
//! something ends the session, and arbitrary bytes after the handshake end in a close, never in
//! a hang or a panic (`openenv_internal_errors_total` stays 0).
//!
//! Bounded here (48 cases per property); a long run is one command away:
//! `PROPTEST_CASES=5000 cargo test --release -p openenv-server --test fuzz` (or `bench/fuzz.sh`).

mod common;

use futures_util::{SinkExt, StreamExt};
use openenv_protocol::inbound::{parse_ws_request, Limits, WsRequest};
use openenv_server::{ServerConfig, ServerHandle};
use proptest::prelude::*;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// Steps wait at most this long, so that any valid step is answered promptly.
const MAX_WAIT: f64 = 0.02;

struct Fixture {
    rt: tokio::runtime::Runtime,
    server: ServerHandle,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(common::start(ServerConfig {
            max_concurrent_envs: 0,
            max_wait_seconds: MAX_WAIT,
            max_message_size: 4096,
            ..ServerConfig::default()
        }));
        Fixture { rt, server }
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

#[derive(Debug, Clone)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

const SEEDS: &[&str] = &[
    r#"{"type":"reset"}"#,
    r#"{"type":"step","data":{"wait_seconds":0.01}}"#,
    r#"{"type":"step","data":{}}"#,
    r#"{"type":"state"}"#,
    r#"{"type":"close"}"#,
    r#"{"type":"mcp","data":{"id":7}}"#,
];

const FRAGMENTS: &[&str] = &[
    "NaN", "Infinity", "1e400", "é", "☃", "\\", "\"", "{", "}", "[", ",", ":", "-", "0", " ",
];

/// A protocol message with a few random edits at char boundaries.
fn text() -> impl Strategy<Value = String> {
    let frag = prop_oneof![
        proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    (
        proptest::sample::select(SEEDS),
        proptest::collection::vec((any::<usize>(), any::<bool>(), frag), 0..4),
    )
        .prop_map(|(seed, edits)| {
            let mut s = seed.to_owned();
            for (i, delete, f) in edits {
                let n = s.chars().count();
                let k = i % (n + 1);
                let b = s.char_indices().nth(k).map(|(b, _)| b).unwrap_or(s.len());
                if delete && b < s.len() {
                    s.remove(b);
                } else {
                    s.insert_str(b, &f);
                }
            }
            s
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        8 => text().prop_map(Frame::Text),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Frame::Binary),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Frame::Ping),
    ]
}

/// Text replies expected: one per text frame, until a frame that ends the session (a binary
/// frame, or a valid `close`).
fn expected_replies(frames: &[Frame]) -> usize {
    let limits = Limits {
        max_wait_seconds: MAX_WAIT,
    };
    let mut n = 0;
    for f in frames {
        match f {
            Frame::Text(t) => match parse_ws_request(t, &limits) {
                Ok(WsRequest::Close) => return n,
                _ => n += 1,
            },
            Frame::Binary(_) => return n + 1, // answered with SESSION_ERROR, then closed
            Frame::Ping(_) => {}
        }
    }
    n
}

async fn internal_errors(server: &ServerHandle) -> u64 {
    let (_, _, body) = common::http(server, "GET", "/metrics", None, None).await;
    body.lines()
        .find(|l| l.starts_with("openenv_internal_errors_total{"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .expect("internal errors in /metrics")
}

async fn pipelined(server: &ServerHandle, frames: Vec<Frame>) -> Result<(), TestCaseError> {
    let want = expected_replies(&frames);
    let mut ws = common::connect(server).await;
    for f in frames {
        let m = match f {
            Frame::Text(t) => Message::text(t),
            Frame::Binary(b) => Message::binary(b),
            Frame::Ping(p) => Message::Ping(Bytes::from(p)),
        };
        if ws.feed(m).await.is_err() {
            break;
        }
    }
    let _ = ws.flush().await;
    if want == 0 {
        let _ = ws.close(None).await;
    }
    let mut got = 0;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str())
                        .map_err(|e| TestCaseError::fail(format!("reply not JSON: {e}: {t}")))?;
                    prop_assert!(
                        ["observation", "state", "error", "mcp"]
                            .contains(&v["type"].as_str().unwrap_or("")),
                        "{}",
                        v
                    );
                    got += 1;
                    if got == want {
                        // Every request answered; end the session ourselves.
                        let _ = ws.close(None).await;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok(()),
            }
        }
    })
    .await;
    prop_assert!(ended.is_ok(), "session neither answered nor ended in 5 s");
    ended.unwrap()?;
    prop_assert_eq!(got, want);
    Ok(())
}

async fn raw_bytes(server: &ServerHandle, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let _ = s.write_all(&bytes).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    prop_assert!(r.is_ok(), "connection not ended 5 s after the client's FIN");
    prop_assert!(out.starts_with(b"HTTP/1.1 101"));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn pipelined_frames_are_answered_in_order(frames in proptest::collection::vec(frame(), 0..6)) {
        let f = fixture();
        f.rt.block_on(pipelined(&f.server, frames))?;
        prop_assert_eq!(f.rt.block_on(internal_errors(&f.server)), 0);
    }

    #[test]
    fn arbitrary_bytes_after_the_handshake_end_in_a_close(
        bytes in proptest::collection::vec(any::<u8>(), 0..200)
    ) {
        let f = fixture();
        f.rt.block_on(raw_bytes(&f.server, bytes))?;
        prop_assert_eq!(f.rt.block_on(internal_errors(&f.server)), 0);
    }
}
