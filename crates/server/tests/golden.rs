//! Golden tests: replay the client side of the reference captures (tests/golden/, real traffic of
//! openenv-core 0.3.0 and openenv 0.10.0) against our server and compare every reply key by key.
//!
//! The server speaks openenv 0.10 where 0.10 differs from 0.3.0 in ways 0.3.0 clients accept
//! (docs/server.md); [`as_010`] applies exactly those differences to the 0.3.0 replies before the
//! comparison, and golden010.rs compares against real 0.10 captures.

mod common;

use common::*;
use openenv_server::ServerConfig;
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const WS_CAPTURE: &str = include_str!("golden/ws_capture.txt");
const WS_CAPACITY: &str = include_str!("golden/ws_capacity.txt");
const HTTP_CAPTURE: &str = include_str!("golden/http_capture.txt");
const ENVCLIENT_CAPTURE: &str = include_str!("golden/envclient_capture.txt");

/// A 0.3.0 reply as openenv 0.10 sends it: the observation starts with `"metadata":{}`, and an
/// HTTP reset/step body ends with `"metadata":null`.
fn as_010(mut v: Value, http_body: bool) -> Value {
    fn observation_first(obs: &mut Value) {
        if let Value::Object(m) = obs {
            let mut out = serde_json::Map::new();
            out.insert("metadata".into(), Value::Object(Default::default()));
            out.extend(std::mem::take(m));
            *m = out;
        }
    }
    if v["type"] == "observation" {
        observation_first(&mut v["data"]["observation"]);
    }
    if http_body && v.get("observation").is_some() && v.get("done").is_some() {
        observation_first(&mut v["observation"]);
        v.as_object_mut()
            .unwrap()
            .insert("metadata".into(), Value::Null);
    }
    v
}

/// Replay one capture section on a fresh connection, comparing with the 0.3.0 replies as 0.10
/// sends them.
async fn replay(server: &openenv_server::ServerHandle, capture: &str, section: &str) -> Ws {
    let mut ws = connect(server).await;
    replay_with(&mut ws, capture, section, |ours, theirs| {
        let theirs = as_010(theirs, false);
        if theirs["data"]["code"] == "EXECUTION_ERROR" {
            // The reference fails inside time.sleep(1e300) ("timestamp out of range"); we refuse
            // the request up front, in the same message shape, and keep the session.
            assert_eq!(ours["type"], "error");
            assert_eq!(ours["data"]["code"], "VALIDATION_ERROR", "{ours}");
            assert_eq!(
                ours["data"]["errors"][0]["type"], "less_than_equal",
                "{ours}"
            );
            return;
        }
        assert_same_shape(ours, &theirs);
    })
    .await;
    ws
}

#[tokio::test]
async fn session_a_happy_path() {
    let server = start_default().await;
    let mut ws = replay(&server, WS_CAPTURE, "Session A").await;
    // The capture ends with {"type":"close"}: the server closes with 1000.
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Normal));
}

#[tokio::test]
async fn session_b_reset_variants_and_state_before_reset() {
    let server = start_default().await;
    replay(&server, WS_CAPTURE, "Session B").await;
}

