//! From summary rows to the numbers the tables and figures show: success curves, max batch,
//! protocol comparison, batch per core and the flags a reader must see.

use crate::dataset::Dataset;
use crate::summary::{SkippedRow, SummaryRow};
use openenv_results::summary::{Kind, COLUMNS};
use openenv_results::{Capacity, LimitedBy};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Waits are grouped at millisecond resolution (the Python original compares them with a 0.01 s tolerance).
pub fn wait_key(wait: f64) -> i64 {
    (wait * 1000.0).round() as i64
}

/// `1.0` -> "1.0", `0.25` -> "0.25": as short as possible, at least one decimal.
pub fn fmt_wait(wait: f64) -> String {
    let s = format!("{:.3}", wait);
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

/// Orders modes as the Python original prints them: ws, then http, then anything else alphabetically.
pub fn mode_order(mode: &str) -> (u8, String) {
    match mode {
        "ws" => (0, String::new()),
        "http" => (1, String::new()),
        other => (2, other.to_string()),
    }
}

/// All repetitions of one batch size on one curve.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub batch_size: u64,
    /// Mean over repetitions of the success rate (0..=1).
    pub mean_success: f64,
    /// Repetitions flagged by the load generator as saturated.
    pub saturated_reps: usize,
    /// For every numeric column of the file, its mean over the repetitions that have a value.
    pub means: BTreeMap<String, f64>,
    /// Repetitions in file order.
    pub reps: Vec<SummaryRow>,
}

impl Point {
    /// The repetition of median success (the Python original's choice for the latency breakdown): sorted by
    /// success rate, element `len / 2`.
    pub fn median_row(&self) -> &SummaryRow {
        let mut idx: Vec<usize> = (0..self.reps.len()).collect();
        idx.sort_by(|&a, &b| {
            self.reps[a]
                .success_rate
                .total_cmp(&self.reps[b].success_rate)
        });
        &self.reps[idx[idx.len() / 2]]
    }

    /// Mean over repetitions of a column, ignoring repetitions without a value.
    pub fn mean_of(&self, f: impl Fn(&SummaryRow) -> Option<f64>) -> Option<f64> {
        let vals: Vec<f64> = self.reps.iter().filter_map(f).collect();
        (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
    }
}

/// Success (and latency) against batch size for one infrastructure, mode and wait.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub infra: String,
    pub mode: String,
    pub wait: f64,
    /// Sorted by batch size.
    pub points: Vec<Point>,
    /// Largest N whose mean success over repetitions is ≥ the threshold.
    pub max_batch: Option<u64>,
    /// Smallest N whose mean success missed the threshold.
    pub first_failing: Option<u64>,
    /// Pairs of consecutive batch sizes (a, b), a < b, where mean success rose by more than one
    /// percentage point: the curve is not monotone, so max batch may sit above a failing N.
    pub rises: Vec<(u64, u64)>,
    /// The capacity search's answer for this curve (`capacity.json`): when present, `max_batch`
    /// and `first_failing` are the search's, judged by its criterion (which may include a
    /// latency SLO). In `analysis.json` under the infrastructure's `capacities`.
    #[serde(skip)]
    pub capacity: Option<Capacity>,
}

impl Curve {
    pub fn point(&self, batch_size: u64) -> Option<&Point> {
        self.points.iter().find(|p| p.batch_size == batch_size)
    }

    pub fn max_point(&self) -> Option<&Point> {
        self.max_batch.and_then(|n| self.point(n))
    }

    /// Every N up to the largest tested passed: the real limit lies above the grid. Not said of
    /// a searched curve: its search says whether its answer is a lower bound
    /// ([`Curve::capacity_lower_bound`]).
    pub fn limit_above_grid(&self) -> bool {
        self.capacity.is_none()
            && self.max_batch.is_some()
            && self.max_batch == self.points.last().map(|p| p.batch_size)
    }

