//! `scale --find-max` through the CLI: bad input is refused before anything is written, and an
//! unreachable server gives capacity "none" (exit 4) with its cells and capacity.json kept.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_openenv-bench");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("openenv-cli-find-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn scale(dir: &std::path::Path, url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("scale")
        .args(["-u", url, "-o"])
        .arg(dir)
        .args(["-w", "0", "--cooldown", "0", "--timeout", "5"])
        .args(args)
        .output()
        .unwrap()
}

/// A loopback port nobody listens on.
fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let url = closed_port_url();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--find-max", "--requests-grid", "1,2"],
            2,
            "cannot be used with",
        ),
        (&["--find-max", "--precision", "0"], 1, "--precision"),
        (&["--find-max", "--precision", "1"], 1, "--precision"),
        (&["--find-max", "--start", "0"], 1, "--start"),
        (
            &["--find-max", "--start", "64", "--max-requests", "10"],
            1,
            "below --start",
        ),
        (&["--precision", "0.1"], 2, "--find-max"),
    ];
    for (i, (args, code, msg)) in cases.iter().enumerate() {
        let dir = tmpdir(&format!("bad{i}"));
        let out = scale(&dir, &url, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(!dir.exists(), "{args:?} wrote {}", dir.display());
    }
}

#[test]
fn unreachable_server_has_no_capacity() {
    let dir = tmpdir("unreachable");
    let out = scale(&dir, &closed_port_url(), &["--find-max", "-m", "ws"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("WS, wait 0 s: none"), "{stdout}");
    let file = std::fs::read_to_string(dir.join("capacity.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert!(v[0]["max_batch"].is_null(), "{file}");
    assert_eq!(v[0]["first_failing"], 1, "{file}");
    // The failed cell is kept like any other.
    let rows = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert_eq!(rows.lines().count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
