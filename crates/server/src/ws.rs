//! The `/ws` session: handshake sniffing for the fast path, and the per-connection state machine
//! (one environment, replies strictly in order, pipelining, capacity, errors, idle timeout, drain).

use crate::env::BenchEnv;
use crate::shared::{reached, Phase, Shared};
use futures_util::{SinkExt, StreamExt};
use openenv_protocol::inbound::{parse_ws_request, WsRequest};
use openenv_protocol::mcp;
use openenv_protocol::{ErrorCode, ErrorData, ServerMessage};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// How long we wait for the peer's half of a close handshake before dropping the socket.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the first request head on a raw connection is.
#[derive(Debug, PartialEq)]
pub(crate) enum Head {
    /// Need more bytes.
    Partial,
    /// A valid `GET /ws` WebSocket upgrade: reply 101 with this accept key; the head is
    /// `len` bytes long (anything after it is already WebSocket data). `session` is the
    /// `?session_id=` the client asked to attach to, if any.
    WsUpgrade {
        accept: String,
        len: usize,
        session: Option<String>,
    },
    /// Any other HTTP request: hand the bytes to hyper.
    Http,
    /// Not HTTP at all.
    Garbage,
}

fn header<'a>(req: &'a httparse::Request<'_, '_>, name: &str) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn has_token(v: &[u8], token: &str) -> bool {
    std::str::from_utf8(v)
        .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        .unwrap_or(false)
}

/// The path is the WebSocket route (`/ws`, optionally with a query string).
pub(crate) fn is_ws_path(path: &str) -> bool {
    path == "/ws" || path.starts_with("/ws?")
}

/// The non-empty `session_id` query parameter of a request target (the last one, percent- and
/// `+`-decoded, as Starlette reads it). openenv 0.10 attaches such a WebSocket to an existing
/// HTTP MCP session instead of creating one; an empty value means a new session.
pub(crate) fn requested_session(target: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .rsplit('&')
        .find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k) == "session_id").then(|| decode(v))
        })
        .filter(|v| !v.is_empty())
}

/// Whether these request headers ask for a WebSocket we can accept; returns the accept key.
pub(crate) fn upgrade_accept_key(get: impl Fn(&str) -> Option<Vec<u8>>) -> Option<String> {
    let upgrade = get("upgrade")?;
    let connection = get("connection")?;
    if !has_token(&upgrade, "websocket") || !has_token(&connection, "upgrade") {
        return None;
    }
    if get("sec-websocket-version")?.as_slice() != b"13" {
        return None;
    }
    let key = get("sec-websocket-key")?;
    let key = key.trim_ascii();
    if !valid_key(key) {
        return None;
    }
    Some(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key))
}

/// RFC 6455 4.2.1: the key is 16 bytes in base64, i.e. 22 base64 characters and `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// Classify the bytes read so far on a fresh connection.
pub(crate) fn sniff(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 40];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Head::Partial,
        Ok(httparse::Status::Complete(len)) => {
            // RFC 6455 4.1: an upgrade needs HTTP/1.1 or later; hyper answers the rest.
            if req.method == Some("GET")
                && req.version == Some(1)
                && req.path.is_some_and(is_ws_path)
            {
                if let Some(accept) = upgrade_accept_key(|n| header(&req, n).map(<[u8]>::to_vec)) {
                    let session = req.path.and_then(requested_session);
                    return Head::WsUpgrade {
                        accept,
                        len,
                        session,
                    };
                }
            }
            Head::Http
        }
        // More headers than we look at: let hyper (which allows 100) decide.
        Err(httparse::Error::TooManyHeaders) => Head::Http,
        Err(_) => Head::Garbage,
    }
}

/// The 101 reply of the fast path (no extensions: permessage-deflate is declined).
pub(crate) fn switching_protocols(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

/// Wrap an upgraded byte stream (after the 101) in a WebSocket with our small buffers.
pub(crate) async fn websocket<T>(io: T, leftover: Vec<u8>, shared: &Shared) -> WebSocketStream<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let cfg = Some(shared.ws_config);
    if leftover.is_empty() {
        WebSocketStream::from_raw_socket(io, Role::Server, cfg).await
    } else {
        WebSocketStream::from_partially_read(io, leftover, Role::Server, cfg).await
    }
}

fn text(msg: &ServerMessage) -> Message {
    Message::text(serde_json::to_string(msg).expect("server messages serialize"))
}

fn error_message(code: ErrorCode, message: impl Into<String>) -> Message {
    text(&ServerMessage::Error(ErrorData {
        message: message.into(),
        code,
        extra: Default::default(),
    }))
}