    /// The searched answer is only a lower bound (the search stopped on the ceiling, the budget,
    /// the load generator, an open-files limit or Ctrl-C, not on a failure of the server).
    pub fn capacity_lower_bound(&self) -> bool {
        self.capacity
            .as_ref()
            .is_some_and(|c| c.is_lower_bound() && c.max_batch.is_some())
    }

    /// At the max batch, the most sessions open at once when that is below 90% of N (the lowest
    /// over repetitions that recorded `peak_open_sessions`): "max batch = N" then overstates
    /// concurrency, because sessions finished before the last ones were launched.
    pub fn peak_open_below_max(&self) -> Option<u64> {
        let p = self.max_point()?;
        let k = p.reps.iter().filter_map(|r| r.peak_open_sessions).min()?;
        // k < 0.9 N, in integers.
        (u128::from(k) * 10 < u128::from(p.batch_size) * 9).then_some(k)
    }

    /// Whether the max batch of this curve carries a [`Flag`] (marked † in the tables and the
    /// log): saturated or interrupted at the max batch, limit above the grid, a failing N below
    /// the max, or fewer sessions open at once than N.
    pub fn flagged(&self, threshold: f64) -> bool {
        let sat = self.max_point().is_some_and(|p| p.saturated_reps > 0);
        let interrupted = self
            .max_point()
            .is_some_and(|p| p.reps.iter().any(|r| r.interrupted == Some(true)));
        sat || interrupted
            || self.limit_above_grid()
            || self.capacity_lower_bound()
            || !self.failing_below_max(threshold).is_empty()
            || self.peak_open_below_max().is_some()
    }

    /// Batch sizes below the max batch that missed the threshold.
    pub fn failing_below_max(&self, threshold: f64) -> Vec<u64> {
        let Some(max) = self.max_batch else {
            return vec![];
        };
        self.points
            .iter()
            .filter(|p| p.batch_size < max && p.mean_success < threshold)
            .map(|p| p.batch_size)
            .collect()
    }
}

/// Where an infrastructure's core count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoresSource {
    /// `--cores INFRA=N` on the command line.
    Override,
    /// `run.json` in the results directory.
    RunJson,
}

/// Everything computed for one infrastructure.
#[derive(Debug, Clone, Serialize)]
pub struct InfraAnalysis {
    pub infra: String,
    pub dir: PathBuf,
    pub summary_path: PathBuf,
    pub rows: usize,
    pub skipped: Vec<SkippedRow>,
    pub cores: Option<(u32, CoresSource)>,
    pub has_saturation_column: bool,
    /// The capacity search's answers (`capacity.json`), in its order; empty without one.
    pub capacities: Vec<Capacity>,
    /// Sorted by mode (ws, http, ...) then wait.
    pub curves: Vec<Curve>,
    /// Earliest and latest cell timestamps, as written.
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
}

impl InfraAnalysis {
    pub fn curve(&self, mode: &str, wait: f64) -> Option<&Curve> {
        self.curves
            .iter()
            .find(|c| c.mode == mode && wait_key(c.wait) == wait_key(wait))
    }

    pub fn max_batch(&self, mode: &str, wait: f64) -> Option<u64> {
        self.curve(mode, wait).and_then(|c| c.max_batch)
    }

    pub fn max_reps(&self) -> usize {
        self.curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.reps.len()))
            .max()
            .unwrap_or(0)
    }
}

/// Protocol comparison at one wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub ws: Option<u64>,
    pub http: Option<u64>,
    /// WS max / HTTP max, when both exist.
    pub ratio: Option<f64>,
    pub winner: &'static str,
}

pub fn compare(ws: Option<u64>, http: Option<u64>) -> Comparison {
    let (ratio, winner) = match (ws, http) {
        (Some(w), Some(h)) => (
            Some(w as f64 / h as f64),
            match w.cmp(&h) {
                std::cmp::Ordering::Greater => "WS",
                std::cmp::Ordering::Less => "HTTP",
                std::cmp::Ordering::Equal => "Tie",
            },
        ),
        (Some(_), None) => (None, "WS"),
        (None, Some(_)) => (None, "HTTP"),
        (None, None) => (None, "-"),
    };
    Comparison {
        ws,
        http,
        ratio,
        winner,
    }
}

