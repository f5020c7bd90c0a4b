//! `scale --find-max`: runs a [`Search`] per (mode, wait) of the grid, in the grid's order, each
//! N as `reps` ordinary cells (records in `raw.jsonl`, rows in `summary.csv`, the observer's
//! usual events), and writes `capacity.json` after every finished search.

use crate::error::LoadgenError;
use crate::grid::{check_cell, cooldown, prepare, run_and_append, stop_watch};
use crate::observe::{Event, Observer};
pub use crate::search::Capacity;
use crate::search::{
    CapacityFile, CellStats, RepStats, Search, SearchError, SearchSpec, CAPACITY_FILE,
};
use crate::spec::{CellParams, GridSpec};
use crate::summary::CellSummary;
use std::future::Future;
use std::path::Path;
use std::time::Instant;

/// What `find_max` found; `capacities` holds one entry per (mode, wait) that was searched
/// (the one in flight at Ctrl-C included).
#[derive(Debug, Clone)]
pub struct FindOutcome {
    pub capacities: Vec<Capacity>,
    pub interrupted: bool,
    /// Cells run (repetitions counted one by one).
    pub cells: usize,
}

impl From<SearchError> for LoadgenError {
    fn from(e: SearchError) -> Self {
        LoadgenError::BadSpec(e.to_string())
    }
}

/// One repetition's numbers for the criterion, from its summary row; `open_files` says which
/// process ran out of file descriptors during it (see [`open_files`]).
pub fn rep_stats(s: &CellSummary, open_files: Option<String>) -> RepStats {
    let success = if s.num_requests > 0 {
        s.successful as f64 / s.num_requests as f64
    } else {
        0.0
    };
    RepStats {
        success,
        p99: (s.successful > 0).then_some(s.total_p99),
        saturation: s.loadgen.saturation(),
        open_files,
    }
}

/// Name of our server's counter of `accept` calls that failed for lack of file descriptors.
const FD_EXHAUSTED_METRIC: &str = "openenv_accept_fd_exhausted_total";

/// Which process ran out of file descriptors in a cell, in words, from the load generator's
/// sessions that failed with EMFILE/ENFILE and the rise of the server's
/// `openenv_accept_fd_exhausted_total` over the cell (`None` for a server without the counter).
/// `None` when neither did.
pub fn open_files(loadgen_fd_errors: usize, server_fd_exhausted: Option<u64>) -> Option<String> {
    let limit = openenv_sys::nofile_limit().0;
    let mut parts = Vec::new();
    if let Some(n) = server_fd_exhausted.filter(|&n| n > 0) {
        parts.push(format!(
            "the server could not accept {n} connection(s): out of file descriptors \
             ({FD_EXHAUSTED_METRIC} in its /metrics)"
        ));
    }
    if loadgen_fd_errors > 0 {
        parts.push(format!(
            "{loadgen_fd_errors} session(s) of the load generator failed with \
             'Too many open files' (its limit: {limit})"
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The server's `openenv_accept_fd_exhausted_total`, summed over `urls` (plain http:// or ws://
/// ones; `None` when no URL has it: an https target, the Python reference, a balancer).
async fn server_fd_exhausted(urls: &[String]) -> Option<u64> {
    let mut total = None;
    for url in urls {
        if let Some(n) = scrape_fd_exhausted(url).await {
            *total.get_or_insert(0) += n;
        }
    }
    total
}

/// One `GET /metrics` (HTTP/1.0: the reply ends at close), bounded in size and time.
async fn scrape_fd_exhausted(url: &str) -> Option<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))?;
    let authority = rest.split('/').next()?;
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        let req = format!("GET /metrics HTTP/1.0\r\nHost: {authority}\r\n\r\n");
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        (&mut stream)
            .take(1 << 20)
            .read_to_end(&mut body)
            .await
            .ok()?;
        Some(body)
    };
    let body = tokio::time::timeout(std::time::Duration::from_secs(5), fetch)
        .await
        .ok()??;
    let text = String::from_utf8_lossy(&body);
    if !(text.starts_with("HTTP/1.") && text.split(' ').nth(1) == Some("200")) {
        return None;
    }
    // `name{pid="..."} value`, one line per worker process that answered; summed.
    let values: Vec<u64> = text
        .lines()
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            let name = name.split('{').next()?;
            (name == FD_EXHAUSTED_METRIC)
                .then(|| value.trim().parse::<f64>().ok().map(|v| v as u64))?
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Runs the search on a fresh current-thread runtime; Ctrl-C interrupts it (the partial answer
/// is written).
pub fn find_max(
    grid: &GridSpec,
    search: &SearchSpec,
    obs: &mut impl Observer,
) -> Result<FindOutcome, LoadgenError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadgenError::io("starting the runtime", e))?;
    rt.block_on(find_max_until(grid, search, obs, async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    }))
}

