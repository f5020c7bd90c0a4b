//! The `serve` process: open-files limit, worker processes sharing the port (SO_REUSEPORT),
//! signals (SIGTERM/SIGINT drain gracefully, forwarded to the workers), the startup banner.

use crate::{bind_listener, run, ServerConfig, ServerError};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Environment variable that marks a worker child and carries its index (1..WORKERS-1).
pub const WORKER_ENV: &str = "OPENENV_BENCH_WORKER";
/// Environment variable with the address the parent bound (the real port when PORT=0).
pub const WORKER_ADDR_ENV: &str = "OPENENV_BENCH_WORKER_ADDR";

/// A dead worker is replaced at most this many times within [`RESTART_WINDOW`]; beyond that it
/// stays dead (a worker that dies at once would otherwise be restarted in a loop).
pub const MAX_RESTARTS: usize = 5;
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);

static WORKER_DEATHS: AtomicU64 = AtomicU64::new(0);
static WORKER_RESTARTS: AtomicU64 = AtomicU64::new(0);

/// Worker processes that died unexpectedly, and replacements started, as seen by this process
/// (only the first worker, the parent, supervises; the others report 0).
pub fn worker_deaths() -> (u64, u64) {
    (
        WORKER_DEATHS.load(Ordering::Relaxed),
        WORKER_RESTARTS.load(Ordering::Relaxed),
    )
}

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

/// Raising the open-files limit (each session holds one fd): the one copy in `openenv-sys`.
pub use openenv_sys::{raise_nofile_limit, NofileLimit};

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

    install_panic_hook();
    let mut children: Vec<(usize, Child)> = Vec::new();
    let exe = std::env::current_exe()?;
    if worker_index.is_none() && workers > 1 {
        for i in 1..workers {
            children.push((i, spawn_worker(&exe, addr, i)?));
        }
    }

    let pid = std::process::id();
    match worker_index {
        None => {
            let pids: Vec<String> = std::iter::once(pid.to_string())
                .chain(children.iter().map(|(_, c)| c.id().to_string()))
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
    let pool = Arc::new(Mutex::new(Pool {
        exe,
        addr,
        children,
        stopping: false,
        restarts: VecDeque::new(),
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let supervisor = (workers > 1 && worker_index.is_none()).then(|| {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::spawn(move || supervise(&pool, &stop))
    });
    let grace = cfg.drain_grace;
    let signalled = pool.clone();
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        run(listener, cfg, shutdown_signal(signalled)).await
    });
    drop(runtime);
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = supervisor {
        let _ = t.join();
    }

    // Wait for the workers to drain (they got the signal too), then make sure they are gone.
    let children = std::mem::take(&mut pool.lock().unwrap_or_else(|e| e.into_inner()).children);
    let deadline = Instant::now() + grace + Duration::from_secs(5);
    for (i, mut child) in children {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        WORKER_DEATHS.fetch_add(1, Ordering::Relaxed);
                        eprintln!(
                            "openenv-bench serve: worker {i} (pid {}) {} while draining",
                            child.id(),
                            describe(status)
                        );
                    }
                    break;
                }
                Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    result?;
    match worker_deaths().0 {
        0 => Ok(()),
        n => Err(ServerError::WorkersDied(n)),
    }
}

fn spawn_worker(exe: &PathBuf, addr: SocketAddr, i: usize) -> std::io::Result<Child> {
    Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(WORKER_ENV, i.to_string())
        .env(WORKER_ADDR_ENV, addr.to_string())
        .spawn()
}

/// The parent's worker children, shared by the supervisor and the signal forwarder.
struct Pool {
    exe: PathBuf,
    addr: SocketAddr,
    /// (worker index, process)
    children: Vec<(usize, Child)>,
    /// Set when the shutdown signal came: exits are expected from then on.
    stopping: bool,
    /// When recent replacements were started (for [`MAX_RESTARTS`]).
    restarts: VecDeque<Instant>,
}

fn describe(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(sig), _) => format!("was killed by signal {sig}"),
        (None, Some(code)) => format!("exited with status {code}"),
        _ => format!("ended ({status})"),
    }
}

/// Notice dead workers (reaping them, so none stays a zombie), log them, and start
/// replacements within the restart limit. Runs on its own thread until `stop`.
///
/// The replacements' parent-death signal is tied to this thread, which lives until the
/// shutdown signal has been forwarded.
fn supervise(pool: &Mutex<Pool>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let mut p = pool.lock().unwrap_or_else(|e| e.into_inner());
        if p.stopping {
            continue;
        }
        let mut k = 0;
        while k < p.children.len() {
            let (i, pid) = (p.children[k].0, p.children[k].1.id());
            let status = match p.children[k].1.try_wait() {
                Ok(Some(status)) => status,
                _ => {
                    k += 1;
                    continue;
                }
            };
            WORKER_DEATHS.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            while p
                .restarts
                .front()
                .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
            {
                p.restarts.pop_front();
            }
            let what = describe(status);
            if p.restarts.len() >= MAX_RESTARTS {
                eprintln!(
                    "openenv-bench serve: worker {i} (pid {pid}) {what}; not replaced \
                     ({MAX_RESTARTS} replacements in the last {}s): capacity is reduced",
                    RESTART_WINDOW.as_secs()
                );
                p.children.remove(k);
                continue;
            }
            match spawn_worker(&p.exe, p.addr, i) {
                Ok(child) => {
                    eprintln!(
                        "openenv-bench serve: worker {i} (pid {pid}) {what}; replaced by pid {}",
                        child.id()
                    );
                    WORKER_RESTARTS.fetch_add(1, Ordering::Relaxed);
                    p.restarts.push_back(now);
                    p.children[k].1 = child;
                    k += 1;
                }
                Err(e) => {
                    eprintln!(
                        "openenv-bench serve: worker {i} (pid {pid}) {what}; could not replace it: {e}"
                    );
                    p.children.remove(k);
                }
            }
        }
    }
}

/// In `serve`, a panic is one line on stderr, with no backtrace (capturing one per panic costs
/// memory), at most one a second: a handler's panic is answered and counted in `/metrics`,
/// and a flood of them must neither grow the process nor block it on a full stderr pipe.
fn install_panic_hook() {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    static UNLOGGED: AtomicU64 = AtomicU64::new(0);
    std::panic::set_hook(Box::new(|info| {
        let now = Instant::now();
        {
            let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
                UNLOGGED.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *last = Some(now);
        }
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let more = match UNLOGGED.swap(0, Ordering::Relaxed) {
            0 => String::new(),
            n => format!(" ({n} more since the last message)"),
        };
        eprintln!(
            "openenv-bench serve: pid {} internal error (panic){at}: {msg}{more}",
            std::process::id()
        );
    }));
}

/// Resolves on the first SIGTERM or SIGINT, after forwarding it to the worker children.
async fn shutdown_signal(pool: Arc<Mutex<Pool>>) {
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
    {
        let mut p = pool.lock().unwrap_or_else(|e| e.into_inner());
        p.stopping = true;
        for (_, child) in &p.children {
            unsafe {
                libc::kill(child.id() as i32, sig);
            }
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
