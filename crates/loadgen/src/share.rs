//! Runs one process's share of a cell: every session of `first_id..first_id+count` starts at the
//! cell's intended start (plus its ramp offset), on this process's current-thread runtime.

use crate::record::{utc_timestamp, FailureClass, SessionRecord};
use crate::spec::{Mode, ShareSpec, Target};
use crate::LoadgenError;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Live counts of one process, read by the progress display.
#[derive(Debug, Default)]
pub struct Counters {
    pub launched: AtomicUsize,
    pub connected: AtomicUsize,
    pub done: AtomicUsize,
    pub failed: AtomicUsize,
    /// WS closes aborted at the close deadline (those sessions are in `done`).
    pub close_timeouts: AtomicUsize,
}

/// How one process did during its share.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    pub max_lag: f64,
    pub wall: f64,
    /// See [`Counters::close_timeouts`] (absent from an older worker: 0).
    #[serde(default)]
    pub close_timeouts: usize,
    /// CPU seconds per second of the event loop in its busiest second (see
    /// [`crate::sys::BusiestWindow`]); absent from an older worker: 0 (then cpu / wall is used).
    #[serde(default)]
    pub busiest_cpu_fraction: f64,
}

pub(crate) struct SessionCtx<'a> {
    pub target: &'a Target,
    pub addr: SocketAddr,
    pub src: Option<Ipv4Addr>,
    pub wait: f64,
    pub steps: u32,
    pub timeout: Duration,
    /// WS: deadline of the close handshake.
    pub close_timeout: Duration,
    pub counters: &'a Counters,
    /// Some for `https`/`wss` targets.
    pub tls: Option<&'a tokio_rustls::TlsConnector>,
}

struct Shared {
    share: ShareSpec,
    addrs: Vec<SocketAddr>,
    counters: Arc<Counters>,
    t0: tokio::time::Instant,
    t0_wall: SystemTime,
    /// Built when any target is `https`/`wss`; the config inside is the process's one.
    tls: Option<tokio_rustls::TlsConnector>,
}

