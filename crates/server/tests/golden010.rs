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

/// The `HTTP POST /mcp BODY` / `HTTP 200 BODY` lines of a clients-capture section, in order.
fn http_lines(section: &str) -> Vec<(String, String)> {
    let start = CLIENTS.find(&format!("## {section}")).unwrap();
    let text = &CLIENTS[start + 3..];
    let text = &text[..text.find("\n## ").unwrap_or(text.len())];
    let mut out = Vec::new();
    let mut req = None;
    for l in text.lines().map(str::trim_start) {
        if let Some(body) = l.strip_prefix("HTTP POST /mcp ") {
            req = Some(body.to_owned());
        } else if let Some(body) = l.strip_prefix("HTTP 200 ") {
            out.push((
                req.take().expect("request before response"),
                body.to_owned(),
            ));
        }
    }
    out
}

async fn post_mcp(server: &openenv_server::ServerHandle, body: &str) -> Value {
    let (status, _, text) = http(server, "POST", "/mcp", JSON, Some(body)).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// 0.10's `MCPToolClient` against the benchmark environment, as captured from the 0.10 reference:
/// `openenv/session/create` over `POST /mcp`, `/ws?session_id=` attaches to that session,
/// `tools/list` in it (no tools), close the WS, `openenv/session/close`. Replayed with our
/// session id in place of theirs; every reply compared key by key.
#[tokio::test]
async fn mcp_tool_client_sessions_replay_as_openenv_010() {
    let server = start(ServerConfig {
        max_concurrent_envs: 1,
        ..ServerConfig::default()
    })
    .await;
    let exchanges = http_lines("MCPToolClient against the benchmark environment");
    assert_eq!(exchanges.len(), 3, "{exchanges:?}");
    let (create, created) = &exchanges[0];
    let ours = post_mcp(&server, create).await;
    let theirs: Value = serde_json::from_str(created).unwrap();
    let (sid, their_sid) = (
        ours["result"]["session_id"].as_str().unwrap().to_owned(),
        theirs["result"]["session_id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(sid.len(), 36, "a UUID: {ours}");
    let with_ours =
        |text: &str| -> Value { serde_json::from_str(&text.replace(&their_sid, &sid)).unwrap() };
    assert_eq!(ours, with_ours(created));
    // The held session counts against the capacity (1): a new WS session is refused.
    let mut extra = connect(&server).await;
    assert_eq!(
        recv_json(&mut extra).await["data"]["code"],
        "CAPACITY_REACHED"
    );
    // ... and so is a second held session, as 0.10's SessionCapacityError.
    let full = post_mcp(&server, create).await;
    assert_eq!(full["error"]["code"], -32000, "{full}");
    assert_eq!(full["error"]["data"]["max_sessions"], 1);
    // Attach, use it, detach.
    let mut ws = connect_query(&server, &format!("?session_id={sid}")).await;
    let r = request(&mut ws, r#"{"type":"reset","data":{}}"#).await;
    assert_eq!(r["type"], "observation", "{r}");
    let (list, listed) = &exchanges[1];
    assert_eq!(
        post_mcp(&server, &list.replace(&their_sid, &sid)).await,
        with_ours(listed)
    );
    // A second WebSocket on the same session is refused while the first is attached.
    let mut twice = connect_query(&server, &format!("?session_id={sid}")).await;
    let e = recv_json(&mut twice).await;
    assert_eq!(e["data"]["code"], "SESSION_ERROR", "{e}");
    send(&mut ws, r#"{"type": "close"}"#).await;
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Normal));
    drop((ws, twice));
    // Held again after the WS: it can be attached to again, still the same environment.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut again = connect_query(&server, &format!("?session_id={sid}")).await;
    let s = request(
        &mut again,
        r#"{"type":"mcp","data":{"jsonrpc":"2.0","method":"openenv/session/create","id":1}}"#,
    )
    .await;
    assert_eq!(s["data"]["result"]["session_id"], sid.as_str(), "{s}");
    // Closing while attached: "closing", and the session ends with the WS.
    let close_req = exchanges[2].0.replace(&their_sid, &sid);
    let closing = post_mcp(&server, &close_req).await;
    assert_eq!(
        closing["result"],
        serde_json::json!({"session_id": sid, "closed": false, "closing": true})
    );
    send(&mut again, r#"{"type": "close"}"#).await;
    assert_eq!(expect_close(&mut again).await, Some(CloseCode::Normal));
    drop(again);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let gone = post_mcp(&server, &close_req).await;
    assert_eq!(
        gone["error"]["message"],
        format!("Unknown session_id: {sid}")
    );
    // Its capacity slot is free again.
    let mut fresh = connect(&server).await;
    assert_eq!(
        request(&mut fresh, r#"{"type":"reset","data":{}}"#).await["type"],
        "observation"
    );
    drop(fresh);

    // The capture's own close, on a session that is not attached: closed at once.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let ours = post_mcp(&server, create).await;
    let sid2 = ours["result"]["session_id"].as_str().unwrap().to_owned();
    let (close, closed) = &exchanges[2];
    let theirs: Value = serde_json::from_str(&closed.replace(&their_sid, &sid2)).unwrap();
    assert_eq!(
        post_mcp(&server, &close.replace(&their_sid, &sid2)).await,
        theirs
    );
}
