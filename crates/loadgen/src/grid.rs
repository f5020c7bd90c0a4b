//! The grid: its cells in order (mode → wait → N → repetition), each run by [`run_cell`] and
//! appended to the output files, with a cooldown between cells and Ctrl-C / SIGTERM / SIGHUP handling.

use crate::cell::{run_cell, CellResult};
use crate::error::LoadgenError;
use crate::observe::{Event, Observer};
use crate::session::until_stopped;
use crate::spec::{CellParams, GridSpec};
use crate::summary::CellSummary;
use crate::writer::{run_info, OutputDir};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::watch;

/// One finished cell.
#[derive(Debug, Clone)]
pub struct CellOutcome {
    pub summary: CellSummary,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct GridOutcome {
    pub cells: Vec<CellOutcome>,
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP (the cell in flight is recorded as far as it got).
    pub interrupted: bool,
    /// Some cell saw fewer distinct `host_url`s than `expected_hosts`.
    pub missing_hosts: bool,
    pub output_dir: Option<PathBuf>,
}

/// Runs the grid on a fresh current-thread runtime; Ctrl-C, SIGTERM or SIGHUP interrupts it
/// cleanly (the cell in flight is recorded).
pub fn run_grid(spec: &GridSpec, obs: &mut impl Observer) -> Result<GridOutcome, LoadgenError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadgenError::io("starting the runtime", e))?;
    rt.block_on(async { run_grid_until(spec, obs, crate::signal::interrupted()).await })
}

/// Runs the grid inside the caller's runtime; `stop` resolving interrupts it.
pub async fn run_grid_until<O: Observer + ?Sized>(
    spec: &GridSpec,
    obs: &mut O,
    stop: impl Future<Output = ()>,
) -> Result<GridOutcome, LoadgenError> {
    let mut out = prepare(spec)?;
    let cells = spec.cells();
    let total = cells.len();
    obs.on_event(Event::GridStarted {
        cells: total,
        output_dir: spec.output_dir.as_deref(),
    });
    let (stop_rx, stop) = stop_watch(stop);
    tokio::pin!(stop);
    let mut outcome = GridOutcome {
        cells: Vec::new(),
        interrupted: false,
        missing_hosts: false,
        output_dir: spec.output_dir.clone(),
    };
    for (index, cell) in cells.iter().enumerate() {
        if *stop_rx.borrow() {
            break;
        }
        let done = run_and_append(
            spec,
            cell,
            out.as_mut(),
            obs,
            (index, total),
            &stop_rx,
            stop.as_mut(),
        )
        .await?;
        outcome.missing_hosts |= done.missing_hosts;
        let interrupted = done.outcome.summary.interrupted;
        outcome.cells.push(done.outcome);
        if interrupted {
            break;
        }
        if index + 1 < total {
            cooldown(spec, &stop_rx, stop.as_mut()).await;
        }
    }
    outcome.interrupted = *stop_rx.borrow();
    Ok(outcome)
}

/// Checks the grid and opens its output directory, before any cell runs: a bad URL, a name
/// that does not resolve, a grid too large to list, a cell larger than this machine can hold
/// (or that needs worker processes it cannot start), or a foreign file in the directory is
/// refused with nothing written.
pub(crate) fn prepare(spec: &GridSpec) -> Result<Option<OutputDir>, LoadgenError> {
    let targets = spec.validate()?;
    check_cell_count(spec)?;
    // Before `per_process`, which follows the (raised) open-files limit.
    openenv_sys::raise_nofile_limit();
    if let Some(&n) = spec.batch_sizes.iter().max() {
        check_cell(spec, n)?;
    }
    // With --slurm this process runs no session: the names need to resolve on the nodes only.
    if spec.slurm.is_none() {
        resolve_all(&targets)?;
    }
    open_output(spec)
}

/// Most cells one grid may list: `cells()` holds them all, and each finished cell stays in the
/// outcome (about 1 KB). A million cells is more than any run finishes: each takes at least its
/// 20 ms start lead, so a million is over 5 hours even at N=1 and no wait.
pub const MAX_CELLS: u64 = 1_000_000;

/// Bytes one session costs the parent process at the least while its cell runs: its record
/// (every record of a cell is merged there before the cell is appended), the record's
/// timestamp and URL on the heap, and the summary's two events per session. A lower bound: a
/// cell refused by it could not run, one accepted may still need more.
pub fn min_bytes_per_session() -> u64 {
    (std::mem::size_of::<crate::SessionRecord>() + 64 + 32) as u64
}

/// Open files the parent holds per worker process while a cell runs (its stdin and stdout).
const FDS_PER_WORKER: usize = 2;

fn check_cell_count(spec: &GridSpec) -> Result<(), LoadgenError> {
    let cells = [
        spec.modes.len() as u64,
        spec.waits.len() as u64,
        spec.batch_sizes.len() as u64,
        u64::from(spec.reps),
    ]
    .into_iter()
    .try_fold(1u64, u64::checked_mul);
    match cells {
        Some(c) if c <= MAX_CELLS => Ok(()),
        _ => Err(LoadgenError::BadSpec(format!(
            "the grid has {} cells (modes x waits x batch sizes x --reps), more than the {MAX_CELLS} \
             one run may list",
            cells.map_or("too many".to_string(), |c| c.to_string())
        ))),
    }
}

