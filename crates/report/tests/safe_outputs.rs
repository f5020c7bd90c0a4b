//! `analyze` keeps files safe: all outputs or none (a full disk, a figure that cannot be put in
//! place), errors that name the file and the cause, figures of bounded size.

use openenv_report::{figures, Input, Options};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

fn inputs() -> Vec<Input> {
    [
        "reference/python-openenv-w2-http-wait1.0",
        "reference/python-openenv-w2-ws-wait1.0",
        "synthetic/slurm-single/2026-01-13",
        "ours/local-native/2026-11-29",
    ]
    .iter()
    .map(|p| Input {
        dir: data(p),
        infra: None,
    })
    .collect()
}

/// Every file under `dir` (relative name -> bytes).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The outputs of an earlier analysis, with a note written by hand in the log (~8 KB, the
/// size the filed log was cut to), in `reports/` and `reports/figures/`.
fn previous_outputs(reports: &Path) {
    std::fs::create_dir_all(reports.join("figures")).unwrap();
    std::fs::write(reports.join("tables.md"), "previous tables\n").unwrap();
    std::fs::write(reports.join("analysis.json"), "{\"previous\": true}\n").unwrap();
    let mut log = String::from(
        "# OpenEnv Scaling Experiment Log\n\n<!-- Add new runs below this line, newest first -->\n\n",
    );
    while log.len() < 9000 {
        log.push_str("- A note I wrote by hand about an earlier run.\n");
    }
    std::fs::write(reports.join("EXPERIMENT_LOG.md"), log).unwrap();
    for name in figures::ALL {
        std::fs::write(reports.join("figures").join(name), format!("old {name}")).unwrap();
    }
}

/// A tmpfs mounted on a directory this test made; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` where mounting is not allowed (not root, no CAP_SYS_ADMIN, no `mount`).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Runs a full analysis (tables, JSON, figures, log) into `reports/`, which must fail, and
/// checks that every previous output is still there byte for byte and nothing else is.
fn failed_analysis_changes_nothing(reports: &Path) -> String {
    let before = snapshot(reports);
    let opts = Options::with_layout(inputs(), &reports.join("figures"));
    let err = openenv_report::run(&opts)
        .expect_err("the analysis must fail")
        .to_string();
    let after = snapshot(reports);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "files appeared or went ({err})"
    );
    for (name, bytes) in &before {
        assert!(after[name] == *bytes, "{name} changed ({err})");
    }
    err
}

#[test]
fn a_full_disk_leaves_every_previous_output_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    // Room for the previous outputs and the new tables, not for the figures too.
    let Some(_mounted) = Tmpfs::mount(&disk, "64k") else {
        eprintln!("mounting a tmpfs is not allowed here: a rename that fails stands in for it");
        let reports = tmp.path().join("reports");
        previous_outputs(&reports);
        a_figure_in_the_way(&reports);
        return;
    };
    let reports = disk.join("reports");
    previous_outputs(&reports);
    let err = failed_analysis_changes_nothing(&reports);
    eprintln!("analyze on a full disk: {err}");
    assert!(
        err.contains(&*reports.to_string_lossy()) && err.contains("No space left on device"),
        "the error names the file and the cause: {err}"
    );
}

/// Replaces `figures/latency_heatmap.png` by a non-empty directory: drawing succeeds (into a
/// temporary file), renaming it into place fails after the tables and the other figures.
fn a_figure_in_the_way(reports: &Path) {
    let target = reports.join("figures").join(figures::LATENCY_HEATMAP);
    std::fs::remove_file(&target).unwrap();
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), "").unwrap();
    let err = failed_analysis_changes_nothing(reports);
    assert!(
        err.contains(&*target.to_string_lossy()),
        "the error names the figure: {err}"
    );
}

#[test]
fn a_figure_that_cannot_be_put_in_place_leaves_tables_and_log_as_they_were() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    previous_outputs(&reports);
    a_figure_in_the_way(&reports);
}

