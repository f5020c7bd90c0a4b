//! The grid runner: cells in order (mode → wait → N → repetition), each spread over as many
//! processes as it needs, records merged and appended to the output files.

use crate::record::{FailureClass, SessionRecord};
use crate::share::{blank_record, run_share, unix_ns, until_stopped, Counters, ProcessStats};
use crate::spec::{GridSpec, Mode, ShareSpec, Target};
use crate::summary::{CellInfo, CellSummary, LoadgenStats};
use crate::writer::{run_info, OutputDir};
use crate::LoadgenError;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Live counts of the cell in flight (all processes together).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub total: usize,
    pub launched: usize,
    pub connected: usize,
    pub done: usize,
    pub failed: usize,
    pub elapsed: Duration,
}

/// What the engine tells its observer. The engine never prints.
#[derive(Debug)]
pub enum Event<'a> {
    GridStarted {
        cells: usize,
        output_dir: Option<&'a Path>,
    },
    CellStarted {
        index: usize,
        cells: usize,
        mode: Mode,
        batch_size: usize,
        wait: f64,
        repetition: u32,
        processes: usize,
    },
    /// Every 100 ms while a cell runs.
    Progress(Progress),
    CellFinished {
        index: usize,
        cells: usize,
        summary: &'a CellSummary,
    },
    Warning(String),
}

pub trait Observer {
    fn on_event(&mut self, event: Event<'_>);
}

pub struct NullObserver;

impl Observer for NullObserver {
    fn on_event(&mut self, _: Event<'_>) {}
}

/// One finished cell.
#[derive(Debug, Clone)]
pub struct CellOutcome {
    pub summary: CellSummary,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct GridOutcome {
    pub cells: Vec<CellOutcome>,
    /// Stopped by Ctrl-C (the cell in flight is recorded as far as it got).
    pub interrupted: bool,
    /// Some cell saw fewer distinct `host_url`s than `expected_hosts`.
    pub missing_hosts: bool,
    pub output_dir: Option<PathBuf>,
}

/// Runs the grid on a fresh current-thread runtime; Ctrl-C interrupts it cleanly.
pub fn run_grid(spec: &GridSpec, obs: &mut impl Observer) -> Result<GridOutcome, LoadgenError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadgenError::io("starting the runtime", e))?;
    rt.block_on(run_grid_until(spec, obs, async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    }))
}

/// Runs the grid inside the caller's runtime; `stop` resolving interrupts it.
pub async fn run_grid_until<O: Observer + ?Sized>(
    spec: &GridSpec,
    obs: &mut O,
    stop: impl Future<Output = ()>,
) -> Result<GridOutcome, LoadgenError> {
    let targets = spec.validate()?;
    crate::sys::raise_nofile_limit();
    let per_process = spec
        .sessions_per_process
        .unwrap_or_else(crate::sys::default_sessions_per_process);
    if spec.worker_command.is_none() {
        if let Some(&n) = spec.batch_sizes.iter().find(|&&n| n > per_process) {
            return Err(LoadgenError::BadSpec(format!(
                "N={n} needs {} processes (at most {per_process} sessions per process) but no worker command is set",
                n.div_ceil(per_process)
            )));
        }
    }
    let mut out = match &spec.output_dir {
        Some(dir) => Some(OutputDir::open(dir, &run_info(spec.command_line.clone()))?),
        None => None,
    };
    let mut cells = Vec::new();
    for &mode in &spec.modes {
        for &wait in &spec.waits {
            for &n in &spec.batch_sizes {
                for rep in 1..=spec.reps {
                    cells.push((mode, wait, n, rep));
                }
            }
        }
    }
    obs.on_event(Event::GridStarted {
        cells: cells.len(),
        output_dir: spec.output_dir.as_deref(),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = async move {
        stop.await;
        stop_tx.send_replace(true);
        std::future::pending::<()>().await
    };
    tokio::pin!(stop);
    let mut outcome = GridOutcome {
        cells: Vec::new(),
        interrupted: false,
        missing_hosts: false,
        output_dir: spec.output_dir.clone(),
    };
    let total = cells.len();
    for (index, &(mode, wait, n, rep)) in cells.iter().enumerate() {
        if *stop_rx.borrow() {
            break;
        }
        let cell = CellRun {
            spec,
            targets: &targets,
            mode,
            wait,
            n,
            rep,
            per_process,
        };
        obs.on_event(Event::CellStarted {
            index,
            cells: total,
            mode,
            batch_size: n,
            wait,
            repetition: rep,
            processes: n.div_ceil(per_process),
        });
        let (records, summary) = {
            let run = cell.run(stop_rx.clone(), obs);
            tokio::select! {
                r = run => r?,
                _ = &mut stop => unreachable!("stop never resolves"),
            }
        };
        let mut warnings = Vec::new();
        if summary.unique_hosts < spec.expected_hosts && !summary.interrupted {
            outcome.missing_hosts = true;
            warnings.push(format!(
                "{} N={n} wait={wait:?} rep {rep}: {} distinct host_url answered, {} expected",
                mode.as_str(),
                summary.unique_hosts,
                spec.expected_hosts
            ));
        }
        if let Some(why) = summary.loadgen.saturation() {
            warnings.push(format!(
                "{} N={n} wait={wait:?} rep {rep}: the load generator was saturated ({why}); \
                 latencies include its own delays",
                mode.as_str(),
            ));
        }
        if let Some(o) = out.as_mut() {
            o.append_cell(&records, &summary)?;
        }
        obs.on_event(Event::CellFinished {
            index,
            cells: total,
            summary: &summary,
        });
        for w in &warnings {
            obs.on_event(Event::Warning(w.clone()));
        }
        let interrupted = summary.interrupted;
        outcome.cells.push(CellOutcome { summary, warnings });
        if interrupted {
            break;
        }
        if index + 1 < total && spec.cooldown > 0.0 {
            let mut rx = stop_rx.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(spec.cooldown)) => {}
                _ = until_stopped(&mut rx) => {}
                _ = &mut stop => {}
            }
        }
    }
    outcome.interrupted = *stop_rx.borrow();
    Ok(outcome)
}

