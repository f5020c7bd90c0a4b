//! `openenv-bench serve`: flags (each also an environment variable, as in the Python original) -> the
//! server library's `process::serve`.

use openenv_server::process::{serve, ServeOptions};
use openenv_server::{defaults, ServerConfig, ServerError};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (an IP address or a resolvable name such as `localhost`).
    #[arg(long, env = "HOST", default_value = defaults::HOST)]
    pub host: String,
    /// Port to listen on (also the port in every observation's `host_url`); 0 = any free port.
    #[arg(long, short = 'p', env = "PORT", default_value_t = defaults::PORT)]
    pub port: u16,
    /// Worker processes sharing the port via SO_REUSEPORT; each reports its own pid.
    #[arg(long, env = "WORKERS", default_value_t = defaults::WORKERS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub workers: usize,
    /// Concurrent WebSocket sessions per worker (as the reference: 100); 0 = unlimited.
    #[arg(long, env = "MAX_CONCURRENT_ENVS", default_value_t = defaults::MAX_CONCURRENT_ENVS)]
    pub max_concurrent_envs: usize,
    /// Largest accepted `wait_seconds`; more is a VALIDATION_ERROR (HTTP 422).
    #[arg(long, env = "MAX_WAIT_SECONDS", default_value_t = defaults::MAX_WAIT_SECONDS, value_parser = crate::args::seconds)]
    pub max_wait_seconds: f64,
    /// Largest WebSocket message / HTTP body in bytes (WS: close 1009; HTTP: 413); 64 B to 1 GiB.
    #[arg(long, env = "MAX_MESSAGE_SIZE", default_value_t = defaults::MAX_MESSAGE_SIZE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(64..=1 << 30))]
    pub max_message_size: usize,
    /// Close WebSocket sessions idle for this many seconds (0 = never).
    #[arg(long, env = "IDLE_TIMEOUT", default_value_t = defaults::IDLE_TIMEOUT_SECONDS, value_parser = crate::args::seconds)]
    pub idle_timeout: f64,
    /// Seconds in-flight steps may take to finish after SIGTERM/SIGINT before sessions close.
    #[arg(long, env = "DRAIN_GRACE", default_value_t = defaults::DRAIN_GRACE_SECONDS, value_parser = crate::args::seconds)]
    pub drain_grace: f64,
    /// Listen backlog (the kernel caps it at net.core.somaxconn).
    #[arg(long, env = "BACKLOG", default_value_t = defaults::BACKLOG)]
    pub backlog: u32,
    /// Runtime threads per worker (1 = current-thread runtime).
    #[arg(long, env = "SERVER_THREADS", default_value_t = defaults::THREADS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: usize,
    /// Set SO_REUSEPORT even with one worker (several `serve` processes on one port).
    #[arg(long, env = "REUSE_PORT", value_parser = crate::args::boolish())]
    pub reuse_port: bool,
    /// Hostname reported in `host_url` (default: the machine's hostname).
    #[arg(long, env = "SERVER_HOSTNAME")]
    pub hostname: Option<String>,
    /// Per-session WebSocket read buffer in bytes (64 B to 16 MiB).
    #[arg(long, env = "WS_READ_BUFFER", default_value_t = defaults::WS_READ_BUFFER, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(64..=1 << 24))]
    pub ws_read_buffer: usize,
    /// Per-session WebSocket write buffer target in bytes (0 = write each frame through).
    #[arg(long, env = "WS_WRITE_BUFFER", default_value_t = defaults::WS_WRITE_BUFFER, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1 << 24))]
    pub ws_write_buffer: usize,
    /// Seconds a new connection may take to send its request head; also the time a request's
    /// body may take (408 after it).
    #[arg(long, env = "HEADER_TIMEOUT", default_value_t = defaults::HEADER_TIMEOUT_SECONDS, value_parser = crate::args::seconds)]
    pub header_timeout: f64,
    /// Upgrade /ws through hyper + axum instead of the raw-socket fast path (for comparison).
    #[arg(long, env = "NO_WS_FAST_PATH", value_parser = crate::args::boolish())]
    pub no_ws_fast_path: bool,
}

/// Exit status of `serve` when worker processes died during the run.
pub const WORKERS_DIED_EXIT: u8 = 3;

fn secs(name: &str, v: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| anyhow::anyhow!("--{name}: {v} is not a duration"))
}

/// `--host` as an address: a literal, or a name resolved (IPv4 first, as the load generator
/// connects).
fn resolve(host: &str) -> anyhow::Result<IpAddr> {
    let addr = openenv_sys::resolve(host, 0, Duration::from_secs(30))
        .map_err(|e| anyhow::anyhow!("--host {host}: {e}"))?;
    Ok(addr.ip())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = ServerConfig {
        port: args.port,
        hostname: args.hostname,
        max_concurrent_envs: args.max_concurrent_envs,
        max_wait_seconds: args.max_wait_seconds,
        max_message_size: args.max_message_size,
        idle_timeout: match args.idle_timeout {
            t if t > 0.0 => Some(secs("idle-timeout", t)?),
            _ => None,
        },
        drain_grace: secs("drain-grace", args.drain_grace)?,
        ws_read_buffer_size: args.ws_read_buffer,
        ws_write_buffer_size: args.ws_write_buffer,
        header_read_timeout: secs("header-timeout", args.header_timeout)?,
        ws_fast_path: !args.no_ws_fast_path,
        backlog: args.backlog,
        ..ServerConfig::default()
    };
    let served = serve(ServeOptions {
        host: resolve(&args.host)?,
        port: args.port,
        workers: args.workers,
        threads: args.threads,
        reuse_port: args.reuse_port,
        config,
    });
    match served {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // Drained and stopped, but capacity was lost on the way: say so in the exit status.
        Err(e @ ServerError::WorkersDied(_)) => {
            eprintln!("openenv-bench serve: {e}");
            Ok(ExitCode::from(WORKERS_DIED_EXIT))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags' defaults are the server library's (`ServerConfig::default()`).
    #[test]
    fn flag_defaults_are_the_server_defaults() {
        let vars = [
            "HOST",
            "PORT",
            "WORKERS",
            "MAX_CONCURRENT_ENVS",
            "MAX_WAIT_SECONDS",
            "MAX_MESSAGE_SIZE",
            "IDLE_TIMEOUT",
            "DRAIN_GRACE",
            "BACKLOG",
            "SERVER_THREADS",
            "WS_READ_BUFFER",
            "WS_WRITE_BUFFER",
            "HEADER_TIMEOUT",
        ];
        if vars.iter().any(|v| std::env::var_os(v).is_some()) {
            eprintln!("skipped: a serve environment variable is set");
            return;
        }
        let a = crate::cmd::parse_flags::<Args>(&["serve"]);
        let d = ServerConfig::default();
        assert_eq!(a.max_concurrent_envs, d.max_concurrent_envs);
        assert_eq!(a.max_wait_seconds, d.max_wait_seconds);
        assert_eq!(a.max_message_size, d.max_message_size);
        assert_eq!((a.idle_timeout, d.idle_timeout), (0.0, None));
        assert_eq!(secs("", a.drain_grace).unwrap(), d.drain_grace);
        assert_eq!(secs("", a.header_timeout).unwrap(), d.header_read_timeout);
        assert_eq!(a.ws_read_buffer, d.ws_read_buffer_size);
        assert_eq!(a.ws_write_buffer, d.ws_write_buffer_size);
        assert_eq!(a.backlog, d.backlog);
        assert_eq!((a.workers, a.threads), (1, 1));
    }
}