/// The analysis of every loaded infrastructure (also written as `analysis.json`, with its
/// [`Flag`]s).
#[derive(Debug, Clone)]
pub struct Analysis {
    pub threshold: f64,
    pub infras: Vec<InfraAnalysis>,
}

impl Serialize for Analysis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Analysis", 3)?;
        st.serialize_field("threshold", &self.threshold)?;
        st.serialize_field("infras", &self.infras)?;
        st.serialize_field("flags", &self.flags())?;
        st.end()
    }
}

impl Analysis {
    /// Every wait present in the data, ascending.
    pub fn waits(&self) -> Vec<f64> {
        let keys: BTreeMap<i64, f64> = self
            .infras
            .iter()
            .flat_map(|i| i.curves.iter().map(|c| (wait_key(c.wait), c.wait)))
            .collect();
        keys.into_values().collect()
    }

    /// Every mode present in the data, ws first.
    pub fn modes(&self) -> Vec<String> {
        let set: BTreeSet<(u8, String, String)> = self
            .infras
            .iter()
            .flat_map(|i| i.curves.iter())
            .map(|c| {
                let (o, k) = mode_order(&c.mode);
                (o, k, c.mode.clone())
            })
            .collect();
        set.into_iter().map(|(_, _, m)| m).collect()
    }

    /// Every batch size present in the data, ascending.
    pub fn batch_sizes(&self) -> Vec<u64> {
        let set: BTreeSet<u64> = self
            .infras
            .iter()
            .flat_map(|i| i.curves.iter())
            .flat_map(|c| c.points.iter().map(|p| p.batch_size))
            .collect();
        set.into_iter().collect()
    }

    pub fn curves(&self) -> impl Iterator<Item = &Curve> {
        self.infras.iter().flat_map(|i| i.curves.iter())
    }
}

/// Which curve a flag is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurveId {
    pub infra: String,
    pub mode: String,
    pub wait: f64,
}

impl std::fmt::Display for CurveId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} wait={}s",
            self.infra,
            self.mode,
            fmt_wait(self.wait)
        )
    }
}

/// Something a reader must know before trusting a number. Computed once ([`Analysis::flags`]);
/// `tables.md` lists them (their `Display` is the sentence), `analysis.json` carries them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "flag", rename_all = "snake_case")]
pub enum Flag {
    /// Rows of a `summary.csv` that could not be parsed (the first three are named).
    SkippedRows {
        infra: String,
        path: PathBuf,
        count: usize,
        first: Vec<SkippedRow>,
    },
    /// The load generator was saturated in some repetitions of a batch size.
    Saturated {
        curve: CurveId,
        batch_size: u64,
        saturated_reps: usize,
        reps: usize,
    },
    /// Some repetitions of a batch size were cut short by Ctrl-C.
    Interrupted {
        curve: CurveId,
        batch_size: u64,
        interrupted_reps: usize,
    },
    /// Every N passed: the limit lies above the grid.
    LimitAboveGrid { curve: CurveId, max_batch: u64 },
    /// A searched max batch is a lower bound: the search stopped before a failure of the server.
    SearchLowerBound {
        curve: CurveId,
        max_batch: u64,
        limited_by: LimitedBy,
        answer: String,
    },
    /// At the max batch, fewer sessions were open at once than N.
    PeakOpenBelowMax {
        curve: CurveId,
        max_batch: u64,
        peak_open: u64,
    },
    /// Mean success rose between consecutive batch sizes: (N, success, next N, its success).
    NotMonotone {
        curve: CurveId,
        rises: Vec<(u64, f64, u64, f64)>,
        max_batch: Option<u64>,
        failing_below_max: Vec<u64>,
    },
    /// Infrastructures whose files have no saturation column.
    SaturationNotChecked { infras: Vec<String> },
    /// Infrastructures without a core count.
    CoresUnknown { infras: Vec<String> },
}

