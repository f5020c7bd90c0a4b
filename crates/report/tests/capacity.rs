//! `analyze` on searched runs (`capacity.json`) and `analyze --baseline`.
//!
//! tests/data/searched/ holds two runs of `scale --find-max` (summary.csv, run.json,
//! capacity.json; raw.jsonl left out) against `serve --max-concurrent-envs 300` and `200`:
//! `local-capped/2026-12-01`: WS at wait 1 s searched to the server's limit (304, 318 failing,
//! non-power-of-two cells), then HTTP with `--budget 3` (stopped by the budget at 4: a lower
//! bound); `local-capped-200/2026-12-01`: WS only, 206 (215 failing). Expected numbers are read
//! from those capacity.json files, not typed here.

use openenv_report::baseline::{self, Metric, Verdict};
use openenv_report::{figures, Input, Options, Outcome};
use openenv_results::{CapacityFile, LimitedBy, Mode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CAPPED: &str = "searched/local-capped/2026-12-01";
const CAPPED_200: &str = "searched/local-capped-200/2026-12-01";

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

fn capacities(p: &str) -> CapacityFile {
    CapacityFile::read(&data(p)).unwrap().unwrap()
}

fn run(
    dir: &Path,
    figures: bool,
) -> Result<(Outcome, tempfile::TempDir), openenv_report::ReportError> {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = Options::with_layout(
        vec![Input {
            dir: dir.to_path_buf(),
            infra: None,
        }],
        &tmp.path().join("figures"),
    );
    opts.log_path = None;
    if !figures {
        opts.figures_dir = None;
    }
    openenv_report::run(&opts).map(|o| (o, tmp))
}

/// Copies the three files of a fixture run into a fresh directory (`<tmp>/<infra>/<date>`).
fn copy_run(p: &str, tmp: &Path) -> PathBuf {
    let dst = tmp.join("local-capped").join("copy");
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["summary.csv", "run.json", "capacity.json"] {
        let src = data(p).join(f);
        if src.exists() {
            std::fs::copy(&src, dst.join(f)).unwrap();
        }
    }
    dst
}

#[test]
fn the_fixtures_are_what_the_tests_say() {
    let f = capacities(CAPPED);
    let ws = f.get(Mode::Ws, 1.0).unwrap();
    let http = f.get(Mode::Http, 1.0).unwrap();
    assert_eq!(ws.limited_by, LimitedBy::Server);
    assert!((300..=315).contains(&ws.max_batch.unwrap()));
    assert!(ws.cells.iter().any(|c| !c.n.is_power_of_two()));
    assert_eq!(http.limited_by, LimitedBy::Budget);
    let w200 = capacities(CAPPED_200);
    assert!(w200.get(Mode::Ws, 1.0).unwrap().max_batch.unwrap() < 250);
}

#[test]
fn capacity_table_comes_first_with_a_dagger_only_on_lower_bounds() {
    let f = capacities(CAPPED);
    let ws = f.get(Mode::Ws, 1.0).unwrap();
    let http = f.get(Mode::Http, 1.0).unwrap();
    let (out, tmp) = run(&data(CAPPED), true).unwrap();
    let md = out.tables.unwrap();
    let cap = md.find("## Capacity (searched)").expect("capacity table");
    assert!(cap < md.find("**Max batch**").unwrap(), "not first:\n{md}");
    assert!(cap < md.find("## Table 1").unwrap());

    let cells = |c: &openenv_results::Capacity| {
        c.cells
            .iter()
            .map(|t| format!("{}{}", t.n, if t.passed { "" } else { "✗" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ws_row = format!(
        "| local-capped | ws | 1.0 | {} | {} | server | success >= 95% | {} ({}) |",
        ws.max_batch.unwrap(),
        ws.first_failing.unwrap(),
        ws.cells.len(),
        cells(ws)
    );
    let http_row = format!(
        "| local-capped | http | 1.0 | ≥ {} † | - | budget | success >= 95% | {} ({}) |",
        http.max_batch.unwrap(),
        http.cells.len(),
        cells(http)
    );
    for row in [&ws_row, &http_row] {
        assert!(md.lines().any(|l| l == row), "missing\n{row}\nin\n{md}");
    }
    // The searched answers are the curves' max batch: no † on the server-bounded WS search
    // (even though every N up to it passed), † on the budget-bounded HTTP one.
    let t1 = |mode: &str, cell: String| format!("| local-capped | {mode} | {cell} |");
    assert!(
        md.contains(&t1("ws", ws.max_batch.unwrap().to_string())),
        "{md}"
    );
    assert!(
        md.contains(&t1("http", format!("{} †", http.max_batch.unwrap()))),
        "{md}"
    );
    let a = &out.analysis;
    let flags: Vec<String> = a.flags().iter().map(|f| f.to_string()).collect();
    assert!(
        flags
            .iter()
            .any(|f| f.contains("http wait=1.0s: the searched max batch")
                && f.contains("limited by budget")),
        "{flags:?}"
    );
    assert!(
        !flags.iter().any(|f| f.contains("ws wait=1.0s")),
        "{flags:?}"
    );

    // analysis.json carries the capacities.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("analysis.json")).unwrap())
            .unwrap();
    let caps = &json["infras"][0]["capacities"];
    assert_eq!(caps.as_array().unwrap().len(), 2);
    assert_eq!(caps[0]["max_batch"], ws.max_batch.unwrap());
    assert_eq!(caps[1]["limited_by"], "budget");

    // Figures with non-power-of-two N (304, 318, 332, 362) on their axes are drawn.
    assert_eq!(out.figures.len(), figures::ALL.len());
    for f in &out.figures {
        let img = image::open(f).unwrap().to_rgb8();
        assert!(img.width() >= 800, "{}", f.display());
    }
}

#[test]
fn a_foreign_or_damaged_capacity_json_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_run(CAPPED, tmp.path());
    let path = dir.join("capacity.json");
    let full = std::fs::read_to_string(&path).unwrap();
    for text in [
        std::fs::read_to_string(data(CAPPED).join("run.json")).unwrap(),
        full[..full.len() / 3].to_string(),
    ] {
        std::fs::write(&path, text).unwrap();
        let e = run(&dir, false).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: not a capacity.json", path.display())),
            "{e}"
        );
    }
    // Without capacity.json the directory is a plain grid: no capacity table.
    std::fs::remove_file(&path).unwrap();
    let (out, _t) = run(&dir, false).unwrap();
    assert!(!out.tables.unwrap().contains("## Capacity"));
}

fn analysis(dir: &Path) -> openenv_report::InfraAnalysis {
    openenv_report::load_baseline(dir, 0.95, &BTreeMap::new()).unwrap()
}

#[test]
fn baseline_the_same_run_passes() {
    let a = analysis(&data(CAPPED));
    let cmp = baseline::compare(&a, &a, baseline::DEFAULT_MAX_REGRESSION);
    assert_eq!(cmp.regressions(), 0);
    // One capacity row per curve in both, and one p99 row per N of each.
    let caps = cmp
        .rows
        .iter()
        .filter(|r| r.metric == Metric::Capacity)
        .count();
    assert_eq!(caps, a.curves.len());
    let p99s = cmp.rows.len() - caps;
    let points: usize = a.curves.iter().map(|c| c.points.len()).sum();
    assert_eq!(p99s, points);
    // The budget-bounded HTTP capacity is marked a lower bound on both sides.
    let http = cmp
        .rows
        .iter()
        .find(|r| r.mode == "http" && r.metric == Metric::Capacity)
        .unwrap();
    assert!(http.current_lower_bound && http.baseline_lower_bound);
    let md = baseline::markdown(&cmp, "cur", "base");
    assert!(
        md.ends_with(&format!(
            "0 regression(s) in {} comparison(s).\n",
            cmp.rows.len()
        )),
        "{md}"
    );
}

#[test]
fn baseline_capacity_regression() {
    let base = analysis(&data(CAPPED));
    let cur = analysis(&data(CAPPED_200));
    let cmp = baseline::compare(&cur, &base, 0.10);
    let row = cmp
        .rows
        .iter()
        .find(|r| r.mode == "ws" && r.metric == Metric::Capacity)
        .unwrap();
    let (b, c) = (
        capacities(CAPPED)
            .get(Mode::Ws, 1.0)
            .unwrap()
            .max_batch
            .unwrap() as f64,
        capacities(CAPPED_200)
            .get(Mode::Ws, 1.0)
            .unwrap()
            .max_batch
            .unwrap() as f64,
    );
    assert_eq!((row.baseline, row.current), (Some(b), Some(c)));
    assert_eq!(row.verdict, Verdict::Regression);
    assert!((row.change.unwrap() - (c - b) / b).abs() < 1e-12);
    // HTTP was not searched in the current run: not compared.
    assert!(!cmp.rows.iter().any(|r| r.mode == "http"));
    // A fall within the tolerance is not a regression.
    let tolerant = baseline::compare(&cur, &base, 0.5);
    assert!(tolerant
        .rows
        .iter()
        .filter(|r| r.metric == Metric::Capacity)
        .all(|r| r.verdict == Verdict::Ok));
    let md = baseline::markdown(&cmp, "cur", "base");
    assert!(
        md.contains("| ws | 1.0 | capacity |") && md.contains("REGRESSION"),
        "{md}"
    );
}

/// The same run with every `total_p99` multiplied by `factor` (summary.csv rewritten by column
/// name; capacity.json unchanged).
fn slowed_copy(p: &str, tmp: &Path, factor: f64) -> PathBuf {
    let dir = copy_run(p, tmp);
    let path = dir.join("summary.csv");
    let mut rd = csv::Reader::from_path(&path).unwrap();
    let headers = rd.headers().unwrap().clone();
    let col = headers.iter().position(|h| h == "total_p99").unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let mut wr = csv::Writer::from_path(&path).unwrap();
    wr.write_record(&headers).unwrap();
    for r in rows {
        let v: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, f)| match (i == col, f.parse::<f64>()) {
                (true, Ok(x)) => (x * factor).to_string(),
                _ => f.to_string(),
            })
            .collect();
        wr.write_record(&v).unwrap();
    }
    wr.flush().unwrap();
    dir
}

#[test]
fn baseline_p99_regression() {
    let tmp = tempfile::tempdir().unwrap();
    let base = analysis(&data(CAPPED));
    let slow = analysis(&slowed_copy(CAPPED, tmp.path(), 1.2));
    let cmp = baseline::compare(&slow, &base, 0.10);
    let p99: Vec<_> = cmp
        .rows
        .iter()
        .filter(|r| matches!(r.metric, Metric::TotalP99 { .. }))
        .collect();
    assert!(!p99.is_empty());
    for r in &p99 {
        assert_eq!(r.verdict, Verdict::Regression, "{r:?}");
        assert!((r.change.unwrap() - 0.2).abs() < 1e-9, "{r:?}");
    }
    // Capacities are the search's and did not change.
    assert!(cmp
        .rows
        .iter()
        .filter(|r| r.metric == Metric::Capacity)
        .all(|r| r.verdict == Verdict::Ok));
    // 20% slower passes a 25% tolerance.
    assert_eq!(baseline::compare(&slow, &base, 0.25).regressions(), 0);
}

#[test]
fn baseline_missing_or_foreign_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let e = openenv_report::load_baseline(&missing, 0.95, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&missing.display().to_string()) && e.contains("No such file"),
        "{e}"
    );
    // A directory of something else: no summary.csv.
    std::fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
    let e = openenv_report::load_baseline(tmp.path(), 0.95, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert_eq!(e, format!("{}: no summary.csv", tmp.path().display()));
    // A results directory with a foreign capacity.json.
    let dir = copy_run(CAPPED, tmp.path());
    std::fs::write(dir.join("capacity.json"), "{\"hello\": 1}").unwrap();
    let e = openenv_report::load_baseline(&dir, 0.95, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("capacity.json: not a capacity.json"), "{e}");
    assert!(baseline::check_max_regression(-0.1).is_err());
    assert!(baseline::check_max_regression(f64::NAN).is_err());
    assert!(baseline::check_max_regression(0.0).is_ok());
}
