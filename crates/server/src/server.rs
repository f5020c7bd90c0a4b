//! Accepting connections: the fast WebSocket path and the hyper/axum path, and the drain.

use crate::config::ServerConfig;
use crate::env::{hostname, ServerIdentity};
use crate::shared::{reached, Phase, Shared};
use crate::ws::{self, Head};
use crate::{guard, http, ServerError};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head the fast path reads before handing over or refusing.
const MAX_HEAD: usize = 16 * 1024;

/// Bind a TCP listener with `SO_REUSEADDR` (and `SO_REUSEPORT` when `reuse_port`, so that
/// several worker processes can share the port) and an explicit listen backlog (tokio's own
/// `bind` uses 1024; the kernel caps it at `net.core.somaxconn`). The socket is non-blocking,
/// ready for `tokio::net::TcpListener::from_std`.
pub fn bind_listener(
    addr: SocketAddr,
    backlog: u32,
    reuse_port: bool,
) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(sock.into())
}

fn identity(cfg: &ServerConfig, local: Option<SocketAddr>) -> ServerIdentity {
    let port = match (cfg.port, local) {
        (0, Some(a)) => a.port(),
        (p, _) => p,
    };
    let host = cfg.hostname.clone().unwrap_or_else(hostname);
    ServerIdentity {
        pid: std::process::id(),
        host_url: format!("{host}:{port}"),
    }
}

/// Serve until `shutdown` resolves, then drain: stop accepting, close idle sessions with 1001,
/// let in-flight steps and HTTP requests finish within `cfg.drain_grace`, then close the rest.
pub async fn run(
    listener: TcpListener,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let local = listener.local_addr().ok();
    let who = identity(&cfg, local);
    let shared = Shared::new(cfg, who);
    let app = http::router(shared.clone());
    let trimmer = tokio::spawn(trim_when_quiet(shared.clone()));
    let mut accept_log = AcceptLog::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((stream, _peer)) => {
                    shared.accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::spawn(handle_conn(stream, shared.clone(), app.clone()));
                }
                Err(e) => {
                    // Out of fds or memory: back off instead of spinning; per-connection
                    // errors (aborted before accept) are just skipped.
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) {
                        accept_log.failed(&shared, &e);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            },
        }
    }
    drop(listener);
    trimmer.abort();
    shared.set_phase(Phase::Draining);
    if tokio::time::timeout(shared.cfg.drain_grace, shared.all_tasks_done())
        .await
        .is_err()
    {
        shared.set_phase(Phase::Force);
        let _ = tokio::time::timeout(Duration::from_secs(3), shared.all_tasks_done()).await;
    }
    Ok(())
}

/// Failed accepts: counted in `/metrics`, logged to stderr at most once per
/// [`AcceptLog::EVERY`] (a worker out of file descriptors fails thousands of accepts a second).
#[derive(Default)]
struct AcceptLog {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

impl AcceptLog {
    const EVERY: Duration = Duration::from_secs(10);

    fn failed(&mut self, shared: &Shared, e: &io::Error) {
        use std::sync::atomic::Ordering::Relaxed;
        let fds = matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE));
        if fds {
            shared.metrics.accept_fd_exhausted.fetch_add(1, Relaxed);
        } else {
            shared.metrics.accept_errors.fetch_add(1, Relaxed);
        }
        self.unlogged += 1;
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Self::EVERY)
        {
            return;
        }
        let what = if fds {
            "out of file descriptors: new connections wait in the listen backlog \
             (raise the open-files limit, ulimit -n, or lower MAX_CONCURRENT_ENVS)"
        } else {
            "accept failed"
        };
        eprintln!(
            "openenv-bench serve: pid {} {what}: {e} ({} failed accept(s) since the last message)",
            std::process::id(),
            self.unlogged
        );
        self.unlogged = 0;
        self.last = Some(now);
    }
}

/// After a burst of connections, give the freed heap back to the OS once things are quiet
/// (glibc keeps it otherwise: an idle worker would stay at its peak RSS after a connect storm).
async fn trim_when_quiet(shared: Arc<Shared>) {
    let mut seen = 0;
    let mut dirty = false;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = shared.accepted.load(std::sync::atomic::Ordering::Relaxed);
        if now != seen {
            seen = now;
            dirty = true;
        } else if dirty {
            dirty = false;
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }
}

