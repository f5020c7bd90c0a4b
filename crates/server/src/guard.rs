//! Every HTTP request passes here before the router: its body is bounded in size (by the
//! declared length, before anything is read) and in time (`header_read_timeout` for the whole
//! body, so a head with a `Content-Length` and then silence cannot hold a connection), and a
//! panic in a handler becomes a 500 that is counted, not a connection dropped without a reply.

use crate::http::json;
use crate::shared::Shared;
use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use futures_util::FutureExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tower_service::Service;

/// A JSON error like the router's (`{"detail": ...}`); `close` ends the connection after it
/// (the request body was not read, so the connection cannot carry another request).
fn refuse(status: StatusCode, detail: &'static str, close: bool) -> Response {
    let body = match detail {
        "Request Entity Too Large" => r#"{"detail":"Request Entity Too Large"}"#,
        "Expectation Failed" => r#"{"detail":"Expectation Failed"}"#,
        "Request Timeout" => r#"{"detail":"Request Timeout"}"#,
        "Internal Server Error" => r#"{"detail":"Internal Server Error"}"#,
        _ => r#"{"detail":"Bad Request"}"#,
    };
    let mut r = json(status, body);
    if close {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// Check the declared size and expectation, then read the body within the time limit.
async fn admit(req: Request<Incoming>, shared: &Shared) -> Result<Request<Body>, Response> {
    let limit = shared.cfg.max_message_size;
    let headers = req.headers();
    if let Some(expect) = headers.get(header::EXPECT) {
        if !expect.as_bytes().eq_ignore_ascii_case(b"100-continue") {
            return Err(refuse(
                StatusCode::EXPECTATION_FAILED,
                "Expectation Failed",
                true,
            ));
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    // Before the body is read (and before hyper sends `100 Continue`).
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Entity Too Large",
            true,
        ));
    }
    if req.body().is_end_stream() {
        return Ok(req.map(Body::new));
    }
    let (parts, body) = req.into_parts();
    let read = Limited::new(body, limit).collect();
    match tokio::time::timeout(shared.cfg.header_read_timeout, read).await {
        Ok(Ok(collected)) => Ok(Request::from_parts(parts, Body::from(collected.to_bytes()))),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Entity Too Large",
            true,
        )),
        Ok(Err(_)) => Err(refuse(StatusCode::BAD_REQUEST, "Bad Request", true)),
        Err(_) => Err(refuse(StatusCode::REQUEST_TIMEOUT, "Request Timeout", true)),
    }
}

/// Serve one request through the router, guarded (see the module docs).
pub(crate) async fn handle(
    mut app: Router,
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response, Infallible> {
    let req = match admit(req, &shared).await {
        Ok(req) => req,
        Err(resp) => return Ok(resp),
    };
    let routed = AssertUnwindSafe(async move { app.call(req).await });
    match routed.catch_unwind().await {
        Ok(r) => r,
        Err(_) => {
            shared.internal_error();
            Ok(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                true,
            ))
        }
    }
}
