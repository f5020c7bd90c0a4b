//! Markdown: `tables.md` and the results table of an experiment-log entry.

use crate::analysis::{compare, fmt_wait, Analysis, CoresSource, Curve, InfraAnalysis};
use std::fmt::Write;

/// Seconds with 4 decimals (the Python original's precision), `-` when absent.
fn secs(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into())
}

fn pct(v: f64) -> String {
    format!("{:.1}", v * 100.0)
}

/// One sentence that every table file starts with, so nobody has to guess what "max batch" means.
pub fn semantics(threshold: f64) -> String {
    format!(
        "**Max batch** = the largest batch size N (concurrent sessions) whose mean success rate over \
         repetitions is ≥ {}%. Every N is considered: a smaller N that missed the threshold does not \
         end the search (such curves are listed under Flags). `none` = measured, but no N reached the \
         threshold; `-` = not measured. † = this cell has a flag.",
        fmt_pct_threshold(threshold)
    )
}

fn fmt_pct_threshold(t: f64) -> String {
    let p = t * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

/// Cell text for the max batch of a curve: a number (with † when flagged), `none` or `-`.
fn max_cell(c: Option<&Curve>, threshold: f64) -> String {
    match c {
        None => "-".into(),
        Some(c) => match c.max_batch {
            None => "none".into(),
            Some(n) if c.flagged(threshold) => format!("{n} †"),
            Some(n) => n.to_string(),
        },
    }
}

fn infra_modes(i: &InfraAnalysis, modes: &[String]) -> Vec<String> {
    modes
        .iter()
        .filter(|m| i.curves.iter().any(|c| &c.mode == *m))
        .cloned()
        .collect()
}

/// The searched capacities (`capacity.json`), one row per infrastructure × mode × wait; `None`
/// when no input has a `capacity.json`.
pub fn capacity_table(a: &Analysis) -> Option<String> {
    if a.infras.iter().all(|i| i.capacities.is_empty()) {
        return None;
    }
    let mut s = String::from(
        "## Capacity (searched)\n\n\
         The largest N that met the search's criterion (`scale --find-max`, `capacity.json`). \
         † = a lower bound: the search stopped before the server failed (limited by the ceiling, \
         the time budget, the load generator, an open-files limit, or interrupted).\n\n\
         | Infrastructure | Mode | wait_s | Max batch | First failing | Limited by | Criterion | Cells tried |\n\
         |---|---|---:|---:|---:|---|---|---|\n",
    );
    for i in &a.infras {
        for c in &i.capacities {
            let max = match c.max_batch {
                None => "none".to_string(),
                Some(n) if c.is_lower_bound() => format!("≥ {n} †"),
                Some(n) => n.to_string(),
            };
            let cells: Vec<String> = c
                .cells
                .iter()
                .map(|t| format!("{}{}", t.n, if t.passed { "" } else { "✗" }))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
                i.infra,
                c.mode.as_str(),
                fmt_wait(c.wait_seconds),
                max,
                c.first_failing
                    .map_or_else(|| "-".to_string(), |n| n.to_string()),
                c.limited_by.as_str(),
                c.criterion.describe(),
                c.cells.len(),
                cells.join(", ")
            );
        }
    }
    s.push_str(
        "\n✗ = the cell failed the criterion. The tables below show a searched curve's answer as \
         its max batch.\n",
    );
    for i in &a.infras {
        for c in &i.capacities {
            let _ = writeln!(s, "- {}: {}", i.infra, c.describe());
        }
    }
    Some(s)
}

/// Table 1: max batch by infrastructure × mode × wait (the waits present in the data).
pub fn max_batch_table(a: &Analysis) -> String {
    let waits = a.waits();
    let modes = a.modes();
    let mut s = String::from("## Table 1: Maximum batch size by infrastructure\n\n");
    let _ = writeln!(
        s,
        "Success threshold: {}%\n",
        fmt_pct_threshold(a.threshold)
    );
    s.push_str("| Infrastructure | Mode |");
    for w in &waits {
        let _ = write!(s, " wait={}s |", fmt_wait(*w));
    }
    s.push_str("\n|---|---|");
    for _ in &waits {
        s.push_str("---:|");
    }
    s.push('\n');
    for i in &a.infras {
        for m in infra_modes(i, &modes) {
            let _ = write!(s, "| {} | {} |", i.infra, m);
            for w in &waits {
                let _ = write!(s, " {} |", max_cell(i.curve(&m, *w), a.threshold));
            }
            s.push('\n');
        }
    }
    s
}

/// Table 2: HTTP vs WS, per infrastructure and wait, with the WS/HTTP ratio and the winner.
pub fn protocol_table(a: &Analysis) -> String {
    let mut s = String::from(
        "## Table 2: Protocol comparison (HTTP vs WebSocket)\n\n\
         | Infrastructure | wait_s | WS max | HTTP max | WS/HTTP ratio | Winner |\n\
         |---|---:|---:|---:|---:|---|\n",
    );
    for i in &a.infras {
        for w in a.waits() {
            let (ws, http) = (i.curve("ws", w), i.curve("http", w));
            if ws.is_none() && http.is_none() {
                continue;
            }
            let cmp = compare(ws.and_then(|c| c.max_batch), http.and_then(|c| c.max_batch));
            let ratio = cmp
                .ratio
                .map(|r| format!("{r:.1}x"))
                .unwrap_or_else(|| "-".into());
            let winner = match (ws, http) {
                (Some(_), Some(_)) => cmp.winner.to_string(),
                (Some(_), None) => "n/a (HTTP not run)".into(),
                _ => "n/a (WS not run)".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                i.infra,
                fmt_wait(w),
                max_cell(ws, a.threshold),
                max_cell(http, a.threshold),
                ratio,
                winner
            );
        }
    }
    s
}

