//! One HTTP session on its own connection: connect, `POST /reset`, K × `POST /step`.
//!
//! A tiny HTTP/1.1 client (httparse for the response head): one keep-alive connection per
//! session, no shared pool that would hide queueing, no per-request allocation beyond a buffer.

use crate::ctx::{secs, Failure, SessionCtx};
use crate::net::open;
use crate::record::{FailureClass, SessionRecord};
use crate::tls::Stream;
use crate::workload::{
    jsonrpc, jsonrpc_request, observation, tool_call_params, Reply, Tally, Workload,
};
use openenv_protocol::StepResponse;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest response body accepted (the server's own request cap): a reply is one small
/// observation, so anything bigger is a broken or hostile server, not something to buffer.
pub(crate) const MAX_RESPONSE_BODY: usize = 1 << 20;
/// The longest chunk-size line accepted (hex size plus extensions).
const MAX_CHUNK_LINE: usize = 1024;

struct Conn {
    stream: Option<Stream>,
    buf: Vec<u8>,
}

/// Runs one session from `t0`, filling `rec`'s phases as far as it gets; the caller records the
/// outcome (`session.rs`, shared with the interrupt path).
pub(crate) async fn drive(
    ctx: &SessionCtx<'_>,
    rec: &mut SessionRecord,
    t0: Instant,
) -> Result<(), Failure> {
    let (stream, tcp_latency, tls_latency) = open(ctx).await?;
    rec.tcp_connect_latency = tcp_latency;
    rec.tls_latency = tls_latency;
    rec.connect_latency = t0.elapsed().as_secs_f64();
    ctx.counters.connected.fetch_add(1, Ordering::Relaxed);
    let mut conn = Conn {
        stream: Some(stream),
        buf: Vec::with_capacity(1024),
    };

    let cell = ctx.cell;
    let reset_body = cell.reset_data.as_deref().unwrap_or("{}");
    let mut tally = Tally::default();
    match &cell.workload {
        Workload::Benchmark => {
            let t = Instant::now();
            post(ctx, &mut conn, "reset", reset_body, benchmark_body).await?;
            rec.reset_latency = t.elapsed().as_secs_f64();
            let body = format!(
                r#"{{"action":{{"wait_seconds":{}}}}}"#,
                serde_json::Value::from(cell.params.wait)
            );
            let t = Instant::now();
            let mut waited = 0.0;
            for _ in 0..cell.steps {
                let r = post(ctx, &mut conn, "step", &body, benchmark_body).await?;
                waited += r.observation.waited_seconds;
                tally.step(Reply::from_benchmark(r));
            }
            rec.step_latency = t.elapsed().as_secs_f64();
            rec.waited_seconds = waited;
        }
        Workload::Actions { .. } => {
            let t = Instant::now();
            post(ctx, &mut conn, "reset", reset_body, observation_body).await?;
            rec.reset_latency = t.elapsed().as_secs_f64();
            let t = Instant::now();
            for k in 0..cell.steps {
                let action = cell.workload.action_at(k).unwrap_or("{}");
                let body = format!(r#"{{"action":{action}}}"#);
                let r = post(ctx, &mut conn, "step", &body, observation_body).await?;
                // An episode that ends before --steps starts again (as over WS; HTTP's
                // stateless server gives every request a fresh environment anyway).
                if tally.step(r) && k + 1 < cell.steps {
                    post(ctx, &mut conn, "reset", reset_body, observation_body).await?;
                }
            }
            rec.step_latency = t.elapsed().as_secs_f64();
        }
        Workload::Mcp { tool, arguments } => {
            // As openenv 0.10's MCPToolClient: a session made over POST /mcp (the reset phase),
            // each tool call naming it, then closed (the close phase).
            let t = Instant::now();
            let create = jsonrpc_request("openenv/session/create", "{}", 1);
            let created = post(ctx, &mut conn, "mcp", &create, jsonrpc_body).await?;
            let Some(session_id) = created.get("session_id").and_then(|v| v.as_str()) else {
                return Err(Failure::new(
                    FailureClass::InvalidReply,
                    format!("openenv/session/create: no session_id in {created}"),
                ));
            };
            let session_id = session_id.to_owned();
            rec.reset_latency = t.elapsed().as_secs_f64();
            let params = tool_call_params(tool, arguments, Some(&session_id));
            let close_params = format!(
                r#"{{"session_id":{}}}"#,
                serde_json::Value::from(session_id)
            );
            let close = jsonrpc_request(
                "openenv/session/close",
                &close_params,
                u64::from(cell.steps) + 2,
            );
            let t = Instant::now();
            for k in 0..cell.steps {
                let call = jsonrpc_request("tools/call", &params, u64::from(k) + 2);
                if let Err(f) = post(ctx, &mut conn, "mcp", &call, jsonrpc_body).await {
                    // The server holds the session (and its capacity slot) until it is closed:
                    // close it, best effort, as MCPToolClient does; the failure stays the call's.
                    if matches!(
                        f.class,
                        FailureClass::ToolError | FailureClass::ActionRejected
                    ) {
                        let _ = post(ctx, &mut conn, "mcp", &close, jsonrpc_body).await;
                    }
                    return Err(f);
                }
            }
            rec.step_latency = t.elapsed().as_secs_f64();
            let t = Instant::now();
            post(ctx, &mut conn, "mcp", &close, jsonrpc_body).await?;
            rec.close_latency = t.elapsed().as_secs_f64();
        }
    }
    tally.write(rec);
    Ok(())
}

/// The benchmark environment's body, typed.
fn benchmark_body(body: &[u8], what: &str) -> Result<StepResponse, Failure> {
    serde_json::from_slice::<StepResponse>(body).map_err(|e| unparseable(body, what, e))
}

/// Any environment's observation body.
fn observation_body(body: &[u8], what: &str) -> Result<Reply, Failure> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| unparseable(body, what, e))?;
    observation(&v, what)
}

