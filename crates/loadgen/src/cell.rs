//! One cell: N sessions from one intended start, spread over as many processes as it needs,
//! their records merged and the cell's summary computed. [`crate::run_grid`] is a loop over
//! [`run_cell`]; a capacity search calls it directly, one cell at a time.

use crate::error::LoadgenError;
use crate::meter::{self, ProcessStats};
use crate::observe::{Counters, Event, Observer, Progress};
use crate::record::{FailureClass, SessionRecord};
use crate::session::{fill_lost, until_stopped};
use crate::share::{run_share, unix_ns};
use crate::spec::{CellParams, CellSpec, GridSpec, Mode, ShareSpec, Target};
use crate::summary::{CellInfo, CellSummary};
use crate::worker::{self, WorkerResult};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::process::ChildStdin;
use tokio::sync::watch;

/// One finished cell: every record (in `request_id` order, as appended to `raw.jsonl`), its
/// summary, and what the caller should be warned about.
#[derive(Debug, Clone)]
pub struct CellResult {
    pub records: Vec<SessionRecord>,
    pub summary: CellSummary,
    /// Missing hosts, a saturated load generator (one sentence each).
    pub warnings: Vec<String>,
    /// Fewer distinct `host_url`s than [`GridSpec::expected_hosts`] answered (not interrupted).
    pub missing_hosts: bool,
}

/// Runs one cell of `spec` (its targets, deadlines, workers; the grid lists are not used) with
/// the mode, wait, N and repetition of `cell`, reporting progress to `obs` every 100 ms. `stop`
/// turning true interrupts it: the sessions in flight are recorded as `Interrupted` and the
/// result has `summary.interrupted`. Writes no files (see [`crate::writer::OutputDir`]).
pub async fn run_cell<O: Observer + ?Sized>(
    spec: &GridSpec,
    cell: &CellParams,
    obs: &mut O,
    stop: watch::Receiver<bool>,
) -> Result<CellResult, LoadgenError> {
    let targets = spec.validate()?;
    if cell.batch_size == 0 {
        return Err(LoadgenError::BadSpec("batch sizes must be >= 1".into()));
    }
    openenv_sys::raise_nofile_limit();
    let plan = Plan::new(spec, &targets, cell)?;
    let (records, stats) = plan.execute(spec, obs, stop.clone()).await?;
    let interrupted = *stop.borrow()
        || records
            .iter()
            .any(|r| r.error_type == Some(FailureClass::Interrupted));
    let summary = summarize(spec, &plan, &records, &stats, interrupted);
    let (warnings, missing_hosts) = warnings(spec, &summary);
    Ok(CellResult {
        records,
        summary,
        warnings,
        missing_hosts,
    })
}

/// How a cell is spread: one share per process (ours first), all from one intended start.
struct Plan {
    shares: Vec<ShareSpec>,
    /// From now to the intended start: time for the workers to start.
    lead: Duration,
    start: SystemTime,
}

impl Plan {
    fn new(spec: &GridSpec, targets: &[Target], cell: &CellParams) -> Result<Plan, LoadgenError> {
        let n = cell.batch_size;
        let per_process = spec.per_process();
        let processes = n.div_ceil(per_process);
        if processes > 1 && spec.worker_command.is_none() {
            return Err(spec.needs_workers(n, per_process));
        }
        let lead = if processes > 1 {
            Duration::from_millis(400)
        } else {
            Duration::from_millis(20)
        } + Duration::from_micros(2 * n as u64);
        let start = SystemTime::now() + lead;
        let cell_spec = CellSpec {
            targets: targets.to_vec(),
            params: *cell,
            steps: spec.steps,
            timeout: spec.timeout,
            close_timeout: spec.close_timeout,
            ramp: spec.ramp,
            launch_batch: spec.launch_batch,
            hardware: spec.hardware.clone(),
            start_unix_ns: unix_ns(start),
            source_addrs: source_addrs(spec, targets, n, cell.mode),
            extra_root_certs: spec.extra_root_certs.clone(),
            insecure: spec.insecure,
        };
        let (base, extra) = (n / processes, n % processes);
        let mut shares = Vec::with_capacity(processes);
        let mut first = 0;
        for worker in 0..processes {
            let count = base + usize::from(worker < extra);
            shares.push(ShareSpec {
                cell: cell_spec.clone(),
                first_id: first,
                count,
                worker,
            });
            first += count;
        }
        Ok(Plan {
            shares,
            lead,
            start,
        })
    }

