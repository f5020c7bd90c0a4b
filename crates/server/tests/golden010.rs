//! Golden tests against the current OpenEnv release: replay the client side of the openenv
//! 0.10.0 captures (tests/golden/openenv010_*.txt, made by tests/python/capture_openenv010.py)
//! against our server and compare every reply key by key, as golden.rs does for 0.3.0.

mod common;

use common::*;
use openenv_server::ServerConfig;
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const WS: &str = include_str!("golden/openenv010_ws.txt");
const HTTP: &str = include_str!("golden/openenv010_http.txt");
const CLIENTS: &str = include_str!("golden/openenv010_clients.txt");

/// Send every C->S line of a section, compare every S->C line with our reply.
async fn replay_on(ws: &mut Ws, capture: &str, section: &str) {
    let lines = capture_lines(capture, section);
    assert!(!lines.is_empty(), "no lines in section {section}");
    for (dir, text) in lines {
        if dir == "C->S" {
            send(ws, &text).await;
            continue;
        }
        let theirs: Value = serde_json::from_str(&text).unwrap();
        let ours = recv_json(ws).await;
        assert_same_shape(&ours, &theirs);
    }
}

async fn replay(capture: &str, section: &str) {
    let server = start_default().await;
    let mut ws = connect(&server).await;
    replay_on(&mut ws, capture, section).await;
}

#[tokio::test]
async fn ws_sessions_match_openenv_010() {
    for section in [
        "Session A",
        "Session B",
        "Session C",
        "Session M",
        "Session N",
        "Session F",
    ] {
        replay(WS, section).await;
    }
}

#[tokio::test]
async fn mcp_create_over_ws_names_the_session_and_it_cannot_be_closed() {
    let server = start_default().await;
    let mut ws = connect(&server).await;
    let r = request(
        &mut ws,
        r#"{"type":"mcp","data":{"jsonrpc":"2.0","method":"openenv/session/create","id":1}}"#,
    )
    .await;
    let sid = r["data"]["result"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&sid).is_ok(), "{r}");
    let again = request(
        &mut ws,
        r#"{"type":"mcp","data":{"jsonrpc":"2.0","method":"openenv/session/create","id":2}}"#,
    )
    .await;
    assert_eq!(again["data"]["result"]["session_id"], sid.as_str());
    let close = format!(
        r#"{{"type":"mcp","data":{{"jsonrpc":"2.0","method":"openenv/session/close","params":{{"session_id":"{sid}"}},"id":3}}}}"#
    );
    let r = request(&mut ws, &close).await;
    assert_eq!(r["data"]["error"]["code"], -32600, "{r}");
}