/// Runs the search inside the caller's runtime; `stop` resolving interrupts it.
///
/// `grid.batch_sizes` is ignored (the search chooses N); its modes, waits, reps and everything
/// else apply. The time budget (`search.budget`) is per (mode, wait) search.
pub async fn find_max_until<O: Observer + ?Sized>(
    grid: &GridSpec,
    search: &SearchSpec,
    obs: &mut O,
    stop: impl Future<Output = ()>,
) -> Result<FindOutcome, LoadgenError> {
    // Everything is checked before anything is written.
    search.validate()?;
    // The grid's own checks, with the first N of the search as its one batch size.
    let mut probe = grid.clone();
    probe.batch_sizes = vec![search.start];
    let mut out = prepare(&probe)?;
    let searches: Vec<(crate::Mode, f64)> = grid
        .modes
        .iter()
        .flat_map(|&m| grid.waits.iter().map(move |&w| (m, w)))
        .collect();
    // Upper bound of the cells (the progress's "[i/total]").
    let total = searches.len() * search.max_cells() * grid.reps as usize;
    obs.on_event(Event::GridStarted {
        cells: total,
        output_dir: grid.output_dir.as_deref(),
    });
    let (stop_rx, stop) = stop_watch(stop);
    tokio::pin!(stop);
    let mut outcome = FindOutcome {
        capacities: Vec::new(),
        interrupted: false,
        cells: 0,
    };
    for (mode, wait) in searches {
        if *stop_rx.borrow() {
            break;
        }
        let mut s = Search::new(search.clone(), mode, wait)?;
        let t0 = Instant::now();
        'search: while let Some(n) = s.next() {
            check_cell(grid, n)?;
            let mut reps = Vec::new();
            for repetition in 1..=grid.reps {
                if outcome.cells > 0 {
                    cooldown(grid, &stop_rx, stop.as_mut()).await;
                }
                if *stop_rx.borrow() {
                    s.interrupt();
                    break 'search;
                }
                let cell = CellParams {
                    mode,
                    wait,
                    batch_size: n,
                    repetition,
                };
                let fd_before = server_fd_exhausted(&grid.urls).await;
                let done = run_and_append(
                    grid,
                    &cell,
                    out.as_mut(),
                    obs,
                    (outcome.cells, total),
                    &stop_rx,
                    stop.as_mut(),
                )
                .await?;
                outcome.cells += 1;
                if done.outcome.summary.interrupted {
                    s.interrupt();
                    break 'search;
                }
                let fd_after = server_fd_exhausted(&grid.urls).await;
                let server_fds = match (fd_before, fd_after) {
                    (Some(b), Some(a)) => Some(a.saturating_sub(b)),
                    _ => None,
                };
                reps.push(rep_stats(
                    &done.outcome.summary,
                    open_files(done.fd_errors, server_fds),
                ));
            }
            let stats = CellStats::from_reps(wait, grid.steps, &reps)?;
            let verdict = s.record(n, &stats, t0.elapsed())?;
            let reason = s
                .cells()
                .last()
                .map_or(verdict.reason, |c| c.reason.clone());
            let next = s.next();
            obs.on_event(Event::SearchStep {
                mode,
                wait,
                n,
                passed: verdict.passed,
                reason: &reason,
                next,
            });
        }
        let capacity = s.capacity()?;
        if let Some(dir) = &grid.output_dir {
            write_capacity(dir, &capacity)?;
        }
        obs.on_event(Event::SearchFinished {
            capacity: &capacity,
        });
        outcome.capacities.push(capacity);
    }
    outcome.interrupted = *stop_rx.borrow();
    Ok(outcome)
}

/// Upserts one answer into `dir/capacity.json`, atomically (temp file + rename): a reader sees
/// the old file or the new one, never half of one.
pub fn write_capacity(dir: &Path, capacity: &Capacity) -> Result<(), LoadgenError> {
    let path = dir.join(CAPACITY_FILE);
    // A file that is not a capacity file is refused, not overwritten.
    let mut file = CapacityFile::read(dir)
        .map_err(|e| LoadgenError::BadSpec(e.to_string()))?
        .unwrap_or_default();
    file.upsert(capacity.clone());
    let text = file.to_json().map_err(SearchError::from)?;
    let tmp = dir.join(format!(".{CAPACITY_FILE}.tmp{}", std::process::id()));
    std::fs::write(&tmp, text)
        .map_err(|e| LoadgenError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| LoadgenError::io(format!("renaming to {}", path.display()), e))
}
