//! One cell: N sessions from one intended start, spread over as many processes as it needs,
//! their records merged and the cell's summary computed. [`crate::run_grid`] is a loop over
//! [`run_cell`]; a capacity search calls it directly, one cell at a time.

use crate::error::LoadgenError;
use crate::meter::{self, ProcessStats};
use crate::observe::{Counters, Event, Observer, Progress};
use crate::record::{FailureClass, SessionRecord};
use crate::session::{fill_missing, until_stopped};
use crate::share::{run_share, unix_ns};
use crate::spec::{CellParams, CellSpec, GridSpec, Mode, ShareSpec, Target};
use crate::summary::{CellInfo, CellSummary};
use crate::worker::{self, Hello, NotReady, WorkerResult};
use openenv_results::LoadgenHost;
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
    /// Missing hosts, a saturated load generator, lost workers (one sentence each).
    pub warnings: Vec<String>,
    /// Fewer distinct `host_url`s than [`GridSpec::expected_hosts`] answered (not interrupted).
    pub missing_hosts: bool,
    /// Each load-generator host's part of this cell (`cells` = 1), for `run.json`'s
    /// `loadgen_hosts` ([`merge_host`] sums them over a run).
    pub hosts: Vec<LoadgenHost>,
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
    crate::grid::check_cell(spec, cell.batch_size)?;
    let plan = Plan::new(spec, &targets, cell)?;
    let done = plan.execute(spec, obs, stop.clone()).await?;
    let records = done.records;
    let interrupted = *stop.borrow()
        || records
            .iter()
            .any(|r| r.error_type == Some(FailureClass::Interrupted));
    let summary = summarize(spec, &plan, done.start, &records, &done.stats, interrupted);
    let (mut warnings, missing_hosts) = warnings(spec, &summary);
    warnings.extend(done.lost);
    Ok(CellResult {
        records,
        summary,
        warnings,
        missing_hosts,
        hosts: done.hosts,
    })
}

/// How a cell is spread: one share per process, all from one intended start. The first share
/// is ours unless the workers run everything (`--slurm`, `workers_only`).
struct Plan {
    shares: Vec<ShareSpec>,
    /// `shares[0]` runs in this process.
    own: bool,
}

/// What running a plan gave.
struct Executed {
    records: Vec<SessionRecord>,
    stats: Vec<ProcessStats>,
    hosts: Vec<LoadgenHost>,
    /// The intended start (our clock).
    start: SystemTime,
    /// One sentence per lost worker.
    lost: Vec<String>,
}

/// One process of a cell as `run.json` counts it.
struct ProcessPart {
    host: String,
    cores: u64,
    sessions: usize,
    stats: Option<ProcessStats>,
    lost: bool,
    clock: Option<(i64, Duration)>,
}

