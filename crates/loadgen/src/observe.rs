//! What the engine reports while it runs: live counters of each process, and the events an
//! [`Observer`] receives. The engine never prints.

use crate::search::Capacity;
use crate::spec::Mode;
use crate::summary::CellSummary;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Live counts of one process, updated by its sessions (or, for a worker process, by the
/// parent from the worker's progress lines).
#[derive(Debug, Default)]
pub struct Counters {
    pub launched: AtomicUsize,
    pub connected: AtomicUsize,
    pub done: AtomicUsize,
    pub failed: AtomicUsize,
    /// WS closes aborted at the close deadline (those sessions are in `done`).
    pub close_timeouts: AtomicUsize,
}

/// A snapshot of [`Counters`] (what a worker's progress line carries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub launched: usize,
    pub connected: usize,
    pub done: usize,
    pub failed: usize,
}

impl Counters {
    pub fn counts(&self) -> Counts {
        Counts {
            launched: self.launched.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Replaces the counts (a worker reports its totals, not increments).
    pub fn store(&self, c: Counts) {
        self.launched.store(c.launched, Ordering::Relaxed);
        self.connected.store(c.connected, Ordering::Relaxed);
        self.done.store(c.done, Ordering::Relaxed);
        self.failed.store(c.failed, Ordering::Relaxed);
    }
}

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

impl Progress {
    /// The sum over every process's counters.
    pub(crate) fn sum(
        total: usize,
        counters: &[std::sync::Arc<Counters>],
        elapsed: Duration,
    ) -> Self {
        let mut p = Progress {
            total,
            launched: 0,
            connected: 0,
            done: 0,
            failed: 0,
            elapsed,
        };
        for c in counters.iter().map(|c| c.counts()) {
            p.launched += c.launched;
            p.connected += c.connected;
            p.done += c.done;
            p.failed += c.failed;
        }
        p
    }
}

/// What the engine tells its observer.
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
    /// `--find-max`: a searched N (all its repetitions) was judged; `next` is the N the search
    /// runs next (`None`: that search is over).
    SearchStep {
        mode: Mode,
        wait: f64,
        n: usize,
        passed: bool,
        reason: &'a str,
        next: Option<usize>,
    },
    /// `--find-max`: the answer for one (mode, wait), as written to `capacity.json`.
    SearchFinished {
        capacity: &'a Capacity,
    },
}

pub trait Observer {
    fn on_event(&mut self, event: Event<'_>);
}

pub struct NullObserver;

impl Observer for NullObserver {
    fn on_event(&mut self, _: Event<'_>) {}
}
