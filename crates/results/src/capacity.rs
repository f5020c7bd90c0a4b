//! `capacity.json`: the answers of `scale --find-max` (and `experiment`'s default search), one
//! [`Capacity`] per (mode, wait). `scale` writes it through [`CapacityFile::to_json`] after every
//! finished search; `analyze` reads it with [`CapacityFile::read`], which refuses a file that is
//! not one (foreign JSON, a cut file, impossible numbers) with an error naming the path.
//!
//! The search that fills it (which N to try, when a cell passes) lives in `openenv-loadgen`
//! (`search`); this module is only the file's contract and the answer in words.

use crate::{Mode, ResultsError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name of the result file in the output directory.
pub const CAPACITY_FILE: &str = "capacity.json";
use crate::DEFAULT_SUCCESS_THRESHOLD;

/// When a cell passes. Every condition given must hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// Mean success rate over the repetitions must be at least this (0.95 = 95%).
    pub success_threshold: f64,
    /// Total-latency p99 (connect to close, seconds) must be at most this.
    pub slo_p99: Option<f64>,
    /// Total-latency p99 must be at most `steps × wait` + this many seconds: the time a session
    /// is meant to wait on the server plus a margin, so one value serves every wait of a run.
    pub slo_over_wait: Option<f64>,
}

impl Default for Criterion {
    fn default() -> Self {
        Criterion {
            success_threshold: DEFAULT_SUCCESS_THRESHOLD,
            slo_p99: None,
            slo_over_wait: None,
        }
    }
}

impl Criterion {
    /// The conditions in words, e.g. "success >= 95%, p99 <= 2 s".
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("success >= {}%", pct(self.success_threshold))];
        if let Some(s) = self.slo_p99 {
            parts.push(format!("p99 <= {s} s"));
        }
        if let Some(m) = self.slo_over_wait {
            parts.push(format!("p99 <= steps x wait + {m} s"));
        }
        parts.join(", ")
    }
}

/// `0.95` -> "95", `0.949367` -> "94.9".
pub fn pct(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

/// Why a search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitedBy {
    /// Converged: a failing N within the precision above the largest passing one, or N = 1
    /// failed.
    Server,
    /// A cell saturated the load generator: what it measured cannot be blamed on the server.
    LoadGenerator,
    /// Every N up to the ceiling passed, the ceiling included.
    Ceiling,
    /// The time budget was spent before the search converged.
    Budget,
    /// The caller stopped it (Ctrl-C).
    Interrupted,
    /// A failing cell ran out of file descriptors (the server's `accept` or the load
    /// generator's `socket` failed with EMFILE/ENFILE): the open-files limit of a process
    /// bounded it, not the server's capacity. The failure is not counted against the server.
    OpenFiles,
}

impl LimitedBy {
    /// The value as written in `capacity.json` (`server`, `load_generator`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitedBy::Server => "server",
            LimitedBy::LoadGenerator => "load_generator",
            LimitedBy::Ceiling => "ceiling",
            LimitedBy::Budget => "budget",
            LimitedBy::Interrupted => "interrupted",
            LimitedBy::OpenFiles => "open_files",
        }
    }
}

/// One cell of the search, in the order tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriedCell {
    pub n: usize,
    pub passed: bool,
    /// Mean success rate over repetitions.
    pub success: f64,
    /// Mean total-latency p99 over repetitions, seconds.
    pub p99: Option<f64>,
    /// The load generator was saturated (a failure is then not counted against the server).
    pub saturated: bool,
    /// Which process ran out of file descriptors in this cell, and how often (absent: none
    /// did, or it was not known). A failure is then not counted against the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<String>,
    pub reason: String,
    /// Time since the search began when this cell was recorded, seconds.
    pub elapsed_seconds: f64,
}

/// The answer for one (mode, wait): one entry of `capacity.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub mode: Mode,
    pub wait_seconds: f64,
    /// Largest passing N; `None` when none passed.
    pub max_batch: Option<usize>,
    /// Smallest N above `max_batch` that failed (saturated cells excluded); `None` if none did.
    pub first_failing: Option<usize>,
    pub limited_by: LimitedBy,
    pub criterion: Criterion,
    pub start: usize,
    pub precision: f64,
    pub growth: f64,
    pub max_requests: usize,
    pub budget_seconds: Option<f64>,
    pub elapsed_seconds: f64,
    pub cells: Vec<TriedCell>,
}