/// Read until the first request head is complete (or the peer gives up).
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Head> {
    loop {
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        match ws::sniff(buf) {
            Head::Partial if buf.len() >= MAX_HEAD => return Some(Head::Garbage),
            Head::Partial => continue,
            h => return Some(h),
        }
    }
}

async fn handle_conn(mut stream: TcpStream, shared: Arc<Shared>, app: Router) {
    let task = shared.task_guard();
    let _ = stream.set_nodelay(true);
    if !shared.cfg.ws_fast_path {
        return Box::pin(serve_http(stream, Vec::new(), shared, app)).await;
    }
    let mut buf = Vec::with_capacity(1024);
    let head = {
        let mut phase = shared.phase_rx();
        let timeout = shared.cfg.header_read_timeout;
        tokio::select! {
            r = tokio::time::timeout(timeout, read_head(&mut stream, &mut buf)) => match r {
                Ok(Some(h)) => h,
                _ => return,
            },
            _ = reached(&mut phase, Phase::Draining) => return,
        }
    };
    match head {
        Head::WsUpgrade {
            accept,
            len,
            session,
        } => {
            if stream
                .write_all(ws::switching_protocols(&accept).as_bytes())
                .await
                .is_err()
            {
                return;
            }
            let leftover = if buf.len() > len {
                buf[len..].to_vec()
            } else {
                Vec::new()
            };
            drop(buf);
            drop(task); // the session counts itself
            let ws = ws::websocket(stream, leftover, &shared).await;
            // A task of its own: its future is only the session's, not this one's.
            match session {
                None => tokio::spawn(ws::run_session(ws, shared)),
                Some(id) => tokio::spawn(ws::attach_session(ws, shared, id)),
            };
        }
        Head::Http => Box::pin(serve_http(stream, buf, shared, app)).await,
        Head::Garbage | Head::Partial => {
            let body = r#"{"detail":"Bad Request"}"#;
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

/// One HTTP/1.1 connection through hyper and the axum router (keep-alive, upgrades).
async fn serve_http(stream: TcpStream, prefix: Vec<u8>, shared: Arc<Shared>, app: Router) {
    let _task = shared.task_guard();
    let io = TokioIo::new(Prefixed {
        prefix,
        pos: 0,
        inner: stream,
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.cfg.header_read_timeout)
        .max_buf_size(64 * 1024);
    let guarded = shared.clone();
    let service =
        hyper::service::service_fn(move |req| guard::handle(app.clone(), guarded.clone(), req));
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let mut phase = shared.phase_rx();
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = reached(&mut phase, Phase::Draining) => {}
    }
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = reached(&mut phase, Phase::Force) => {}
    }
}

/// A stream that first yields bytes already read (the sniffed request head).
struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A server running in the background of the current tokio runtime (for tests and embedding).
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    /// Bind `addr` (e.g. `127.0.0.1:0`) with the configured backlog and serve in a task.
    pub async fn start(addr: SocketAddr, cfg: ServerConfig) -> io::Result<ServerHandle> {
        let std_listener = bind_listener(addr, cfg.backlog, false)?;
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let join = tokio::spawn(run(listener, cfg, async move {
            let _ = rx.await;
        }));
        Ok(ServerHandle {
            addr,
            stop: Some(tx),
            join: Some(join),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Trigger the drain and wait for `run` to return.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.join.take() {
            Some(j) => j.await.map_err(|e| ServerError::Join(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection's task is this future: keep it small, it is most of a session's memory
    /// besides the WebSocket buffers (docs/server.md).
    #[tokio::test]
    async fn connection_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let shared = Shared::new(
            ServerConfig::default(),
            identity(&ServerConfig::default(), None),
        );
        let app = http::router(shared.clone());
        let fut = handle_conn(stream, shared, app);
        let size = std::mem::size_of_val(&fut);
        eprintln!("connection task future: {size} bytes");
        eprintln!(
            "WebSocketStream<TcpStream>: {} bytes, TcpStream {} bytes",
            std::mem::size_of::<tokio_tungstenite::WebSocketStream<TcpStream>>(),
            std::mem::size_of::<TcpStream>()
        );
        assert!(size < 3000, "connection future grew to {size} bytes");
        let (c2, _) = tokio::io::duplex(64);
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            c2,
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        let shared = Shared::new(
            ServerConfig::default(),
            identity(&ServerConfig::default(), None),
        );
        let sess = ws::run_session(ws, shared);
        assert!(std::mem::size_of_val(&sess) < 1500);
        eprintln!("session future: {} bytes", std::mem::size_of_val(&sess));
        drop(client);
    }
}