fn pct(v: f64) -> String {
    format!("{:.1}", v * 100.0)
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flag::SkippedRows {
                infra,
                path,
                count,
                first,
            } => {
                let first: Vec<String> = first
                    .iter()
                    .map(|r| format!("line {}: {}", r.line, r.reason))
                    .collect();
                write!(
                    f,
                    "{infra}: {count} row(s) of `{}` could not be parsed and were skipped ({}{}).",
                    path.display(),
                    first.join("; "),
                    if *count > 3 { "; ..." } else { "" }
                )
            }
            Flag::Saturated {
                curve,
                batch_size,
                saturated_reps,
                reps,
            } => write!(
                f,
                "{curve} N={batch_size}: load generator saturated in {saturated_reps} of {reps} \
                 repetition(s); success and latency there measure the client as much as the server."
            ),
            Flag::Interrupted {
                curve,
                batch_size,
                interrupted_reps,
            } => write!(
                f,
                "{curve} N={batch_size}: {interrupted_reps} repetition(s) interrupted (Ctrl-C); \
                 their counts are partial."
            ),
            Flag::LimitAboveGrid { curve, max_batch } => write!(
                f,
                "{curve}: every N passed, up to the largest tested ({max_batch}): the limit lies \
                 above the grid (extend --requests-grid to find it)."
            ),
            Flag::SearchLowerBound {
                curve,
                max_batch,
                limited_by,
                answer,
            } => write!(
                f,
                "{curve}: the searched max batch {max_batch} is a lower bound (limited by {}): \
                 {answer}.",
                limited_by.as_str()
            ),
            Flag::PeakOpenBelowMax {
                curve,
                max_batch,
                peak_open,
            } => write!(
                f,
                "{curve} N={max_batch}: only {peak_open} of {max_batch} sessions were open at \
                 once: use `scale --launch-batch 0` to measure concurrency."
            ),
            Flag::NotMonotone {
                curve,
                rises,
                max_batch,
                failing_below_max,
            } => {
                let rises: Vec<String> = rises
                    .iter()
                    .map(|(lo, s_lo, hi, s_hi)| {
                        format!("{}% at N={} -> {}% at N={}", pct(*s_lo), lo, pct(*s_hi), hi)
                    })
                    .collect();
                let note = if failing_below_max.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; the max batch {} lies above N={:?}, which missed the threshold",
                        max_batch.unwrap_or(0),
                        failing_below_max
                    )
                };
                write!(
                    f,
                    "{curve}: success curve is not monotone ({}){note}.",
                    rises.join(", ")
                )
            }
            Flag::SaturationNotChecked { infras } => write!(
                f,
                "Load-generator saturation not checked for {} (no `saturated` column: written by \
                 the Python tools or an older `scale`).",
                infras.join(", ")
            ),
            Flag::CoresUnknown { infras } => write!(
                f,
                "Core count unknown for {} (no `cores` in run.json): pass `--cores INFRA=N` for \
                 batch per core.",
                infras.join(", ")
            ),
        }
    }
}

