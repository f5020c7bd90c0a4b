//! openenv-server: the OpenEnv-compatible benchmark environment server (`openenv-bench serve`).
//!
//! An environment whose `step` waits `wait_seconds` (on a timer) and reports who served it
//! (`pid`, `session_hash`, `host_url`, `step_count`), served over HTTP (`/health`, `/metadata`,
//! `/schema`, `/state`, `POST /reset`, `POST /step`, `/metrics`) and WebSocket (`/ws`, one
//! environment per connection) exactly as openenv-core 0.3.0 serves it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use openenv_server::{ServerConfig, ServerHandle};
//! let server = ServerHandle::start("127.0.0.1:0".parse()?, ServerConfig::default()).await?;
//! println!("{}", server.ws_url());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Design notes and measurements: `docs/server.md`.

mod config;
pub mod defaults;
pub mod env;
mod guard;
mod http;
mod local;
pub mod metrics;
pub mod process;
mod server;
mod shared;
mod ws;

pub use config::{Faults, ServerConfig};
pub use http::{HEALTH_JSON, METADATA_JSON, OPENAPI_JSON, SCHEMA_JSON};
pub use local::LocalServer;
pub use server::{bind_listener, run, ServerHandle};

/// Why `run` (or the `serve` process) failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("server task failed: {0}")]
    Join(String),
    #[error("{0}")]
    Config(String),
    /// Worker processes died during the run (each was logged, and replaced within the
    /// restart limit); `serve` exits with status 3.
    #[error("{0} worker process(es) died during the run (see the log above)")]
    WorkersDied(u64),
}
