//! `scale` against the Python reference (tests/python/reference_server.py: openenv-core's
//! `create_app` under uvicorn), and our output files loaded by pandas as the Python analyzer
//! reads them (tests/python/check_results.py).

mod common;

use common::*;
use std::process::Command;

fn check_results(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(python())
        .arg(workspace_root().join("tests/python/check_results.py"))
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn scale_drives_the_python_reference_over_ws_and_http() {
    let srv = ChildServer::python_reference(&[("MAX_CONCURRENT_ENVS", "8")]);
    let dir = tmpdir("interop");
    let d = dir.to_str().unwrap();
    let out = scale_cmd(&[
        "-u",
        &srv.url(),
        "--compare",
        "--requests-grid",
        "1,6",
        "-w",
        "0.1",
        "--steps",
        "2",
        "--reps",
        "2",
        "--cooldown",
        "0",
        "-o",
        d,
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 2 * 2 * (1 + 6));
    for r in &raw {
        assert_eq!(r["success"], true, "{r}");
        assert!((r["waited_seconds"].as_f64().unwrap() - 0.2).abs() < 1e-9);
        assert!(r["host_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", srv.port)));
        assert_eq!(r["session_hash"].as_str().unwrap().len(), 12);
    }
    assert_eq!(raw.iter().filter(|r| r["mode"] == "http").count(), 14);

    // Over the reference's capacity: the unprompted CAPACITY_REACHED frame is classified.
    let out = scale_cmd(&["-u", &srv.url(), "-n", "12", "-w", "1", "-o", d])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = read_summary(&dir);
    let last = rows.last().unwrap();
    assert_eq!(last["successful"], "8");
    assert_eq!(last["error_types"], "CapacityReached:4");

    let check = check_results(&dir, &["--records", "40", "--rows", "9"]);
    assert!(
        check.status.success(),
        "check_results.py: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // The checker can fail: a summary whose numbers disagree with its raw records.
    let broken = tmpdir("interop-broken");
    std::fs::create_dir_all(&broken).unwrap();
    for f in ["raw.jsonl", "run.json"] {
        std::fs::copy(dir.join(f), broken.join(f)).unwrap();
    }
    let summary = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines: Vec<String> = summary.lines().map(String::from).collect();
    let mut cols: Vec<String> = lines[2].split(',').map(String::from).collect();
    cols[24] = "9.99".into(); // total_p50
    lines[2] = cols.join(",");
    std::fs::write(broken.join("summary.csv"), lines.join("\n") + "\n").unwrap();
    let check = check_results(&broken, &[]);
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("total_p50"));
    std::fs::remove_dir_all(&broken).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
