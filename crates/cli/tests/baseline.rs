//! `analyze --baseline` through the CLI: exit 0 when nothing regressed, 5 when a capacity fell,
//! 1 (an error, nothing written) when the baseline directory is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_openenv-bench");

/// The searched runs of crates/report/tests/data/searched/ (see crates/report/tests/capacity.rs).
fn searched(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../report/tests/data/searched")
        .join(p)
        .join("2026-12-01")
}

fn analyze(out: &Path, input: &Path, baseline: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("analyze")
        .arg("-i")
        .arg(input)
        .arg("-o")
        .arg(out.join("figures"))
        .args(["--tables-only", "--no-log", "--baseline"])
        .arg(baseline)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn exit_codes_of_baseline() {
    let tmp = std::env::temp_dir().join(format!("openenv-cli-baseline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (big, small) = (searched("local-capped"), searched("local-capped-200"));

    let same = analyze(&tmp, &big, &big, &[]);
    let text = String::from_utf8_lossy(&same.stdout);
    assert_eq!(same.status.code(), Some(0), "{text}");
    assert!(
        text.contains("## Against the baseline") && text.contains("0 regression(s)"),
        "{text}"
    );

    let fell = analyze(&tmp, &small, &big, &[]);
    let text = String::from_utf8_lossy(&fell.stdout);
    assert_eq!(fell.status.code(), Some(5), "{text}");
    assert!(
        text.contains("| ws | 1.0 | capacity |") && text.contains("REGRESSION"),
        "{text}"
    );
    // The tables were still written.
    assert!(tmp.join("tables.md").is_file());

    // A tolerance above the fall: no regression on the capacity (p99 rows may differ by run).
    let tolerant = analyze(&tmp, &small, &big, &["--max-regression", "100"]);
    assert_eq!(
        tolerant.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&tolerant.stdout)
    );

    let _ = std::fs::remove_dir_all(&tmp);
    let missing = tmp.join("nope");
    let err = analyze(&tmp, &big, &missing, &[]);
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert_eq!(err.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("--baseline {}", missing.display())),
        "{stderr}"
    );
    assert!(
        !tmp.join("tables.md").exists(),
        "nothing written on a bad baseline"
    );

    let bad = analyze(&tmp, &big, &big, &["--max-regression=-1"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--max-regression"));
}