fn analyze_dir(dir: &Path) -> String {
    let out = tempfile::tempdir().unwrap();
    let mut opts = Options::with_layout(
        vec![Input {
            dir: dir.to_path_buf(),
            infra: Some("x".into()),
        }],
        &out.path().join("figures"),
    );
    opts.figures_dir = None;
    let err = openenv_report::run(&opts)
        .expect_err("nothing to analyze")
        .to_string();
    // Nothing was written.
    assert!(snapshot(out.path()).is_empty(), "{err}");
    err
}

#[test]
fn errors_name_the_file_and_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    let summary = dir.join("summary.csv");
    let name = summary.to_string_lossy().into_owned();

    // Every row invalid.
    std::fs::write(
        &summary,
        "mode,num_requests,wait_seconds,error_rate\nws,many,1.0,0\nws,4,1.0,lots\n",
    )
    .unwrap();
    let err = analyze_dir(&dir);
    assert!(err.contains(&name), "{err}");
    assert!(err.contains("all 2 row(s) are invalid"), "{err}");
    assert!(err.contains("line 2") && err.contains("line 3"), "{err}");

    // A header and nothing else.
    std::fs::write(&summary, "mode,num_requests,wait_seconds,error_rate\n").unwrap();
    let err = analyze_dir(&dir);
    assert!(err.contains(&name) && err.contains("no data rows"), "{err}");

    // A FIFO would block the read forever.
    std::fs::remove_file(&summary).unwrap();
    let mkfifo = Command::new("mkfifo").arg(&summary).status().unwrap();
    assert!(mkfifo.success());
    let err = analyze_dir(&dir);
    assert!(err.contains(&name) && err.contains("FIFO"), "{err}");

    // A symlink loop.
    std::fs::remove_file(&summary).unwrap();
    std::os::unix::fs::symlink("summary.csv", &summary).unwrap();
    let err = analyze_dir(&dir);
    assert!(
        err.contains(&name) && err.contains("symbolic links"),
        "{err}"
    );

    // A directory that is not there.
    let missing = tmp.path().join("no-such-run");
    let err = analyze_dir(&missing);
    assert!(
        err.contains(&*missing.to_string_lossy()) && err.contains("No such file or directory"),
        "{err}"
    );

    // A directory without summary.csv.
    std::fs::remove_file(&summary).unwrap();
    let err = analyze_dir(&dir);
    assert!(
        err.contains(&*dir.to_string_lossy()) && err.contains("no summary.csv"),
        "{err}"
    );
}

#[test]
fn figures_stay_bounded_with_thousands_of_batch_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("many-n").join("run");
    std::fs::create_dir_all(&dir).unwrap();
    // 5,000 distinct N, each with a latency, over two modes and two waits.
    let mut csv = String::from("mode,num_requests,wait_seconds,error_rate,total_p50,total_p99\n");
    for mode in ["ws", "http"] {
        for wait in ["0.1", "1.0"] {
            for n in 1..=5000u64 {
                let p99 = 1.0 + n as f64 / 5000.0;
                csv.push_str(&format!("{mode},{n},{wait},0.0,{},{p99}\n", p99 * 0.9));
            }
        }
    }
    std::fs::write(dir.join("summary.csv"), csv).unwrap();
    let mut opts = Options::with_layout(
        vec![Input { dir, infra: None }],
        &tmp.path().join("figures"),
    );
    opts.tables_path = None;
    opts.log_path = None;
    let out = openenv_report::run(&opts).unwrap();
    assert_eq!(out.analysis.batch_sizes().len(), 5000);
    for f in &out.figures {
        let (w, h) = image::image_dimensions(f).unwrap();
        // One 96 px column per N would be 480,000 px wide.
        assert!(w <= 4000 && h <= 4000, "{}: {w}x{h}", f.display());
    }
    let (w, _) =
        image::image_dimensions(tmp.path().join("figures").join(figures::LATENCY_HEATMAP)).unwrap();
    assert!(
        w >= 96 * figures::MAX_HEATMAP_COLUMNS as u32,
        "the heatmap still shows {} columns: {w} px",
        figures::MAX_HEATMAP_COLUMNS
    );
}