/// Resolves a target once per share (IPv4 first: loopback source spreading is IPv4).
pub(crate) async fn resolve(t: &Target) -> Result<SocketAddr, LoadgenError> {
    let lookup = tokio::net::lookup_host((t.host.as_str(), t.port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(Duration::from_secs(30), lookup)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("no answer within 30 s")))
        .map_err(|e| LoadgenError::Resolve {
            host: t.host.clone(),
            source: e,
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| LoadgenError::Resolve {
            host: t.host.clone(),
            source: std::io::Error::other("no address"),
        })
}

pub(crate) fn unix_ns(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The intended start as a local Instant and SystemTime.
fn local_start(start_unix_ns: i128) -> (tokio::time::Instant, SystemTime) {
    let now_i = tokio::time::Instant::now();
    let now_ns = unix_ns(SystemTime::now());
    let delta = start_unix_ns - now_ns;
    let d = Duration::from_nanos(delta.unsigned_abs() as u64);
    let wall = if delta >= 0 {
        UNIX_EPOCH + Duration::from_nanos(start_unix_ns as u64)
    } else {
        SystemTime::now() - d
    };
    if delta >= 0 {
        (now_i + d, wall)
    } else {
        (now_i.checked_sub(d).unwrap_or(now_i), wall)
    }
}

/// Runs the share; returns its records (in `request_id` order) and the process's own costs.
/// `stop` turning true ends every session in flight as `Interrupted`.
pub async fn run_share(
    share: ShareSpec,
    counters: Arc<Counters>,
    stop: watch::Receiver<bool>,
) -> Result<(Vec<SessionRecord>, ProcessStats), LoadgenError> {
    let mut addrs = Vec::with_capacity(share.targets.len());
    for t in &share.targets {
        addrs.push(resolve(t).await?);
    }
    let tls = if share.targets.iter().any(|t| t.tls) {
        let settings = crate::tls::TlsSettings {
            extra_root_certs: share.extra_root_certs.clone(),
            insecure: share.insecure,
        };
        Some(tokio_rustls::TlsConnector::from(crate::tls::client_config(
            &settings,
        )?))
    } else {
        None
    };
    let (t0, t0_wall) = local_start(share.start_unix_ns);
    let cpu0 = crate::sys::cpu_time();
    crate::sys::reset_peak_rss();
    let wall0 = Instant::now();

    // Event-loop lag: how late a 10 ms timer fires. A busy load generator delays its own
    // sessions, and that delay would be blamed on the server.
    let max_lag = Arc::new(AtomicU64::new(0));
    // The same task samples the event loop's CPU time every ~100 ms for its busiest second.
    let busiest = Arc::new(std::sync::Mutex::new(crate::sys::BusiestWindow::new(
        Duration::from_secs(1),
    )));
    let sample_cpu = event_loop_cpu_sampler(wall0);
    {
        let (t, cpu) = sample_cpu();
        busiest.lock().expect("not poisoned").push(t, cpu);
    }
    let lag_task = {
        let max_lag = max_lag.clone();
        let busiest = busiest.clone();
        let sample_cpu = sample_cpu.clone();
        tokio::spawn(async move {
            let period = Duration::from_millis(10);
            let mut next = tokio::time::Instant::now() + period;
            let mut sampled = Instant::now();
            loop {
                tokio::time::sleep_until(next).await;
                let late = tokio::time::Instant::now().saturating_duration_since(next);
                max_lag.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                if sampled.elapsed() >= Duration::from_millis(100) {
                    sampled = Instant::now();
                    let (t, cpu) = sample_cpu();
                    busiest.lock().expect("not poisoned").push(t, cpu);
                }
                next = tokio::time::Instant::now() + period;
            }
        })
    };

    let first = share.first_id;
    let count = share.count;
    let shared = Arc::new(Shared {
        share,
        addrs,
        counters,
        t0,
        t0_wall,
        tls,
    });
    // One launcher starts the sessions at their start times. With `launch_batch` K > 0 it
    // yields after every K launches, so replies to sessions already started are handled
    // between launches instead of waiting behind the whole burst.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SessionRecord>();
    let launcher = {
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            for (k, id) in (first..first + count).enumerate() {
                let start = shared.t0 + start_offset(&shared.share, id);
                if start > tokio::time::Instant::now() {
                    let mut stop = stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep_until(start) => {}
                        _ = until_stopped(&mut stop) => {}
                    }
                }
                let (sh, stop, tx) = (shared.clone(), stop.clone(), tx.clone());
                tokio::spawn(async move {
                    let rec = session(sh, id, stop).await;
                    let _ = tx.send(rec);
                });
                let batch = shared.share.launch_batch;
                if batch > 0 && k % batch == batch - 1 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut records: Vec<SessionRecord> = Vec::with_capacity(count);
    // Ends when every session has reported (or, after a panic, when all senders are gone).
    while records.len() < count {
        match rx.recv().await {
            Some(rec) => records.push(rec),
            None => break,
        }
    }
    if let Err(e) = launcher.await {
        tracing::error!("session launcher failed: {e}");
    }
    lag_task.abort();
    let (t, cpu) = sample_cpu();
    let busiest_cpu_fraction = {
        let mut w = busiest.lock().expect("not poisoned");
        w.push(t, cpu);
        w.busiest()
    };
    // A panicked task (a bug) still leaves a record, so every session is in the files.
    if records.len() < count {
        let have: std::collections::HashSet<usize> = records.iter().map(|r| r.request_id).collect();
        for id in (first..first + count).filter(|id| !have.contains(id)) {
            let mut r = blank(&shared, id, SystemTime::now());
            r.fail(FailureClass::WorkerLost, "session task panicked");
            records.push(r);
        }
    }
    records.sort_by_key(|r| r.request_id);
    let stats = ProcessStats {
        cpu_seconds: (crate::sys::cpu_time() - cpu0).as_secs_f64(),
        peak_rss_bytes: crate::sys::peak_rss_bytes(),
        max_lag: max_lag.load(Ordering::Relaxed) as f64 / 1e6,
        wall: wall0.elapsed().as_secs_f64(),
        close_timeouts: shared.counters.close_timeouts.load(Ordering::Relaxed),
        busiest_cpu_fraction,
    };
    Ok((records, stats))
}

/// Returns a closure giving (seconds since `since`, CPU seconds of the event loop since now).
/// On a current-thread runtime (ours, and each worker's) every task runs on this thread, so its
/// CPU time is the load generator's alone, even when `experiment` runs the server in another
/// thread of the same process; on a multi-thread runtime, the whole process's.
fn event_loop_cpu_sampler(since: Instant) -> impl Fn() -> (f64, f64) + Clone + Send + 'static {
    let current_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
    let cpu = if current_thread {
        crate::sys::thread_cpu_time
    } else {
        crate::sys::cpu_time
    };
    let cpu0 = cpu();
    move || {
        (
            since.elapsed().as_secs_f64(),
            cpu().saturating_sub(cpu0).as_secs_f64(),
        )
    }
}

pub(crate) fn blank_record(share: &ShareSpec, id: usize, started: SystemTime) -> SessionRecord {
    let target = &share.targets[id % share.targets.len()];
    SessionRecord {
        request_id: id,
        mode: share.mode,
        timestamp: utc_timestamp(started),
        wait_requested: share.wait,
        batch_size: share.batch_size,
        hardware: share.hardware.clone(),
        connect_latency: 0.0,
        reset_latency: 0.0,
        step_latency: 0.0,
        total_latency: 0.0,
        waited_seconds: 0.0,
        pid: 0,
        session_hash: String::new(),
        host_url: String::new(),
        success: false,
        error_type: None,
        error_message: None,
        repetition: share.repetition,
        url: target.url.clone(),
        steps: share.steps,
        tcp_connect_latency: 0.0,
        upgrade_latency: 0.0,
        close_latency: 0.0,
        start_delay: 0.0,
        worker: share.worker,
        tls_latency: 0.0,
    }
}

fn blank(shared: &Shared, id: usize, started: SystemTime) -> SessionRecord {
    blank_record(&shared.share, id, started)
}

fn start_offset(share: &ShareSpec, id: usize) -> Duration {
    if share.ramp > 0.0 && share.batch_size > 1 {
        Duration::from_secs_f64(share.ramp * id as f64 / share.batch_size as f64)
    } else {
        Duration::ZERO
    }
}

/// Runs one session from its (already reached) start time.
async fn session(shared: Arc<Shared>, id: usize, mut stop: watch::Receiver<bool>) -> SessionRecord {
    let share = &shared.share;
    let offset = start_offset(share, id);
    let stopped = *stop.borrow();
    let now = tokio::time::Instant::now();
    let started_wall = shared.t0_wall + now.saturating_duration_since(shared.t0);
    let mut rec = blank(&shared, id, started_wall);
    rec.start_delay = now.saturating_duration_since(shared.t0).as_secs_f64() - offset.as_secs_f64();
    let counters = &shared.counters;
    if stopped {
        rec.fail(
            FailureClass::Interrupted,
            "interrupted before the session started",
        );
        counters.failed.fetch_add(1, Ordering::Relaxed);
        return rec;
    }
    counters.launched.fetch_add(1, Ordering::Relaxed);
    let n = share.targets.len();
    let ctx = SessionCtx {
        target: &share.targets[id % n],
        addr: shared.addrs[id % n],
        src: (!share.source_addrs.is_empty())
            .then(|| share.source_addrs[(id / n) % share.source_addrs.len()]),
        wait: share.wait,
        steps: share.steps,
        timeout: Duration::from_secs_f64(share.timeout),
        close_timeout: Duration::from_secs_f64(share.close_timeout),
        counters,
        tls: share.targets[id % n]
            .tls
            .then_some(shared.tls.as_ref())
            .flatten(),
    };
    let t0 = Instant::now();
    let outcome = {
        let drive = async {
            match share.mode {
                Mode::Ws => crate::ws::drive(&ctx, &mut rec, t0).await,
                Mode::Http => crate::http::drive(&ctx, &mut rec, t0).await,
            }
        };
        tokio::select! {
            result = drive => Some(result),
            _ = until_stopped(&mut stop) => None,
        }
    };
    rec.total_latency = t0.elapsed().as_secs_f64();
    match outcome {
        Some(Ok(())) => rec.success = true,
        Some(Err(f)) => rec.fail(f.class, f.message),
        None => rec.fail(FailureClass::Interrupted, "interrupted while in flight"),
    }
    if rec.success {
        counters.done.fetch_add(1, Ordering::Relaxed);
    } else {
        counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    rec
}

/// Resolves once `stop` is true; never if its sender is gone without stopping.
pub(crate) async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await
    }
}
