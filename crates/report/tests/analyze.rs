//! `analyze` end to end on files written by the Python tools (tests/data/reference/, result
//! files of the Python original's scaling test against its own server), by our `scale` (tests/data/ours/) and by hand (tests/data/synthetic/).
//! Every expected number below is worked out by hand from those files; the comments show how.

use openenv_report::{figures, latest_run_dirs, Input, Options, Outcome};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

fn input(p: &str) -> Input {
    Input {
        dir: data(p),
        infra: None,
    }
}

/// Runs the analysis into a temp dir; `figures` = false skips the PNGs (faster).
fn run(
    inputs: Vec<Input>,
    threshold: f64,
    cores: &[(&str, u32)],
    figures: bool,
) -> (Outcome, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = Options::with_layout(inputs, &tmp.path().join("figures"));
    opts.threshold = threshold;
    opts.cores = cores
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect::<BTreeMap<_, _>>();
    if !figures {
        opts.figures_dir = None;
    }
    let out = openenv_report::run(&opts).unwrap();
    (out, tmp)
}

fn assert_row(tables: &str, row: &str) {
    assert!(
        tables.lines().any(|l| l == row),
        "missing row\n  {row}\nin\n{tables}"
    );
}

const REFERENCE: [&str; 4] = [
    "reference/python-openenv-w2-http-wait1.0",
    "reference/python-openenv-w2-ws-wait0.1-max4096",
    "reference/python-openenv-w2-ws-wait1.0",
    "reference/python-openenv-w2-ws-wait1.0-max4096",
];

#[test]
fn reference_results_max_batch_and_breakdown() {
    let (out, _tmp) = run(
        REFERENCE.iter().map(|p| input(p)).collect(),
        0.95,
        &[],
        false,
    );
    let t = out.tables.as_deref().unwrap();
    // All four share the parent "reference", so each is named after its own directory.
    // http-wait1.0: error_rate is 0.0 at N = 1, 16, 64, 256, 1024 -> max 1024.
    assert_row(t, "| python-openenv-w2-http-wait1.0 | http | - | 1024 † |");
    // ws-wait0.1-max4096: error_rate 0.0 at N = 1, 64, 256, 1024 -> max 1024 (a wait=0.1 column).
    assert_row(
        t,
        "| python-openenv-w2-ws-wait0.1-max4096 | ws | 1024 † | - |",
    );
    // ws-wait1.0 (MAX_CONCURRENT_ENVS=100 per worker, 2 workers): success 1 - error_rate is
    // 1.0 at N = 1, 16, 64, then 1 - 0.23046875 = 0.770 at 256 (197/256), 0.391 at 512,
    // 0.195 at 1024, 0.098 at 2048 -> max 64.
    assert_row(t, "| python-openenv-w2-ws-wait1.0 | ws | - | 64 |");
    // ws-wait1.0-max4096: error_rate 0.0 up to 2048 -> max 2048.
    // † wherever the max is the largest N tested (the limit lies above the grid), flagged:
    assert_row(
        t,
        "| python-openenv-w2-ws-wait1.0-max4096 | ws | - | 2048 † |",
    );
    // Only the waits present in the data are columns: 0.1 and 1.0 (no 5.0).
    assert_row(t, "| Infrastructure | Mode | wait=0.1s | wait=1.0s |");
    // Latency breakdown at max load, ws-wait1.0 at N=64 (one repetition): connect_p50
    // 0.0694870295, reset_p50 0.0337470405, step_p50 1.016631359, total_p99 1.176912959, to 4
    // decimals. TABLE_all_runs.md (w2-ws-wait1.0, N=64) shows the same 0.069/0.034/1.017.
    assert_row(
        t,
        "| python-openenv-w2-ws-wait1.0 | ws | 1.0 | 64 | 100.0 | 0.0695 | 0.0337 | 1.0166 | 1.1769 |",
    );
    // http-wait1.0 at N=1024: reset_p50 4.2217796525, step_p50 9.7300068555, total_p99 24.43029182.
    assert_row(
        t,
        "| python-openenv-w2-http-wait1.0 | http | 1.0 | 1024 † | 100.0 | 0.0000 | 4.2218 | 9.7300 | 24.4303 |",
    );
    // The Python tools write no saturation column and no run.json: both are said, not guessed.
    assert!(t.contains("Load-generator saturation not checked for python-openenv-w2-http-wait1.0"));
    assert!(t.contains("Core count unknown for python-openenv-w2-http-wait1.0"));
    assert_eq!(out.skipped_rows(), 0);
    let rows: usize = out.analysis.infras.iter().map(|i| i.rows).sum();
    assert_eq!(rows, 5 + 4 + 7 + 7); // data lines of the four summary.csv files
}

