//! `analyze --baseline DIR`: this run against an earlier one. Per (mode, wait) present in both,
//! the capacity (max batch: the search's answer when the run searched, else the grid's) and the
//! total-latency p99 at every N both runs measured; a capacity that fell, or a p99 that rose, by
//! more than `max_regression` (a fraction) is a regression, as a CI job before a training run
//! wants to know.

use crate::analysis::{fmt_wait, mode_order, wait_key, Curve, InfraAnalysis};
use serde::Serialize;
use std::fmt::Write;

/// Default of `--max-regression`: 10%.
pub const DEFAULT_MAX_REGRESSION: f64 = 0.10;

/// What one row compares.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    /// Max batch (sessions); higher is better.
    Capacity,
    /// Mean over repetitions of the total-latency p99 at this N, seconds; lower is better.
    TotalP99 { batch_size: u64 },
}

/// The verdict on one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Regression,
    /// The capacity is lower than the baseline's but is only a lower bound (the search stopped
    /// on its budget, the load generator, ...): whether it fell cannot be told.
    Inconclusive,
}

/// One difference between the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub mode: String,
    pub wait: f64,
    pub metric: Metric,
    /// `None`: no N passed (capacity "none").
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// (current - baseline) / baseline, when both exist and the baseline is not 0.
    pub change: Option<f64>,
    /// The number is a lower bound (†).
    pub baseline_lower_bound: bool,
    pub current_lower_bound: bool,
    pub verdict: Verdict,
}

/// Every row, and how many are regressions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub max_regression: f64,
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
            .count()
    }
}

/// `--max-regression` must be a finite fraction >= 0.
pub fn check_max_regression(frac: f64) -> Result<(), String> {
    if frac.is_finite() && frac >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "--max-regression must be a finite fraction >= 0 (0.10 = 10%), got {frac}"
        ))
    }
}

/// A curve's capacity and whether it is only a lower bound.
fn capacity(c: &Curve) -> (Option<f64>, bool) {
    let lower = c.limit_above_grid() || c.capacity_lower_bound();
    (c.max_batch.map(|n| n as f64), lower)
}

/// Compares `current` with `baseline` (one results directory each), curve by curve (mode and
/// wait, the wait to the millisecond). Curves of only one run are not compared.
pub fn compare(
    current: &InfraAnalysis,
    baseline: &InfraAnalysis,
    max_regression: f64,
) -> Comparison {
    let mut rows = Vec::new();
    let mut curves: Vec<(&Curve, &Curve)> = current
        .curves
        .iter()
        .filter_map(|c| baseline.curve(&c.mode, c.wait).map(|b| (c, b)))
        .collect();
    curves.sort_by_key(|(c, _)| (mode_order(&c.mode), wait_key(c.wait)));
    for (cur, base) in curves {
        let (b, b_lower) = capacity(base);
        let (c, c_lower) = capacity(cur);
        let fell = match (b, c) {
            (Some(b), Some(c)) => c < b * (1.0 - max_regression),
            (Some(_), None) => true,
            _ => false,
        };
        let verdict = match (fell, c_lower) {
            (false, _) => Verdict::Ok,
            (true, false) => Verdict::Regression,
            (true, true) => Verdict::Inconclusive,
        };
        rows.push(Row {
            mode: cur.mode.clone(),
            wait: cur.wait,
            metric: Metric::Capacity,
            baseline: b,
            current: c,
            change: change(b, c),
            baseline_lower_bound: b_lower,
            current_lower_bound: c_lower,
            verdict,
        });
        for p in &cur.points {
            let Some(bp) = base.point(p.batch_size) else {
                continue;
            };
            let (b, c) = (p99(bp), p99(p));
            let (Some(bv), Some(cv)) = (b, c) else {
                continue;
            };
            rows.push(Row {
                mode: cur.mode.clone(),
                wait: cur.wait,
                metric: Metric::TotalP99 {
                    batch_size: p.batch_size,
                },
                baseline: b,
                current: c,
                change: change(b, c),
                baseline_lower_bound: false,
                current_lower_bound: false,
                verdict: if cv > bv * (1.0 + max_regression) {
                    Verdict::Regression
                } else {
                    Verdict::Ok
                },
            });
        }
    }
    Comparison {
        max_regression,
        rows,
    }
}

/// Mean over repetitions of `total_p99` (repetitions without one left out).
fn p99(p: &crate::analysis::Point) -> Option<f64> {
    p.mean_of(|r| r.total_p99).filter(|v| v.is_finite())
}

fn change(b: Option<f64>, c: Option<f64>) -> Option<f64> {
    match (b, c) {
        (Some(b), Some(c)) if b != 0.0 => Some((c - b) / b),
        _ => None,
    }
}

/// The comparison as a markdown table, with a last line that says the outcome.
pub fn markdown(cmp: &Comparison, current: &str, baseline: &str) -> String {
    let mut s = format!(
        "## Against the baseline\n\nCurrent: `{current}`; baseline: `{baseline}`. A regression: a \
         capacity lower, or a total p99 higher, by more than {}%.\n\n\
         | Mode | wait_s | Metric | Baseline | Current | Change | Verdict |\n\
         |---|---:|---|---:|---:|---:|---|\n",
        fmt_frac(cmp.max_regression)
    );
    for r in &cmp.rows {
        type Fmt = fn(Option<f64>, bool) -> String;
        let (metric, fmt): (String, Fmt) = match r.metric {
            Metric::Capacity => ("capacity".into(), fmt_capacity),
            Metric::TotalP99 { batch_size } => (format!("total p99 at N={batch_size}"), fmt_secs),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.mode,
            fmt_wait(r.wait),
            metric,
            fmt(r.baseline, r.baseline_lower_bound),
            fmt(r.current, r.current_lower_bound),
            r.change
                .map_or_else(|| "-".into(), |c| format!("{:+.1}%", c * 100.0)),
            match r.verdict {
                Verdict::Ok => "ok",
                Verdict::Regression => "REGRESSION",
                Verdict::Inconclusive => "lower bound: cannot tell",
            }
        );
    }
    if cmp.rows.is_empty() {
        s.push_str("\nNo (mode, wait) in both runs: nothing compared.\n");
    } else {
        let _ = writeln!(
            s,
            "\n{} regression(s) in {} comparison(s).",
            cmp.regressions(),
            cmp.rows.len()
        );
    }
    s
}

fn fmt_frac(f: f64) -> String {
    let p = f * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}

fn fmt_capacity(v: Option<f64>, lower: bool) -> String {
    match v {
        None => "none".into(),
        Some(n) if lower => format!("≥ {n} †"),
        Some(n) => format!("{n}"),
    }
}

fn fmt_secs(v: Option<f64>, _: bool) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.4} s"))
}
