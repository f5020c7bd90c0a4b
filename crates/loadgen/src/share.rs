//! Runs one process's share of a cell: every session of `first_id..first_id+count` starts at the
//! cell's intended start plus its own start offset, on this process's current-thread runtime.

use crate::ctx::SessionCtx;
use crate::error::LoadgenError;
use crate::meter::{Meter, ProcessStats};
use crate::observe::Counters;
use crate::record::SessionRecord;
use crate::session::{self, until_stopped};
use crate::spec::{ShareSpec, Target};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Runs the share; returns its records (in `request_id` order) and the process's own costs.
/// `stop` turning true ends every session in flight as `Interrupted`.
pub async fn run_share(
    share: ShareSpec,
    counters: Arc<Counters>,
    stop: watch::Receiver<bool>,
) -> Result<(Vec<SessionRecord>, ProcessStats), LoadgenError> {
    let count = share.count;
    // A share too large for memory is an error, not an abort (a worker's share comes from a
    // parent, which checked it against its own machine, not necessarily this one).
    let mut records: Vec<SessionRecord> = Vec::new();
    records.try_reserve_exact(count).map_err(|e| {
        LoadgenError::BadSpec(format!(
            "{count} sessions in one process: cannot hold their records ({e})"
        ))
    })?;
    let run = Arc::new(ShareRun::prepare(share, counters).await?);
    let meter = Meter::start();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SessionRecord>();
    let launcher = tokio::spawn(launch(run.clone(), tx, stop));
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
    // A panicked task (a bug) still leaves a record, so every session is in the files.
    session::fill_missing(
        &mut records,
        &run.share,
        SystemTime::now(),
        &run.host,
        crate::record::FailureClass::WorkerLost,
        "session task panicked",
    );
    let stats = meter.finish(run.counters.close_timeouts.load(Ordering::Relaxed));
    Ok((records, stats))
}

/// What every session of the share shares: resolved addresses, the TLS connector, the counters,
/// the intended start on this machine's clocks.
struct ShareRun {
    share: ShareSpec,
    addrs: Vec<SocketAddr>,
    /// Built when any target is `https`/`wss`; the config inside is the process's one.
    tls: Option<tokio_rustls::TlsConnector>,
    counters: Arc<Counters>,
    t0: tokio::time::Instant,
    t0_wall: SystemTime,
    timeout: Duration,
    close_timeout: Duration,
    /// This process's host name: every record's `client_host`.
    host: String,
}

impl ShareRun {
    async fn prepare(share: ShareSpec, counters: Arc<Counters>) -> Result<ShareRun, LoadgenError> {
        let cell = &share.cell;
        let mut addrs = Vec::with_capacity(cell.targets.len());
        for t in &cell.targets {
            addrs.push(resolve(t).await?);
        }
        let tls = if cell.targets.iter().any(|t| t.tls) {
            let settings = crate::tls::TlsSettings {
                extra_root_certs: cell.extra_root_certs.clone(),
                insecure: cell.insecure,
            };
            Some(tokio_rustls::TlsConnector::from(crate::tls::client_config(
                &settings,
            )?))
        } else {
            None
        };
        let (t0, t0_wall) = local_start(cell.start_unix_ns);
        Ok(ShareRun {
            timeout: Duration::from_secs_f64(cell.timeout),
            close_timeout: Duration::from_secs_f64(cell.close_timeout),
            share,
            addrs,
            tls,
            counters,
            t0,
            t0_wall,
            host: local_host(),
        })
    }

    /// Session `id`'s context: targets round-robin by id, source addresses round-robin per target.
    fn ctx(&self, id: usize) -> SessionCtx<'_> {
        let cell = &self.share.cell;
        let n = cell.targets.len();
        let target = &cell.targets[id % n];
        let sources = &cell.source_addrs;
        SessionCtx {
            cell,
            target,
            addr: self.addrs[id % n],
            src: (!sources.is_empty()).then(|| sources[(id / n) % sources.len()]),
            timeout: self.timeout,
            close_timeout: self.close_timeout,
            counters: &self.counters,
            tls: target.tls.then_some(self.tls.as_ref()).flatten(),
        }
    }
}

/// Starts the sessions at their start times. With `launch_batch` K > 0 it yields after every K
/// launches, so replies to sessions already started are handled between launches instead of
/// waiting behind the whole burst.
async fn launch(
    run: Arc<ShareRun>,
    tx: tokio::sync::mpsc::UnboundedSender<SessionRecord>,
    stop: watch::Receiver<bool>,
) {
    let share = &run.share;
    let batch = share.cell.launch_batch;
    for (k, id) in (share.first_id..share.first_id + share.count).enumerate() {
        let offset = share.cell.start_offset(id);
        let start = run.t0 + Duration::from_secs_f64(offset);
        if start > tokio::time::Instant::now() {
            let mut stop = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep_until(start) => {}
                _ = until_stopped(&mut stop) => {}
            }
        }
        let (run, stop, tx) = (run.clone(), stop.clone(), tx.clone());
        tokio::spawn(async move {
            let rec = start_session(&run, id, offset, stop).await;
            let _ = tx.send(rec);
        });
        if batch > 0 && k % batch == batch - 1 {
            tokio::task::yield_now().await;
        }
    }
}

/// Session `id`, whose intended start (`offset` seconds after the cell's) has come.
async fn start_session(
    run: &ShareRun,
    id: usize,
    offset: f64,
    stop: watch::Receiver<bool>,
) -> SessionRecord {
    let since = tokio::time::Instant::now().saturating_duration_since(run.t0);
    let mut rec = session::blank(
        &run.share.cell,
        run.share.worker,
        id,
        run.t0_wall + since,
        &run.host,
    );
    rec.start_delay = since.as_secs_f64() - offset;
    session::run(&run.ctx(id), rec, stop).await
}

/// Resolves a target once per share (IPv4 first: loopback source spreading is IPv4).
async fn resolve(t: &Target) -> Result<SocketAddr, LoadgenError> {
    let (host, port) = (t.host.clone(), t.port);
    let found = tokio::task::spawn_blocking(move || {
        openenv_sys::resolve(&host, port, Duration::from_secs(30))
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    found.map_err(|e| LoadgenError::Resolve {
        host: t.host.clone(),
        source: e,
    })
}

/// This machine's host name (`client_host`), or "" when it cannot be read.
pub(crate) fn local_host() -> String {
    openenv_sys::hostname().unwrap_or_default()
}

pub(crate) fn unix_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// The intended start as a local Instant and SystemTime.
fn local_start(start_unix_ns: i64) -> (tokio::time::Instant, SystemTime) {
    let now_i = tokio::time::Instant::now();
    let now_ns = unix_ns(SystemTime::now());
    let delta = start_unix_ns - now_ns;
    let d = Duration::from_nanos(delta.unsigned_abs());
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