/// Connect to `/ws` + `query`.
async fn connect_query(server: &openenv_server::ServerHandle, query: &str) -> Ws {
    let url = format!("{}{query}", server.ws_url());
    let (ws, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

#[tokio::test]
async fn unknown_session_id_is_refused_as_openenv_010_does() {
    let server = start(ServerConfig {
        max_concurrent_envs: 1,
        ..ServerConfig::default()
    })
    .await;
    // Hold the only slot: an attach is refused for the unknown id, not for capacity.
    let mut held = connect(&server).await;
    request(&mut held, r#"{"type":"reset"}"#).await;
    let theirs: Value = serde_json::from_str(
        WS.lines()
            .find_map(|l| l.trim().strip_prefix("S->C (unsolicited): "))
            .unwrap(),
    )
    .unwrap();
    let mut ws = connect_query(&server, "?session_id=no-such-session").await;
    let ours = recv_json(&mut ws).await;
    assert_eq!(ours, theirs, "same message, same id");
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Normal));
    // Percent-encoding is decoded; the last session_id wins (Starlette's reading).
    let mut ws = connect_query(&server, "?session_id=x&session_id=a%20b+c").await;
    assert_eq!(
        recv_json(&mut ws).await["data"]["message"],
        "Unknown session_id: a b c"
    );
    // The EnvClient way: it sends reset at once and reads the error as the reply.
    let mut ws = connect_query(&server, "?session_id=no-such-session").await;
    let r = request(&mut ws, r#"{"type": "reset", "data": {}}"#).await;
    assert_eq!(r["data"]["code"], "SESSION_ERROR");
}

#[tokio::test]
async fn empty_or_other_query_parameters_open_a_new_session() {
    let server = start_default().await;
    for (query, section) in [("?session_id=", "Session T"), ("?other=1", "Session U")] {
        let mut ws = connect_query(&server, query).await;
        replay_on(&mut ws, WS, section).await;
    }
}

#[tokio::test]
async fn unknown_session_id_through_the_hyper_upgrade_path() {
    let server = start(ServerConfig {
        ws_fast_path: false,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect_query(&server, "?session_id=zz").await;
    assert_eq!(
        recv_json(&mut ws).await["data"]["message"],
        "Unknown session_id: zz"
    );
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Normal));
}

#[tokio::test]
async fn capacity_rejection_matches_openenv_010() {
    let server = start(ServerConfig {
        max_concurrent_envs: 2,
        ..ServerConfig::default()
    })
    .await;
    let lines = capture_lines(WS, "Capacity");
    let mut held = Vec::new();
    for pair in lines[..4].chunks(2) {
        let mut ws = connect(&server).await;
        let ours = request(&mut ws, &pair[0].1).await;
        assert_same_shape(&ours, &serde_json::from_str(&pair[1].1).unwrap());
        held.push(ws);
    }
    let section = &WS[WS.find("## Capacity").unwrap()..];
    let theirs: Value = serde_json::from_str(
        section
            .lines()
            .find_map(|l| l.trim().strip_prefix("S->C (unsolicited): "))
            .unwrap(),
    )
    .unwrap();
    let mut extra = connect(&server).await;
    assert_eq!(recv_json(&mut extra).await, theirs);
    assert_eq!(expect_close(&mut extra).await, Some(CloseCode::Normal));
}

#[tokio::test]
async fn real_010_client_traffic_replays() {
    for section in ["async EnvClient", "async GenericEnvClient", "sync wrapper"] {
        replay(CLIENTS, section).await;
    }
    // What GenericEnvClient saw on ?session_id= of an unknown session.
    let server = start_default().await;
    let mut ws = connect_query(&server, "?session_id=no-such-session").await;
    replay_on(&mut ws, CLIENTS, "GenericEnvClient on ?session_id=").await;
}

/// (capture title, method, path, content type, body)
type HttpCase = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const JSON: Option<&str> = Some("application/json");

const HTTP_CASES: &[HttpCase] = &[
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
        r#"POST /step {"action":{"wait_seconds":0,"metadata":{"k":"v"}}}"#,
        "POST",
        "/step",
        JSON,
        Some(r#"{"action":{"wait_seconds":0,"metadata":{"k":"v"}}}"#),
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
    (
        "POST /mcp tools/call",
        "POST",
        "/mcp",
        JSON,
        Some(
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}},"id":2}"#,
        ),
    ),
    (
        "POST /mcp tools/call without name",
        "POST",
        "/mcp",
        JSON,
        Some(r#"{"jsonrpc":"2.0","method":"tools/call","params":{},"id":3}"#),
    ),
    (
        "POST /mcp unknown method",
        "POST",
        "/mcp",
        JSON,
        Some(r#"{"jsonrpc":"2.0","method":"resources/list","params":{},"id":"r-4"}"#),
    ),
    (
        "POST /mcp tools/list with an unknown session_id",
        "POST",
        "/mcp",
        JSON,
        Some(
            r#"{"jsonrpc":"2.0","method":"tools/list","params":{"session_id":"no-such-session"},"id":5}"#,
        ),
    ),
    (
        "POST /mcp openenv/session/close without session_id",
        "POST",
        "/mcp",
        JSON,
        Some(r#"{"jsonrpc":"2.0","method":"openenv/session/close","params":{},"id":6}"#),
    ),
    (
        "POST /mcp openenv/session/close with an unknown session_id",
        "POST",
        "/mcp",
        JSON,
        Some(
            r#"{"jsonrpc":"2.0","method":"openenv/session/close","params":{"session_id":"no-such-session"},"id":7}"#,
        ),
    ),
    (
        "POST /mcp invalid JSON",
        "POST",
        "/mcp",
        JSON,
        Some("{bad json"),
    ),
    (
        "POST /mcp without jsonrpc",
        "POST",
        "/mcp",
        JSON,
        Some(r#"{"method":"tools/list","id":8}"#),
    ),
    ("GET /mcp (wrong method)", "GET", "/mcp", None, None),
];

#[tokio::test]
async fn every_captured_http_exchange_of_openenv_010() {
    let server = start_default().await;
    for (title, method, path, ct, body) in HTTP_CASES {
        let (want_status, want_body) = http_capture(HTTP, title);
        let (status, headers, ours) = http(&server, method, path, *ct, *body).await;
        assert_eq!(status, want_status, "{title}: {ours}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/json"),
            "{title}"
        );
        let ours_v: Value = serde_json::from_str(&ours).unwrap();
        let theirs_v: Value = serde_json::from_str(&want_body)
            .unwrap_or_else(|e| panic!("{title}: capture body {want_body:?}: {e}"));
        assert_same_shape(&ours_v, &theirs_v);
        if title.contains("wrong method") {
            assert_eq!(header(&headers, "allow"), Some("POST"), "{title}");
        }
        if ["GET /schema", "GET /metadata", "GET /health"].contains(title) {
            assert_eq!(ours, want_body, "{title}: byte for byte");
        }
    }
}

#[tokio::test]
async fn huge_wait_is_refused_where_openenv_010_sleeps_it() {
    // 0.10 sleeps 1e300 s (no reply in the capture); we refuse it up front, as for 0.3.0.
    assert!(HTTP.contains("### POST /step wait_seconds=1e300\n(no reply"));
    let section = &WS[WS.find("## Session H").unwrap()..];
    assert!(section.lines().nth(2).unwrap().contains("no reply"));
    let server = start_default().await;
    let mut ws = connect(&server).await;
    let r = request(
        &mut ws,
        r#"{"type": "step", "data": {"wait_seconds": 1e+300}}"#,
    )
    .await;
    assert_eq!(r["data"]["code"], "VALIDATION_ERROR");
    assert_eq!(r["data"]["errors"][0]["type"], "less_than_equal");
}