#[derive(PartialEq)]
enum Sent {
    Ok,
    Failed,
    /// The peer read nothing for the whole limit.
    Stalled,
}

/// Send one frame; with a `limit`, give up when the peer reads nothing for that long.
/// The common case, a send that completes at once, arms no timer.
async fn send_within<T>(ws: &mut WebSocketStream<T>, msg: Message, limit: Option<Duration>) -> Sent
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let send = ws.send(msg);
    tokio::pin!(send);
    let done = |r: Result<(), WsError>| if r.is_ok() { Sent::Ok } else { Sent::Failed };
    let Some(limit) = limit else {
        return done(send.await);
    };
    if let std::task::Poll::Ready(r) = futures_util::poll!(send.as_mut()) {
        return done(r);
    }
    match tokio::time::timeout(limit, send).await {
        Ok(r) => done(r),
        Err(_) => Sent::Stalled,
    }
}

/// A session's reply; false ends the session (a peer that reads nothing for the idle timeout
/// is counted, and its slot freed).
async fn reply<T>(ws: &mut WebSocketStream<T>, msg: Message, shared: &Shared) -> bool
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match send_within(ws, msg, shared.cfg.idle_timeout).await {
        Sent::Ok => true,
        Sent::Failed => false,
        Sent::Stalled => {
            shared.metrics.write_timeouts.fetch_add(1, Relaxed);
            false
        }
    }
}

/// Send a close frame and finish the close handshake (bounded), then let the socket drop.
async fn close_with<T>(ws: &mut WebSocketStream<T>, code: CloseCode, reason: &str)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if send_within(
        ws,
        Message::Close(Some(frame)),
        Some(CLOSE_HANDSHAKE_TIMEOUT),
    )
    .await
        != Sent::Ok
    {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// The peer closed (or vanished): flush our automatic close reply, bounded.
async fn finish<T>(ws: &mut WebSocketStream<T>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
        let _ = ws.flush().await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// A read failed: say why with a close code where the protocol has one.
async fn on_read_error<T>(ws: &mut WebSocketStream<T>, e: WsError)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match e {
        WsError::Capacity(_) => {
            // Do not parse further: the rest of the oversized message may be huge. Send 1009,
            // half-close, and discard raw bytes until the peer closes (bounded).
            let frame = CloseFrame {
                code: CloseCode::Size,
                reason: "message too big".into(),
            };
            if send_within(
                ws,
                Message::Close(Some(frame)),
                Some(CLOSE_HANDSHAKE_TIMEOUT),
            )
            .await
                == Sent::Ok
            {
                let io = ws.get_mut();
                let _ = io.shutdown().await;
                let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
                    let mut sink = vec![0u8; 4096];
                    while let Ok(n) = io.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        WsError::Utf8(_) => close_with(ws, CloseCode::Invalid, "invalid utf-8").await,
        WsError::Protocol(_) => close_with(ws, CloseCode::Protocol, "protocol error").await,
        _ => {}
    }
}

enum Waited {
    Done,
    /// The peer went away (close, EOF, error) during the wait.
    Gone(Option<WsError>),
    /// The drain grace period ended during the wait.
    Forced,
}

/// Wait out a step on a timer while still watching the socket: pipelined requests are read
/// ahead into `queue` (bounded), and a peer that closes or vanishes ends the wait at once.
async fn wait_step<T>(
    ws: &mut WebSocketStream<T>,
    queue: &mut VecDeque<Message>,
    shared: &Shared,
    phase: &mut tokio::sync::watch::Receiver<Phase>,
    secs: f64,
) -> Waited
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let dur = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    let sleep = tokio::time::sleep(dur);
    tokio::pin!(sleep);
    let max_queue = shared.cfg.max_pipelined.max(1);
    loop {
        tokio::select! {
            biased;
            _ = &mut sleep => return Waited::Done,
            _ = reached(phase, Phase::Force) => return Waited::Forced,
            m = ws.next(), if queue.len() < max_queue => match m {
                Some(Ok(Message::Close(_))) | None => return Waited::Gone(None),
                Some(Err(e)) => return Waited::Gone(Some(e)),
                Some(Ok(m)) => queue.push_back(m),
            },
        }
    }
}

/// Sleep until the idle deadline, or forever without one (the timer is boxed so that sessions
/// without an idle timeout don't carry its storage).
async fn idle(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Send one error frame, then close with 1000 (after `linger`, or sooner if the client sends).
async fn refuse<T>(ws: &mut WebSocketStream<T>, msg: Message, linger: Duration)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    if send_within(ws, msg, Some(CLOSE_HANDSHAKE_TIMEOUT)).await == Sent::Ok {
        if !linger.is_zero() {
            let _ = tokio::time::timeout(linger, ws.next()).await;
        }
        close_with(ws, CloseCode::Normal, "").await;
    }
}

fn capacity_error(active: usize, max: usize) -> Message {
    let mut extra = serde_json::Map::new();
    extra.insert("active_sessions".into(), active.into());
    extra.insert("max_sessions".into(), max.into());
    text(&ServerMessage::Error(ErrorData {
        message: format!(
            "Server at capacity: {active}/{max} sessions active. Cannot accept new connections."
        ),
        code: ErrorCode::CapacityReached,
        extra,
    }))
}

fn factory_error() -> Message {
    let mut extra = serde_json::Map::new();
    extra.insert("factory_name".into(), "BenchmarkEnvironment".into());
    text(&ServerMessage::Error(ErrorData {
        message: "Failed to create environment: injected factory fault".into(),
        code: ErrorCode::FactoryError,
        extra,
    }))
}

/// A WebSocket that asked to attach to `?session_id=`: a session made by `POST /mcp`
/// `openenv/session/create` in this worker process runs on this connection (without a new
/// capacity slot: it holds one) and is held again when it ends, closed if
/// `openenv/session/close` came meanwhile. An unknown id (or one already attached) is answered
/// as openenv 0.10 answers it (`SESSION_ERROR` "Unknown session_id: ...", then close 1000),
/// before any capacity check.
pub(crate) async fn attach_session<T>(ws: WebSocketStream<T>, shared: Arc<Shared>, id: String)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match shared.attach(&id) {
        Ok(env) => Box::pin(run_attached(ws, shared, id, env)).await,
        Err(message) => Box::pin(unknown_session(ws, shared, message)).await,
    }
}

async fn unknown_session<T>(mut ws: WebSocketStream<T>, shared: Arc<Shared>, message: String)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let _task = shared.task_guard();
    shared.metrics.ws_errors.fetch_add(1, Relaxed);
    let msg = error_message(ErrorCode::SessionError, message);
    // Linger like a capacity refusal, so a client that sends `reset` at once reads the error.
    refuse(&mut ws, msg, shared.cfg.capacity_close_linger).await
}

