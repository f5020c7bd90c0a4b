//! One WebSocket session: connect + upgrade, reset, K steps, close.

use crate::ctx::{secs, Failure, SessionCtx};
use crate::net::open;
use crate::record::{FailureClass, SessionRecord};
use crate::tls::Stream;
use crate::workload::{
    jsonrpc_request, tool_call_params, ws_mcp, ws_observation, Reply, Tally, Workload,
};
use futures_util::{SinkExt, StreamExt};
use openenv_protocol::{ClientMessage, ErrorCode, ServerMessage, StepResponse};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<Stream>;

/// tungstenite's defaults (128 KiB read buffer, 128 KiB write buffer target) would cost over
/// 1 GB at 10k sessions; our frames are < 300 bytes.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Runs one session from `t0`, filling `rec`'s phases as far as it gets; the caller records the
/// outcome (`session.rs`, shared with the interrupt path).
pub(crate) async fn drive(
    ctx: &SessionCtx<'_>,
    rec: &mut SessionRecord,
    t0: Instant,
) -> Result<(), Failure> {
    let timeout = ctx.timeout;
    let (stream, tcp_latency, tls_latency) = open(ctx).await?;
    rec.tcp_connect_latency = tcp_latency;
    rec.tls_latency = tls_latency;
    let t_up = Instant::now();
    let upgrade =
        tokio_tungstenite::client_async_with_config(ctx.target.ws_url(), stream, Some(ws_config()));
    let mut ws = match tokio::time::timeout(timeout, upgrade).await {
        Err(_) => {
            return Err(Failure::new(
                FailureClass::Timeout,
                format!("no upgrade response within {}", secs(timeout)),
            ))
        }
        Ok(Err(e)) => return Err(upgrade_failure(e)),
        Ok(Ok((ws, _response))) => ws,
    };
    rec.upgrade_latency = t_up.elapsed().as_secs_f64();
    rec.connect_latency = t0.elapsed().as_secs_f64();
    ctx.counters.connected.fetch_add(1, Ordering::Relaxed);

    let cell = ctx.cell;
    let reset_msg = match &cell.reset_data {
        Some(data) => format!(r#"{{"type":"reset","data":{data}}}"#),
        None => ClientMessage::Reset.to_json(),
    };
    let t = Instant::now();
    if cell.workload.is_benchmark() {
        request(
            &mut ws,
            reset_msg.clone(),
            "reset",
            true,
            timeout,
            benchmark_reply,
        )
        .await?;
    } else {
        request(
            &mut ws,
            reset_msg.clone(),
            "reset",
            true,
            timeout,
            ws_observation,
        )
        .await?;
    }
    rec.reset_latency = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut tally = Tally::default();
    match &cell.workload {
        Workload::Benchmark => {
            let mut waited = 0.0;
            for k in 1..=cell.steps {
                let msg = ClientMessage::Step {
                    wait_seconds: cell.params.wait,
                }
                .to_json();
                let r = request(&mut ws, msg, "step", false, timeout, benchmark_reply).await?;
                // One env per WS session: its step counter must count our steps.
                if r.observation.step_count != u64::from(k) {
                    return Err(Failure::new(
                        FailureClass::InvalidReply,
                        format!(
                            "step {k} answered with step_count {} (session state lost?)",
                            r.observation.step_count
                        ),
                    ));
                }
                waited += r.observation.waited_seconds;
                tally.step(Reply::from_benchmark(r));
            }
            rec.waited_seconds = waited;
        }
        Workload::Actions { .. } => {
            for k in 0..cell.steps {
                let action = cell.workload.action_at(k).unwrap_or("{}");
                let msg = format!(r#"{{"type":"step","data":{action}}}"#);
                let r = request(&mut ws, msg, "step", false, timeout, ws_observation).await?;
                // An episode that ends before --steps starts again: the session keeps its steps.
                if tally.step(r) && k + 1 < cell.steps {
                    request(
                        &mut ws,
                        reset_msg.clone(),
                        "reset",
                        false,
                        timeout,
                        ws_observation,
                    )
                    .await?;
                }
            }
        }
        Workload::Mcp { tool, arguments } => {
            let params = tool_call_params(tool, arguments, None);
            for k in 0..cell.steps {
                let call = jsonrpc_request("tools/call", &params, u64::from(k) + 1);
                let msg = format!(r#"{{"type":"mcp","data":{call}}}"#);
                request(&mut ws, msg, "tools/call", false, timeout, ws_mcp).await?;
            }
        }
    }
    rec.step_latency = t.elapsed().as_secs_f64();
    tally.write(rec);

    let t = Instant::now();
    let closed = close(&mut ws, ctx.close_timeout).await;
    rec.close_latency = t.elapsed().as_secs_f64();
    if closed? == Closed::TimedOut {
        ctx.counters.close_timeouts.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn upgrade_failure(e: WsError) -> Failure {
    match e {
        WsError::Http(resp) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                .unwrap_or_default();
            Failure::new(
                FailureClass::HandshakeRejected,
                format!("upgrade answered HTTP {}: {body}", resp.status()),
            )
        }
        WsError::Io(e) => Failure::new(FailureClass::ClosedEarly, format!("during upgrade: {e}")),
        WsError::ConnectionClosed | WsError::AlreadyClosed => Failure::new(
            FailureClass::ClosedEarly,
            "connection closed during upgrade",
        ),
        other => Failure::new(
            FailureClass::InvalidReply,
            format!("upgrade failed: {other}"),
        ),
    }
}

/// Sends one request and waits for its one reply, read by `parse`.
async fn request<T>(
    ws: &mut Ws,
    msg: String,
    what: &str,
    first: bool,
    timeout: Duration,
    parse: fn(&str, &str) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let sent = tokio::time::timeout(timeout, ws.send(Message::text(msg))).await;
    match sent {
        Err(_) => {
            return Err(Failure::new(
                FailureClass::Timeout,
                format!("could not send {what} within {}", secs(timeout)),
            ))
        }
        Ok(Err(e)) => {
            // A capacity rejection may already sit in our receive buffer: read it to classify.
            let short = timeout.min(Duration::from_secs(1));
            return match recv(ws, what, first, short)
                .await
                .and_then(|t| parse(&t, what))
            {
                Err(f) if f.class != FailureClass::Timeout => Err(f),
                _ => Err(Failure::new(
                    FailureClass::ClosedEarly,
                    format!("sending {what}: {e}"),
                )),
            };
        }
        Ok(Ok(())) => {}
    }
    let text = recv(ws, what, first, timeout).await?;
    parse(&text, what)
}

/// The next text frame; a close, EOF, binary frame or timeout is a classified failure.
async fn recv(ws: &mut Ws, what: &str, first: bool, timeout: Duration) -> Result<String, Failure> {
    loop {
        let next = match tokio::time::timeout(timeout, ws.next()).await {
            Err(_) => {
                return Err(Failure::new(
                    FailureClass::Timeout,
                    format!("no {what} reply within {}", secs(timeout)),
                ))
            }
            Ok(n) => n,
        };
        let text = match next {
            None => {
                return Err(Failure::new(
                    FailureClass::ClosedEarly,
                    format!("connection ended before the {what} reply"),
                ))
            }
            Some(Err(e)) => {
                return Err(Failure::new(
                    FailureClass::ClosedEarly,
                    format!("waiting for the {what} reply: {e}"),
                ))
            }
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                let how = frame
                    .map(|f| format!("{} {:?}", u16::from(f.code), f.reason.as_str()))
                    .unwrap_or_else(|| "without a code".into());
                // The reference rejects over capacity by closing (1000) right after the upgrade;
                // 1013 is "try again later". Any other close is the server going away.
                let class = if first && matches!(code, Some(1000) | Some(1013)) {
                    FailureClass::CapacityReached
                } else {
                    FailureClass::ClosedEarly
                };
                return Err(Failure::new(
                    class,
                    format!("server closed ({how}) before the {what} reply"),
                ));
            }
            Some(Ok(Message::Binary(_))) => {
                return Err(Failure::new(
                    FailureClass::InvalidReply,
                    format!("binary frame as {what} reply"),
                ))
            }
            Some(Ok(_)) => continue, // ping/pong: tungstenite answers pings itself
        };
        return Ok(text.as_str().to_owned());
    }
}

/// The benchmark environment's reply, typed.
fn benchmark_reply(text: &str, what: &str) -> Result<StepResponse, Failure> {
    match serde_json::from_str::<ServerMessage>(text) {
        Ok(ServerMessage::Observation(r)) => Ok(r),
        Ok(ServerMessage::Error(e)) if e.code == ErrorCode::CapacityReached => {
            Err(Failure::new(FailureClass::CapacityReached, e.message))
        }
        Ok(ServerMessage::Error(e)) if e.code == ErrorCode::ValidationError => Err(Failure::new(
            FailureClass::ActionRejected,
            format!("{}: {}", e.code.as_str(), e.message),
        )),
        Ok(ServerMessage::Error(e)) => Err(Failure::new(
            FailureClass::ServerError,
            format!("{}: {}", e.code.as_str(), e.message),
        )),
        Ok(ServerMessage::State(_)) => Err(Failure::new(
            FailureClass::InvalidReply,
            format!("state message as {what} reply"),
        )),
        Err(e) => Err(Failure::new(
            FailureClass::InvalidReply,
            format!(
                "unparseable {what} reply ({e}): {}",
                text.chars().take(200).collect::<String>()
            ),
        )),
    }
}

/// How the close handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The server's close frame came and the connection ended.
    Cleanly,
    /// The deadline passed first; the connection was aborted.
    TimedOut,
}

/// `{"type":"close"}`, then wait for the server's close frame and the end of the connection
/// (tungstenite answers the close frame for us while we keep reading). Every reply has arrived
/// by now, so a close that misses `deadline` does not fail the session: as the Python original's
/// `websockets` client does after its `close_timeout`, we abort the connection and move on.
async fn close(ws: &mut Ws, timeout: Duration) -> Result<Closed, Failure> {
    let deadline = tokio::time::Instant::now() + timeout;
    match tokio::time::timeout_at(
        deadline,
        ws.send(Message::text(ClientMessage::Close.to_json())),
    )
    .await
    {
        Err(_) => return Ok(abort(ws, "could not send close")),
        Ok(Err(e)) => {
            return Err(Failure::new(
                FailureClass::ClosedEarly,
                format!("sending close: {e}"),
            ))
        }
        Ok(Ok(())) => {}
    }
    let mut got_close = false;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) if got_close => {
                return Ok(abort(ws, "close frame came, connection did not end"))
            }
            Err(_) => return Ok(abort(ws, "no close frame")),
            Ok(None) | Ok(Some(Err(WsError::ConnectionClosed))) => return Ok(Closed::Cleanly),
            Ok(Some(Ok(Message::Close(_)))) => got_close = true,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) if got_close => {
                tracing::debug!("after close frame: {e}");
                return Ok(Closed::Cleanly);
            }
            Ok(Some(Err(e))) => {
                return Err(Failure::new(
                    FailureClass::ClosedEarly,
                    format!("waiting for close frame: {e}"),
                ))
            }
        }
    }
}

/// Zero linger: dropping the socket then sends RST instead of FIN, so neither side keeps the
/// connection (and we keep no port in TIME_WAIT), as `websockets`' `transport.abort()`.
fn abort(ws: &mut Ws, why: &str) -> Closed {
    tracing::debug!("close deadline passed ({why}); aborting the connection");
    if let Err(e) = socket2::SockRef::from(ws.get_ref().tcp()).set_linger(Some(Duration::ZERO)) {
        tracing::debug!("SO_LINGER 0: {e}");
    }
    Closed::TimedOut
}
