//! Interop with the real Python OpenEnv clients: tests/python/client_interop.py drives our
//! in-process servers with openenv.core's EnvClient / GenericEnvClient (async and .sync()), once
//! with openenv-core 0.3.0 and once with openenv 0.10.0.
//! 0.3.0's Python comes from $OPENENV_PYTHON (scripts/test.sh sets it), else the repo's .venv;
//! without either that test is skipped with a note. 0.10's comes from $OPENENV010_PYTHON, else
//! .venv-openenv010; without it the 0.10 tests fail, naming scripts/setup-python.sh.

mod common;

use openenv_server::ServerConfig;
use std::path::PathBuf;
use std::time::Duration;

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OPENENV_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    venv.exists().then_some(venv)
}

/// The openenv 0.10.0 venv's python; panics naming scripts/setup-python.sh when missing.
fn python010() -> PathBuf {
    let p = std::env::var_os("OPENENV010_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-openenv010/bin/python")
        });
    assert!(
        p.exists(),
        "Python venv with openenv 0.10.0 not found at {} (set OPENENV010_PYTHON or run scripts/setup-python.sh)",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_envclient_drives_our_server() {
    let Some(py) = python() else {
        eprintln!("skipped: no OPENENV_PYTHON and no .venv (scripts/setup-python.sh makes one)");
        return;
    };
    run_client_interop(&py, "openenv-core 0.3.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_010_envclient_drives_our_server() {
    let out = run_client_interop(&python010(), "openenv 0.10.0").await;
    assert!(out.contains("openenv release 0.10.0"), "{out}");
    assert!(out.contains("0.10: /schema reset_observation"), "{out}");
    assert!(out.contains("0.10: MCPToolClient lists no tools"), "{out}");
}

/// The echo and MCP environments of tests/python/ on 0.10's `create_app`, driven by the real 0.10
/// clients (tests/python/env_interop.py starts and stops the servers itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_010_test_environments_work() {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/env_interop.py");
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(python010())
            .arg(&script)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("env_interop.py finishes in time")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("env_interop: all checks passed"),
        "env_interop failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("echo WS: empty message rejected"));
    assert!(stdout.contains("MCPToolClient: call_tool add"));
}

/// Run client_interop.py with this python against two in-process servers; returns its stdout.
async fn run_client_interop(py: &std::path::Path, what: &str) -> String {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/client_interop.py");
    let server = common::start_default().await;
    let capped = common::start(ServerConfig {
        max_concurrent_envs: 2,
        ..ServerConfig::default()
    })
    .await;
    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new(py)
            .arg(&script)
            .arg(server.http_url())
            .arg(capped.http_url())
            .output(),
    )
    .await
    .expect("interop script finishes in time")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "interop with {what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout.into_owned()
}