async fn run_attached<T>(mut ws: WebSocketStream<T>, shared: Arc<Shared>, id: String, env: BenchEnv)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    use futures_util::FutureExt;
    let _task = shared.task_guard();
    let mut env = Some(env);
    let outcome = std::panic::AssertUnwindSafe(async {
        let e = env.as_mut().expect("attached env");
        drive(&mut ws, &shared, e).await
    })
    .catch_unwind()
    .await;
    if outcome.is_err() {
        // The environment may be half-updated: the session is dropped, not held again.
        env = None;
        Box::pin(answer_panic(&mut ws, &shared)).await;
    }
    shared.detach(&id, env);
}

/// After a panic caught in a session: counted (`openenv_internal_errors_total`), then answered
/// with an `EXECUTION_ERROR` frame and close 1011. Callers box it: a rare path kept out of the
/// session's future.
async fn answer_panic<T>(ws: &mut WebSocketStream<T>, shared: &Shared)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    shared.internal_error();
    let msg = error_message(ErrorCode::ExecutionError, "Internal server error");
    if send_within(ws, msg, Some(CLOSE_HANDSHAKE_TIMEOUT)).await == Sent::Ok {
        close_with(ws, CloseCode::Error, "internal error").await;
    }
}

/// Serve an upgraded WebSocket: a new session, or a `?session_id=` attach.
pub(crate) async fn serve_upgraded<T>(
    ws: WebSocketStream<T>,
    shared: Arc<Shared>,
    session: Option<String>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match session {
        None => run_session(ws, shared).await,
        Some(id) => Box::pin(attach_session(ws, shared, id)).await,
    }
}

/// One WebSocket session, from just after the 101 to the end of the connection.
///
/// A panic anywhere in it is caught (no cost per message: one wrapper around the whole
/// session), counted, and answered with an `EXECUTION_ERROR` frame and close 1011, instead of
/// a connection that drops without a word.
pub(crate) async fn run_session<T>(mut ws: WebSocketStream<T>, shared: Arc<Shared>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    use futures_util::FutureExt;
    let _task = shared.task_guard();
    let outcome = std::panic::AssertUnwindSafe(session(&mut ws, &shared))
        .catch_unwind()
        .await;
    if outcome.is_err() {
        Box::pin(answer_panic(&mut ws, &shared)).await;
    }
}

