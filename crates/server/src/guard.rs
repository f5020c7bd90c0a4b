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

const TOO_LARGE: &str = r#"{"detail":"Request Entity Too Large"}"#;

/// A JSON error like the router's (`{"detail": ...}`), ending the connection: the request body
/// was not (wholly) read, so the connection cannot carry another request.
fn refuse(status: StatusCode, body: &'static str) -> Response {
    let mut r = json(status, body);
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
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
                r#"{"detail":"Expectation Failed"}"#,
            ));
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    // Before the body is read (and before hyper sends `100 Continue`).
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE));
    }
    if req.body().is_end_stream() {
        return Ok(req.map(Body::new));
    }
    let (parts, body) = req.into_parts();
    let read = Limited::new(body, limit).collect();
    match tokio::time::timeout(shared.cfg.header_read_timeout, read).await {
        Ok(Ok(collected)) => Ok(Request::from_parts(parts, Body::from(collected.to_bytes()))),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE))
        }
        // The client went away or broke the chunked encoding mid-body.
        Ok(Err(_)) => Err(refuse(
            StatusCode::BAD_REQUEST,
            r#"{"detail":"Bad Request"}"#,
        )),
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            r#"{"detail":"Request Timeout"}"#,
        )),
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
                r#"{"detail":"Internal Server Error"}"#,
            ))
        }
    }
}
