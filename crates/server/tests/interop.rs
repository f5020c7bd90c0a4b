//! Interop with the real Python OpenEnv client: tests/python/client_interop.py drives our
//! in-process servers with openenv.core's EnvClient / GenericEnvClient (async and .sync()).
//! Python comes from $OPENENV_PYTHON (scripts/test.sh sets it), else the repo's .venv; without
//! either the test is skipped with a note.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_envclient_drives_our_server() {
    let Some(py) = python() else {
        eprintln!("skipped: no OPENENV_PYTHON and no .venv (scripts/setup-python.sh makes one)");
        return;
    };
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/client_interop.py");
    let server = common::start_default().await;
    let capped = common::start(ServerConfig {
        max_concurrent_envs: 2,
        ..ServerConfig::default()
    })
    .await;
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&py)
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
        "interop failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
