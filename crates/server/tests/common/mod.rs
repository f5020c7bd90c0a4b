//! Helpers shared by the server's integration tests: a server on 127.0.0.1:0, a WebSocket client,
//! raw HTTP, and JSON shape comparison against the captures.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use openenv_server::{ServerConfig, ServerHandle};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous bound for anything that should happen "promptly".
pub const PROMPT: Duration = Duration::from_secs(5);

pub async fn start(cfg: ServerConfig) -> ServerHandle {
    ServerHandle::start("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("server starts")
}

pub async fn start_default() -> ServerHandle {
    start(ServerConfig::default()).await
}

pub async fn connect(server: &ServerHandle) -> Ws {
    let (ws, resp) =
        tokio::time::timeout(PROMPT, tokio_tungstenite::connect_async(server.ws_url()))
            .await
            .expect("connect in time")
            .expect("websocket handshake");
    assert_eq!(resp.status(), 101);
    ws
}

pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_owned()))
        .await
        .expect("send text frame");
}

/// The next text frame (skipping pings/pongs), as a string.
pub async fn recv_text(ws: &mut Ws) -> String {
    loop {
        let m = tokio::time::timeout(PROMPT, ws.next())
            .await
            .expect("a reply in time")
            .expect("stream open")
            .expect("frame ok");
        match m {
            Message::Text(t) => return t.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub async fn recv_json(ws: &mut Ws) -> Value {
    let t = recv_text(ws).await;
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {t}"))
}

pub async fn request(ws: &mut Ws, text: &str) -> Value {
    send(ws, text).await;
    recv_json(ws).await
}

/// Wait for the server's close frame; returns its code (None if the TCP connection just ended).
pub async fn expect_close(ws: &mut Ws) -> Option<CloseCode> {
    expect_close_within(ws, PROMPT).await
}

pub async fn expect_close_within(ws: &mut Ws, within: Duration) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("server closes in time");
        match m {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(Message::Text(t))) => panic!("unexpected text before close: {t}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// One raw HTTP/1.1 exchange on a fresh connection (`Connection: close`).
/// Returns (status, lowercase headers, body).
pub async fn http_raw(server: &ServerHandle, raw: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(PROMPT, s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .unwrap();
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

pub async fn http(
    server: &ServerHandle,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    let body = body.unwrap_or("");
    if method == "POST" || !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    http_raw(server, req.as_bytes()).await
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Keys whose values differ from run to run (compared by shape only).
const VOLATILE: &[&str] = &["pid", "session_hash", "host_url", "episode_id"];

/// Assert `ours` has the same shape as `theirs`: the same keys in the same order, the same JSON
/// types (int vs float too), recursively; and the same values except under volatile keys.
pub fn assert_same_shape(ours: &Value, theirs: &Value) {
    if let Err(e) = same_shape(ours, theirs, "$", false) {
        panic!("{e}\n ours:   {ours}\n theirs: {theirs}");
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn same_shape(ours: &Value, theirs: &Value, path: &str, volatile: bool) -> Result<(), String> {
    if kind(ours) != kind(theirs) {
        return Err(format!(
            "{path}: ours is {}, theirs is {}",
            kind(ours),
            kind(theirs)
        ));
    }
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            if ka != kb {
                return Err(format!("{path}: keys {ka:?} != {kb:?}"));
            }
            for (k, v) in a {
                let vol = volatile || VOLATILE.contains(&k.as_str());
                same_shape(v, &b[k], &format!("{path}.{k}"), vol)?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!("{path}: {} items != {}", a.len(), b.len()));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same_shape(x, y, &format!("{path}[{i}]"), volatile)?;
            }
            Ok(())
        }
        _ if volatile => {
            if path.ends_with("session_hash") {
                let s = ours.as_str().unwrap();
                if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("{path}: {s} is not 12 hex chars"));
                }
            }
            Ok(())
        }
        _ if ours != theirs => Err(format!("{path}: {ours} != {theirs}")),
        _ => Ok(()),
    }
}

/// The `(direction, text)` lines of a capture section (`C->S` / `S->C`), by section title prefix.
pub fn capture_lines(capture: &str, section: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in capture.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            inside = title.starts_with(section);
            continue;
        }
        if !inside {
            continue;
        }
        let t = line.trim_start();
        for dir in ["C->S: ", "S->C: "] {
            if let Some(rest) = t.strip_prefix(dir) {
                out.push((dir[..4].to_owned(), rest.to_owned()));
            }
        }
    }
    out
}

/// The body of a `### TITLE` section of http_capture.txt: (status, body).
pub fn http_capture(capture: &str, title: &str) -> (u16, String) {
    let start = capture
        .find(&format!("### {title}\n"))
        .unwrap_or_else(|| panic!("no capture section {title:?}"));
    let rest = &capture[start..];
    let rest = &rest[rest.find('\n').unwrap() + 1..];
    let end = rest.find("\n### ").unwrap_or(rest.len());
    let section = &rest[..end];
    let status: u16 = section
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let section = section.replace("\r\n", "\n");
    let body = section
        .split_once("\n\n")
        .map(|(_, b)| b.trim().to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Resident set size of this process in KiB (Linux).
pub fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
