//! `--source-addrs`: an address that is not this host's is refused before anything is written,
//! with the address and the reason; from a local non-default source (127.0.0.23) the sessions succeed.

use openenv_server::{ServerConfig, ServerHandle};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_openenv-bench");

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("openenv-cli-src-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_foreign_source_address_is_refused_before_the_output_dir_is_touched() {
    let dir = tmpdir("foreign");
    for cmd in ["scale", "experiment"] {
        let out_dir = dir.join(cmd);
        let mut c = Command::new(BIN);
        c.arg(cmd).args([
            "-u",
            "http://127.0.0.1:9",
            "--source-addrs",
            "127.0.0.2,192.0.2.77",
        ]);
        match cmd {
            "scale" => c.args(["-n", "1", "-o"]).arg(&out_dir),
            _ => c
                .args([
                    "--infra",
                    "x",
                    "--requests-grid",
                    "1",
                    "--no-analyze",
                    "--results-dir",
                ])
                .arg(&out_dir),
        };
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{cmd}: {err}");
        assert!(
            err.contains("--source-addrs 192.0.2.77: not an address of this host"),
            "{cmd}: {err}"
        );
        assert!(!out_dir.exists(), "{cmd} created {}", out_dir.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_source_address_is_used() {
    let server = ServerHandle::start("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = server.http_url();
    let dir = tmpdir("local");
    let out = dir.clone();
    let o = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "scale", "-u", &url, "-m", "ws", "-n", "4", "-w", "0", "-t", "10",
            ])
            .args(["--source-addrs", "127.0.0.23", "-o"])
            .arg(&out)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let raw = std::fs::read_to_string(dir.join("raw.jsonl")).unwrap();
    assert_eq!(raw.lines().count(), 4);
    assert!(raw.lines().all(|l| l.contains("\"success\":true")), "{raw}");
    let _ = std::fs::remove_dir_all(&dir);
}
