//! The HTTP routes (axum), shaped like the reference's FastAPI app.

use crate::env::BenchEnv;
use crate::shared::Shared;
use crate::ws;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use openenv_protocol::inbound::{parse_http_reset, parse_http_step};
use openenv_protocol::mcp;
use openenv_protocol::HttpStepResponse;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `GET /schema`: the JSON Schemas of action, observation, state and reset observation, exactly
/// as openenv 0.10 serves them.
pub const SCHEMA_JSON: &str = include_str!("../assets/schema.json");
/// `GET /openapi.json`: the reference's OpenAPI document.
pub const OPENAPI_JSON: &str = include_str!("../assets/openapi.json");
pub const METADATA_JSON: &str = r#"{"name":"BenchmarkEnvironment","description":"BenchmarkEnvironment environment","readme_content":null,"version":"1.0.0","author":null,"documentation_url":null}"#;
pub const HEALTH_JSON: &str = r#"{"status":"healthy"}"#;

pub(crate) fn json(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn ok_json(shared: &Shared, body: impl Into<axum::body::Body>) -> Response {
    shared.metrics.http_requests.fetch_add(1, Relaxed);
    json(StatusCode::OK, body)
}

fn unprocessable(shared: &Shared, detail: Vec<serde_json::Value>) -> Response {
    shared.metrics.http_requests.fetch_add(1, Relaxed);
    let body = serde_json::json!({ "detail": detail }).to_string();
    json(StatusCode::UNPROCESSABLE_ENTITY, body)
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("application/octet-stream"))
}

async fn health(State(s): State<Arc<Shared>>) -> Response {
    ok_json(&s, HEALTH_JSON)
}

async fn metadata(State(s): State<Arc<Shared>>) -> Response {
    ok_json(&s, METADATA_JSON)
}

async fn schema(State(s): State<Arc<Shared>>) -> Response {
    ok_json(&s, SCHEMA_JSON)
}

async fn openapi(State(s): State<Arc<Shared>>) -> Response {
    ok_json(&s, OPENAPI_JSON)
}

async fn state(State(s): State<Arc<Shared>>) -> Response {
    let body = serde_json::to_string(&BenchEnv::new().state()).expect("state serializes");
    ok_json(&s, body)
}

async fn reset(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    match parse_http_reset(content_type(&headers), &body) {
        Err(detail) => unprocessable(&s, detail),
        Ok(req) => {
            let mut env = BenchEnv::new();
            env.reset(req.episode_id);
            let obs = env.observation(0.0, &s.who);
            let body = serde_json::to_string(&HttpStepResponse(&obs)).expect("serializes");
            ok_json(&s, body)
        }
    }
}

async fn step(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    match parse_http_step(content_type(&headers), &body, &s.limits) {
        Err(detail) => unprocessable(&s, detail),
        Ok(req) => {
            // Stateless, like the reference: a fresh environment for each request.
            if s.cfg.faults.panic_on_wait == Some(req.wait_seconds) {
                panic!("injected panic (wait_seconds={})", req.wait_seconds);
            }
            let started = Instant::now();
            let mut env = BenchEnv::new();
            if req.wait_seconds > 0.0 {
                let d = Duration::try_from_secs_f64(req.wait_seconds).unwrap_or(Duration::MAX);
                tokio::time::sleep(d).await;
            }
            env.step();
            let obs = env.observation(req.wait_seconds, &s.who);
            let body = serde_json::to_string(&HttpStepResponse(&obs)).expect("serializes");
            s.metrics.steps_http.fetch_add(1, Relaxed);
            s.metrics.observe_step(started.elapsed());
            ok_json(&s, body)
        }
    }
}

/// `POST /mcp`: JSON-RPC as openenv 0.10 answers it for an environment without MCP tools
/// (always 200, errors in the JSON-RPC body).
async fn mcp(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let reply = match openenv_protocol::pyjson::parse(&String::from_utf8_lossy(&body)) {
        // FastAPI's `JsonRpcRequest(**body)` fails on a non-object as on bad JSON.
        Ok(v) if v.is_object() => mcp::answer(&v, mcp::Origin::HttpSessions(&*s)),
        _ => mcp::parse_error(),
    };
    ok_json(&s, reply.to_string())
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    s.metrics.http_requests.fetch_add(1, Relaxed);
    let text = s
        .metrics
        .render(s.who.pid, s.active_sessions(), s.cfg.max_concurrent_envs);
    let mut r = Response::new(text.into());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn not_found() -> Response {
    json(StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#)
}

async fn method_not_allowed() -> Response {
    json(
        StatusCode::METHOD_NOT_ALLOWED,
        r#"{"detail":"Method Not Allowed"}"#,
    )
}

/// `GET /ws` reached through hyper (the fast path was off, or the upgrade came on a keep-alive
/// connection after other requests). Without upgrade headers it is a 404, like the reference.
async fn ws_upgrade(State(s): State<Arc<Shared>>, mut req: Request) -> Response {
    let headers = req.headers();
    let get = |name: &str| headers.get(name).map(|v| v.as_bytes().to_vec());
    if get("upgrade").is_none() {
        return not_found().await;
    }
    // A refused upgrade ends the connection: the client meant to stop speaking HTTP on it.
    let bad_upgrade = |body: &'static str| {
        let mut r = json(StatusCode::BAD_REQUEST, body);
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    // RFC 6455 4.1: the opening handshake is HTTP/1.1 or later.
    if req.version() < axum::http::Version::HTTP_11 {
        return bad_upgrade(r#"{"detail":"WebSocket upgrade needs HTTP/1.1"}"#);
    }
    let Some(accept) = ws::upgrade_accept_key(get) else {
        return bad_upgrade(r#"{"detail":"Invalid WebSocket upgrade request"}"#);
    };
    let session = req
        .uri()
        .path_and_query()
        .and_then(|pq| ws::requested_session(pq.as_str()));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shared = s.clone();
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let io = hyper_util::rt::TokioIo::new(upgraded);
            let ws = ws::websocket(io, Vec::new(), &shared).await;
            ws::serve_upgraded(ws, shared, session).await;
        }
    });
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header"),
    );
    r
}

/// The router of one worker.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.cfg.max_message_size;
    Router::new()
        .route("/health", get(health))
        .route("/metadata", get(metadata))
        .route("/schema", get(schema))
        .route("/state", get(state))
        .route("/reset", post(reset))
        .route("/step", post(step))
        .route("/mcp", post(mcp))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/ws", get(ws_upgrade))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}