    fn cell(&self) -> &CellSpec {
        &self.shares[0].cell
    }

    /// Longest a worker can take: the lead, its last start offset, connect, upgrade, reset and
    /// steps (each with --timeout), close (--close-timeout), and a margin.
    fn worker_deadline(&self) -> Duration {
        let c = self.cell();
        self.lead
            + Duration::from_secs_f64(c.ramp + c.timeout * (3 + c.steps) as f64 + c.close_timeout)
            + Duration::from_secs(30)
    }

    /// Runs every share (workers first: they need a moment to start), reporting progress, and
    /// returns the merged records (every session of the cell, by id) and each process's stats.
    async fn execute<O: Observer + ?Sized>(
        &self,
        spec: &GridSpec,
        obs: &mut O,
        stop: watch::Receiver<bool>,
    ) -> Result<(Vec<SessionRecord>, Vec<ProcessStats>), LoadgenError> {
        let workers = Workers::spawn(spec, &self.shares[1..], self.worker_deadline()).await?;
        let own_counters = Arc::new(Counters::default());
        let mut counters = vec![own_counters.clone()];
        counters.extend(workers.counters.iter().cloned());
        let own = run_share(self.shares[0].clone(), own_counters, stop.clone());
        let Workers { stdins, tasks, .. } = workers;
        let all = async {
            let collected = async {
                let mut out = Vec::with_capacity(tasks.len());
                for t in tasks {
                    out.push(t.await.unwrap_or_else(|e| WorkerResult {
                        error: Some(format!("worker reader failed: {e}")),
                        ..Default::default()
                    }));
                }
                out
            };
            tokio::join!(own, collected)
        };
        let t0 = tokio::time::Instant::now() + self.lead;
        let n = self.cell().params.batch_size;
        let (own_result, worker_results) = report_progress(all, obs, stop, stdins, t0, |elapsed| {
            Progress::sum(n, &counters, elapsed)
        })
        .await;
        let (mut records, own_stats) = own_result?;
        let mut stats = vec![own_stats];
        for (share, res) in self.shares[1..].iter().zip(worker_results) {
            let why = res
                .error
                .unwrap_or_else(|| "worker ended without reporting".into());
            records.extend(res.records);
            fill_lost(&mut records, share, self.start, &why);
            stats.extend(res.stats);
        }
        records.sort_by_key(|r| r.request_id);
        Ok((records, stats))
    }
}

/// Awaits `work`, sending a progress event every 100 ms (elapsed since `t0`, the intended
/// start); when `stop` turns true, closes every worker's stdin (which interrupts it) and keeps
/// waiting for the work to end.
async fn report_progress<T, O: Observer + ?Sized>(
    work: impl std::future::Future<Output = T>,
    obs: &mut O,
    mut stop: watch::Receiver<bool>,
    mut stdins: Vec<Option<ChildStdin>>,
    t0: tokio::time::Instant,
    progress: impl Fn(Duration) -> Progress,
) -> T {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stopped = false;
    loop {
        tokio::select! {
            r = &mut work => return r,
            _ = tick.tick() => {
                let elapsed = tokio::time::Instant::now().saturating_duration_since(t0);
                obs.on_event(Event::Progress(progress(elapsed)));
            }
            _ = until_stopped(&mut stop), if !stopped => {
                stopped = true;
                for s in stdins.iter_mut() {
                    s.take();
                }
            }
        }
    }
}

/// The worker processes of a cell, started.
struct Workers {
    stdins: Vec<Option<ChildStdin>>,
    tasks: Vec<tokio::task::JoinHandle<WorkerResult>>,
    counters: Vec<Arc<Counters>>,
}

