//! The capacity search behind `scale --find-max`: the largest N (concurrent sessions) a server
//! holds under a [`Criterion`], found with few cells instead of a fixed grid.
//!
//! Pure and I/O-free: the caller runs the cells; [`Search`] says which N to run next and
//! decides from the numbers it is given ([`CellStats`]). Elapsed time is passed in, so the
//! search needs no clock and its tests run instantly.
//!
//! # Algorithm
//!
//! One search per (mode, wait). N's are integers; no N is tried twice.
//!
//! 1. **Explore.** Try `start`. While cells pass, grow geometrically (`N × growth`, rounded up,
//!    2 by default) until one fails; the ceiling (`max_requests`) is tried itself before the
//!    search stops at it. If the start fails, shrink the same way (`N / growth`, rounded up)
//!    until a cell passes or N = 1 failed.
//! 2. **Bisect** between the largest passing N (`max_batch`) and the smallest failing N
//!    (`first_failing`) until `(first_failing − max_batch) / max_batch ≤ precision` or the gap
//!    is ≤ 1, at their geometric mean `√(lo·hi)`, rounded (at the arithmetic mean while
//!    `precision × lo < 1`, see below).
//!
//! Why the geometric mean: the stopping rule is relative, so what has to shrink is the ratio
//! `first_failing / max_batch`. Splitting at `√(lo·hi)` halves its logarithm whatever the cell's
//! outcome; the arithmetic mean splits it unevenly (the upper part is smaller), and its worst
//! case (every midpoint failing) needs more cells: from a bracket of ratio 2 to 5%,
//! 4 cells (2^(1/16) = 1.044) against 5 (1.5, 1.25, 1.125, 1.0625, 1.03125). Below
//! `precision × lo = 1` the rule that stops the search is `gap ≤ 1`, an absolute one, and there
//! the arithmetic mean (plain integer binary search) is the one that halves what is left.
//! With integers and rounding, over the brackets `[lo, 2·lo)`, 1 ≤ lo < 1,000, this rule's
//! worst case is never worse than the pure geometric mean's, and against the arithmetic mean's
//! it needs fewer cells for 919 brackets and more for none at 5%, 81 fewer and 6 more at 1%
//! (test `bisection_rule_against_pure_geometric_and_arithmetic`).
//!
//! Cells needed, for a server whose true capacity is C (largest passing N, monotone outcome),
//! start s, growth g and precision p: the exploration takes `⌊log_g(C/s)⌋ + 2` cells when
//! C ≥ s (`⌈log_g(s/C)⌉ + 1` when C < s), and the bisection at most
//! `⌈log2(ln g / ln(1 + p))⌉ + 1` (the `+ 1` covers rounding to integers).
//! With g = 2 and p = 5% that is at most 5 bisection cells: a capacity of 315 from start 1 takes
//! 14 cells in all (see the tests). [`SearchSpec::max_cells`] bounds any outcome.
//!
//! Stops early: a saturated load generator ends the search at once (its failures are not the
//! server's, its passes still count: "≥ N, limited by the load generator"); once the time
//! budget is spent no further cell starts (a cell is never cut short, so a search can overrun
//! its budget by one cell).

use crate::Mode;
use std::time::Duration;

// The answer's types are the result file's (`capacity.json`), defined with the other files.
use openenv_results::capacity::pct;
pub use openenv_results::capacity::{
    Capacity, CapacityFile, Criterion, LimitedBy, TriedCell, CAPACITY_FILE,
};
/// First N tried.
pub const DEFAULT_START: usize = 1;
/// Relative gap between the largest passing and the smallest failing N at which bisection stops.
pub const DEFAULT_PRECISION: f64 = 0.05;
/// Factor between successive N while exploring.
pub const DEFAULT_GROWTH: f64 = 2.0;
/// Largest N tried when nothing fails (from start 1: 1, 2, 4, …, 65,536, then 100,000).
pub const DEFAULT_MAX_REQUESTS: usize = 100_000;
/// Success rate a cell needs, as `analyze`'s max batch (defined with the result files).
pub use openenv_results::DEFAULT_SUCCESS_THRESHOLD;

/// Bad settings, and calls out of order.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("--start must be >= 1")]
    ZeroStart,
    #[error("--precision must be > 0 and < 1 (0.05 = within 5%), got {0}")]
    Precision(f64),
    #[error("--max-requests ({max_requests}) is below --start ({start})")]
    CeilingBelowStart { start: usize, max_requests: usize },
    #[error("the growth factor must be finite and > 1, got {0}")]
    Growth(f64),
    #[error("--budget must be more than 0 seconds")]
    ZeroBudget,
    #[error("--success-threshold must be > 0 and <= 1, got {0}")]
    SuccessThreshold(f64),
    #[error("--slo-p99 must be a finite number of seconds > 0, got {0}")]
    SloP99(f64),
    #[error("--slo-over-wait must be a finite number of seconds > 0, got {0}")]
    SloOverWait(f64),
    #[error("invalid cell statistics: {0}")]
    BadStats(String),
    #[error("N={got} recorded, but the search asked for N={expected}")]
    WrongN { expected: usize, got: usize },
    #[error("N={got} recorded, but the search asked for no cell (call next() first; it may have finished)")]
    NotAsked { got: usize },
    #[error("the search has not finished")]
    NotFinished,
    #[error("{CAPACITY_FILE}: {0}")]
    Json(#[from] serde_json::Error),
}

/// summary type is. Build it with [`CellStats::from_reps`].
#[derive(Debug, Clone, PartialEq)]
pub struct CellStats {
    /// Mean success rate over the repetitions, 0 to 1.
    pub success: f64,
    /// Mean over the repetitions of each one's total-latency p99, seconds (over successful
    /// sessions, repetitions without any left out); `None` when no session succeeded.
    pub p99: Option<f64>,
    /// The step's wait, seconds.
    pub wait_seconds: f64,
    /// Steps per session.
    pub steps: u32,
    /// Why the load generator was saturated in some repetition (`None`: it was not).
    pub saturation: Option<String>,
    /// Which process ran out of file descriptors in some repetition (`None`: none did).
    pub open_files: Option<String>,
}

/// One repetition's numbers, as [`CellStats::from_reps`] combines them.
#[derive(Debug, Clone, PartialEq)]
pub struct RepStats {
    /// Successful sessions / N.
    pub success: f64,
    /// Total-latency p99 over the successful sessions; `None` when there were none.
    pub p99: Option<f64>,
    /// Why the load generator was saturated (`None`: it was not).
    pub saturation: Option<String>,
    /// Which process ran out of file descriptors (`None`: none did, or it is not known).
    pub open_files: Option<String>,
}