/// Most automatic loopback source addresses per cell (a quarter of 127.0.0.2..=254, so HTTP's
/// moving window still has fresh ones for the next cells).
const MAX_AUTO_SOURCES: usize = 64;

struct CellRun<'a> {
    spec: &'a GridSpec,
    targets: &'a [Target],
    mode: Mode,
    wait: f64,
    n: usize,
    rep: u32,
    per_process: usize,
}

/// Loopback source addresses when one (source, destination) pair would run short of ports:
/// the kernel's port search slows past ~40% of a pair's ~28k ports (at N = 400,000 over 24
/// sources, 16,700 ports each, it cost 490 µs of CPU per session). WS sessions are closed by
/// the server (no TIME_WAIT on our side): one source per 8,000 sessions. HTTP sessions are
/// closed by us and leave their ports in TIME_WAIT for a minute: one source per 4,096, and a
/// window that moves on every cell, so back-to-back cells do not search through the previous
/// cells' TIME_WAIT ports. At most [`MAX_AUTO_SOURCES`] (512k WS sessions, 262k HTTP).
/// Sources are 127.0.0.2..=127.0.0.254; 127.0.0.1 is left to the kernel.
fn source_addrs(spec: &GridSpec, targets: &[Target], n: usize, mode: Mode) -> Vec<Ipv4Addr> {
    if let Some(s) = &spec.source_addrs {
        return s.clone();
    }
    if !targets.iter().all(Target::is_loopback_v4) {
        return Vec::new();
    }
    let per_target = n.div_ceil(targets.len());
    let per_source = match mode {
        Mode::Ws => 8_000,
        Mode::Http => 4_096,
    };
    if per_target <= per_source {
        return Vec::new();
    }
    let m = per_target.div_ceil(per_source).min(MAX_AUTO_SOURCES);
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let first = match mode {
        Mode::Ws => 0,
        // Start where the wall clock says, so separate runs within a minute also move on.
        Mode::Http => {
            NEXT.fetch_add(m, Ordering::Relaxed)
                + (unix_ns(SystemTime::now()) / 1_000_000_000) as usize
        }
    };
    (0..m)
        .map(|i| Ipv4Addr::new(127, 0, 0, (2 + (first + i) % 253) as u8))
        .collect()
}

