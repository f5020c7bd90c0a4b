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
    connect_query(server, "").await
}

/// Connect to `/ws` + `query` (e.g. `?session_id=...`).
pub async fn connect_query(server: &ServerHandle, query: &str) -> Ws {
    let url = format!("{}{query}", server.ws_url());
    let (ws, resp) = tokio::time::timeout(PROMPT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("websocket handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// A new connection whose reset is answered with an observation (the server has a free slot).
pub async fn new_session(server: &ServerHandle) -> Ws {
    let mut ws = connect(server).await;
    let r = request(&mut ws, r#"{"type":"reset"}"#).await;
    assert_eq!(r["type"], "observation", "{r}");
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
    parse_response(exchange(server, raw).await.as_bytes())
}

/// Send raw bytes on a fresh connection and read until the server closes (bounded). Write and
/// read errors are not fatal: a server that refuses early may reset the connection, and what it
/// sent before is what the caller checks.
pub async fn exchange(server: &ServerHandle, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    let _ = s.write_all(raw).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(PROMPT, s.read_to_end(&mut buf))
        .await
        .expect("the server answers and closes in time");
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status code of an HTTP status line (`HTTP/1.1 200 OK`).
fn status_code(line: &str) -> u16 {
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"))
}

pub fn parse_response(buf: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let mut lines = head.lines();
    let status = status_code(lines.next().unwrap());
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

/// A POST with a JSON content type.
pub async fn post_json(
    server: &ServerHandle,
    path: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    http(server, "POST", path, Some("application/json"), Some(body)).await
}

/// `GET /health` answers 200.
pub async fn assert_healthy(server: &ServerHandle) {
    let (s, _, body) = http(server, "GET", "/health", None, None).await;
    assert_eq!(s, 200, "{body}");
}

/// The value of one sample of `/metrics` (the first line starting with `name{`).
pub async fn metric(server: &ServerHandle, name: &str) -> f64 {
    let (s, _, body) = http(server, "GET", "/metrics", None, None).await;
    assert_eq!(s, 200);
    let prefix = format!("{name}{{");
    body.lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in /metrics:\n{body}"))
}

/// Poll /metrics until `name` has `value` (bounded).
pub async fn wait_metric(server: &ServerHandle, name: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + PROMPT;
    while tokio::time::Instant::now() < deadline {
        if metric(server, name).await == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} did not reach {value} in {PROMPT:?}");
}

/// Run `n` copies of `one` at once and wait for all of them; returns how long that took.
pub async fn concurrently<F, Fut>(n: usize, one: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let t = std::time::Instant::now();
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(one())).collect();
    for task in tasks {
        task.await.unwrap();
    }
    t.elapsed()
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
    let status = status_code(section.lines().next().unwrap());
    let section = section.replace("\r\n", "\n");
    let body = section
        .split_once("\n\n")
        .map(|(_, b)| b.trim().to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Send every C->S line of a capture section as is and hand every S->C line, parsed, to `check`
/// with our reply to it: `check(ours, theirs)`. Consecutive C->S lines are pipelined, as captured.
pub async fn replay_with(
    ws: &mut Ws,
    capture: &str,
    section: &str,
    mut check: impl FnMut(&Value, Value),
) {
    let lines = capture_lines(capture, section);
    assert!(!lines.is_empty(), "no lines in section {section}");
    for (dir, text) in lines {
        if dir == "C->S" {
            send(ws, &text).await;
            continue;
        }
        let theirs: Value = serde_json::from_str(&text).unwrap();
        let ours = recv_json(ws).await;
        check(&ours, theirs);
    }
}

/// The first `S->C (unsolicited): ` message of a capture (text), parsed.
pub fn unsolicited(capture: &str) -> Value {
    let line = capture
        .lines()
        .find_map(|l| l.trim().strip_prefix("S->C (unsolicited): "))
        .expect("an unsolicited message in the capture");
    serde_json::from_str(line).unwrap()
}

/// Fill a server with `max_concurrent_envs: 2` from the capture's `Capacity` section: its first
/// two request/reply pairs, each on its own connection, compared after `adapt`. Returns the two
/// connections, which hold the slots.
pub async fn hold_capacity(
    server: &ServerHandle,
    capture: &str,
    adapt: impl Fn(Value) -> Value,
) -> Vec<Ws> {
    let lines = capture_lines(capture, "Capacity");
    let mut held = Vec::new();
    for pair in lines[..4].chunks(2) {
        let mut ws = connect(server).await;
        let ours = request(&mut ws, &pair[0].1).await;
        assert_same_shape(&ours, &adapt(serde_json::from_str(&pair[1].1).unwrap()));
        held.push(ws);
    }
    held
}

/// (capture title, method, path, content type, body)
pub type HttpCase = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

pub const JSON: Option<&str> = Some("application/json");

/// The HTTP exchanges both captures (openenv-core 0.3.0 and openenv 0.10.0) have.
pub const HTTP_CASES_BOTH: &[HttpCase] = &[
    ("GET /health", "GET", "/health", None, None),
    ("GET /state", "GET", "/state", None, None),
    ("GET /metadata", "GET", "/metadata", None, None),
    ("GET /schema", "GET", "/schema", None, None),
    ("POST /reset (no body)", "POST", "/reset", None, None),
    ("POST /reset {}", "POST", "/reset", JSON, Some("{}")),
    (
        r#"POST /reset {"seed":42,"episode_id":"ep-1"}"#,
        "POST",
        "/reset",
        JSON,
        Some(r#"{"seed":42,"episode_id":"ep-1"}"#),
    ),
    (
        r#"POST /step {"action":{"wait_seconds":0.1}}"#,
        "POST",
        "/step",
        JSON,
        Some(r#"{"action":{"wait_seconds":0.1}}"#),
    ),
    (
        r#"POST /step {"action":{}}"#,
        "POST",
        "/step",
        JSON,
        Some(r#"{"action":{}}"#),
    ),
    (
        r#"POST /step {"action":{"wait_seconds":"abc"}}  (invalid type)"#,
        "POST",
        "/step",
        JSON,
        Some(r#"{"action":{"wait_seconds":"abc"}}"#),
    ),
    (
        r#"POST /step {"action":{"bogus":1}}  (extra field, Action extra=forbid)"#,
        "POST",
        "/step",
        JSON,
        Some(r#"{"action":{"bogus":1}}"#),
    ),
    (
        "POST /step {} (missing action)",
        "POST",
        "/step",
        JSON,
        Some("{}"),
    ),
    ("POST /step (no body)", "POST", "/step", None, None),
    (
        r#"POST /step {"action":{"wait_seconds":0.0},"timeout_s":5,"request_id":"r1","extra":1}"#,
        "POST",
        "/step",
        JSON,
        Some(r#"{"action":{"wait_seconds":0.0},"timeout_s":5,"request_id":"r1","extra":1}"#),
    ),
    (
        r#"POST /step {"action":{"wait_seconds":0.0},"timeout_s":0}  (timeout_s must be >0)"#,
        "POST",
        "/step",
        JSON,
        Some(r#"{"action":{"wait_seconds":0.0},"timeout_s":0}"#),
    ),
    (
        r#"POST /reset {"seed":-1} (seed ge=0)"#,
        "POST",
        "/reset",
        JSON,
        Some(r#"{"seed":-1}"#),
    ),
    ("GET /reset (wrong method)", "GET", "/reset", None, None),
    ("GET /ws (plain HTTP to WS route)", "GET", "/ws", None, None),
    ("GET /web", "GET", "/web", None, None),
    ("GET /", "GET", "/", None, None),
    (
        "POST /reset with invalid JSON",
        "POST",
        "/reset",
        JSON,
        Some("{bad json"),
    ),
    (
        "POST /step with content-type text/plain",
        "POST",
        "/step",
        Some("text/plain"),
        Some(r#"{"action":{}}"#),
    ),
    (
        "POST /mcp tools/list",
        "POST",
        "/mcp",
        JSON,
        Some(r#"{"jsonrpc":"2.0","method":"tools/list","params":{},"id":1}"#),
    ),
];

/// One captured HTTP exchange replayed: ours and the capture's.
pub struct HttpExchange {
    pub headers: Vec<(String, String)>,
    pub ours: String,
    pub ours_v: Value,
    pub theirs: String,
    pub theirs_v: Value,
}

/// Send `case` and check what every captured exchange shares: the capture's status, a JSON
/// content type and a JSON body on both sides.
pub async fn http_exchange(server: &ServerHandle, capture: &str, case: &HttpCase) -> HttpExchange {
    let (title, method, path, ct, body) = *case;
    let (want_status, theirs) = http_capture(capture, title);
    let (status, headers, ours) = http(server, method, path, ct, body).await;
    assert_eq!(status, want_status, "{title}: {ours}");
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/json"),
        "{title}"
    );
    let ours_v: Value = serde_json::from_str(&ours).unwrap();
    let theirs_v: Value = serde_json::from_str(&theirs)
        .unwrap_or_else(|e| panic!("{title}: capture body {theirs:?}: {e}"));
    HttpExchange {
        headers,
        ours,
        ours_v,
        theirs,
        theirs_v,
    }
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
