//! `scale` against the Python reference on the current OpenEnv release: tests/python/
//! reference_server.py on openenv 0.10.0's `create_app` under uvicorn (the venv of
//! scripts/setup-python.sh). 0.10 adds `metadata` to observations and HTTP bodies; the engine reads
//! both releases' replies the same way.

mod common;

use common::*;

#[test]
fn scale_drives_the_openenv_010_reference_over_ws_and_http() {
    let srv = ChildServer::python_reference_010(&[("MAX_CONCURRENT_ENVS", "8")]);
    let dir = tmpdir("interop010");
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
        "1",
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
    assert_eq!(raw.len(), 2 * (1 + 6));
    for r in &raw {
        assert_eq!(r["success"], true, "{r}");
        assert!((r["waited_seconds"].as_f64().unwrap() - 0.2).abs() < 1e-9);
        assert!(r["host_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", srv.port)));
        assert_eq!(r["session_hash"].as_str().unwrap().len(), 12);
        assert!(r["pid"].as_u64().unwrap() > 0);
    }
    assert_eq!(raw.iter().filter(|r| r["mode"] == "http").count(), 7);

    // Over 0.10's capacity: its unprompted CAPACITY_REACHED frame is classified as for 0.3.0.
    let out = scale_cmd(&["-u", &srv.url(), "-n", "10", "-w", "1", "-o", d])
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
    assert_eq!(last["error_types"], "CapacityReached:2");
}