/// A JSON-RPC response body: its `result`.
fn jsonrpc_body(body: &[u8], what: &str) -> Result<serde_json::Value, Failure> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| unparseable(body, what, e))?;
    jsonrpc(v, what)
}

fn unparseable(body: &[u8], what: &str, e: serde_json::Error) -> Failure {
    Failure::new(
        FailureClass::InvalidReply,
        format!(
            "{what}: unparseable body ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
    )
}

/// One request; a 2xx body is read by `parse`, 422 is `ActionRejected`, any other status
/// `HttpStatus`.
async fn post<T>(
    ctx: &SessionCtx<'_>,
    conn: &mut Conn,
    route: &str,
    body: &str,
    parse: fn(&[u8], &str) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let what = format!("POST /{route}");
    if conn.stream.is_none() {
        // The server asked to close after the previous response: a new connection, timed
        // as part of this request.
        conn.stream = Some(open(ctx).await?.0);
    }
    let req = format!(
        "POST {}/{route} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        ctx.target.prefix,
        ctx.target.authority(),
        body.len()
    );
    let exchange = async {
        let stream = conn.stream.as_mut().expect("connected");
        stream.write_all(req.as_bytes()).await.map_err(|e| {
            Failure::new(FailureClass::ClosedEarly, format!("{what}: sending: {e}"))
        })?;
        read_response(stream, &mut conn.buf, &what).await
    };
    let (status, close, body) = match tokio::time::timeout(ctx.timeout, exchange).await {
        Err(_) => {
            return Err(Failure::new(
                FailureClass::Timeout,
                format!("no {what} response within {}", secs(ctx.timeout)),
            ))
        }
        Ok(r) => r?,
    };
    if close {
        conn.stream = None;
    }
    if !(200..300).contains(&status) {
        let class = if status == 422 {
            FailureClass::ActionRejected
        } else {
            FailureClass::HttpStatus
        };
        return Err(Failure::new(
            class,
            format!(
                "{what} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        ));
    }
    parse(&body, &what)
}

/// Reads one response: (status, server wants to close, body). Content-Length or chunked.
async fn read_response(
    stream: &mut Stream,
    buf: &mut Vec<u8>,
    what: &str,
) -> Result<(u16, bool, Vec<u8>), Failure> {
    buf.clear();
    let eof = |stage: &str| {
        Failure::new(
            FailureClass::ClosedEarly,
            format!("{what}: connection ended {stage}"),
        )
    };
    let io = |e: std::io::Error| Failure::new(FailureClass::ClosedEarly, format!("{what}: {e}"));
    let invalid = |m: String| Failure::new(FailureClass::InvalidReply, format!("{what}: {m}"));
    let too_big = || invalid(format!("response body over {MAX_RESPONSE_BODY} bytes"));
    // Head.
    let (head_len, status, close, length, chunked) = loop {
        if stream.read_buf(buf).await.map_err(io)? == 0 {
            return Err(eof("before the response head"));
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(buf) {
            Ok(httparse::Status::Partial) => {
                if buf.len() > 64 * 1024 {
                    return Err(invalid("response head over 64 KiB".into()));
                }
                continue;
            }
            Err(e) => return Err(invalid(format!("bad response head: {e}"))),
            Ok(httparse::Status::Complete(n)) => {
                let mut close = resp.version == Some(0);
                let mut length = None;
                let mut chunked = false;
                for h in resp.headers.iter() {
                    let v = std::str::from_utf8(h.value).unwrap_or("").trim();
                    if h.name.eq_ignore_ascii_case("content-length") {
                        let n = v
                            .parse::<u64>()
                            .map_err(|_| invalid(format!("bad content-length {v:?}")))?;
                        if n > MAX_RESPONSE_BODY as u64 {
                            return Err(too_big());
                        }
                        length = Some(n as usize);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = v.to_ascii_lowercase().contains("chunked");
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = v.eq_ignore_ascii_case("close");
                    }
                }
                break (n, resp.code.unwrap_or(0), close, length, chunked);
            }
        }
    };
    buf.drain(..head_len);
    if chunked {
        let mut body = Vec::new();
        loop {
            // Need a full size line.
            let line_end = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if buf.len() > MAX_CHUNK_LINE {
                    return Err(invalid(format!(
                        "chunk size line over {MAX_CHUNK_LINE} bytes"
                    )));
                }
                if stream.read_buf(buf).await.map_err(io)? == 0 {
                    return Err(eof("inside a chunked body"));
                }
            };
            let size_str = std::str::from_utf8(&buf[..line_end]).unwrap_or("");
            let size = u64::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid(format!("bad chunk size {size_str:?}")))?;
            // Checked before any arithmetic on it: a size near u64::MAX must not wrap.
            if size > (MAX_RESPONSE_BODY - body.len()) as u64 {
                return Err(too_big());
            }
            let size = size as usize;
            let need = line_end + 2 + size + 2;
            while buf.len() < need {
                if stream.read_buf(buf).await.map_err(io)? == 0 {
                    return Err(eof("inside a chunked body"));
                }
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            buf.drain(..need);
            if size == 0 {
                return Ok((status, close, body));
            }
        }
    }
    match length {
        Some(len) => {
            while buf.len() < len {
                if stream.read_buf(buf).await.map_err(io)? == 0 {
                    return Err(eof("inside the body"));
                }
            }
            Ok((status, close, buf[..len].to_vec()))
        }
        None => {
            // No length: the body runs to the end of the connection.
            loop {
                if stream.read_buf(buf).await.map_err(io)? == 0 {
                    break;
                }
                if buf.len() > MAX_RESPONSE_BODY {
                    return Err(too_big());
                }
            }
            Ok((status, true, std::mem::take(buf)))
        }
    }
}