/// Refuses a cell of `n` sessions this machine cannot hold, before anything is allocated: one
/// that needs worker processes when none can be started, whose records alone would not fit in
/// the memory available, or whose parent process needs more open files (one socket per own
/// session, two pipes per worker) than its open-files limit.
pub(crate) fn check_cell(spec: &GridSpec, n: usize) -> Result<(), LoadgenError> {
    let per_process = spec.per_process();
    let processes = spec.processes(n);
    let own = spec.runs_own_share();
    if own && spec.worker_command.is_none() && processes > 1 {
        return Err(spec.needs_workers(n, per_process));
    }
    if let Some(available) = openenv_sys::available_memory_bytes() {
        let need = (n as u64).saturating_mul(min_bytes_per_session());
        if need > available {
            return Err(LoadgenError::BadSpec(format!(
                "N={n} does not fit in memory: its records alone need at least {} bytes per \
                 session, {:.1} GiB in all, and {:.1} GiB is available (MemAvailable)",
                min_bytes_per_session(),
                need as f64 / GIB,
                available as f64 / GIB
            )));
        }
    }
    let workers = if own { processes - 1 } else { processes };
    let own = if own { n.div_ceil(processes) } else { 0 };
    let fds = own as u64 + (FDS_PER_WORKER * workers) as u64;
    let (limit, _) = openenv_sys::nofile_limit();
    if fds > limit {
        return Err(LoadgenError::BadSpec(format!(
            "N={n} does not fit the open-files limit ({limit}): the parent process would hold \
             {own} sessions (one socket each) and {} worker pipes ({processes} processes at \
             most {per_process} sessions each). Lower --sessions-per-process, lower N, or raise \
             the limit (ulimit -n)",
            FDS_PER_WORKER * workers
        )));
    }
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

/// Resolves every target once, so a name that does not resolve is refused before anything
/// is written (each process resolves again when it runs its share).
fn resolve_all(targets: &[crate::Target]) -> Result<(), LoadgenError> {
    for t in targets {
        openenv_sys::resolve(&t.host, t.port, Duration::from_secs(30)).map_err(|source| {
            LoadgenError::Resolve {
                host: t.host.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

/// Opens the output directory (run.json, headers), if the spec has one.
fn open_output(spec: &GridSpec) -> Result<Option<OutputDir>, LoadgenError> {
    match &spec.output_dir {
        Some(dir) => Ok(Some(OutputDir::open(
            dir,
            &run_info(spec.command_line.clone()),
        )?)),
        None => Ok(None),
    }
}

pub(crate) struct Finished {
    pub(crate) outcome: CellOutcome,
    pub(crate) missing_hosts: bool,
    /// Sessions that failed for lack of file descriptors in the load generator (EMFILE/ENFILE).
    pub(crate) fd_errors: usize,
}

/// A watch that turns true once `stop` resolves, and the future that must be polled (beside
/// every cell and cooldown) for that to happen; it never resolves itself.
pub(crate) fn stop_watch(
    stop: impl Future<Output = ()>,
) -> (watch::Receiver<bool>, impl Future<Output = ()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let fut = async move {
        stop.await;
        stop_tx.send_replace(true);
        std::future::pending::<()>().await
    };
    (stop_rx, fut)
}

/// Runs one cell and appends it to the files, telling the observer (started, progress,
/// finished, warnings). `at`: (index, number of cells) as the progress shows them.
pub(crate) async fn run_and_append<O: Observer + ?Sized, F: Future<Output = ()>>(
    spec: &GridSpec,
    cell: &CellParams,
    out: Option<&mut OutputDir>,
    obs: &mut O,
    at: (usize, usize),
    stop_rx: &watch::Receiver<bool>,
    stop: Pin<&mut F>,
) -> Result<Finished, LoadgenError> {
    let (index, total) = at;
    obs.on_event(Event::CellStarted {
        index,
        cells: total,
        mode: cell.mode,
        batch_size: cell.batch_size,
        wait: cell.wait,
        repetition: cell.repetition,
        processes: spec.processes(cell.batch_size),
    });
    let result = tokio::select! {
        r = run_cell(spec, cell, obs, stop_rx.clone()) => r?,
        _ = stop => unreachable!("stop never resolves"),
    };
    finish_cell(result, out, obs, index, total)
}

/// The pause between two cells (`spec.cooldown`), cut short by a stop.
pub(crate) async fn cooldown<F: Future<Output = ()>>(
    spec: &GridSpec,
    stop_rx: &watch::Receiver<bool>,
    stop: Pin<&mut F>,
) {
    if spec.cooldown <= 0.0 || *stop_rx.borrow() {
        return;
    }
    let mut rx = stop_rx.clone();
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs_f64(spec.cooldown)) => {}
        _ = until_stopped(&mut rx) => {}
        _ = stop => {}
    }
}

/// Appends a finished cell to the files and tells the observer (summary, then warnings).
fn finish_cell<O: Observer + ?Sized>(
    result: CellResult,
    out: Option<&mut OutputDir>,
    obs: &mut O,
    index: usize,
    cells: usize,
) -> Result<Finished, LoadgenError> {
    let CellResult {
        records,
        summary,
        warnings,
        missing_hosts,
        hosts,
    } = result;
    if let Some(o) = out {
        o.append_cell(&records, &summary)?;
        o.record_hosts(&hosts)?;
    }
    let fd_errors = records
        .iter()
        .filter(|r| r.error_message.as_deref().is_some_and(is_fd_exhaustion))
        .count();
    obs.on_event(Event::CellFinished {
        index,
        cells,
        summary: &summary,
    });
    for w in &warnings {
        obs.on_event(Event::Warning(w.clone()));
    }
    Ok(Finished {
        outcome: CellOutcome { summary, warnings },
        missing_hosts,
        fd_errors,
    })
}

/// An error message of a process out of file descriptors: std's text of EMFILE (errno 24) or
/// ENFILE (errno 23), as io::Error prints them.
pub(crate) fn is_fd_exhaustion(message: &str) -> bool {
    message.contains("os error 24") || message.contains("os error 23")
}