/// The session proper. Its future is most of an idle session's memory besides the WebSocket
/// buffers, so the rare paths (refusals, closes, step waits) are boxed and the replies are
/// built synchronously.
async fn session<T>(ws: &mut WebSocketStream<T>, shared: &Arc<Shared>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let _slot = match shared.try_acquire_slot() {
        Ok(slot) => slot,
        Err(active) => {
            shared.metrics.capacity_rejections.fetch_add(1, Relaxed);
            let msg = capacity_error(active, shared.cfg.max_concurrent_envs);
            // Like the reference, close right after the error; but give a client that sends its
            // first request right away (as EnvClient does after connecting) a moment, so the
            // error arrives as the answer to that request, not as a failed send.
            return Box::pin(refuse(ws, msg, shared.cfg.capacity_close_linger)).await;
        }
    };
    if shared.cfg.faults.factory_error {
        shared.metrics.ws_errors.fetch_add(1, Relaxed);
        return Box::pin(refuse(ws, factory_error(), Duration::ZERO)).await;
    }
    let mut env = BenchEnv::new();
    drive(ws, shared, &mut env).await
}

/// A session's requests until the connection ends, on `env`.
async fn drive<T>(ws: &mut WebSocketStream<T>, shared: &Arc<Shared>, env: &mut BenchEnv)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut phase = shared.phase_rx();
    let mut queue: VecDeque<Message> = VecDeque::new();
    let idle_timeout = shared.cfg.idle_timeout;
    let mut idle_timer = idle_timeout.map(|d| Box::pin(tokio::time::sleep(d)));
    loop {
        if shared.phase() >= Phase::Draining {
            Box::pin(close_with(ws, CloseCode::Away, "server shutting down")).await;
            return;
        }
        let msg = match queue.pop_front() {
            Some(m) => m,
            None => {
                if let (Some(t), Some(d)) = (idle_timer.as_mut(), idle_timeout) {
                    t.as_mut().reset(tokio::time::Instant::now() + d);
                }
                tokio::select! {
                    biased;
                    m = ws.next() => match m {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => return Box::pin(on_read_error(ws, e)).await,
                        None => return,
                    },
                    _ = reached(&mut phase, Phase::Draining) => continue,
                    _ = idle(&mut idle_timer) => {
                        Box::pin(close_with(ws, CloseCode::Normal, "idle timeout")).await;
                        return;
                    }
                }
            }
        };
        let answer = match respond(env, shared, msg) {
            Next::Reply(m) => m,
            Next::Skip => continue,
            Next::Step(wait_seconds) => {
                let started = Instant::now();
                if wait_seconds > 0.0 {
                    let waited =
                        Box::pin(wait_step(ws, &mut queue, shared, &mut phase, wait_seconds)).await;
                    match waited {
                        Waited::Done => {}
                        Waited::Gone(None) => return Box::pin(finish(ws)).await,
                        Waited::Gone(Some(e)) => return Box::pin(on_read_error(ws, e)).await,
                        Waited::Forced => {
                            Box::pin(close_with(ws, CloseCode::Away, "server shutting down")).await;
                            return;
                        }
                    }
                }
                let m = step_reply(env, shared, wait_seconds);
                if !reply(ws, m, shared).await {
                    return;
                }
                shared.metrics.steps_ws.fetch_add(1, Relaxed);
                shared.metrics.observe_step(started.elapsed());
                continue;
            }
            Next::Close => {
                Box::pin(close_with(ws, CloseCode::Normal, "")).await;
                return;
            }
            Next::Refuse(m) => {
                if reply(ws, m, shared).await {
                    Box::pin(close_with(ws, CloseCode::Normal, "")).await;
                }
                return;
            }
            Next::PeerClosed => return Box::pin(finish(ws)).await,
        };
        if !reply(ws, answer, shared).await {
            return;
        }
    }
}

fn step_reply(env: &mut BenchEnv, shared: &Shared, wait_seconds: f64) -> Message {
    env.step();
    text(&ServerMessage::Observation(
        env.observation(wait_seconds, &shared.who),
    ))
}

/// What to do with one incoming frame.
enum Next {
    Reply(Message),
    /// Wait this long, then count the step and reply.
    Step(f64),
    Close,
    /// Send this error, then close with 1000.
    Refuse(Message),
    PeerClosed,
    Skip,
}

