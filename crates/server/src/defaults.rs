//! `serve`'s defaults, defined once: [`crate::ServerConfig::default`] and the CLI's flags (each
//! also an environment variable) both use these.

/// `--host`: every interface.
pub const HOST: &str = "0.0.0.0";
/// `--port`, as the Python original's server.
pub const PORT: u16 = 8000;
/// `--workers`: processes sharing the port.
pub const WORKERS: usize = 1;
/// `--threads`: runtime threads per worker (1 = a current-thread runtime).
pub const THREADS: usize = 1;
/// `--max-concurrent-envs`: WebSocket sessions per worker, as the reference (0 = unlimited).
pub const MAX_CONCURRENT_ENVS: usize = 100;
/// `--max-wait-seconds`: the largest accepted `wait_seconds` (the reference has no bound).
pub const MAX_WAIT_SECONDS: f64 = openenv_protocol::inbound::MAX_WAIT_SECONDS;
/// `--max-message-size`, bytes (WS message or frame, HTTP body).
pub const MAX_MESSAGE_SIZE: usize = 1 << 20;
/// `--idle-timeout`, seconds (0 = never close an idle session).
pub const IDLE_TIMEOUT_SECONDS: f64 = 0.0;
/// `--drain-grace`, seconds.
pub const DRAIN_GRACE_SECONDS: f64 = 5.0;
/// `--backlog` (the kernel caps it at net.core.somaxconn).
pub const BACKLOG: u32 = 4096;
/// `--ws-read-buffer`, bytes (tungstenite's default is 128 KiB; ours is small).
pub const WS_READ_BUFFER: usize = 2048;
/// `--ws-write-buffer`, bytes (0 = write each frame through).
pub const WS_WRITE_BUFFER: usize = 0;
/// `--header-timeout`, seconds a new connection may take to send its request head.
pub const HEADER_TIMEOUT_SECONDS: f64 = 10.0;