impl Plan {
    fn new(spec: &GridSpec, targets: &[Target], cell: &CellParams) -> Result<Plan, LoadgenError> {
        let n = cell.batch_size;
        let per_process = spec.per_process();
        let processes = spec.processes(n);
        let own = spec.runs_own_share();
        if own && processes > 1 && spec.worker_command.is_none() {
            return Err(spec.needs_workers(n, per_process));
        }
        // Provisional: the intended start is chosen at the barrier.
        let start = SystemTime::now();
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
            workload: spec.workload.clone(),
            reset_data: spec.reset_data.clone(),
        };
        let (base, extra) = (n / processes, n % processes);
        let mut shares = Vec::with_capacity(processes);
        let mut first = 0;
        for i in 0..processes {
            let count = base + usize::from(i < extra);
            let worker = if own { i } else { i + 1 };
            shares.push(ShareSpec {
                cell: cell_spec.clone(),
                first_id: first,
                count,
                worker,
                barrier: worker > 0,
            });
            first += count;
        }
        Ok(Plan { shares, own })
    }

    fn cell(&self) -> &CellSpec {
        &self.shares[0].cell
    }

    fn remote(&self) -> &[ShareSpec] {
        &self.shares[usize::from(self.own)..]
    }

    /// Longest a worker can take from the start: its last start offset, connect, upgrade,
    /// reset and steps (each with --timeout), close (--close-timeout), and a margin.
    fn worker_deadline(&self) -> Duration {
        let c = self.cell();
        // In f64: `3 + steps` in u32 wraps at --steps 4294967293 (a deadline of 2 operations).
        Duration::from_secs_f64(c.ramp + c.timeout * (3.0 + f64::from(c.steps)) + c.close_timeout)
            + Duration::from_secs(30)
    }

    /// Starts every worker at once and waits until all are ready or lost (the barrier), picks
    /// the intended start, sends it to each, runs our own share, reports progress, and returns
    /// the merged records (every session of the cell, by id) and each process's stats.
    async fn execute<O: Observer + ?Sized>(
        &self,
        spec: &GridSpec,
        obs: &mut O,
        stop: watch::Receiver<bool>,
    ) -> Result<Executed, LoadgenError> {
        let remote = self.remote();
        let n = self.cell().params.batch_size;
        // --timeout bounds a worker's start as it bounds every network operation.
        let start_deadline = Duration::from_secs_f64(spec.timeout);
        let mut starting = Vec::with_capacity(remote.len());
        let mut nodes = Vec::with_capacity(remote.len());
        for share in remote {
            let (argv, node) = spec
                .worker_argv(share.worker)
                .ok_or_else(|| LoadgenError::BadSpec("no worker command".into()))?;
            nodes.push(node);
            starting.push(tokio::spawn(worker::start(
                argv,
                share.clone(),
                start_deadline,
            )));
        }
        let aborts: Vec<_> = starting.iter().map(|h| h.abort_handle()).collect();
        let mut stop_rx = stop.clone();
        let barrier = async {
            let mut v = Vec::with_capacity(starting.len());
            for h in starting {
                v.push(match h.await {
                    Ok(r) => r?,
                    Err(e) => Err(NotReady {
                        why: format!("starting the worker failed: {e}"),
                    }),
                });
            }
            Ok::<_, LoadgenError>(v)
        };
        let readiness = tokio::select! {
            r = barrier => Some(r?),
            _ = until_stopped(&mut stop_rx) => {
                aborts.iter().for_each(|a| a.abort());
                None
            }
        };
        let max_rtt = readiness
            .iter()
            .flatten()
            .filter_map(|r| r.as_ref().ok().map(|w| w.hello.rtt))
            .max()
            .unwrap_or_default();
        let lead = if remote.is_empty() {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(100) + 2 * max_rtt
        } + Duration::from_micros(2 * n as u64);
        let start = SystemTime::now() + lead;
        let start_ns = unix_ns(start);

        // Release the workers that are ready; the others' shares are lost (or interrupted).
        let deadline = self.worker_deadline();
        let mut counters = Vec::new();
        let mut stdins = Vec::new();
        let mut tasks = Vec::new();
        let mut parts: Vec<Option<Hello>> = Vec::new();
        let mut not_ready: Vec<Option<String>> = Vec::new();
        match readiness {
            Some(ready) => {
                for r in ready {
                    match r {
                        Ok(w) => {
                            let c = Arc::new(Counters::default());
                            parts.push(Some(w.hello.clone()));
                            let (stdin, task) = w.run(start_ns, c.clone(), deadline).await;
                            stdins.push(Some(stdin));
                            tasks.push(Some(task));
                            counters.push(c);
                            not_ready.push(None);
                        }
                        Err(e) => {
                            parts.push(None);
                            tasks.push(None);
                            not_ready.push(Some(e.why));
                        }
                    }
                }
            }
            None => {
                for _ in remote {
                    parts.push(None);
                    tasks.push(None);
                    not_ready.push(None);
                }
            }
        }

        let own_counters = Arc::new(Counters::default());
        let mut all_counters = vec![own_counters.clone()];
        all_counters.extend(counters.iter().cloned());
        let own_stop = stop.clone();
        let own = async {
            if self.own {
                let mut share = self.shares[0].clone();
                share.cell.start_unix_ns = start_ns;
                Some(run_share(share, own_counters, own_stop).await)
            } else {
                None
            }
        };
        let all = async {
            let collected = async {
                let mut out = Vec::with_capacity(tasks.len());
                for t in tasks {
                    out.push(match t {
                        Some(t) => Some(t.await.unwrap_or_else(|e| WorkerResult {
                            error: Some(format!("worker reader failed: {e}")),
                            ..Default::default()
                        })),
                        None => None,
                    });
                }
                out
            };
            tokio::join!(own, collected)
        };
        let t0 = tokio::time::Instant::now() + lead;
        let (own_result, worker_results) = report_progress(all, obs, stop, stdins, t0, |elapsed| {
            Progress::sum(n, &all_counters, elapsed)
        })
        .await;

        let mut records = Vec::with_capacity(n);
        let mut stats = Vec::new();
        let mut procs = Vec::new();
        let mut lost = Vec::new();
        if let Some(own_result) = own_result {
            let (r, s) = own_result?;
            procs.push(ProcessPart {
                host: crate::share::local_host(),
                cores: openenv_sys::cores() as u64,
                sessions: self.shares[0].count,
                stats: Some(s.clone()),
                lost: false,
                clock: Some((0, Duration::ZERO)),
            });
            records.extend(r);
            stats.push(s);
        }
        let what = self.what();
        for (((share, res), hello), (node, not_ready)) in remote
            .iter()
            .zip(worker_results)
            .zip(parts)
            .zip(nodes.into_iter().zip(not_ready))
        {
            let host = hello
                .as_ref()
                .map(|h| h.host.clone())
                .or(node)
                .unwrap_or_default();
            let mut part = ProcessPart {
                host: host.clone(),
                cores: hello.as_ref().map_or(0, |h| h.cores),
                sessions: share.count,
                stats: None,
                lost: false,
                clock: hello.as_ref().map(|h| (h.offset_ns, h.rtt)),
            };
            let (class, why) = match (res, not_ready) {
                (Some(res), _) => {
                    part.lost = res.records.len() < share.count;
                    records.extend(res.records);
                    part.stats = res.stats.clone();
                    stats.extend(res.stats);
                    let why = res
                        .error
                        .unwrap_or_else(|| "worker ended without reporting".into());
                    (FailureClass::WorkerLost, why)
                }
                (None, Some(why)) => {
                    part.lost = true;
                    (FailureClass::WorkerLost, why)
                }
                (None, None) => (
                    FailureClass::Interrupted,
                    "interrupted before the worker started".into(),
                ),
            };
            if part.lost {
                let at = if host.is_empty() {
                    String::new()
                } else {
                    format!(" on {host}")
                };
                let missing = share.count
                    - records
                        .iter()
                        .filter(|r| {
                            (share.first_id..share.first_id + share.count).contains(&r.request_id)
                        })
                        .count();
                lost.push(format!(
                    "{what}: worker {}{at} lost ({why}): its {missing} unreported sessions are WorkerLost",
                    share.worker
                ));
            }
            fill_missing(&mut records, share, start, &host, class, &why);
            procs.push(part);
        }
        records.sort_by_key(|r| r.request_id);
        Ok(Executed {
            records,
            stats,
            hosts: host_rows(procs),
            start,
            lost,
        })
    }

    /// "ws N=2000 wait=1.0 rep 1", as warnings name a cell.
    fn what(&self) -> String {
        let p = &self.cell().params;
        format!(
            "{} N={} wait={:?} rep {}",
            p.mode.as_str(),
            p.batch_size,
            p.wait,
            p.repetition
        )
    }
}