#[test]
fn reference_ws_vs_http_with_cores_override() {
    // Same infra name for an HTTP and a WS directory makes a protocol comparison: 64 (ws) vs
    // 1024 (http) at wait 1.0 -> ratio 64/1024 = 0.0625 -> "0.1x", HTTP wins. Cores from
    // --cores: 2 -> batch/core 1024/2 = 512.0 and 64/2 = 32.0.
    let inputs = vec![
        Input {
            dir: data(REFERENCE[0]),
            infra: Some("w2-cap100".into()),
        },
        Input {
            dir: data(REFERENCE[2]),
            infra: Some("w2-cap100-ws".into()),
        },
    ];
    let (out, _tmp) = run(
        inputs,
        0.95,
        &[("w2-cap100", 2), ("w2-cap100-ws", 2)],
        false,
    );
    let t = out.tables.as_deref().unwrap();
    assert_row(t, "| w2-cap100 | 1.0 | - | 1024 † | - | n/a (WS not run) |");
    assert_row(
        t,
        "| w2-cap100 | 2 | --cores | http | 1.0 | 1024 † | 512.0 |",
    );
    assert_row(t, "| w2-cap100-ws | 2 | --cores | ws | 1.0 | 64 | 32.0 |");
}

#[test]
fn our_scale_output_with_run_json() {
    // tests/data/ours/local-native/2026-11-29: written by `openenv-bench scale --compare
    // --requests-grid 1,4,8,16 --wait-grid 0.1 --reps 2` against `serve --max-concurrent-envs 8`.
    // --all picks <infra>/<latest date>/, infra = "local-native".
    let dirs = latest_run_dirs(&data("ours")).unwrap();
    assert_eq!(dirs, vec![data("ours/local-native/2026-11-29")]);
    let inputs = dirs
        .into_iter()
        .map(|dir| Input { dir, infra: None })
        .collect();
    let (out, _tmp) = run(inputs, 0.95, &[], false);
    let t = out.tables.as_deref().unwrap();
    // ws: error_rate 0.0 in both reps at N = 1, 4, 8; 0.5 and 0.5 at N = 16 (8 of 16 got
    // CAPACITY_REACHED) -> mean success 0.5 -> max 8. http: 0.0 everywhere -> max 16.
    assert_row(t, "| local-native | ws | 8 |");
    assert_row(t, "| local-native | http | 16 † |");
    // 8 / 16 = 0.5 -> "0.5x", HTTP wins.
    assert_row(t, "| local-native | 0.1 | 8 | 16 † | 0.5x | HTTP |");
    // run.json says "cores": 2 -> 8 / 2 = 4.0 and 16 / 2 = 8.0.
    assert_row(t, "| local-native | 2 | run.json | ws | 0.1 | 8 | 4.0 |");
    assert_row(
        t,
        "| local-native | 2 | run.json | http | 0.1 | 16 † | 8.0 |",
    );
    // Our summary has the `saturated` column (all False): checked, nothing to flag.
    assert!(!t.contains("saturation not checked"));
    assert!(!t.contains("saturated in"));
    let ws = out.analysis.infras[0].curve("ws", 0.1).unwrap();
    assert_eq!(
        ws.points.iter().map(|p| p.reps.len()).collect::<Vec<_>>(),
        [2, 2, 2, 2]
    );
}

