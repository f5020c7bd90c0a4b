//! Golden tests against the current OpenEnv release: replay the client side of the openenv
//! 0.10.0 captures (tests/golden/openenv010_*.txt, made by tests/python/capture_openenv010.py)
//! against our server and compare every reply key by key, as golden.rs does for 0.3.0.

mod common;

use common::*;
use openenv_server::ServerConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const WS: &str = include_str!("golden/openenv010_ws.txt");
const HTTP: &str = include_str!("golden/openenv010_http.txt");
const CLIENTS: &str = include_str!("golden/openenv010_clients.txt");

/// Send every C->S line of a section, compare every S->C line with our reply.
async fn replay_on(ws: &mut Ws, capture: &str, section: &str) {
    replay_with(ws, capture, section, |ours, theirs| {
        assert_same_shape(ours, &theirs)
    })
    .await;
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
    let theirs = unsolicited(WS);
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
    let _held = hold_capacity(&server, WS, |v| v).await;
    let theirs = unsolicited(&WS[WS.find("## Capacity").unwrap()..]);
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

/// The exchanges only the openenv 0.10 capture has (it also has all of [`HTTP_CASES_BOTH`]).
const HTTP_CASES_010: &[HttpCase] = &[
    (
        r#"POST /step {"action":{"wait_seconds":0,"metadata":{"k":"v"}}}"#,
        "POST",
        "/step",
        JSON,
        Some(r#"{"action":{"wait_seconds":0,"metadata":{"k":"v"}}}"#),
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
    for case in HTTP_CASES_BOTH.iter().chain(HTTP_CASES_010) {
        let title = &case.0;
        let x = http_exchange(&server, HTTP, case).await;
        assert_same_shape(&x.ours_v, &x.theirs_v);
        if title.contains("wrong method") {
            assert_eq!(header(&x.headers, "allow"), Some("POST"), "{title}");
        }
        if ["GET /schema", "GET /metadata", "GET /health"].contains(title) {
            assert_eq!(x.ours, x.theirs, "{title}: byte for byte");
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
