//! Server configuration: everything `serve` can set by flag or environment variable.

use crate::defaults;
use std::time::Duration;

/// Configuration of one server worker (one `run`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port reported in `host_url` (`<hostname>:<port>`). `0` means "the port the listener is bound to".
    pub port: u16,
    /// Hostname reported in `host_url`; `None` = the machine's hostname (`gethostname`).
    pub hostname: Option<String>,
    /// Maximum concurrent WebSocket sessions (environments) in this worker; `0` = unlimited.
    pub max_concurrent_envs: usize,
    /// Ceiling for `wait_seconds` (a larger value is a `VALIDATION_ERROR` / HTTP 422).
    pub max_wait_seconds: f64,
    /// Largest WebSocket message (and frame) accepted; a larger one closes the session with 1009.
    /// Also the largest HTTP request body (413 beyond it).
    pub max_message_size: usize,
    /// Close a WebSocket session (code 1000, reason "idle timeout") that sends nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// On shutdown, how long in-flight steps may run before sessions are closed anyway.
    pub drain_grace: Duration,
    /// Per-session WebSocket read buffer (tungstenite's default is 128 KiB; ours is small).
    pub ws_read_buffer_size: usize,
    /// Per-session WebSocket write buffer target (0 = write each frame through).
    pub ws_write_buffer_size: usize,
    /// Upper bound for a session's unsent output before writes fail.
    pub ws_max_write_buffer_size: usize,
    /// How long a new connection may take to send its request head (slow-loris guard).
    pub header_read_timeout: Duration,
    /// Upgrade `GET /ws` on the raw socket (true, default), or let every request go through
    /// hyper + axum and upgrade there (false; costs more memory per session, kept for comparison).
    pub ws_fast_path: bool,
    /// Pipelined requests read ahead while a step waits (beyond it, reading pauses).
    pub max_pipelined: usize,
    /// After a `CAPACITY_REACHED` error frame, how long to wait for the client's first message
    /// before closing with 1000 (closes at once when that message arrives).
    pub capacity_close_linger: Duration,
    /// Listen backlog, used by callers of [`crate::bind_listener`] (the CLI); `run` does not bind.
    pub backlog: u32,
    /// Worker label for logs and metrics (0 = the first/only worker).
    pub worker_index: usize,
    /// Failures to inject, so clients (and tests) can see `FACTORY_ERROR` / `EXECUTION_ERROR`,
    /// which the benchmark environment itself never produces. Off by default.
    pub faults: Faults,
}

/// Injected environment failures (see [`ServerConfig::faults`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Every new WebSocket session fails to create its environment: `FACTORY_ERROR`, close 1000.
    pub factory_error: bool,
    /// A step whose `wait_seconds` equals this value fails with `EXECUTION_ERROR` (the session
    /// stays open), as an environment raising in `step` does in the reference.
    pub execution_error_on_wait: Option<f64>,
    /// A step whose `wait_seconds` equals this value panics in its handler (WS and HTTP), to
    /// test that a panic is answered (`EXECUTION_ERROR` + close 1011 / HTTP 500) and counted.
    pub panic_on_wait: Option<f64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 0,
            hostname: None,
            max_concurrent_envs: defaults::MAX_CONCURRENT_ENVS,
            max_wait_seconds: defaults::MAX_WAIT_SECONDS,
            max_message_size: defaults::MAX_MESSAGE_SIZE,
            // IDLE_TIMEOUT_SECONDS is 0: never.
            idle_timeout: None,
            drain_grace: Duration::from_secs_f64(defaults::DRAIN_GRACE_SECONDS),
            ws_read_buffer_size: defaults::WS_READ_BUFFER,
            ws_write_buffer_size: defaults::WS_WRITE_BUFFER,
            ws_max_write_buffer_size: 1 << 20,
            header_read_timeout: Duration::from_secs_f64(defaults::HEADER_TIMEOUT_SECONDS),
            ws_fast_path: true,
            max_pipelined: 64,
            capacity_close_linger: Duration::from_millis(500),
            backlog: defaults::BACKLOG,
            worker_index: 0,
            faults: Faults::default(),
        }
    }
}