#[test]
fn synthetic_reps_flags_and_skipped_rows() {
    // tests/data/synthetic/slurm-single/2026-01-13 (written by hand, 16 data lines):
    //   ws  wait 1.0: N=1 reps success 1,1 (mean 1.0); N=8: 1, 0.75 (0.875);
    //                 N=16: 1, 1, 0.9375 (0.979); N=32: 0.5, 0.5 (0.5; rep 1 saturated);
    //                 line 11 has num_requests "not-a-number" -> skipped.
    //   ws  wait 0.1: N=4: 1.0.
    //   http wait 1.0: N=1: 1.0; N=16: 1, 0.9375 (0.96875); line 16 is cut short -> skipped;
    //                 N=32: 1.0 (saturated).
    let (out, _tmp) = run(
        vec![input("synthetic/slurm-single/2026-01-13")],
        0.95,
        &[],
        false,
    );
    let t = out.tables.as_deref().unwrap();
    // Max batch at 0.95: ws 16 (above the failing N=8, hence †), http 32 (saturated, †);
    // ws wait 0.1 tested only N=4, which passed (the limit lies above the grid, †).
    assert_row(t, "| slurm-single | ws | 4 † | 16 † |");
    assert_row(t, "| slurm-single | http | - | 32 † |");
    // 16 / 32 = 0.5.
    assert_row(t, "| slurm-single | 1.0 | 16 † | 32 † | 0.5x | HTTP |");
    // Median repetition at N=16: successes sorted [0.9375 (rep 3), 1 (rep 1), 1 (rep 2)], element
    // 3/2 = 1 -> rep 1: connect 0.011, reset 0.021, step 1.031, total p99 1.250.
    assert_row(
        t,
        "| slurm-single | ws | 1.0 | 16 † | 100.0 | 0.0110 | 0.0210 | 1.0310 | 1.2500 |",
    );
    // cores 48 from run.json: 16/48 = 0.33, 32/48 = 0.67, 4/48 = 0.083.
    assert_row(
        t,
        "| slurm-single | 48 | run.json | ws | 1.0 | 16 † | 0.3 |",
    );
    assert_row(
        t,
        "| slurm-single | 48 | run.json | http | 1.0 | 32 † | 0.7 |",
    );
    assert_row(t, "| slurm-single | 48 | run.json | ws | 0.1 | 4 † | 0.1 |");
    // Unparseable lines 11 and 16 are counted, reported, not fatal.
    assert_eq!(out.skipped_rows(), 2);
    let skipped: Vec<u64> = out.analysis.infras[0]
        .skipped
        .iter()
        .map(|s| s.line)
        .collect();
    assert_eq!(skipped, [11, 16]);
    assert!(t.contains("2 row(s) of"), "{t}");
    assert!(t.contains("line 11: num_requests"), "{t}");
    // Flags: the non-monotone ws curve (87.5% at N=8 -> 97.9% at N=16), saturation.
    assert!(
        t.contains("slurm-single ws wait=1.0s: success curve is not monotone (87.5% at N=8 -> 97.9% at N=16); the max batch 16 lies above N=[8]"),
        "{t}"
    );
    assert!(t.contains("slurm-single ws wait=1.0s N=32: load generator saturated in 1 of 2"));
    assert!(t.contains("slurm-single http wait=1.0s N=32: load generator saturated in 1 of 1"));
    // The header states the semantics.
    assert!(t.contains("largest batch size N (concurrent sessions) whose mean success rate over repetitions is ≥ 95%"));
}

#[test]
fn threshold_is_inclusive_and_cores_flag_wins() {
    // http N=16 has mean success (1 + 0.9375) / 2 = 0.96875 exactly (binary fractions).
    let dir = || vec![input("synthetic/slurm-single/2026-01-13")];
    let (a, _t1) = run(dir(), 0.96875, &[("slurm-single", 2)], false);
    let i = &a.analysis.infras[0];
    // >= 0.96875: N=16 passes, and N=32 (1.0) too -> 32; ws: 0.979 at 16 passes -> 16.
    assert_eq!(i.max_batch("http", 1.0), Some(32));
    assert_eq!(i.max_batch("ws", 1.0), Some(16));
    assert!(i
        .curve("http", 1.0)
        .unwrap()
        .failing_below_max(0.96875)
        .is_empty());
    // 0.98: ws N=16 (0.979) fails -> only N=1 left; http N=16 fails below N=32 (flagged).
    let (b, _t2) = run(dir(), 0.98, &[], false);
    let i = &b.analysis.infras[0];
    assert_eq!(i.max_batch("ws", 1.0), Some(1));
    assert_eq!(i.curve("http", 1.0).unwrap().failing_below_max(0.98), [16]);
    // --cores beats run.json's 48: 16 / 2 = 8.0.
    let t = a.tables.as_deref().unwrap();
    assert_row(t, "| slurm-single | 2 | --cores | ws | 1.0 | 16 † | 8.0 |");
}

