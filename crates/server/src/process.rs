//! The `serve` process: open-files limit, worker processes sharing the port (SO_REUSEPORT),
//! signals (SIGTERM/SIGINT drain gracefully, forwarded to the workers), the startup banner.

use crate::{bind_listener, run, ServerConfig, ServerError};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Environment variable that marks a worker child and carries its index (1..WORKERS-1).
pub const WORKER_ENV: &str = "OPENENV_BENCH_WORKER";
/// Environment variable with the address the parent bound (the real port when PORT=0).
pub const WORKER_ADDR_ENV: &str = "OPENENV_BENCH_WORKER_ADDR";

/// Everything `openenv-bench serve` needs (the CLI fills it from flags / env vars).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: IpAddr,
    pub port: u16,
    /// Worker processes sharing the port (each with its own pid and capacity).
    pub workers: usize,
    /// Runtime threads per worker: 1 = a current-thread runtime (the default; measured as good
    /// as a multi-thread one on 2 cores), more = a multi-thread runtime.
    pub threads: usize,
    /// Set SO_REUSEPORT even with one worker (to run several `serve` processes on one port).
    pub reuse_port: bool,
    pub config: ServerConfig,
}

/// The open-files limit after trying to raise the soft limit to the hard one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    pub before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raise RLIMIT_NOFILE's soft limit to its hard limit (each session holds one fd).
pub fn raise_nofile_limit() -> NofileLimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return NofileLimit {
            before: 0,
            soft: 0,
            hard: 0,
        };
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    NofileLimit {
        before,
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    }
}

fn cap(n: usize) -> String {
    if n == 0 {
        "unlimited".into()
    } else {
        n.to_string()
    }
}

/// Run `serve` to completion: the parent binds, starts WORKERS-1 children of the same binary
/// (same arguments), serves itself, forwards SIGTERM/SIGINT, drains, and waits for them.
pub fn serve(opts: ServeOptions) -> Result<(), ServerError> {
    let limit = raise_nofile_limit();
    let worker_index: Option<usize> = std::env::var(WORKER_ENV).ok().and_then(|v| v.parse().ok());
    let mut cfg = opts.config.clone();
    let workers = opts.workers.max(1);

    let (std_listener, addr) = match worker_index {
        Some(i) => {
            // A child: die with the parent, bind the parent's address with SO_REUSEPORT.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            }
            let addr: SocketAddr = std::env::var(WORKER_ADDR_ENV)
                .ok()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| ServerError::Config(format!("{WORKER_ADDR_ENV} missing")))?;
            cfg.worker_index = i;
            (bind_listener(addr, cfg.backlog, true)?, addr)
        }
        None => {
            let want = SocketAddr::new(opts.host, opts.port);
            let l = bind_listener(want, cfg.backlog, workers > 1 || opts.reuse_port)?;
            let addr = l.local_addr()?;
            (l, addr)
        }
    };
    if cfg.port == 0 {
        cfg.port = addr.port();
    }

    let mut children: Vec<Child> = Vec::new();
    if worker_index.is_none() && workers > 1 {
        let exe = std::env::current_exe()?;
        for i in 1..workers {
            let child = Command::new(&exe)
                .args(std::env::args_os().skip(1))
                .env(WORKER_ENV, i.to_string())
                .env(WORKER_ADDR_ENV, addr.to_string())
                .spawn()?;
            children.push(child);
        }
    }

    let pid = std::process::id();
    match worker_index {
        None => {
            let pids: Vec<String> = std::iter::once(pid.to_string())
                .chain(children.iter().map(|c| c.id().to_string()))
                .collect();
            println!(
                "openenv-bench serve: listening on http://{addr} (WebSocket ws://{addr}/ws)\n  \
                 workers: {workers} (pids {}{}), runtime threads per worker: {}\n  \
                 capacity: {} sessions per worker (MAX_CONCURRENT_ENVS), max wait {} s, max message {} B, \
                 idle timeout {}, drain grace {:?}, backlog {}\n  \
                 open files limit (RLIMIT_NOFILE): {} (soft was {}, hard {})",
                pids.join(", "),
                if workers > 1 { "; SO_REUSEPORT" } else { "" },
                opts.threads.max(1),
                cap(cfg.max_concurrent_envs),
                cfg.max_wait_seconds,
                cfg.max_message_size,
                cfg.idle_timeout
                    .map(|d| format!("{d:?}"))
                    .unwrap_or_else(|| "off".into()),
                cfg.drain_grace,
                cfg.backlog,
                limit.soft,
                limit.before,
                limit.hard,
            );
        }
        Some(i) => println!(
            "openenv-bench serve: worker {i} pid {pid} listening on http://{addr}, capacity {}, open files limit {}",
            cap(cfg.max_concurrent_envs),
            limit.soft
        ),
    }

    let runtime = if opts.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()?
    };
    let child_pids: Vec<i32> = children.iter().map(|c| c.id() as i32).collect();
    let grace = cfg.drain_grace;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        run(listener, cfg, shutdown_signal(child_pids)).await
    });
    drop(runtime);

    // Wait for the workers to drain (they got the signal too), then make sure they are gone.
    let deadline = Instant::now() + grace + Duration::from_secs(5);
    for mut child in children {
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    result
}

/// Resolves on the first SIGTERM or SIGINT, after forwarding it to the worker children.
async fn shutdown_signal(children: Vec<i32>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => return std::future::pending().await,
    };
    let sig = tokio::select! {
        _ = term.recv() => libc::SIGTERM,
        _ = int.recv() => libc::SIGINT,
    };
    for pid in children {
        unsafe {
            libc::kill(pid, sig);
        }
    }
    eprintln!(
        "openenv-bench serve: pid {} got {}, draining",
        std::process::id(),
        if sig == libc::SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        }
    );
}