/// One `loadgen_hosts` row per host of this cell, in order of first appearance.
fn host_rows(procs: Vec<ProcessPart>) -> Vec<LoadgenHost> {
    let mut rows: Vec<(LoadgenHost, Vec<ProcessStats>)> = Vec::new();
    for p in procs {
        let at = match rows.iter().position(|(h, _)| h.host == p.host) {
            Some(i) => i,
            None => {
                rows.push((
                    LoadgenHost {
                        host: p.host.clone(),
                        cells: 1,
                        ..LoadgenHost::default()
                    },
                    Vec::new(),
                ));
                rows.len() - 1
            }
        };
        let (h, stats) = &mut rows[at];
        h.cores = h.cores.max(p.cores);
        h.processes += 1;
        h.sessions += p.sessions;
        h.lost_workers += usize::from(p.lost);
        if let Some((offset, rtt)) = p.clock {
            // The host's best-measured process.
            if h.clock_rtt_seconds == 0.0 || rtt.as_secs_f64() < h.clock_rtt_seconds {
                h.clock_offset_seconds = offset as f64 / 1e9;
                h.clock_rtt_seconds = rtt.as_secs_f64();
            }
        }
        stats.extend(p.stats);
    }
    rows.into_iter()
        .map(|(mut h, stats)| {
            if stats.is_empty() {
                // Nothing reported (lost workers only): no costs known.
                return h;
            }
            let lg = meter::combine(&stats, &[]);
            h.cpu_seconds = lg.cpu_seconds;
            h.peak_rss_bytes = lg.peak_rss_bytes;
            h.busiest_cpu_fraction = lg.busiest_cpu_fraction;
            h.max_lag = lg.max_lag;
            h.saturated_cells = usize::from(lg.saturation().is_some());
            h
        })
        .collect()
}