#[tokio::test]
async fn session_c_errors_keep_the_connection_open() {
    let server = start_default().await;
    let mut ws = replay(&server, WS_CAPTURE, "Session C").await;
    // Still usable after all of them.
    let r = request(&mut ws, r#"{"type": "step", "data": {"wait_seconds": 0}}"#).await;
    assert_eq!(r["data"]["observation"]["step_count"], 1);
}

#[tokio::test]
async fn session_d_step_without_reset() {
    let server = start_default().await;
    replay(&server, WS_CAPTURE, "Session D").await;
}

#[tokio::test]
async fn session_e_binary_frame_is_a_session_error_then_close_1000() {
    let server = start_default().await;
    let mut ws = connect(&server).await;
    use futures_util::SinkExt;
    ws.send(Message::binary(br#"{"type":"reset"}"#.to_vec()))
        .await
        .unwrap();
    let ours = recv_json(&mut ws).await;
    let theirs: Value = serde_json::from_str(
        r#"{"type":"error","data":{"message":"'text'","code":"SESSION_ERROR"}}"#,
    )
    .unwrap();
    // Same shape and code; our message says what went wrong instead of "'text'".
    assert_eq!(ours["data"]["code"], theirs["data"]["code"]);
    let keys = |v: &Value| {
        v["data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&ours), keys(&theirs));
    assert_eq!(expect_close(&mut ws).await, Some(CloseCode::Normal));
}

#[tokio::test]
async fn session_f_pipelining_replies_in_order() {
    let server = start_default().await;
    replay(&server, WS_CAPTURE, "Session F").await;
}

#[tokio::test]
async fn capacity_rejection_matches_the_capture() {
    let server = start(ServerConfig {
        max_concurrent_envs: 2,
        ..ServerConfig::default()
    })
    .await;
    let held = hold_capacity(&server, WS_CAPACITY, |v| as_010(v, false)).await;
    // The extra connection: 101, then the unprompted error, then close 1000.
    let theirs = unsolicited(WS_CAPACITY);
    let mut extra = connect(&server).await;
    let ours = recv_json(&mut extra).await;
    assert_same_shape(&ours, &theirs);
    assert_eq!(ours, theirs, "same message, same numbers");
    assert_eq!(expect_close(&mut extra).await, Some(CloseCode::Normal));
    // After releasing the held sessions, a new connection gets an environment.
    drop(held);
    let mut ok = None;
    for _ in 0..50 {
        let mut ws = connect(&server).await;
        let r = request(&mut ws, r#"{"type": "reset", "data": {}}"#).await;
        if r["type"] == "observation" {
            ok = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        ok.expect("a slot frees up")["data"]["observation"]["step_count"],
        0
    );
}

#[tokio::test]
async fn envclient_error_surfacing_capture() {
    let server = start_default().await;
    replay(&server, ENVCLIENT_CAPTURE, "error surfacing").await;
    replay(&server, ENVCLIENT_CAPTURE, "async EnvClient").await;
    replay(&server, ENVCLIENT_CAPTURE, "async GenericEnvClient").await;
}

#[tokio::test]
async fn every_captured_http_exchange() {
    let server = start_default().await;
    for case in HTTP_CASES_BOTH {
        let title = &case.0;
        let x = http_exchange(&server, HTTP_CAPTURE, case).await;
        if *title != "GET /schema" {
            assert_same_shape(&x.ours_v, &as_010(x.theirs_v.clone(), true));
        }
        if *title == "GET /reset (wrong method)" {
            assert_eq!(header(&x.headers, "allow"), Some("POST"));
        }
        if ["GET /metadata", "GET /health"].contains(title) {
            assert_eq!(x.ours, x.theirs, "{title}: byte for byte");
        }
        if *title == "GET /schema" {
            // 0.10 appends `reset_observation` (the observation's schema); the rest is 0.3.0's
            // document byte for byte.
            let (head, reset_obs) = x
                .ours
                .split_once(r#","reset_observation":"#)
                .expect("reset_observation in /schema");
            assert_eq!(format!("{head}}}"), x.theirs, "{title}: byte for byte");
            let reset_obs: Value = serde_json::from_str(&reset_obs[..reset_obs.len() - 1]).unwrap();
            assert_eq!(reset_obs, x.theirs_v["observation"]);
        }
    }
}

#[tokio::test]
async fn huge_wait_over_http_is_a_422_not_a_500() {
    let server = start_default().await;
    let (want_status, _) = http_capture(
        HTTP_CAPTURE,
        "POST /step wait_seconds=1e300 (env raises OverflowError)",
    );
    assert_eq!(want_status, 500, "the reference crashes");
    let (status, _, body) =
        post_json(&server, "/step", r#"{"action":{"wait_seconds":1e300}}"#).await;
    assert_eq!(status, 422);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["detail"][0]["type"], "less_than_equal");
    assert_eq!(v["detail"][0]["loc"], serde_json::json!(["wait_seconds"]));
}
