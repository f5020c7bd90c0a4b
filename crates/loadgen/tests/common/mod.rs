//! Shared helpers of the loadgen integration tests: the `openenv-bench` binary, child servers
//! (ours and the Python reference) on free loopback ports, and result-file readers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The `openenv-bench` binary of this workspace, built (release) once per test process.
pub fn bench_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-q", "-p", "openenv-bench"])
            .current_dir(workspace_root())
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build -p openenv-bench failed");
        // target/release/deps/<this test> -> target/release/openenv-bench
        let exe = std::env::current_exe().unwrap();
        let bin = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("openenv-bench");
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
    .clone()
}

/// The library's own worker process (`openenv-loadgen-worker`, built with these tests), as a
/// `GridSpec::worker_command`.
pub fn worker_cmd() -> Vec<String> {
    vec![env!("CARGO_BIN_EXE_openenv-loadgen-worker").to_owned()]
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("loadgen-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A server process this test started; killed (by its pid) when dropped.
pub struct ChildServer {
    pub child: Child,
    pub port: u16,
}

impl ChildServer {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `openenv-bench serve` on a free loopback port with these extra env vars.
    pub fn ours(env: &[(&str, &str)]) -> ChildServer {
        let port = free_port();
        let mut cmd = Command::new(bench_bin());
        cmd.arg("serve")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let s = ChildServer {
            child: cmd.spawn().expect("starting openenv-bench serve"),
            port,
        };
        s.wait_healthy(Duration::from_secs(20));
        s
    }

    /// tests/python/reference_server.py (openenv-core + uvicorn) on a free loopback port.
    pub fn python_reference(env: &[(&str, &str)]) -> ChildServer {
        Self::python_reference_on(&python(), env)
    }

    /// The same reference server on openenv 0.10.0 (`python010()`).
    pub fn python_reference_010(env: &[(&str, &str)]) -> ChildServer {
        Self::python_reference_on(&python010(), env)
    }

    /// A test environment of tests/python/ (`echo_env.py`, `mcp_env.py`) on openenv 0.10.0's
    /// `create_app` under uvicorn.
    pub fn python_env_010(script: &str, env: &[(&str, &str)]) -> ChildServer {
        Self::python_script_on(&python010(), script, env)
    }

    fn python_reference_on(python: &Path, env: &[(&str, &str)]) -> ChildServer {
        Self::python_script_on(python, "reference_server.py", env)
    }

    fn python_script_on(python: &Path, script: &str, env: &[(&str, &str)]) -> ChildServer {
        let port = free_port();
        let mut cmd = Command::new(python);
        cmd.arg(workspace_root().join("tests/python").join(script))
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let s = ChildServer {
            child: cmd.spawn().expect("starting a tests/python server"),
            port,
        };
        // 0.10 imports gradio and fastmcp at startup: slow on a loaded machine.
        s.wait_healthy(Duration::from_secs(120));
        s
    }

    fn wait_healthy(&self, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ =
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if buf.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server on port {} not healthy within {within:?}", self.port);
    }

    pub fn kill(&mut self) {
        // SIGKILL to the pid we started (a crash, not a drain).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // SIGTERM first so multi-worker servers take their own workers down.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }
}

/// The venv's python (OPENENV_PYTHON, default <workspace>/.venv/bin/python); panics naming
/// scripts/setup-python.sh when it is missing.
pub fn python() -> PathBuf {
    let p = std::env::var_os("OPENENV_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "Python venv with openenv-core not found at {} (set OPENENV_PYTHON or run scripts/setup-python.sh)",
        p.display()
    );
    p
}

/// The openenv 0.10.0 venv's python (OPENENV010_PYTHON, default
/// <workspace>/.venv-openenv010/bin/python); panics naming scripts/setup-python.sh when missing.
pub fn python010() -> PathBuf {
    let p = std::env::var_os("OPENENV010_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv-openenv010/bin/python"));
    assert!(
        p.exists(),
        "Python venv with openenv 0.10.0 not found at {} (set OPENENV010_PYTHON or run scripts/setup-python.sh)",
        p.display()
    );
    p
}

pub fn read_raw(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("raw.jsonl")).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "raw.jsonl ends mid-line"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad raw line {l:?}: {e}")))
        .collect()
}

/// summary.csv as (header, rows of name -> value).
pub fn read_summary(dir: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let cols = openenv_results::summary::REFERENCE_COLUMNS;
    assert_eq!(&header[..cols.len()], &cols[..]);
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

pub fn scale_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(bench_bin());
    c.arg("scale").args(args).stdin(Stdio::null());
    c
}

/// `openenv-bench scale ARGS... -o DIR`.
pub fn scale_into(dir: &Path, args: &[&str]) -> Command {
    let mut c = scale_cmd(args);
    c.arg("-o").arg(dir);
    c
}

/// The process exited with `code`; its stderr is the message otherwise.
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A grid as these tests run it: results in `dir`, no cooldown, a 20 s timeout.
pub fn spec(urls: Vec<String>, dir: &Path) -> openenv_loadgen::GridSpec {
    openenv_loadgen::GridSpec {
        urls,
        output_dir: Some(dir.to_owned()),
        cooldown: 0.0,
        timeout: 20.0,
        command_line: vec!["test".into()],
        ..openenv_loadgen::GridSpec::default()
    }
}

/// [`spec`] with one batch size and one wait (each mode the default grid has).
pub fn one_cell(
    urls: Vec<String>,
    dir: &Path,
    batch_size: usize,
    wait: f64,
) -> openenv_loadgen::GridSpec {
    openenv_loadgen::GridSpec {
        batch_sizes: vec![batch_size],
        waits: vec![wait],
        ..spec(urls, dir)
    }
}

static LOAD: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Tests run in parallel; the giant cell runs alone so the timing-sensitive tests (Ctrl-C
/// after 2.5 s, a server killed after 1.5 s) never share the 2 cores with it.
pub fn light() -> std::sync::RwLockReadGuard<'static, ()> {
    LOAD.read().unwrap_or_else(|e| e.into_inner())
}

pub fn heavy() -> std::sync::RwLockWriteGuard<'static, ()> {
    LOAD.write().unwrap_or_else(|e| e.into_inner())
}