/// 4096 -> "4,096".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn sessions(n: usize) -> String {
    if n == 1 {
        "1 session".into()
    } else {
        format!("{} sessions", thousands(n))
    }
}

impl Capacity {
    /// (mode, wait to the millisecond): one entry per key in a file.
    pub fn key(&self) -> (Mode, i64) {
        (self.mode, wait_key(self.wait_seconds))
    }

    /// `max_batch` is only a lower bound of the capacity: the search did not end on a failure
    /// the server is to blame for (every N passed up to the ceiling, the budget or Ctrl-C cut
    /// it short, or the load generator or an open-files limit stopped it).
    pub fn is_lower_bound(&self) -> bool {
        self.limited_by != LimitedBy::Server
    }

    /// The entry is consistent with itself: what a file written by `scale --find-max` always
    /// is. Err says what is not.
    pub fn check(&self) -> Result<(), String> {
        if !(self.wait_seconds.is_finite() && self.wait_seconds >= 0.0) {
            return Err(format!(
                "wait_seconds {} is not finite and >= 0",
                self.wait_seconds
            ));
        }
        let t = self.criterion.success_threshold;
        if !(t > 0.0 && t <= 1.0) {
            return Err(format!("success_threshold {t} is not in (0, 1]"));
        }
        if let (Some(m), Some(f)) = (self.max_batch, self.first_failing) {
            if f <= m {
                return Err(format!("first_failing {f} is not above max_batch {m}"));
            }
        }
        for (what, n, passed) in [
            ("max_batch", self.max_batch, true),
            ("first_failing", self.first_failing, false),
        ] {
            if let Some(n) = n {
                if !self.cells.iter().any(|c| c.n == n && c.passed == passed) {
                    return Err(format!(
                        "{what} {n} is not among the cells tried ({})",
                        if passed { "passing" } else { "failing" }
                    ));
                }
            }
        }
        if let Some(c) = self
            .cells
            .iter()
            .find(|c| !(0.0..=1.0).contains(&c.success))
        {
            return Err(format!(
                "cell N={}: success {} is not in [0, 1]",
                c.n, c.success
            ));
        }
        Ok(())
    }

    fn cell(&self, n: usize) -> Option<&TriedCell> {
        self.cells.iter().find(|c| c.n == n)
    }

    /// "316 failed: success 94.9% < 95%".
    fn failed(&self, n: usize) -> String {
        match self.cell(n) {
            Some(c) => format!("{} failed: {}", thousands(n), c.reason),
            None => format!("{} failed", thousands(n)),
        }
    }

    /// The answer in words, e.g. "WS, wait 1 s: 304 sessions (318 failed: success 94.3% < 95%);
    /// bounded by the server".
    pub fn describe(&self) -> String {
        let head = format!(
            "{}, wait {} s",
            self.mode.as_str().to_uppercase(),
            self.wait_seconds
        );
        let body = match (self.limited_by, self.max_batch, self.first_failing) {
            (LimitedBy::Server, Some(m), Some(f)) => {
                format!(
                    "{} ({}); bounded by the server",
                    sessions(m),
                    self.failed(f)
                )
            }
            (LimitedBy::Server, None, Some(f)) => {
                format!(
                    "none: even {} ({}); bounded by the server",
                    sessions(1),
                    self.failed(f)
                )
            }
            (LimitedBy::Ceiling, Some(m), _) => format!(
                "≥ {}: every N tried passed, up to the ceiling (max requests {})",
                sessions(m),
                thousands(self.max_requests)
            ),
            (LimitedBy::LoadGenerator, m, f) => {
                let sat = self.cells.iter().rev().find(|c| c.saturated);
                let at = sat.map_or(String::new(), |c| format!(" at N = {}", thousands(c.n)));
                let server = f.map_or(String::new(), |f| format!("; {}", self.failed(f)));
                match m {
                    Some(m) => format!(
                        "≥ {}, limited by the load generator (saturated{at}){server}",
                        sessions(m)
                    ),
                    None => format!(
                        "unknown: the load generator saturated{at} before any N passed{server}"
                    ),
                }
            }
            (LimitedBy::OpenFiles, m, f) => {
                let cell = self.cells.iter().rev().find(|c| c.open_files.is_some());
                let at = cell.map_or(String::new(), |c| format!(" at N = {}", thousands(c.n)));
                let why = cell
                    .and_then(|c| c.open_files.as_deref())
                    .map_or(String::new(), |w| format!(": {w}"));
                let server = f.map_or(String::new(), |f| format!("; {}", self.failed(f)));
                let bound = match m {
                    Some(m) => format!("≥ {}", sessions(m)),
                    None => "unknown".to_string(),
                };
                format!(
                    "{bound}, limited by the open-files limit{at}{why}{server}; \
                     raise it (ulimit -n, LimitNOFILE) and search again"
                )
            }
            (why @ (LimitedBy::Budget | LimitedBy::Interrupted), m, f) => {
                let stop = if why == LimitedBy::Budget {
                    "stopped by the time budget"
                } else {
                    "interrupted"
                };
                match (m, f) {
                    (Some(m), Some(f)) => format!(
                        "between {} and {} ({}), not narrowed to {}%; {stop}",
                        thousands(m),
                        sessions(f),
                        self.failed(f),
                        pct(self.precision)
                    ),
                    (Some(m), None) => format!("≥ {}, no failure seen; {stop}", sessions(m)),
                    (None, Some(f)) => {
                        format!("below {} ({}); {stop}", sessions(f), self.failed(f))
                    }
                    (None, None) => format!("nothing measured; {stop}"),
                }
            }
            // Not produced by `Search`; said plainly should a file hold it.
            (why, m, f) => format!("max batch {m:?}, first failing {f:?}, limited by {why:?}"),
        };
        format!("{head}: {body}")
    }
}