#[test]
fn peak_open_sessions_below_90_percent_of_max_batch_is_flagged() {
    // tests/data/peak-open/local-native/2026-11-29 (written by hand):
    //   ws   wait 1.0: N=1024 ok (peak 1024); N=200000 ok in both reps, peaks 95000 and 90000;
    //                  N=400000 50% -> max batch 200000, lowest peak 90000 < 0.9 * 200000.
    //   http wait 1.0: N=1024 ok (peak 1000, not the max batch); N=2048 ok, peak 1844 >=
    //                  0.9 * 2048 = 1843.2; N=4096 50% -> max batch 2048, no flag.
    //   ws   wait 0.1: N=8192 ok, peak empty; N=16384 50%, peak "not-counted" -> no flag, and
    //                  the unparseable peak does not cost the row.
    let (out, _tmp) = run(
        vec![input("peak-open/local-native/2026-11-29")],
        0.95,
        &[],
        false,
    );
    let t = out.tables.as_deref().unwrap();
    assert_eq!(out.skipped_rows(), 0, "{t}");
    assert_row(t, "| local-native | ws | 8192 | 200000 † |");
    assert_row(t, "| local-native | http | - | 2048 |");
    assert!(
        t.contains(
            "- local-native ws wait=1.0s N=200000: only 90000 of 200000 sessions were open at once: \
             use `scale --launch-batch 0` to measure concurrency."
        ),
        "{t}"
    );
    assert_eq!(t.matches("sessions were open at once").count(), 1, "{t}");
    // Files without the column (the Python tools', older `scale`) never get the flag.
    let (py, _t2) = run(
        REFERENCE.iter().map(|p| input(p)).collect(),
        0.95,
        &[],
        false,
    );
    assert!(!py.tables.unwrap().contains("open at once"));
}

#[test]
fn an_interrupted_repetition_at_the_max_batch_is_marked() {
    // tests/data/interrupted/local-native/2026-11-29 (written by hand): http wait 1.0,
    // N=16 ok; N=64 ok but interrupted (Ctrl-C); N=128 50% -> max batch 64, whose counts are partial.
    let (out, _tmp) = run(
        vec![input("interrupted/local-native/2026-11-29")],
        0.95,
        &[],
        false,
    );
    let t = out.tables.as_deref().unwrap();
    assert_row(t, "| local-native | http | 64 † |");
    assert!(
        t.contains("N=64: 1 repetition(s) interrupted (Ctrl-C)"),
        "{t}"
    );
}

#[test]
fn all_picks_the_latest_date_per_infra() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data("synthetic/slurm-single/2026-01-13/summary.csv");
    for d in ["a/2026-01-01", "a/2026-02-01", "b/2025-12-31"] {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        std::fs::copy(&src, tmp.path().join(d).join("summary.csv")).unwrap();
    }
    // A newer directory without summary.csv is not a run.
    std::fs::create_dir_all(tmp.path().join("a/2026-03-01")).unwrap();
    let got = latest_run_dirs(tmp.path()).unwrap();
    assert_eq!(
        got,
        vec![
            tmp.path().join("a/2026-02-01"),
            tmp.path().join("b/2025-12-31")
        ]
    );
}

/// Decodes a PNG and checks it is a real picture: expected size range, many colors (anti-aliased
/// text and lines), a fair share of non-background pixels, and text in the title strip.
fn check_png(path: &Path) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    let (w, h) = img.dimensions();
    assert!(
        (800..=4000).contains(&w) && (200..=4000).contains(&h),
        "{}: {w}x{h}",
        path.display()
    );
    let colors: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colors.len() > 50,
        "{}: only {} colors",
        path.display(),
        colors.len()
    );
    let non_white = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let frac = non_white as f64 / (w * h) as f64;
    assert!(frac > 0.02, "{}: {:.3} non-white", path.display(), frac);
    // The title is rendered from the embedded font: dark pixels in the top 45 rows.
    let dark_title = (0..45.min(h))
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count();
    assert!(
        dark_title > 200,
        "{}: no title text ({dark_title} dark px)",
        path.display()
    );
}

#[test]
fn figures_decode_and_are_not_blank() {
    let mut inputs: Vec<Input> = REFERENCE.iter().map(|p| input(p)).collect();
    inputs.push(input("synthetic/slurm-single/2026-01-13"));
    inputs.push(input("ours/local-native/2026-11-29"));
    let (out, tmp) = run(inputs, 0.95, &[], true);
    let names: Vec<String> = out
        .figures
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, figures::ALL);
    for f in &out.figures {
        assert!(f.starts_with(tmp.path().join("figures")));
        check_png(f);
    }
    // The Python original's layout: tables.md and the log next to the figures directory.
    assert!(tmp.path().join("tables.md").is_file());
    assert!(tmp.path().join("EXPERIMENT_LOG.md").is_file());
}

#[test]
fn figures_with_one_infra_and_no_cores() {
    // The smallest case (one curve, no run.json) still draws every figure.
    let (out, _tmp) = run(vec![input(REFERENCE[2])], 0.95, &[], true);
    assert_eq!(out.figures.len(), figures::ALL.len());
    for f in &out.figures {
        check_png(f);
    }
}