impl Workers {
    async fn spawn(
        spec: &GridSpec,
        shares: &[ShareSpec],
        deadline: Duration,
    ) -> Result<Workers, LoadgenError> {
        let mut w = Workers {
            stdins: Vec::new(),
            tasks: Vec::new(),
            counters: Vec::new(),
        };
        for share in shares {
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
            let c = Arc::new(Counters::default());
            let (stdin, task) = worker::spawn(&cmd, share, c.clone(), deadline).await?;
            w.stdins.push(Some(stdin));
            w.tasks.push(task);
            w.counters.push(c);
        }
        Ok(w)
    }
}

/// The cell's summary row. Its wall time runs from the intended start to the last session's end.
fn summarize(
    spec: &GridSpec,
    plan: &Plan,
    records: &[SessionRecord],
    stats: &[ProcessStats],
    interrupted: bool,
) -> CellSummary {
    let wall = records
        .iter()
        .map(|r| r.start_offset + r.start_delay + r.total_latency)
        .fold(0.0, f64::max);
    let c = plan.cell();
    let info = CellInfo {
        mode: c.params.mode,
        url: spec.url_label(),
        batch_size: c.params.batch_size,
        wait: c.params.wait,
        repetition: c.params.repetition,
        hardware: c.hardware.clone(),
        steps: c.steps,
        ramp: c.ramp,
    };
    let end = plan.start + Duration::from_secs_f64(wall);
    let loadgen = meter::combine(stats, records);
    crate::summary::compute(&info, records, wall, end, loadgen, interrupted)
}

/// Warnings about a finished cell, and whether hosts were missing.
fn warnings(spec: &GridSpec, s: &CellSummary) -> (Vec<String>, bool) {
    let what = format!(
        "{} N={} wait={:?} rep {}",
        s.mode.as_str(),
        s.batch_size,
        s.wait_seconds,
        s.repetition
    );
    let mut warnings = Vec::new();
    let missing_hosts = s.unique_hosts < spec.expected_hosts && !s.interrupted;
    if missing_hosts {
        warnings.push(format!(
            "{what}: {} distinct host_url answered, {} expected",
            s.unique_hosts, spec.expected_hosts
        ));
    }
    if let Some(why) = s.loadgen.saturation() {
        warnings.push(format!(
            "{what}: the load generator was saturated ({why}); latencies include its own delays"
        ));
    }
    (warnings, missing_hosts)
}

/// Most automatic loopback source addresses per cell (a quarter of 127.0.0.2..=254, so HTTP's
/// moving window still has fresh ones for the next cells).
const MAX_AUTO_SOURCES: usize = 64;

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

    #[test]
    fn a_cell_is_split_evenly_with_the_ramp_offsets_of_the_whole_cell() {
        let spec = GridSpec {
            sessions_per_process: Some(100),
            worker_command: Some(vec!["w".into()]),
            ramp: 2.0,
            ..GridSpec::default()
        };
        let targets = spec.validate().unwrap();
        let cell = CellParams {
            mode: Mode::Http,
            wait: 0.5,
            batch_size: 250,
            repetition: 2,
        };
        let plan = Plan::new(&spec, &targets, &cell).unwrap();
        let counts: Vec<(usize, usize, usize)> = plan
            .shares
            .iter()
            .map(|s| (s.worker, s.first_id, s.count))
            .collect();
        assert_eq!(counts, [(0, 0, 84), (1, 84, 83), (2, 167, 83)]);
        let c = plan.cell();
        assert_eq!(c.start_offset(0), 0.0);
        assert_eq!(c.start_offset(125), 1.0);
        assert!(plan
            .shares
            .iter()
            .all(|s| s.cell.start_unix_ns == c.start_unix_ns));
        // A lost worker's sessions keep their own intended start.
        let mut records = Vec::new();
        fill_lost(&mut records, &plan.shares[2], plan.start, "gone");
        assert_eq!(records.len(), 83);
        assert_eq!(records[0].request_id, 167);
        assert_eq!(records[0].start_offset, 2.0 * 167.0 / 250.0);
        assert_eq!(records[0].error_type, Some(FailureClass::WorkerLost));
        assert_eq!((records[0].worker, records[0].repetition), (2, 2));
        // Without a worker command a cell over one process is refused, naming the numbers.
        let alone = GridSpec {
            worker_command: None,
            ..spec
        };
        let err = Plan::new(&alone, &targets, &cell)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("N=250 needs 3 processes"), "{err}");
    }
}