/// `capacity.json`: one [`Capacity`] per (mode, wait).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CapacityFile(pub Vec<Capacity>);

impl CapacityFile {
    /// Parses the text, without the checks of [`CapacityFile::parse`].
    pub fn from_json(text: &str) -> Result<CapacityFile, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Parses and checks the text of the file at `path` (named in every error): a JSON list of
    /// capacities, each consistent with itself ([`Capacity::check`]), one per (mode, wait).
    pub fn parse(path: &Path, text: &str) -> Result<CapacityFile, ResultsError> {
        let invalid = |reason: String| ResultsError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let file = CapacityFile::from_json(text).map_err(|e| {
            invalid(format!(
                "not a {CAPACITY_FILE} of scale --find-max (a list of capacities, one per mode and wait): {e}"
            ))
        })?;
        let mut seen = Vec::new();
        for (i, c) in file.0.iter().enumerate() {
            c.check()
                .map_err(|why| invalid(format!("entry {}: {why}", i + 1)))?;
            let key = c.key();
            if seen.contains(&key) {
                return Err(invalid(format!(
                    "entry {}: a second answer for {} at wait {} s",
                    i + 1,
                    c.mode.as_str(),
                    c.wait_seconds
                )));
            }
            seen.push(key);
        }
        Ok(file)
    }

    /// Reads `dir/capacity.json`: `Ok(None)` when there is none, an error naming the path when
    /// it cannot be read or is not a capacity file.
    pub fn read(dir: &Path) -> Result<Option<CapacityFile>, ResultsError> {
        let path = dir.join(CAPACITY_FILE);
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ResultsError::io(path, e)),
            // A FIFO would block the read forever; a directory has nothing to parse.
            Ok(m) if !m.is_file() => {
                return Err(ResultsError::Invalid {
                    path,
                    reason: "not a regular file".into(),
                })
            }
            Ok(_) => {}
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ResultsError::io(&path, e))?;
        CapacityFile::parse(&path, &text).map(Some)
    }

    /// Pretty-printed, with a final newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }

    /// Adds an entry, replacing an earlier one of the same mode and wait (to the millisecond, as
    /// `analyze` groups waits): a directory searched again keeps one answer per (mode, wait).
    pub fn upsert(&mut self, c: Capacity) {
        match self.0.iter_mut().find(|x| x.key() == c.key()) {
            Some(old) => *old = c,
            None => self.0.push(c),
        }
    }

    /// The entry for (mode, wait), the wait compared to the millisecond.
    pub fn get(&self, mode: Mode, wait_seconds: f64) -> Option<&Capacity> {
        let key = (mode, wait_key(wait_seconds));
        self.0.iter().find(|c| c.key() == key)
    }
}