impl CellStats {
    /// Combines repetitions: mean success, mean of the p99s, saturated if any repetition was.
    ///
    /// The mean p99 (not the worst) because a cell passes when its mean over repetitions passes
    /// (as `analyze`'s max batch), and the worst of R p99s grows with R: more repetitions would
    /// make the same server look smaller.
    pub fn from_reps(
        wait_seconds: f64,
        steps: u32,
        reps: &[RepStats],
    ) -> Result<CellStats, SearchError> {
        if reps.is_empty() {
            return Err(SearchError::BadStats("no repetition".into()));
        }
        let success = reps.iter().map(|r| r.success).sum::<f64>() / reps.len() as f64;
        let p99s: Vec<f64> = reps.iter().filter_map(|r| r.p99).collect();
        let p99 = (!p99s.is_empty()).then(|| p99s.iter().sum::<f64>() / p99s.len() as f64);
        let saturation = reps.iter().enumerate().find_map(|(i, r)| {
            r.saturation
                .as_ref()
                .map(|why| format!("repetition {}: {why}", i + 1))
        });
        let open_files = reps.iter().enumerate().find_map(|(i, r)| {
            r.open_files
                .as_ref()
                .map(|why| format!("repetition {}: {why}", i + 1))
        });
        let stats = CellStats {
            success,
            p99,
            wait_seconds,
            steps,
            saturation,
            open_files,
        };
        stats.validate()?;
        Ok(stats)
    }

    fn validate(&self) -> Result<(), SearchError> {
        let bad = |s: String| Err(SearchError::BadStats(s));
        if !(0.0..=1.0).contains(&self.success) {
            return bad(format!("success rate {} is not in [0, 1]", self.success));
        }
        if let Some(p) = self.p99 {
            if !(p.is_finite() && p >= 0.0) {
                return bad(format!("p99 {p} is not a finite number >= 0"));
            }
        }
        if !(self.wait_seconds.is_finite() && self.wait_seconds >= 0.0) {
            return bad(format!("wait {} is not finite and >= 0", self.wait_seconds));
        }
        Ok(())
    }
}

/// One condition a cell missed.
#[derive(Debug, Clone, PartialEq)]
pub enum Miss {
    Success {
        success: f64,
        threshold: f64,
    },
    SloP99 {
        p99: f64,
        limit: f64,
    },
    SloOverWait {
        p99: f64,
        limit: f64,
        margin: f64,
    },
    /// An SLO was set but no session succeeded, so there is no p99 to compare.
    NoLatency,
}

/// A criterion's judgement of one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub passed: bool,
    pub misses: Vec<Miss>,
    /// In words, e.g. "success 94.9% < 95%" or "success 100.0% >= 95%, p99 1.021 s <= 2 s".
    pub reason: String,
}

/// What the search asks of a [`Criterion`] (its type is the result file's, so its checks are
/// here, with the cells they judge).
pub trait CriterionCheck {
    /// The settings are usable (each flag named when not).
    fn validate(&self) -> Result<(), SearchError>;
    /// Whether a cell passes, and why.
    fn verdict(&self, cell: &CellStats) -> Verdict;
}

impl CriterionCheck for Criterion {
    fn validate(&self) -> Result<(), SearchError> {
        let t = self.success_threshold;
        if !(t > 0.0 && t <= 1.0) {
            return Err(SearchError::SuccessThreshold(t));
        }
        if let Some(s) = self.slo_p99 {
            if !(s.is_finite() && s > 0.0) {
                return Err(SearchError::SloP99(s));
            }
        }
        if let Some(m) = self.slo_over_wait {
            if !(m.is_finite() && m > 0.0) {
                return Err(SearchError::SloOverWait(m));
            }
        }
        Ok(())
    }

    fn verdict(&self, cell: &CellStats) -> Verdict {
        let mut misses = Vec::new();
        let mut said = Vec::new();
        let t = self.success_threshold;
        if cell.success >= t {
            said.push(format!("success {}% >= {}%", pct(cell.success), pct(t)));
        } else {
            misses.push(Miss::Success {
                success: cell.success,
                threshold: t,
            });
            said.push(format!(
                "success {}% < {}%",
                pct_below(cell.success, t),
                pct(t)
            ));
        }
        let slos = [
            self.slo_p99.map(|limit| (limit, None)),
            self.slo_over_wait
                .map(|m| (cell.steps as f64 * cell.wait_seconds + m, Some(m))),
        ];
        for (limit, margin) in slos.into_iter().flatten() {
            let name = match margin {
                None => format!("SLO p99 {limit} s"),
                Some(m) => format!("SLO p99 wait + {m} s = {limit} s"),
            };
            match cell.p99 {
                None => {
                    if !misses.contains(&Miss::NoLatency) {
                        misses.push(Miss::NoLatency);
                    }
                    said.push(format!("no successful session to check the {name}"));
                }
                Some(p99) if p99 <= limit => {
                    said.push(format!("p99 {p99:.3} s within the {name}"));
                }
                Some(p99) => {
                    misses.push(match margin {
                        None => Miss::SloP99 { p99, limit },
                        Some(margin) => Miss::SloOverWait { p99, limit, margin },
                    });
                    said.push(format!("p99 {p99:.3} s over the {name}"));
                }
            }
        }
        Verdict {
            passed: misses.is_empty(),
            misses,
            reason: said.join(", "),
        }
    }
}

/// A success rate below the threshold, with enough decimals not to print as the threshold
/// (0.94999 is "94.999", not "95.0").
fn pct_below(x: f64, threshold: f64) -> String {
    let p = x * 100.0;
    for decimals in 1..=4 {
        let s = format!("{p:.decimals$}");
        if s.parse::<f64>().is_ok_and(|v| v < threshold * 100.0) {
            return s;
        }
    }
    format!("{p}")
}

/// How to search. Check with [`SearchSpec::validate`] ([`Search::new`] does).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpec {
    /// First N tried (>= 1).
    pub start: usize,
    /// Stop bisecting when `(first_failing - max_batch) / max_batch <= precision`, in (0, 1).
    pub precision: f64,
    /// Factor between successive N while exploring (> 1).
    pub growth: f64,
    /// Ceiling: no N above it is tried (>= start).
    pub max_requests: usize,
    /// No cell starts once this much time has passed since the search began.
    pub budget: Option<Duration>,
    pub criterion: Criterion,
}