impl CellRun<'_> {
    async fn run<O: Observer + ?Sized>(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
        obs: &mut O,
    ) -> Result<(Vec<SessionRecord>, CellSummary), LoadgenError> {
        let spec = self.spec;
        let n = self.n;
        let processes = n.div_ceil(self.per_process);
        let lead = if processes > 1 {
            Duration::from_millis(400)
        } else {
            Duration::from_millis(20)
        } + Duration::from_micros(2 * n as u64);
        let start = SystemTime::now() + lead;
        let sources = source_addrs(spec, self.targets, n, self.mode);
        let base = n / processes;
        let extra = n % processes;
        let mut shares = Vec::with_capacity(processes);
        let mut first = 0;
        for w in 0..processes {
            let count = base + usize::from(w < extra);
            shares.push(ShareSpec {
                targets: self.targets.to_vec(),
                mode: self.mode,
                wait: self.wait,
                steps: spec.steps,
                timeout: spec.timeout,
                close_timeout: spec.close_timeout,
                ramp: spec.ramp,
                launch_batch: spec.launch_batch,
                batch_size: n,
                repetition: self.rep,
                hardware: spec.hardware.clone(),
                first_id: first,
                count,
                start_unix_ns: unix_ns(start),
                source_addrs: sources.clone(),
                worker: w,
                extra_root_certs: spec.extra_root_certs.clone(),
                insecure: spec.insecure,
            });
            first += count;
        }
        // Longest a session can take: connect, upgrade, reset, steps (each with --timeout),
        // close (--close-timeout), plus its start offset.
        let worker_deadline =
            lead + Duration::from_secs_f64(
                spec.ramp + spec.timeout * (3 + spec.steps) as f64 + spec.close_timeout,
            ) + Duration::from_secs(30);
        // Workers first (they need a moment to start), then our own share.
        let mut stdins = Vec::new();
        let mut tasks = Vec::new();
        let mut counters = vec![Arc::new(Counters::default())];
        for share in &shares[1..] {
            let c = Arc::new(Counters::default());
            let cmd = spec
                .worker_command
                .as_ref()
                .ok_or_else(|| LoadgenError::BadSpec("no worker command".into()))?;
            // `{worker}` in the command becomes the worker's number (1..), so one template can
            // place workers on different nodes (e.g. `srun --relative={worker} ...`).
            let cmd: Vec<String> = cmd
                .iter()
                .map(|a| a.replace("{worker}", &share.worker.to_string()))
                .collect();
            let (stdin, task) =
                crate::worker::spawn(&cmd, share, c.clone(), worker_deadline).await?;
            stdins.push(Some(stdin));
            tasks.push(task);
            counters.push(c);
        }
        let own = run_share(shares[0].clone(), counters[0].clone(), stop.clone());
        let workers = async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap_or_else(|e| crate::worker::WorkerResult {
                    error: Some(format!("worker reader failed: {e}")),
                    ..Default::default()
                }));
            }
            out
        };
        let work = async { tokio::join!(own, workers) };
        tokio::pin!(work);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let t0 = tokio::time::Instant::now() + lead;
        let mut stop_seen = stop.clone();
        let mut stopped = false;
        let (own_result, worker_results) = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = tick.tick() => {
                    let sum = |f: fn(&Counters) -> usize| counters.iter().map(|c| f(c)).sum::<usize>();
                    obs.on_event(Event::Progress(Progress {
                        total: n,
                        launched: sum(|c| c.launched.load(Ordering::Relaxed)),
                        connected: sum(|c| c.connected.load(Ordering::Relaxed)),
                        done: sum(|c| c.done.load(Ordering::Relaxed)),
                        failed: sum(|c| c.failed.load(Ordering::Relaxed)),
                        elapsed: tokio::time::Instant::now().saturating_duration_since(t0),
                    }));
                }
                _ = until_stopped(&mut stop_seen), if !stopped => {
                    stopped = true;
                    // Closing a worker's stdin interrupts it.
                    for s in stdins.iter_mut() {
                        s.take();
                    }
                }
            }
        };
        drop(stdins);
        let (mut records, own_stats) = own_result?;
        let mut stats: Vec<ProcessStats> = vec![own_stats];
        for (share, res) in shares[1..].iter().zip(worker_results) {
            let have: std::collections::HashSet<usize> =
                res.records.iter().map(|r| r.request_id).collect();
            let why = res
                .error
                .clone()
                .unwrap_or_else(|| "worker ended without reporting".into());
            records.extend(res.records);
            for id in (share.first_id..share.first_id + share.count).filter(|id| !have.contains(id))
            {
                let mut r = blank_record(share, id, start);
                r.fail(FailureClass::WorkerLost, why.clone());
                records.push(r);
            }
            if let Some(s) = res.stats {
                stats.push(s);
            }
        }
        records.sort_by_key(|r| r.request_id);
        let offset = |id: usize| {
            if spec.ramp > 0.0 && n > 1 {
                spec.ramp * id as f64 / n as f64
            } else {
                0.0
            }
        };
        let wall = records
            .iter()
            .map(|r| offset(r.request_id) + r.start_delay + r.total_latency)
            .fold(0.0, f64::max);
        let loadgen = LoadgenStats {
            processes: stats.len(),
            cpu_seconds: stats.iter().map(|s| s.cpu_seconds).sum(),
            peak_rss_bytes: stats.iter().map(|s| s.peak_rss_bytes).sum(),
            max_lag: stats.iter().map(|s| s.max_lag).fold(0.0, f64::max),
            busiest_cpu_fraction: stats
                .iter()
                .map(|s| match s.busiest_cpu_fraction {
                    f if f > 0.0 => f,
                    // An older worker without the busiest-second sample: its cell average.
                    _ if s.wall > 0.0 => s.cpu_seconds / s.wall,
                    _ => 0.0,
                })
                .fold(0.0, f64::max),
            launch_spread: records.iter().map(|r| r.start_delay).fold(0.0, f64::max),
            close_timeouts: stats.iter().map(|s| s.close_timeouts).sum(),
        };
        let info = CellInfo {
            mode: self.mode,
            url: spec.url_label(),
            batch_size: n,
            wait: self.wait,
            repetition: self.rep,
            hardware: spec.hardware.clone(),
            steps: spec.steps,
            ramp: spec.ramp,
        };
        let interrupted = *stop.borrow()
            || records
                .iter()
                .any(|r| r.error_type == Some(FailureClass::Interrupted));
        let end = start + Duration::from_secs_f64(wall);
        let summary = crate::summary::compute(&info, &records, wall, end, loadgen, interrupted);
        Ok((records, summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn source_addresses_only_when_needed() {
        let spec = GridSpec::default();
        let lo = [Target::parse("http://127.0.0.1:8000").unwrap()];
        assert!(source_addrs(&spec, &lo, 8_000, Mode::Ws).is_empty());
        assert_eq!(source_addrs(&spec, &lo, 8_001, Mode::Ws).len(), 2);
        let ws = source_addrs(&spec, &lo, 25_000, Mode::Ws);
        assert_eq!(ws.len(), 4);
        assert!(ws
            .iter()
            .all(|a| a.is_loopback() && *a != Ipv4Addr::LOCALHOST));
        // One per 8,000 up to 64: 400,000 sessions get 50 (7,936 ports each), 1M the cap.
        let big = source_addrs(&spec, &lo, 400_000, Mode::Ws);
        assert_eq!(big.len(), 50);
        assert_eq!(big.iter().collect::<HashSet<_>>().len(), 50, "distinct");
        assert_eq!(source_addrs(&spec, &lo, 1_000_000, Mode::Ws).len(), 64);
        assert_eq!(source_addrs(&spec, &lo, 1_000_000, Mode::Http).len(), 64);
        // Ports are per (source, destination): 400,000 over two servers need 25 sources.
        let two = [
            lo[0].clone(),
            Target::parse("http://127.0.0.1:8001").unwrap(),
        ];
        assert_eq!(source_addrs(&spec, &two, 400_000, Mode::Ws).len(), 25);
        let a = source_addrs(&spec, &lo, 16_384, Mode::Http);
        let b = source_addrs(&spec, &lo, 16_384, Mode::Http);
        assert_eq!(a.len(), 4);
        assert!(
            a.iter().all(|x| !b.contains(x)),
            "HTTP cells move to fresh sources"
        );
        let remote = [Target::parse("http://10.0.0.1:8000").unwrap()];
        assert!(source_addrs(&spec, &remote, 100_000, Mode::Ws).is_empty());
    }
}