/// A wait to the millisecond, as `analyze` groups waits.
pub fn wait_key(wait_seconds: f64) -> i64 {
    (wait_seconds * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mode: Mode, max: Option<usize>, fail: Option<usize>, by: LimitedBy) -> Capacity {
        let cell = |n: usize, passed: bool| TriedCell {
            n,
            passed,
            success: if passed { 1.0 } else { 0.5 },
            p99: Some(1.01),
            saturated: false,
            open_files: None,
            reason: String::new(),
            elapsed_seconds: 1.0,
        };
        let mut cells = Vec::new();
        cells.extend(max.map(|n| cell(n, true)));
        cells.extend(fail.map(|n| cell(n, false)));
        Capacity {
            mode,
            wait_seconds: 1.0,
            max_batch: max,
            first_failing: fail,
            limited_by: by,
            criterion: Criterion::default(),
            start: 1,
            precision: 0.05,
            growth: 2.0,
            max_requests: 100_000,
            budget_seconds: None,
            elapsed_seconds: 2.0,
            cells,
        }
    }

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "openenv-capacity-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn read_round_trips_and_absent_is_none() {
        let d = dir();
        assert!(CapacityFile::read(&d).unwrap().is_none());
        let mut file = CapacityFile::default();
        file.upsert(entry(Mode::Ws, Some(304), Some(318), LimitedBy::Server));
        file.upsert(entry(Mode::Http, Some(4096), None, LimitedBy::Budget));
        std::fs::write(d.join(CAPACITY_FILE), file.to_json().unwrap()).unwrap();
        let back = CapacityFile::read(&d).unwrap().unwrap();
        assert_eq!(back, file);
        assert_eq!(back.get(Mode::Ws, 1.0004).unwrap().max_batch, Some(304));
        assert!(back.get(Mode::Ws, 0.1).is_none());
        assert!(!back.0[0].is_lower_bound() && back.0[1].is_lower_bound());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn foreign_or_damaged_files_are_refused_with_the_path() {
        let d = dir();
        let path = d.join(CAPACITY_FILE);
        let good = {
            let mut f = CapacityFile::default();
            f.upsert(entry(Mode::Ws, Some(304), Some(318), LimitedBy::Server));
            f.to_json().unwrap()
        };
        let mut dup = CapacityFile(vec![
            entry(Mode::Ws, Some(304), Some(318), LimitedBy::Server),
            entry(Mode::Ws, Some(8), Some(9), LimitedBy::Server),
        ])
        .to_json()
        .unwrap();
        let inverted = CapacityFile(vec![entry(
            Mode::Ws,
            Some(318),
            Some(304),
            LimitedBy::Server,
        )]);
        let mut not_tried = CapacityFile(vec![entry(
            Mode::Ws,
            Some(304),
            Some(318),
            LimitedBy::Server,
        )]);
        not_tried.0[0].max_batch = Some(305);
        let cases: Vec<(String, &str)> = vec![
            // run.json's shape: an object, not a list.
            (
                "{\"tool\": \"openenv-bench\", \"cores\": 2}".into(),
                "not a capacity.json",
            ),
            (good[..good.len() / 2].to_string(), "not a capacity.json"),
            ("[{\"mode\": \"ws\"}]".into(), "missing field"),
            (
                std::mem::take(&mut dup),
                "a second answer for ws at wait 1 s",
            ),
            (
                inverted.to_json().unwrap(),
                "first_failing 304 is not above max_batch 318",
            ),
            (
                not_tried.to_json().unwrap(),
                "max_batch 305 is not among the cells tried",
            ),
        ];
        for (text, expect) in cases {
            std::fs::write(&path, &text).unwrap();
            let e = CapacityFile::read(&d).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{}: ", path.display())) && e.contains(expect),
                "{expect:?} not in {e:?} for {text}"
            );
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let e = CapacityFile::read(&d).unwrap_err().to_string();
        assert_eq!(e, format!("{}: not a regular file", path.display()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn limited_by_strings_are_the_files() {
        for by in [
            LimitedBy::Server,
            LimitedBy::LoadGenerator,
            LimitedBy::Ceiling,
            LimitedBy::Budget,
            LimitedBy::Interrupted,
            LimitedBy::OpenFiles,
        ] {
            assert_eq!(
                serde_json::to_string(&by).unwrap(),
                format!("\"{}\"", by.as_str())
            );
        }
    }
}