impl Default for SearchSpec {
    fn default() -> Self {
        SearchSpec {
            start: DEFAULT_START,
            precision: DEFAULT_PRECISION,
            growth: DEFAULT_GROWTH,
            max_requests: DEFAULT_MAX_REQUESTS,
            budget: None,
            criterion: Criterion::default(),
        }
    }
}

impl SearchSpec {
    pub fn validate(&self) -> Result<(), SearchError> {
        if self.start == 0 {
            return Err(SearchError::ZeroStart);
        }
        if !(self.precision > 0.0 && self.precision < 1.0) {
            return Err(SearchError::Precision(self.precision));
        }
        if !(self.growth.is_finite() && self.growth > 1.0) {
            return Err(SearchError::Growth(self.growth));
        }
        if self.max_requests < self.start {
            return Err(SearchError::CeilingBelowStart {
                start: self.start,
                max_requests: self.max_requests,
            });
        }
        if self.budget == Some(Duration::ZERO) {
            return Err(SearchError::ZeroBudget);
        }
        self.criterion.validate()
    }

    /// The next N while growing from `lo` (which passed): `lo × growth` rounded up, at least
    /// `lo + 1`, at most the ceiling.
    fn up(&self, lo: usize) -> usize {
        let x = (lo as f64 * self.growth).ceil();
        if x >= self.max_requests as f64 {
            self.max_requests
        } else {
            (x as usize).max(lo + 1).min(self.max_requests)
        }
    }

    /// The next N while shrinking from `hi` (>= 2, which failed): `hi / growth` rounded up, at
    /// most `hi - 1`, at least 1.
    fn down(&self, hi: usize) -> usize {
        let x = (hi as f64 / self.growth).ceil() as usize;
        x.clamp(1, hi - 1)
    }

    /// Where to bisect `(lo, hi)` (not converged, so `hi - lo >= 2`): the geometric mean, which
    /// halves `log(hi / lo)` whatever the outcome, while the stopping gap is relative
    /// (`precision × lo >= 1`); below that the stopping rule is `gap <= 1`, an absolute one, and
    /// the arithmetic mean (integer binary search) halves it. Rounded, strictly inside.
    fn midpoint(&self, lo: usize, hi: usize) -> usize {
        let mid = if self.precision * lo as f64 >= 1.0 {
            ((lo as f64) * (hi as f64)).sqrt().round() as usize
        } else {
            lo + (hi - lo) / 2
        };
        mid.clamp(lo + 1, hi - 1)
    }

    /// Close enough: gap <= 1, or relative gap <= precision.
    fn converged(&self, lo: usize, hi: usize) -> bool {
        let gap = hi - lo;
        gap <= 1 || gap as f64 <= self.precision * lo as f64
    }

    /// Cells one bisection can take from a first bracket of ratio `growth`:
    /// `⌈log2(ln g / ln(1 + p))⌉ + 1` (the `+ 1` for rounding to integers).
    pub fn max_bisection_cells(&self) -> usize {
        let halvings = (self.growth.ln() / self.precision.ln_1p()).log2().ceil();
        halvings.max(0.0) as usize + 1
    }

    /// The most cells any outcome can take: the longer of growing to the ceiling and shrinking
    /// to 1, plus [`SearchSpec::max_bisection_cells`]. Assumes a valid spec.
    pub fn max_cells(&self) -> usize {
        let mut up = 1;
        let mut n = self.start;
        while n < self.max_requests {
            n = self.up(n);
            up += 1;
        }
        let mut down = 1;
        let mut n = self.start;
        while n > 1 {
            n = self.down(n);
            down += 1;
        }
        up.max(down) + self.max_bisection_cells()
    }
}

/// The search for one (mode, wait). Loop:
///
/// ```
/// # use openenv_loadgen::search::*;
/// # use openenv_loadgen::Mode;
/// # use std::time::Duration;
/// let mut search = Search::new(SearchSpec::default(), Mode::Ws, 1.0)?;
/// while let Some(n) = search.next() {
///     // Run N sessions (all repetitions), here a server that holds 300 of them.
///     let rep = RepStats {
///         success: (300.0 / n as f64).min(1.0),
///         p99: Some(1.02),
///         saturation: None,
///         open_files: None,
///     };
///     let stats = CellStats::from_reps(1.0, 1, &[rep])?;
///     search.record(n, &stats, Duration::from_secs(2 * search.cells().len() as u64 + 2))?;
/// }
/// let capacity = search.capacity()?;
/// assert!((300..=315).contains(&capacity.max_batch.unwrap()));
/// println!("{}", capacity.describe());
/// # Ok::<(), SearchError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Search {
    spec: SearchSpec,
    mode: Mode,
    wait_seconds: f64,
    /// Largest passing N.
    lo: Option<usize>,
    /// Smallest N that failed and counts against the server.
    hi: Option<usize>,
    /// Handed out by `next`, not yet recorded.
    pending: Option<usize>,
    elapsed: Duration,
    cells: Vec<TriedCell>,
    done: Option<LimitedBy>,
}

enum Plan {
    Try(usize),
    Stop(LimitedBy),
}

impl Search {
    pub fn new(spec: SearchSpec, mode: Mode, wait_seconds: f64) -> Result<Search, SearchError> {
        spec.validate()?;
        if !(wait_seconds.is_finite() && wait_seconds >= 0.0) {
            return Err(SearchError::BadStats(format!(
                "wait {wait_seconds} is not finite and >= 0"
            )));
        }
        Ok(Search {
            spec,
            mode,
            wait_seconds,
            lo: None,
            hi: None,
            pending: None,
            elapsed: Duration::ZERO,
            cells: Vec::new(),
            done: None,
        })
    }