impl Analysis {
    /// Every flag, in the order `tables.md` lists them: per infrastructure its skipped rows and
    /// per curve its saturated, interrupted, limit, overlap and monotonicity flags; then the
    /// infrastructures without a saturation column, then those without cores.
    pub fn flags(&self) -> Vec<Flag> {
        let mut out = Vec::new();
        for i in &self.infras {
            if !i.skipped.is_empty() {
                out.push(Flag::SkippedRows {
                    infra: i.infra.clone(),
                    path: i.summary_path.clone(),
                    count: i.skipped.len(),
                    first: i.skipped.iter().take(3).cloned().collect(),
                });
            }
            for c in &i.curves {
                let id = CurveId {
                    infra: i.infra.clone(),
                    mode: c.mode.clone(),
                    wait: c.wait,
                };
                for p in c.points.iter().filter(|p| p.saturated_reps > 0) {
                    out.push(Flag::Saturated {
                        curve: id.clone(),
                        batch_size: p.batch_size,
                        saturated_reps: p.saturated_reps,
                        reps: p.reps.len(),
                    });
                }
                for p in &c.points {
                    let cut = p
                        .reps
                        .iter()
                        .filter(|r| r.interrupted == Some(true))
                        .count();
                    if cut > 0 {
                        out.push(Flag::Interrupted {
                            curve: id.clone(),
                            batch_size: p.batch_size,
                            interrupted_reps: cut,
                        });
                    }
                }
                if c.limit_above_grid() {
                    out.push(Flag::LimitAboveGrid {
                        curve: id.clone(),
                        max_batch: c.max_batch.unwrap_or(0),
                    });
                }
                if let (true, Some(cap), Some(n)) =
                    (c.capacity_lower_bound(), &c.capacity, c.max_batch)
                {
                    out.push(Flag::SearchLowerBound {
                        curve: id.clone(),
                        max_batch: n,
                        limited_by: cap.limited_by,
                        answer: cap.describe(),
                    });
                }
                if let (Some(k), Some(n)) = (c.peak_open_below_max(), c.max_batch) {
                    out.push(Flag::PeakOpenBelowMax {
                        curve: id.clone(),
                        max_batch: n,
                        peak_open: k,
                    });
                }
                if !c.rises.is_empty() {
                    let s = |n| c.point(n).map(|p| p.mean_success).unwrap_or(f64::NAN);
                    out.push(Flag::NotMonotone {
                        curve: id,
                        rises: c
                            .rises
                            .iter()
                            .map(|&(lo, hi)| (lo, s(lo), hi, s(hi)))
                            .collect(),
                        max_batch: c.max_batch,
                        failing_below_max: c.failing_below_max(self.threshold),
                    });
                }
            }
        }
        let no_sat: Vec<String> = self
            .infras
            .iter()
            .filter(|i| !i.has_saturation_column)
            .map(|i| i.infra.clone())
            .collect();
        if !no_sat.is_empty() {
            out.push(Flag::SaturationNotChecked { infras: no_sat });
        }
        let no_cores: Vec<String> = self
            .infras
            .iter()
            .filter(|i| i.cores.is_none())
            .map(|i| i.infra.clone())
            .collect();
        if !no_cores.is_empty() {
            out.push(Flag::CoresUnknown { infras: no_cores });
        }
        out
    }
}

/// Builds the analysis. `cores` maps infra names to core counts given on the command line; they
/// win over `run.json`.
pub fn analyze(datasets: &[Dataset], threshold: f64, cores: &BTreeMap<String, u32>) -> Analysis {
    let infras = datasets
        .iter()
        .map(|d| analyze_one(d, threshold, cores))
        .collect();
    Analysis { threshold, infras }
}