#[test]
fn experiment_log_is_newest_first_and_keeps_earlier_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("EXPERIMENT_LOG.md");
    let once = |p: &str| {
        let mut o = Options::with_layout(vec![input(p)], &tmp.path().join("figures"));
        o.figures_dir = None;
        o.tables_path = None;
        o.command = format!("openenv-bench analyze -i {p}");
        openenv_report::run(&o).unwrap();
        std::fs::read_to_string(&log).unwrap()
    };
    let first = once("ours/local-native/2026-11-29");
    let entry_one = {
        let s = first
            .find("<!-- entry: local-native/2026-11-29 -->")
            .unwrap();
        let e = first[s..].find("<!-- /entry -->").unwrap() + s;
        first[s..e].to_string()
    };
    // run.json's configuration and command line are in the entry, and the Python original's results table.
    assert!(entry_one.contains("`cores`=2"), "{entry_one}");
    assert!(
        entry_one.contains("**Run command:** `openenv-bench scale"),
        "{entry_one}"
    );
    assert!(entry_one.contains("| ws | 0.1 | 8 |"), "{entry_one}");
    assert!(entry_one.contains("| http | 0.1 | 16 † |"), "{entry_one}");

    // A second run goes on top; the first entry is untouched, byte for byte.
    let second = once("synthetic/slurm-single/2026-01-13");
    let p_new = second
        .find("<!-- entry: slurm-single/2026-01-13 -->")
        .unwrap();
    let p_old = second
        .find("<!-- entry: local-native/2026-11-29 -->")
        .unwrap();
    assert!(p_new < p_old, "newest first:\n{second}");
    assert!(second.contains(&entry_one));
    assert!(second.starts_with("# OpenEnv Scaling Experiment Log"));

    // Text written by hand stays; re-analyzing a directory replaces only its own entry.
    let with_note = second.replace(
        "# OpenEnv Scaling Experiment Log\n",
        "# OpenEnv Scaling Experiment Log\n\nA note by hand.\n",
    );
    std::fs::write(&log, &with_note).unwrap();
    let third = once("ours/local-native/2026-11-29");
    assert!(third.contains("A note by hand."));
    assert_eq!(
        third
            .matches("<!-- entry: local-native/2026-11-29 -->")
            .count(),
        1
    );
    assert_eq!(
        third
            .matches("<!-- entry: slurm-single/2026-01-13 -->")
            .count(),
        1
    );
    let p_re = third
        .find("<!-- entry: local-native/2026-11-29 -->")
        .unwrap();
    let p_syn = third
        .find("<!-- entry: slurm-single/2026-01-13 -->")
        .unwrap();
    assert!(p_re < p_syn, "re-analyzed run is now the newest:\n{third}");
}

/// `analysis.json` (what `bench/benchtool.py` reads) says what the tables say: the same max
/// batch, the success of every N, the first N that missed, and the columns' means per N.
#[test]
fn analysis_json_carries_the_numbers_of_the_tables() {
    let (out, tmp) = run(
        vec![input("ours/local-native/2026-11-29")],
        0.95,
        &[],
        false,
    );
    let path = tmp.path().join("analysis.json");
    assert_eq!(out.json_path.as_deref(), Some(path.as_path()));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["threshold"], 0.95);
    let infra = &v["infras"][0];
    assert_eq!(infra["infra"], "local-native");
    assert_eq!(infra["cores"], serde_json::json!([2, "run_json"]));
    let ws = infra["curves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["mode"] == "ws")
        .unwrap();
    // As in the tables: ws max 8, N = 16 at mean success 0.5 is the first to miss.
    assert_eq!(
        (ws["max_batch"].as_u64(), ws["first_failing"].as_u64()),
        (Some(8), Some(16))
    );
    let n16 = &ws["points"][3];
    assert_eq!(
        (n16["batch_size"].as_u64(), n16["mean_success"].as_f64()),
        (Some(16), Some(0.5))
    );
    // Means of the repetitions' columns, and every repetition's columns typed by kind.
    assert_eq!(n16["means"]["successful"], 8.0);
    let rep = &n16["reps"][0];
    assert_eq!(rep["success_rate"], 0.5);
    assert_eq!(rep["columns"]["num_requests"], 16);
    assert_eq!(rep["columns"]["saturated"], false);
    assert!(rep["columns"]["error_types"]
        .as_str()
        .unwrap()
        .starts_with("CapacityReached"));
}