/// The synchronous part of handling a frame: parse, validate, act, build the reply.
fn respond(env: &mut BenchEnv, shared: &Shared, msg: Message) -> Next {
    let t = match msg {
        Message::Text(t) => t,
        Message::Binary(_) => {
            shared.metrics.ws_errors.fetch_add(1, Relaxed);
            return Next::Refuse(error_message(
                ErrorCode::SessionError,
                "Binary frames are not supported: send JSON text frames",
            ));
        }
        Message::Close(_) => return Next::PeerClosed,
        // tungstenite answers pings itself (flushed on the next read or write).
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Next::Skip,
    };
    shared.metrics.ws_messages.fetch_add(1, Relaxed);
    Next::Reply(match parse_ws_request(t.as_str(), &shared.limits) {
        Ok(WsRequest::Reset { episode_id }) => {
            env.reset(episode_id);
            text(&ServerMessage::Observation(
                env.observation(0.0, &shared.who),
            ))
        }
        Ok(WsRequest::Step { wait_seconds })
            if shared.cfg.faults.execution_error_on_wait == Some(wait_seconds) =>
        {
            shared.metrics.ws_errors.fetch_add(1, Relaxed);
            error_message(
                ErrorCode::ExecutionError,
                format!("injected step fault (wait_seconds={wait_seconds})"),
            )
        }
        Ok(WsRequest::Step { wait_seconds })
            if shared.cfg.faults.panic_on_wait == Some(wait_seconds) =>
        {
            panic!("injected panic (wait_seconds={wait_seconds})")
        }
        Ok(WsRequest::Step { wait_seconds }) => return Next::Step(wait_seconds),
        Ok(WsRequest::State) => text(&ServerMessage::State(env.state())),
        Ok(WsRequest::Close) => return Next::Close,
        Ok(WsRequest::Mcp { request }) => {
            let session_id = env.session_id();
            let origin = mcp::Origin::Ws {
                session_id: &session_id,
            };
            let v = serde_json::json!({"type": "mcp", "data": mcp::answer(&request, origin)});
            Message::text(v.to_string())
        }
        Err(rejection) => {
            shared.metrics.ws_errors.fetch_add(1, Relaxed);
            Message::text(rejection.to_json())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use crate::env::ServerIdentity;

    fn shared(max: usize) -> Arc<Shared> {
        let cfg = ServerConfig {
            max_concurrent_envs: max,
            capacity_close_linger: Duration::from_millis(50),
            ..ServerConfig::default()
        };
        Shared::new(
            cfg,
            ServerIdentity {
                pid: 7,
                host_url: "test:1".into(),
            },
        )
    }

    /// A session over an in-memory pipe: no sockets, same state machine.
    async fn pair(shared: &Arc<Shared>) -> WebSocketStream<tokio::io::DuplexStream> {
        let (a, b) = tokio::io::duplex(4096);
        let server = websocket(a, Vec::new(), shared).await;
        tokio::spawn(run_session(server, shared.clone()));
        WebSocketStream::from_raw_socket(b, Role::Client, None).await
    }

    async fn recv(c: &mut WebSocketStream<tokio::io::DuplexStream>) -> serde_json::Value {
        match c.next().await {
            Some(Ok(Message::Text(t))) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn pipelined_session_then_binary_frame() {
        let s = shared(10);
        let mut c = pair(&s).await;
        for m in [
            r#"{"type":"reset"}"#,
            r#"{"type":"step","data":{"wait_seconds":0.01}}"#,
            r#"{"type":"step","data":{}}"#,
            r#"{"type":"state"}"#,
        ] {
            c.feed(Message::text(m)).await.unwrap();
        }
        c.flush().await.unwrap();
        assert_eq!(
            recv(&mut c).await["data"]["observation"]["host_url"],
            "test:1"
        );
        assert_eq!(recv(&mut c).await["data"]["observation"]["step_count"], 1);
        assert_eq!(recv(&mut c).await["data"]["observation"]["step_count"], 2);
        assert_eq!(recv(&mut c).await["data"]["step_count"], 2);
        c.send(Message::binary(b"x".to_vec())).await.unwrap();
        assert_eq!(recv(&mut c).await["data"]["code"], "SESSION_ERROR");
        match c.next().await {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::Normal),
            other => panic!("expected close, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn capacity_is_per_shared_state() {
        let s = shared(1);
        let mut a = pair(&s).await;
        a.send(Message::text(r#"{"type":"reset"}"#)).await.unwrap();
        recv(&mut a).await;
        assert_eq!(s.active_sessions(), 1);
        let mut b = pair(&s).await;
        let r = recv(&mut b).await;
        assert_eq!(r["data"]["code"], "CAPACITY_REACHED");
        assert_eq!(r["data"]["active_sessions"], 1);
        assert_eq!(r["data"]["max_sessions"], 1);
        drop(a);
        for _ in 0..100 {
            if s.active_sessions() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("slot not released");
    }
}