/// Table 3: latency breakdown at max load (the median repetition at the max batch).
pub fn latency_table(a: &Analysis) -> String {
    let mut s = String::from(
        "## Table 3: Latency breakdown at max load\n\n\
         At each curve's max batch, the repetition of median success rate; latencies in seconds.\n\n\
         | Infrastructure | Mode | wait_s | Max batch | Success % | Connect p50 | Reset p50 | Step p50 | Total p99 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for i in &a.infras {
        for c in &i.curves {
            let _ = write!(s, "| {} | {} | {} |", i.infra, c.mode, fmt_wait(c.wait));
            match c.max_point() {
                Some(p) => {
                    let r = p.median_row();
                    let _ = writeln!(
                        s,
                        " {} | {} | {} | {} | {} | {} |",
                        max_cell(Some(c), a.threshold),
                        pct(r.success_rate),
                        secs(r.connect_p50),
                        secs(r.reset_p50),
                        secs(r.step_p50),
                        secs(r.total_p99)
                    );
                }
                None => s.push_str(" none | - | - | - | - | - |\n"),
            }
        }
    }
    s
}

/// Table 4: batch per core. Cores come from `--cores` or `run.json`, never from a built-in table.
pub fn batch_per_core_table(a: &Analysis) -> String {
    let mut s = String::from(
        "## Table 4: Batch per core\n\n\
         | Infrastructure | Cores | Cores from | Mode | wait_s | Max batch | Batch/core |\n\
         |---|---:|---|---|---:|---:|---:|\n",
    );
    for i in &a.infras {
        let (cores, src) = match i.cores {
            Some((c, CoresSource::Override)) => (c.to_string(), "--cores"),
            Some((c, CoresSource::RunJson)) => (c.to_string(), "run.json"),
            None => ("?".into(), "unknown"),
        };
        for c in &i.curves {
            let per_core = match (c.max_batch, i.cores) {
                (Some(n), Some((k, _))) => format!("{:.1}", n as f64 / k as f64),
                _ => "-".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                i.infra,
                cores,
                src,
                c.mode,
                fmt_wait(c.wait),
                max_cell(Some(c), a.threshold),
                per_core
            );
        }
    }
    s
}

/// Everything a reader must know before trusting a number ([`Analysis::flags`]), as sentences.
pub fn flags(a: &Analysis) -> Vec<String> {
    a.flags().iter().map(ToString::to_string).collect()
}

/// The whole `tables.md`.
pub fn tables_markdown(a: &Analysis, generated: &str) -> String {
    let mut s = String::from("# OpenEnv scaling experiment results\n\n");
    let _ = writeln!(s, "Generated: {generated} by `openenv-bench analyze`\n");
    // The answer first, when the run searched for it.
    if let Some(t) = capacity_table(a) {
        s.push_str(&t);
        s.push('\n');
    }
    let _ = writeln!(s, "{}\n", semantics(a.threshold));
    s.push_str(
        "| Infrastructure | Results | Rows | Skipped rows | Max reps | Cores |\n|---|---|---:|---:|---:|---:|\n",
    );
    for i in &a.infras {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} | {} |",
            i.infra,
            i.dir.display(),
            i.rows,
            i.skipped.len(),
            i.max_reps(),
            i.cores
                .map(|(c, _)| c.to_string())
                .unwrap_or_else(|| "?".into())
        );
    }
    s.push('\n');
    for table in [
        max_batch_table(a),
        protocol_table(a),
        latency_table(a),
        batch_per_core_table(a),
    ] {
        s.push_str(&table);
        s.push('\n');
    }
    s.push_str("## Flags\n\n");
    let flags = flags(a);
    if flags.is_empty() {
        s.push_str("None.\n");
    }
    for f in flags {
        let _ = writeln!(s, "- {f}");
    }
    s
}

/// The Python original's per-run results table (for the experiment log): one row per mode × wait.
pub fn results_summary(i: &InfraAnalysis, threshold: f64) -> String {
    let mut s = String::from(
        "| Mode | wait_s | Max Batch | p99 Latency | Success % | RPS |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for c in &i.curves {
        match c.max_point() {
            Some(p) => {
                let r = p.median_row();
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    c.mode,
                    fmt_wait(c.wait),
                    max_cell(Some(c), threshold),
                    r.total_p99
                        .map(|v| format!("{v:.2}s"))
                        .unwrap_or_else(|| "-".into()),
                    pct(r.success_rate),
                    r.requests_per_second
                        .map(|v| format!("{v:.1}"))
                        .unwrap_or_else(|| "-".into())
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "| {} | {} | none | - | - | - |",
                    c.mode,
                    fmt_wait(c.wait)
                );
            }
        }
    }
    s
}