fn analyze_one(d: &Dataset, threshold: f64, cores: &BTreeMap<String, u32>) -> InfraAnalysis {
    // (mode order, wait key) -> batch size -> rows
    type Groups<'a> = BTreeMap<((u8, String), i64), (String, f64, BTreeMap<u64, Vec<SummaryRow>>)>;
    let mut groups: Groups = BTreeMap::new();
    for row in &d.summary.rows {
        let entry = groups
            .entry((mode_order(&row.mode), wait_key(row.wait_seconds)))
            .or_insert_with(|| (row.mode.clone(), row.wait_seconds, BTreeMap::new()));
        entry.2.entry(row.batch_size).or_default().push(row.clone());
    }
    let capacities: Vec<Capacity> = d.capacity.as_ref().map_or(Vec::new(), |f| f.0.clone());
    let curves = groups
        .into_values()
        .map(|(mode, wait, by_n)| {
            let cap = capacity_of(&capacities, &mode, wait);
            build_curve(&d.infra, mode, wait, by_n, threshold, cap)
        })
        .collect();
    let cores = cores
        .get(&d.infra)
        .map(|&c| (c, CoresSource::Override))
        .or_else(|| {
            d.run
                .as_ref()
                .and_then(|r| r.serving_cores())
                .map(|c| (c, CoresSource::RunJson))
        });
    let stamps: Vec<&str> = d
        .summary
        .rows
        .iter()
        .map(|r| r.timestamp.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    InfraAnalysis {
        infra: d.infra.clone(),
        dir: d.dir.clone(),
        summary_path: d.summary.path.clone(),
        rows: d.summary.rows.len(),
        skipped: d.summary.skipped.clone(),
        cores,
        has_saturation_column: d.summary.has_saturation_column,
        capacities,
        curves,
        first_timestamp: stamps.iter().min().map(|s| s.to_string()),
        last_timestamp: stamps.iter().max().map(|s| s.to_string()),
    }
}

/// The capacity entry of (mode, wait), the wait compared to the millisecond.
fn capacity_of(caps: &[Capacity], mode: &str, wait: f64) -> Option<Capacity> {
    caps.iter()
        .find(|c| c.mode.as_str() == mode && wait_key(c.wait_seconds) == wait_key(wait))
        .cloned()
}

fn build_curve(
    infra: &str,
    mode: String,
    wait: f64,
    by_n: BTreeMap<u64, Vec<SummaryRow>>,
    threshold: f64,
    capacity: Option<Capacity>,
) -> Curve {
    let points: Vec<Point> = by_n
        .into_iter()
        .map(|(batch_size, reps)| {
            let mean_success = reps.iter().map(|r| r.success_rate).sum::<f64>() / reps.len() as f64;
            let saturated_reps = reps
                .iter()
                .filter(|r| r.loadgen_saturated == Some(true))
                .count();
            let means = COLUMNS
                .iter()
                .filter(|c| matches!(c.kind(), Kind::Count | Kind::Float))
                .filter_map(|c| {
                    let vals: Vec<f64> = reps
                        .iter()
                        .filter_map(|r| r.record.float(c.name).ok().flatten())
                        .collect();
                    (!vals.is_empty()).then(|| {
                        (
                            c.name.to_owned(),
                            vals.iter().sum::<f64>() / vals.len() as f64,
                        )
                    })
                })
                .collect();
            Point {
                batch_size,
                mean_success,
                saturated_reps,
                means,
                reps,
            }
        })
        .collect();
    // The Python original's semantics: scan every N, keep the largest that passes (a failing smaller N does
    // not stop the scan; it is flagged instead).
    let max_batch = points
        .iter()
        .filter(|p| p.mean_success >= threshold)
        .map(|p| p.batch_size)
        .max();
    let first_failing = points
        .iter()
        .find(|p| p.mean_success < threshold)
        .map(|p| p.batch_size);
    let rises = points
        .windows(2)
        .filter(|w| w[1].mean_success > w[0].mean_success + 0.01)
        .map(|w| (w[0].batch_size, w[1].batch_size))
        .collect();
    // A searched curve's answer is its search's (its criterion may hold a latency SLO that
    // success alone does not see).
    let (max_batch, first_failing) = match &capacity {
        Some(c) => (
            c.max_batch.map(|n| n as u64),
            c.first_failing.map(|n| n as u64),
        ),
        None => (max_batch, first_failing),
    };
    Curve {
        infra: infra.to_string(),
        mode,
        wait,
        points,
        max_batch,
        first_failing,
        rises,
        capacity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_formatting() {
        assert_eq!(fmt_wait(1.0), "1.0");
        assert_eq!(fmt_wait(0.1), "0.1");
        assert_eq!(fmt_wait(0.25), "0.25");
        assert_eq!(fmt_wait(5.0), "5.0");
    }

    #[test]
    fn comparison_winner_and_ratio() {
        let c = compare(Some(2048), Some(1024));
        assert_eq!((c.ratio, c.winner), (Some(2.0), "WS"));
        assert_eq!(compare(Some(4), Some(4)).winner, "Tie");
        assert_eq!(compare(None, Some(4)).winner, "HTTP");
        assert_eq!(compare(None, None).winner, "-");
    }
}
