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

/// A server whose process may hold only 400 open files: past that its `accept` fails with
/// EMFILE (counted in its /metrics), sessions time out, and the search must say the open-files
/// limit stopped it, not that the server's capacity was found.
#[test]
fn a_server_out_of_file_descriptors_is_limited_by_open_files() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new("sh")
        .arg("-c")
        .arg("ulimit -S -n 400 && ulimit -H -n 400 && exec \"$0\" serve --host 127.0.0.1 --port \"$1\" --max-concurrent-envs 0")
        .arg(BIN)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "serve did not start");
    let dir = tmpdir("fds");
    // Each WS session holds a socket of the server for its 1 s wait: from some N on, 400 files
    // are not enough.
    let out = Command::new(BIN)
        .arg("scale")
        .args(["-u", &url, "-o"])
        .arg(&dir)
        .args([
            "-w",
            "1",
            "--cooldown",
            "0",
            "--timeout",
            "3",
            "--close-timeout",
            "1",
        ])
        .args(["--find-max", "--start", "256"])
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let file = openenv_results::CapacityFile::read(&dir).unwrap().unwrap();
    let c = &file.0[0];
    println!("{}", c.describe());
    assert_eq!(
        c.limited_by,
        openenv_results::LimitedBy::OpenFiles,
        "{stdout}"
    );
    // Connections the server cannot accept wait in its listen backlog, so a few cells above
    // 400 may still pass (late); the first that fails ends the search, not counted against it.
    let max = c.max_batch.unwrap();
    assert_eq!(c.first_failing, None);
    let last = c.cells.last().unwrap();
    assert!(!last.passed && last.n > max, "{:?}", c.cells);
    let why = last.open_files.as_deref().unwrap_or_default();
    assert!(why.contains("the server could not accept"), "{why}");
    assert!(
        stdout.contains(&format!(
            "sessions, limited by the open-files limit at N = {}",
            openenv_results::capacity::thousands(last.n)
        )) && stdout.contains("ulimit -n"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