    /// The next N to run, `None` once finished. Asking again before [`Search::record`] gives
    /// the same N.
    // Not an Iterator: each N must be recorded before the next one can be chosen.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<usize> {
        if self.done.is_some() {
            return None;
        }
        if let Some(n) = self.pending {
            return Some(n);
        }
        let n = match self.plan() {
            Plan::Try(n) => n,
            Plan::Stop(why) => {
                self.done = Some(why);
                return None;
            }
        };
        // After `plan`: a search that is finished anyway says why, not "budget".
        if self.spec.budget.is_some_and(|b| self.elapsed >= b) {
            self.done = Some(LimitedBy::Budget);
            return None;
        }
        debug_assert!(self.cells.iter().all(|c| c.n != n), "N={n} tried twice");
        self.pending = Some(n);
        Some(n)
    }

    fn plan(&self) -> Plan {
        let s = &self.spec;
        match (self.lo, self.hi) {
            (None, None) => Plan::Try(s.start),
            (Some(lo), None) if lo >= s.max_requests => Plan::Stop(LimitedBy::Ceiling),
            (Some(lo), None) => Plan::Try(s.up(lo)),
            (None, Some(hi)) if hi <= 1 => Plan::Stop(LimitedBy::Server),
            (None, Some(hi)) => Plan::Try(s.down(hi)),
            (Some(lo), Some(hi)) if s.converged(lo, hi) => Plan::Stop(LimitedBy::Server),
            (Some(lo), Some(hi)) => Plan::Try(s.midpoint(lo, hi)),
        }
    }

    /// Records the cell asked for by [`Search::next`]. `elapsed`: time since the search began
    /// (cooldowns included), as measured by the caller.
    pub fn record(
        &mut self,
        n: usize,
        stats: &CellStats,
        elapsed: Duration,
    ) -> Result<Verdict, SearchError> {
        match self.pending {
            None => return Err(SearchError::NotAsked { got: n }),
            Some(expected) if expected != n => {
                return Err(SearchError::WrongN { expected, got: n })
            }
            Some(_) => {}
        }
        stats.validate()?;
        let verdict = self.spec.criterion.verdict(stats);
        self.pending = None;
        self.elapsed = self.elapsed.max(elapsed);
        let mut reason = verdict.reason.clone();
        // A failure of the load generator or of a process's open-files limit is not the
        // server's: it ends the search without bounding the capacity from above.
        if verdict.passed {
            self.lo = Some(n);
        } else if stats.saturation.is_none() && stats.open_files.is_none() {
            self.hi = Some(n);
        }
        if let (Some(why), false) = (&stats.open_files, verdict.passed) {
            reason.push_str(&format!(
                "; out of file descriptors ({why}): not counted as a server failure"
            ));
            self.done = Some(LimitedBy::OpenFiles);
        }
        if let Some(why) = &stats.saturation {
            reason.push_str(&format!("; load generator saturated ({why})"));
            if !verdict.passed {
                reason.push_str(": not counted as a server failure");
            }
            // Out of file descriptors says more about a failure than saturation does.
            self.done.get_or_insert(LimitedBy::LoadGenerator);
        }
        self.cells.push(TriedCell {
            n,
            passed: verdict.passed,
            success: stats.success,
            p99: stats.p99,
            saturated: stats.saturation.is_some(),
            open_files: stats.open_files.clone(),
            reason,
            elapsed_seconds: self.elapsed.as_secs_f64(),
        });
        Ok(verdict)
    }

    /// Stops the search where it is (Ctrl-C); [`Search::capacity`] then reports what it found.
    pub fn interrupt(&mut self) {
        self.pending = None;
        self.done.get_or_insert(LimitedBy::Interrupted);
    }

    pub fn is_finished(&self) -> bool {
        self.done.is_some()
    }

    pub fn cells(&self) -> &[TriedCell] {
        &self.cells
    }

    /// The answer, once [`Search::next`] has returned `None` (or after [`Search::interrupt`]).
    pub fn capacity(&self) -> Result<Capacity, SearchError> {
        let limited_by = self.done.ok_or(SearchError::NotFinished)?;
        let s = &self.spec;
        Ok(Capacity {
            mode: self.mode,
            wait_seconds: self.wait_seconds,
            max_batch: self.lo,
            first_failing: self.hi,
            limited_by,
            criterion: s.criterion,
            start: s.start,
            precision: s.precision,
            growth: s.growth,
            max_requests: s.max_requests,
            budget_seconds: s.budget.map(|b| b.as_secs_f64()),
            elapsed_seconds: self.elapsed.as_secs_f64(),
            cells: self.cells.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openenv_results::capacity::thousands;

    fn stats(success: f64, p99: Option<f64>, wait: f64) -> CellStats {
        CellStats {
            success,
            p99,
            wait_seconds: wait,
            steps: 1,
            saturation: None,
            open_files: None,
        }
    }

    /// Runs a search against a simulated server, each cell taking `cell_secs`.
    fn simulate(
        spec: SearchSpec,
        wait: f64,
        cell_secs: u64,
        server: impl Fn(usize) -> CellStats,
    ) -> Capacity {
        let mut search = Search::new(spec, Mode::Ws, wait).unwrap();
        let mut elapsed = 0;
        while let Some(n) = search.next() {
            assert!(search.cells().len() < 1000, "the search does not end");
            elapsed += cell_secs;
            search
                .record(n, &server(n), Duration::from_secs(elapsed))
                .unwrap();
        }
        let c = search.capacity().unwrap();
        let mut ns: Vec<usize> = c.cells.iter().map(|c| c.n).collect();
        ns.sort_unstable();
        ns.dedup();
        assert_eq!(
            ns.len(),
            c.cells.len(),
            "an N was tried twice: {:?}",
            c.cells
        );
        c
    }

    /// `serve` with WORKERS=1 MAX_CONCURRENT_ENVS=300: every WS session above 300 is rejected.
    fn capped(n: usize) -> CellStats {
        stats((300.0 / n as f64).min(1.0), Some(1.02), 1.0)
    }

    fn tried(c: &Capacity) -> Vec<usize> {
        c.cells.iter().map(|c| c.n).collect()
    }

    #[test]
    fn capped_server_found_within_5_percent_from_any_start() {
        for start in [1, 16, 64, 1000] {
            let spec = SearchSpec {
                start,
                ..SearchSpec::default()
            };
            let c = simulate(spec, 1.0, 2, capped);
            eprintln!("start {start}: {} cells {:?}", c.cells.len(), tried(&c));
            eprintln!("  {}", c.describe());
            let max = c.max_batch.expect("a passing N");
            let failing = c.first_failing.expect("a failing N");
            assert!((300..=315).contains(&max), "start {start}: max {max}");
            assert!(
                failing as f64 <= 1.05 * max as f64,
                "start {start}: {failing}"
            );
            assert!(
                failing > 315,
                "start {start}: {failing} fails only above 315"
            );
            assert!(
                c.cells.len() <= 20,
                "start {start}: {} cells",
                c.cells.len()
            );
            assert_eq!(c.limited_by, LimitedBy::Server);
            let d = c.describe();
            assert!(d.starts_with("WS, wait 1 s: "), "{d}");
            assert!(d.contains(&format!("{} sessions", thousands(max))), "{d}");
            assert!(d.contains("success") && d.contains("< 95%"), "{d}");
            assert!(d.ends_with("bounded by the server"), "{d}");
        }
    }

    #[test]
    fn capped_server_path_from_start_1() {
        let c = simulate(SearchSpec::default(), 1.0, 2, capped);
        // Doubling to the first failure, then geometric bisection of [256, 512].
        assert_eq!(
            tried(&c),
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 362, 304, 332, 318]
        );
        assert_eq!((c.max_batch, c.first_failing), (Some(304), Some(318)));
        let f = c.cells.last().unwrap();
        assert!(!f.passed);
        assert_eq!(f.reason, "success 94.3% < 95%");
    }

    #[test]
    fn latency_slo_decides_when_every_session_succeeds() {
        // p99 = wait + N / 1000: with a 1.5 s SLO and wait 1 s, the true capacity is 500.
        let server = |wait: f64| move |n: usize| stats(1.0, Some(wait + n as f64 / 1000.0), wait);
        let spec = SearchSpec {
            criterion: Criterion {
                slo_p99: Some(1.5),
                ..Criterion::default()
            },
            ..SearchSpec::default()
        };
        let c = simulate(spec, 1.0, 2, server(1.0));
        let (max, failing) = (c.max_batch.unwrap(), c.first_failing.unwrap());
        assert!(max <= 500 && failing > 500, "{max} {failing}");
        assert!(failing as f64 <= 1.05 * max as f64);
        let last_fail = c.cells.iter().find(|x| x.n == failing).unwrap();
        assert!(
            last_fail.reason.contains("over the SLO p99 1.5 s"),
            "{}",
            last_fail.reason
        );
        assert!(last_fail.success == 1.0);
        assert!(c.describe().contains("SLO p99"), "{}", c.describe());

        // The margin over the wait: wait 2 s + 0.25 s allows N <= 250, whatever the wait.
        let spec = SearchSpec {
            criterion: Criterion {
                slo_over_wait: Some(0.25),
                ..Criterion::default()
            },
            ..SearchSpec::default()
        };
        let c = simulate(spec, 2.0, 2, server(2.0));
        let (max, failing) = (c.max_batch.unwrap(), c.first_failing.unwrap());
        assert!(max <= 250 && failing > 250, "{max} {failing}");
        let last_fail = c.cells.iter().find(|x| x.n == failing).unwrap();
        assert!(
            last_fail
                .reason
                .contains("over the SLO p99 wait + 0.25 s = 2.25 s"),
            "{}",
            last_fail.reason
        );
    }

    #[test]
    fn both_slos_and_success_are_all_required() {
        let crit = Criterion {
            success_threshold: 0.9,
            slo_p99: Some(3.0),
            slo_over_wait: Some(0.5),
        };
        let v = crit.verdict(&stats(0.95, Some(1.2), 1.0));
        assert!(v.passed, "{v:?}");
        let v = crit.verdict(&stats(0.85, Some(1.6), 1.0));
        assert!(!v.passed);
        assert_eq!(v.misses.len(), 2, "{v:?}");
        assert!(matches!(v.misses[0], Miss::Success { .. }));
        assert!(matches!(v.misses[1], Miss::SloOverWait { .. }));
        let v = crit.verdict(&stats(0.95, Some(3.5), 3.0));
        assert_eq!(
            v.misses,
            [Miss::SloP99 {
                p99: 3.5,
                limit: 3.0
            }]
        );
        let v = crit.verdict(&stats(0.0, None, 1.0));
        assert!(v.misses.contains(&Miss::NoLatency), "{v:?}");
        // Without an SLO the latency does not matter.
        assert!(Criterion::default().verdict(&stats(1.0, None, 1.0)).passed);
        assert_eq!(
            crit.describe(),
            "success >= 90%, p99 <= 3 s, p99 <= steps x wait + 0.5 s"
        );
    }

    #[test]
    fn the_ceiling_is_tried_before_stopping_at_it() {
        // Everything passes: doubling up to 512, then the ceiling itself.
        let spec = SearchSpec {
            max_requests: 1000,
            ..SearchSpec::default()
        };
        let c = simulate(spec.clone(), 1.0, 2, |_| stats(1.0, Some(1.0), 1.0));
        assert_eq!(tried(&c), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]);
        assert_eq!((c.max_batch, c.first_failing), (Some(1000), None));
        assert_eq!(c.limited_by, LimitedBy::Ceiling);
        assert!(
            c.describe().contains("≥ 1,000 sessions"),
            "{}",
            c.describe()
        );

        // The ceiling fails: an ordinary bisection below it.
        let c = simulate(spec, 1.0, 2, |n| {
            stats((700.0 / n as f64).min(1.0), None, 1.0)
        });
        assert_eq!(
            &tried(&c)[..11],
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
        );
        assert_eq!(c.limited_by, LimitedBy::Server);
        let (max, failing) = (c.max_batch.unwrap(), c.first_failing.unwrap());
        assert!(max <= 736 && failing > 736 && failing as f64 <= 1.05 * max as f64);

        // A ceiling equal to the start: one cell.
        let spec = SearchSpec {
            start: 50,
            max_requests: 50,
            ..SearchSpec::default()
        };
        let c = simulate(spec, 1.0, 2, |_| stats(1.0, None, 1.0));
        assert_eq!(tried(&c), [50]);
        assert_eq!(c.limited_by, LimitedBy::Ceiling);
    }

    #[test]
    fn the_budget_stops_before_the_next_cell() {
        // 10 s a cell, 35 s budget: the 4th cell ends at 40 s, no 5th starts.
        let spec = SearchSpec {
            budget: Some(Duration::from_secs(35)),
            ..SearchSpec::default()
        };
        let c = simulate(spec, 1.0, 10, capped);
        assert_eq!(tried(&c), [1, 2, 4, 8]);
        assert_eq!((c.max_batch, c.first_failing), (Some(8), None));
        assert_eq!(c.limited_by, LimitedBy::Budget);
        assert_eq!(c.elapsed_seconds, 40.0);
        assert_eq!(c.budget_seconds, Some(35.0));
        let d = c.describe();
        assert!(
            d.contains("≥ 8 sessions") && d.contains("time budget"),
            "{d}"
        );

        // Spent during the bisection: the bracket so far.
        let spec = SearchSpec {
            budget: Some(Duration::from_secs(110)),
            ..SearchSpec::default()
        };
        let c = simulate(spec, 1.0, 10, capped);
        assert_eq!(c.cells.len(), 11);
        assert_eq!((c.max_batch, c.first_failing), (Some(256), Some(362)));
        assert_eq!(c.limited_by, LimitedBy::Budget);
        let d = c.describe();
        assert!(d.contains("between 256 and 362 sessions"), "{d}");
        assert!(d.contains("not narrowed to 5%"), "{d}");

        // A search that converges on its last allowed cell says "server", not "budget".
        let spec = SearchSpec {
            budget: Some(Duration::from_secs(140)),
            ..SearchSpec::default()
        };
        let c = simulate(spec, 1.0, 10, capped);
        assert_eq!(c.cells.len(), 14);
        assert_eq!(c.limited_by, LimitedBy::Server);
    }

    #[test]
    fn a_saturated_load_generator_stops_the_search() {
        // Saturated from 128 on, every cell passing: 128 still counts, then stop.
        let sat = |n: usize| CellStats {
            saturation: (n >= 128).then(|| "busiest process 97% CPU".to_string()),
            ..capped(n)
        };
        let c = simulate(SearchSpec::default(), 1.0, 2, sat);
        assert_eq!(c.cells.len(), 8);
        assert_eq!((c.max_batch, c.first_failing), (Some(128), None));
        assert_eq!(c.limited_by, LimitedBy::LoadGenerator);
        assert!(c.cells[7].saturated && c.cells[7].passed);
        let d = c.describe();
        assert!(
            d.contains("≥ 128 sessions, limited by the load generator (saturated at N = 128)"),
            "{d}"
        );

        // Saturated at a failing cell: not counted against the server.
        let sat = |n: usize| CellStats {
            saturation: (n >= 512).then(|| "event-loop lag 300 ms".to_string()),
            ..capped(n)
        };
        let c = simulate(SearchSpec::default(), 1.0, 2, sat);
        assert_eq!(c.cells.last().unwrap().n, 512);
        assert_eq!((c.max_batch, c.first_failing), (Some(256), None));
        assert_eq!(c.limited_by, LimitedBy::LoadGenerator);
        let last = c.cells.last().unwrap();
        assert!(!last.passed && last.saturated);
        assert!(
            last.reason.contains("not counted as a server failure"),
            "{}",
            last.reason
        );
        assert!(
            last.reason.contains("event-loop lag 300 ms"),
            "{}",
            last.reason
        );

        // Saturated during the bisection: the server's failure so far stays.
        let sat = |n: usize| CellStats {
            saturation: (n == 362).then(|| "lag".to_string()),
            ..capped(n)
        };
        let c = simulate(SearchSpec::default(), 1.0, 2, sat);
        assert_eq!((c.max_batch, c.first_failing), (Some(256), Some(512)));
        assert_eq!(c.limited_by, LimitedBy::LoadGenerator);
    }

    #[test]
    fn running_out_of_file_descriptors_stops_the_search_as_open_files() {
        // A server that holds everything but whose process runs out of fds from N = 1000 on
        // (success 50%): 512 passes, 1024 fails for lack of fds, not counted against it.
        let fds = |n: usize| CellStats {
            success: if n >= 1000 { 0.5 } else { 1.0 },
            open_files: (n >= 1000).then(|| "the server could not accept 12 connection(s)".into()),
            ..capped(0)
        };
        let c = simulate(SearchSpec::default(), 1.0, 2, fds);
        assert_eq!(c.cells.last().unwrap().n, 1024);
        assert_eq!((c.max_batch, c.first_failing), (Some(512), None));
        assert_eq!(c.limited_by, LimitedBy::OpenFiles);
        assert!(c.is_lower_bound());
        let last = c.cells.last().unwrap();
        assert!(!last.passed);
        assert!(
            last.reason.contains("out of file descriptors"),
            "{}",
            last.reason
        );
        let d = c.describe();
        assert!(
            d.contains("≥ 512 sessions, limited by the open-files limit at N = 1,024")
                && d.contains("could not accept 12")
                && d.contains("ulimit -n"),
            "{d}"
        );
        // A passing cell that saw a few fd errors still passes; the search goes on.
        let few = |n: usize| CellStats {
            open_files: (n == 256).then(|| "1 session".into()),
            ..capped(n)
        };
        let c = simulate(SearchSpec::default(), 1.0, 2, few);
        assert_eq!(c.limited_by, LimitedBy::Server);
        assert!((300..=315).contains(&c.max_batch.unwrap()));
    }

    #[test]
    fn a_failing_start_searches_downwards_to_1() {
        let dead = |_: usize| stats(0.0, None, 1.0);
        // Start 1 already fails: nothing below it.
        let c = simulate(SearchSpec::default(), 1.0, 2, dead);
        assert_eq!(tried(&c), [1]);
        assert_eq!((c.max_batch, c.first_failing), (None, Some(1)));
        assert_eq!(c.limited_by, LimitedBy::Server);
        let d = c.describe();
        assert!(
            d.contains("none: even 1 session (1 failed: success 0.0% < 95%)"),
            "{d}"
        );

        let spec = SearchSpec {
            start: 100,
            ..SearchSpec::default()
        };
        let c = simulate(spec.clone(), 1.0, 2, dead);
        assert_eq!(tried(&c), [100, 50, 25, 13, 7, 4, 2, 1]);
        assert_eq!((c.max_batch, c.first_failing), (None, Some(1)));

        // Capacity 10 from start 100: down to 7, then bisect [7, 13].
        let c = simulate(spec, 1.0, 2, |n| {
            stats(if n <= 10 { 1.0 } else { 0.5 }, None, 1.0)
        });
        assert_eq!((c.max_batch, c.first_failing), (Some(10), Some(11)));
        assert_eq!(&tried(&c)[..5], [100, 50, 25, 13, 7]);
    }

    #[test]
    fn bad_settings_are_refused_with_the_flag_named() {
        let bad = |f: &dyn Fn(&mut SearchSpec)| {
            let mut s = SearchSpec::default();
            f(&mut s);
            let e = s.validate().unwrap_err();
            assert!(Search::new(s, Mode::Ws, 1.0).is_err());
            e
        };
        for p in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            let mut s = SearchSpec {
                precision: p,
                ..SearchSpec::default()
            };
            let e = s.validate().unwrap_err();
            assert!(matches!(e, SearchError::Precision(_)), "{e}");
            assert!(
                e.to_string().starts_with("--precision must be > 0 and < 1"),
                "{e}"
            );
            s.precision = 0.5;
            s.validate().unwrap();
        }
        let e = bad(&|s| s.start = 0);
        assert_eq!(e.to_string(), "--start must be >= 1");
        let e = bad(&|s| {
            s.start = 64;
            s.max_requests = 32
        });
        assert_eq!(e.to_string(), "--max-requests (32) is below --start (64)");
        assert!(matches!(bad(&|s| s.growth = 1.0), SearchError::Growth(_)));
        assert!(matches!(
            bad(&|s| s.growth = f64::INFINITY),
            SearchError::Growth(_)
        ));
        assert!(matches!(
            bad(&|s| s.budget = Some(Duration::ZERO)),
            SearchError::ZeroBudget
        ));
        for t in [0.0, 1.01, f64::NAN] {
            let e = bad(&|s| s.criterion.success_threshold = t);
            assert!(matches!(e, SearchError::SuccessThreshold(_)), "{t}: {e}");
        }
        let e = bad(&|s| s.criterion.slo_p99 = Some(-1.0));
        assert!(e.to_string().starts_with("--slo-p99 must be"), "{e}");
        let e = bad(&|s| s.criterion.slo_over_wait = Some(f64::INFINITY));
        assert!(e.to_string().starts_with("--slo-over-wait must be"), "{e}");
        // Edges that are fine.
        let ok = SearchSpec {
            start: 7,
            max_requests: 7,
            precision: 0.999,
            criterion: Criterion {
                success_threshold: 1.0,
                ..Criterion::default()
            },
            ..SearchSpec::default()
        };
        ok.validate().unwrap();
        assert!(Search::new(SearchSpec::default(), Mode::Ws, -1.0).is_err());
    }

    #[test]
    fn calls_out_of_order_are_errors() {
        let mut s = Search::new(SearchSpec::default(), Mode::Http, 0.1).unwrap();
        let ok = stats(1.0, Some(0.2), 0.1);
        assert!(matches!(s.capacity(), Err(SearchError::NotFinished)));
        assert!(matches!(
            s.record(1, &ok, Duration::ZERO),
            Err(SearchError::NotAsked { got: 1 })
        ));
        assert_eq!(s.next(), Some(1));
        assert_eq!(s.next(), Some(1), "asking again gives the same N");
        assert!(matches!(
            s.record(2, &ok, Duration::ZERO),
            Err(SearchError::WrongN {
                expected: 1,
                got: 2
            })
        ));
        let e = s
            .record(1, &stats(1.5, None, 0.1), Duration::ZERO)
            .unwrap_err();
        assert!(matches!(e, SearchError::BadStats(_)), "{e}");
        assert!(s.record(1, &ok, Duration::from_secs(1)).unwrap().passed);
        assert_eq!(s.next(), Some(2));
        s.interrupt();
        assert_eq!(s.next(), None);
        let c = s.capacity().unwrap();
        assert_eq!(c.limited_by, LimitedBy::Interrupted);
        assert_eq!(
            c.describe(),
            "HTTP, wait 0.1 s: ≥ 1 session, no failure seen; interrupted"
        );
    }

    #[test]
    fn repetitions_combine_by_their_mean() {
        let rep = |success: f64, p99: Option<f64>, sat: Option<&str>| RepStats {
            success,
            p99,
            saturation: sat.map(str::to_string),
            open_files: None,
        };
        let c = CellStats::from_reps(
            1.0,
            2,
            &[
                rep(1.0, Some(2.0), None),
                rep(0.9, Some(3.0), None),
                rep(0.0, None, Some("lag")),
            ],
        )
        .unwrap();
        assert!((c.success - 1.9 / 3.0).abs() < 1e-12);
        assert_eq!(c.p99, Some(2.5), "reps without successes have no p99");
        assert_eq!(c.saturation.as_deref(), Some("repetition 3: lag"));
        assert_eq!(c.steps, 2);
        // 0.97 and 0.94 average to 0.955: passes at 95%, as analyze's max batch would.
        let c =
            CellStats::from_reps(1.0, 1, &[rep(0.97, None, None), rep(0.94, None, None)]).unwrap();
        assert!(Criterion::default().verdict(&c).passed);
        assert!(matches!(
            CellStats::from_reps(1.0, 1, &[]),
            Err(SearchError::BadStats(_))
        ));
        assert!(CellStats::from_reps(1.0, 1, &[rep(f64::NAN, None, None)]).is_err());
    }

    #[test]
    fn success_just_below_the_threshold_never_prints_as_the_threshold() {
        let v = Criterion::default().verdict(&stats(0.94999, None, 1.0));
        assert!(!v.passed);
        assert_eq!(v.reason, "success 94.999% < 95%");
        let v = Criterion::default().verdict(&stats(0.95, None, 1.0));
        assert!(v.passed, "exactly the threshold passes: {v:?}");
    }

    #[test]
    fn capacity_file_round_trips_and_replaces_by_mode_and_wait() {
        let ws = simulate(SearchSpec::default(), 1.0, 2, capped);
        let mut http = ws.clone();
        http.mode = Mode::Http;
        let mut file = CapacityFile::default();
        file.upsert(ws.clone());
        file.upsert(http);
        let mut again = ws.clone();
        again.max_batch = Some(1);
        file.upsert(again);
        assert_eq!(file.0.len(), 2);
        assert_eq!(file.0[0].max_batch, Some(1), "same (mode, wait) replaced");

        let text = file.to_json().unwrap();
        assert!(text.ends_with("}\n]\n"), "{text}");
        // serde_json (without its float_roundtrip feature) reads floats back to within an ulp.
        let back = CapacityFile::from_json(&text).unwrap();
        assert_eq!(back.0.len(), 2);
        for (b, f) in back.0.iter().zip(&file.0) {
            assert_eq!(b.describe(), f.describe());
            assert_eq!(
                (
                    b.mode,
                    b.max_batch,
                    b.first_failing,
                    b.limited_by,
                    b.criterion
                ),
                (
                    f.mode,
                    f.max_batch,
                    f.first_failing,
                    f.limited_by,
                    f.criterion
                )
            );
            assert_eq!(b.cells.len(), f.cells.len());
            for (bc, fc) in b.cells.iter().zip(&f.cells) {
                assert_eq!((bc.n, bc.passed, &bc.reason), (fc.n, fc.passed, &fc.reason));
                assert!((bc.success - fc.success).abs() < 1e-12);
            }
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let first = &v[0];
        for key in [
            "mode",
            "wait_seconds",
            "max_batch",
            "first_failing",
            "limited_by",
            "criterion",
            "cells",
        ] {
            assert!(first.get(key).is_some(), "{key} missing: {first}");
        }
        assert_eq!(first["mode"], "ws");
        assert_eq!(first["limited_by"], "server");
        assert_eq!(first["criterion"]["success_threshold"], 0.95);
        assert_eq!(first["criterion"]["slo_p99"], serde_json::Value::Null);
        assert_eq!(first["cells"][0]["n"], 1);
        assert!(serde_json::to_string(&LimitedBy::LoadGenerator).unwrap() == "\"load_generator\"");
        let path = std::path::Path::new("dir/capacity.json");
        let e = CapacityFile::parse(path, "[{\"mode\": \"ws\"}]").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("dir/capacity.json: not a capacity.json")
                && e.to_string().contains("missing field"),
            "{e}"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4096), "4,096");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    /// Worst case, over every true capacity in the bracket [lo, 2·lo), of the number of
    /// bisection cells with a midpoint rule.
    fn worst_bisection(
        spec: &SearchSpec,
        lo0: usize,
        mid: &dyn Fn(usize, usize) -> usize,
    ) -> usize {
        (lo0..2 * lo0)
            .map(|cap| {
                let (mut lo, mut hi, mut cells) = (lo0, 2 * lo0, 0);
                while !spec.converged(lo, hi) {
                    let m = mid(lo, hi).clamp(lo + 1, hi - 1);
                    cells += 1;
                    if m <= cap {
                        lo = m
                    } else {
                        hi = m
                    }
                }
                cells
            })
            .max()
            .unwrap()
    }

    #[test]
    fn bisection_rule_against_pure_geometric_and_arithmetic() {
        let geometric = |lo: usize, hi: usize| ((lo as f64) * (hi as f64)).sqrt().round() as usize;
        let arithmetic = |lo: usize, hi: usize| (lo + hi) / 2;
        for precision in [0.01, 0.05, 0.1, 0.25] {
            let spec = SearchSpec {
                precision,
                ..SearchSpec::default()
            };
            let ours = |lo: usize, hi: usize| spec.midpoint(lo, hi);
            let (mut better_than_arith, mut worse_than_arith, mut better_than_geo) = (0, 0, 0);
            let (mut most_ours, mut most_arith) = (0, 0);
            for lo in 1..1000 {
                let o = worst_bisection(&spec, lo, &ours);
                let g = worst_bisection(&spec, lo, &geometric);
                let a = worst_bisection(&spec, lo, &arithmetic);
                assert!(
                    o <= g,
                    "precision {precision}, lo {lo}: {o} > geometric {g}"
                );
                assert!(
                    o <= spec.max_bisection_cells(),
                    "precision {precision}, lo {lo}: {o}"
                );
                better_than_geo += usize::from(o < g);
                better_than_arith += usize::from(o < a);
                worse_than_arith += usize::from(o > a);
                most_ours = most_ours.max(o);
                most_arith = most_arith.max(a);
            }
            eprintln!(
                "precision {precision}, brackets [lo, 2 lo) for lo < 1000: worst case {most_ours} \
                 cells (arithmetic {most_arith}); fewer than arithmetic for {better_than_arith} lo, \
                 more for {worse_than_arith}; fewer than geometric for {better_than_geo}"
            );
            assert!(most_ours <= most_arith);
            assert!(better_than_arith > 10 * worse_than_arith.max(1) || precision >= 0.25);
        }
    }

    /// The bound stated in the module docs.
    fn cell_bound(spec: &SearchSpec, capacity: usize) -> usize {
        let (s, c, g) = (spec.start as f64, capacity as f64, spec.growth);
        let explore = if capacity >= spec.start {
            (c / s).log(g).floor() as usize + 2
        } else {
            (s / c).log(g).ceil() as usize + 1
        };
        explore + spec.max_bisection_cells()
    }

    /// A server that passes exactly up to `capacity`.
    fn step(capacity: usize) -> impl Fn(usize) -> CellStats {
        move |n| stats(if n <= capacity { 1.0 } else { 0.0 }, Some(1.0), 1.0)
    }

    fn check(spec: &SearchSpec, capacity: usize) -> Result<usize, String> {
        let c = simulate(spec.clone(), 1.0, 1, step(capacity));
        let n = c.cells.len();
        if capacity >= spec.max_requests {
            if (c.max_batch, c.first_failing, c.limited_by)
                != (Some(spec.max_requests), None, LimitedBy::Ceiling)
            {
                return Err(format!("ceiling expected: {c:?}"));
            }
            if n > spec.max_cells() {
                return Err(format!("{n} cells > max_cells {}", spec.max_cells()));
            }
            return Ok(n);
        }
        let (Some(max), Some(failing)) = (c.max_batch, c.first_failing) else {
            return Err(format!("no bracket: {c:?}"));
        };
        if c.limited_by != LimitedBy::Server || !(max <= capacity && capacity < failing) {
            return Err(format!("{max}..{failing} misses {capacity}"));
        }
        if failing - max > 1 && (failing - max) as f64 > spec.precision * max as f64 {
            return Err(format!("{max}..{failing} wider than {}", spec.precision));
        }
        if n > cell_bound(spec, capacity) {
            return Err(format!("{n} cells > bound {}", cell_bound(spec, capacity)));
        }
        if n > spec.max_cells() {
            return Err(format!("{n} cells > max_cells {}", spec.max_cells()));
        }
        Ok(n)
    }

    #[test]
    fn every_capacity_up_to_5000_within_the_bound() {
        for (start, precision) in [(1, 0.05), (1, 0.01), (64, 0.05), (3000, 0.2)] {
            let spec = SearchSpec {
                start,
                precision,
                max_requests: 1_000_000,
                ..SearchSpec::default()
            };
            let mut most = 0;
            for capacity in 1..=5000 {
                let n = check(&spec, capacity).unwrap_or_else(|e| panic!("C={capacity}: {e}"));
                most = most.max(n);
            }
            eprintln!(
                "start {start}, precision {precision}: at most {most} cells for C <= 5000 \
                 (max_cells {})",
                spec.max_cells()
            );
        }
    }

    #[test]
    fn max_cells_numbers() {
        let spec = SearchSpec::default();
        assert_eq!(spec.max_bisection_cells(), 5);
        // Up: 1, 2, …, 65,536, 100,000 = 18 cells; down: 1 cell.
        assert_eq!(spec.max_cells(), 23);
        let spec = SearchSpec {
            precision: 0.01,
            ..SearchSpec::default()
        };
        assert_eq!(spec.max_bisection_cells(), 8);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn brackets_the_capacity_within_precision_and_bound(
                capacity in 1usize..100_000,
                precision in 0.01f64..0.5,
                start in 1usize..200_000,
                extra in 0usize..400_000,
                growth in prop_oneof![Just(2.0), 1.2f64..4.0],
            ) {
                let spec = SearchSpec {
                    start,
                    precision,
                    growth,
                    max_requests: start + extra,
                    ..SearchSpec::default()
                };
                if let Err(e) = check(&spec, capacity) {
                    return Err(TestCaseError::fail(e));
                }
            }
        }
    }
}