/// Adds one cell's row of a host (`cell`) to the run's row (`run`): counts and CPU time add up,
/// peaks and fractions take the highest, the clock is the latest measured.
pub(crate) fn merge_host(run: &mut LoadgenHost, cell: &LoadgenHost) {
    run.cores = run.cores.max(cell.cores);
    run.cells += cell.cells;
    run.processes = run.processes.max(cell.processes);
    run.sessions += cell.sessions;
    run.cpu_seconds += cell.cpu_seconds;
    run.peak_rss_bytes = run.peak_rss_bytes.max(cell.peak_rss_bytes);
    run.busiest_cpu_fraction = run.busiest_cpu_fraction.max(cell.busiest_cpu_fraction);
    run.max_lag = run.max_lag.max(cell.max_lag);
    run.saturated_cells += cell.saturated_cells;
    run.lost_workers += cell.lost_workers;
    if cell.clock_rtt_seconds > 0.0 || cell.clock_offset_seconds != 0.0 {
        run.clock_offset_seconds = cell.clock_offset_seconds;
        run.clock_rtt_seconds = cell.clock_rtt_seconds;
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

/// The cell's summary row. Its wall time runs from the intended start to the last session's end.
fn summarize(
    spec: &GridSpec,
    plan: &Plan,
    start: SystemTime,
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
    let end = start + Duration::from_secs_f64(wall);
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
    // Unknown (the environment reports no host_url): only a check of more than one host
    // cannot be made, and says so.
    let missing_hosts = !s.interrupted
        && match s.unique_hosts {
            Some(n) => n < spec.expected_hosts,
            None => spec.expected_hosts > 1,
        };
    if missing_hosts {
        warnings.push(match s.unique_hosts {
            Some(n) => format!(
                "{what}: {n} distinct host_url answered, {} expected",
                spec.expected_hosts
            ),
            None => format!(
                "{what}: distinct host_url unknown (the environment reports none), {} expected: not verified",
                spec.expected_hosts
            ),
        });
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
    use crate::session::fill_lost;
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
        fill_lost(&mut records, &plan.shares[2], SystemTime::now(), "gone");
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

    #[test]
    fn workers_only_leaves_no_session_in_this_process() {
        let spec = GridSpec {
            worker_command: Some(vec!["w".into()]),
            workers_only: true,
            ..GridSpec::default()
        };
        let targets = spec.validate().unwrap();
        let cell = CellParams {
            mode: Mode::Ws,
            wait: 1.0,
            batch_size: 10,
            repetition: 1,
        };
        let plan = Plan::new(&spec, &targets, &cell).unwrap();
        assert!(!plan.own);
        assert_eq!(plan.remote().len(), plan.shares.len());
        let workers: Vec<(usize, usize)> =
            plan.shares.iter().map(|s| (s.worker, s.count)).collect();
        assert_eq!(workers, [(1, 10)]);
        // Without a worker command nothing could run the sessions: refused up front.
        let nobody = GridSpec {
            worker_command: None,
            ..spec
        };
        let err = nobody.validate().err().unwrap().to_string();
        assert!(err.contains("no worker command"), "{err}");
    }

    /// The workers' deadline grows with --steps up to its largest value (it used to wrap).
    #[test]
    fn the_worker_deadline_covers_every_step() {
        let targets = GridSpec::default().validate().unwrap();
        let cell = CellParams {
            mode: Mode::Ws,
            wait: 0.0,
            batch_size: 1,
            repetition: 1,
        };
        let deadline = |steps| {
            let spec = GridSpec {
                steps,
                timeout: 1.0,
                ..GridSpec::default()
            };
            Plan::new(&spec, &targets, &cell).unwrap().worker_deadline()
        };
        assert!(deadline(u32::MAX) > Duration::from_secs(u64::from(u32::MAX)));
        assert!(deadline(u32::MAX - 2) > deadline(1));
    }
}
