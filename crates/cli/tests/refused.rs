//! Input `scale` and `experiment` cannot run is refused before the output directory is touched,
//! with exit status 1 and a message saying what is wrong (issue 13): a cell larger than the
//! machine holds, a bad URL, a foreign raw.jsonl, a corrupt run.json.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_openenv-bench");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("openenv-cli-refused-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `scale` with an open-files limit of 4096 (soft and hard), so the limits checked do not
/// depend on the machine's.
fn scale(dir: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .args(["-c", "ulimit -n 4096 && exec \"$0\" \"$@\"", BIN, "scale"])
        .arg("-o")
        .arg(dir)
        .args(["-w", "0", "--cooldown", "0", "--timeout", "2"])
        .args(args)
        .output()
        .unwrap()
}

/// The directory's entries and their contents, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<_> = entries
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

fn assert_refused(out: &Output, what: &str, wanted: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    for w in wanted {
        assert!(err.contains(w), "{what}: no {w:?} in: {err}");
    }
}

/// N=10^9 in one process used to abort on a 296 GB allocation after creating raw.jsonl and a
/// header-only summary.csv; N=10^9 over worker processes would start 52,000 of them. Both
/// are refused naming the limit, before the directory exists.
#[test]
fn a_cell_larger_than_the_machine_holds_is_refused_before_anything_is_written() {
    let cases: &[(&[&str], &[&str])] = &[
        // The command (memory or open files, whichever this machine runs out of first).
        (
            &[
                "--requests-grid",
                "1000000000",
                "--sessions-per-process",
                "1000000000",
            ],
            &["N=1000000000", "does not fit"],
        ),
        // 10^12 sessions' records need over 100 TB: no machine's memory.
        (
            &["--requests-grid", "10,1000000000000"],
            &["N=1000000000000", "does not fit in memory", "MemAvailable"],
        ),
        // Fits in memory, not in the open-files limit of one process.
        (
            &["-n", "100000", "--sessions-per-process", "100000"],
            &[
                "N=100000",
                "open-files limit (4096)",
                "--sessions-per-process",
            ],
        ),
        // Over worker processes: the parent's pipes to 5,000 workers do not fit either.
        (
            &["-n", "1000000", "--sessions-per-process", "200"],
            &["N=1000000", "open-files limit (4096)", "worker pipes"],
        ),
        (&["--reps", "4000000000"], &["4000000000 cells", "1000000"]),
    ];
    for (i, (args, wanted)) in cases.iter().enumerate() {
        let dir = tmpdir(&format!("big{i}"));
        let out = scale(&dir, &[&["-u", "http://127.0.0.1:9"], *args].concat());
        assert_refused(&out, &format!("{args:?}"), wanted);
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
}

/// `-u http://user:pass@host` used to create the files and then fail to resolve
/// `user:pass@host`. Every URL (`-u`, each of `--urls`) is checked first, and a name that does
/// not resolve is refused before the directory is touched too.
#[test]
fn bad_urls_are_refused_before_anything_is_written() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["-u", "http://user:pass@127.0.0.1:9"],
            &["user:pass@127.0.0.1:9", "user info"],
        ),
        (
            &["--urls", "http://127.0.0.1:9,http://bob@127.0.0.1:10"],
            &["bob@127.0.0.1:10", "user info"],
        ),
        (&["-u", "http://127.0.0.1:0"], &["bad port \"0\""]),
        (&["-u", "http://127.0.0.1:70000"], &["bad port \"70000\""]),
        (&["-u", "gopher://127.0.0.1:9"], &["scheme"]),
        (&["-u", "127.0.0.1:9"], &["missing scheme"]),
        (&["-u", "http://:9"], &["missing host"]),
        (&["-u", "http://127.0.0.1:9/?a=1"], &["query"]),
        (&["-u", "http://a b:9"], &["whitespace"]),
        (
            &["-u", "http://no-such-host.invalid:9"],
            &["cannot resolve no-such-host.invalid"],
        ),
    ];
    for (i, (args, wanted)) in cases.iter().enumerate() {
        let dir = tmpdir(&format!("url{i}"));
        let out = scale(&dir, &[&["-n", "1"], *args].concat());
        assert_refused(&out, &format!("{args:?}"), wanted);
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
    // `experiment --url` goes through the same checks before its run directory exists.
    let results = tmpdir("url-experiment");
    let out = Command::new(BIN)
        .args(["experiment", "--infra", "remote", "--no-analyze"])
        .args(["--url", "http://user:pass@127.0.0.1:9"])
        .args(["--requests-grid", "1", "--wait-grid", "0", "--reps", "1"])
        .arg("--results-dir")
        .arg(&results)
        .output()
        .unwrap();
    assert_refused(&out, "experiment", &["user info"]);
    assert!(
        !results.exists(),
        "experiment created {}",
        results.display()
    );
}

/// A foreign raw.jsonl used to be appended to, a corrupt run.json overwritten: both are refused
/// naming the file, and nothing in the directory changes.
#[test]
fn a_foreign_raw_jsonl_or_a_corrupt_run_json_is_refused_and_left_alone() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "raw.jsonl",
            b"{\"level\": \"info\", \"msg\": \"started\"}\n",
            "is not a raw.jsonl",
        ),
        ("raw.jsonl", b"id,value\n1,2\n", "is not a raw.jsonl"),
        (
            "run.json",
            b"{\"tool\": \"openenv-bench\", \"hand note\": ",
            "cannot be read as a run.json",
        ),
        ("run.json", b"", "cannot be read as a run.json"),
    ];
    for (i, (name, content, wanted)) in cases.iter().enumerate() {
        let dir = tmpdir(&format!("foreign{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), content).unwrap();
        let before = snapshot(&dir);
        let out = scale(&dir, &["-u", "http://127.0.0.1:9", "-n", "1"]);
        let path = dir.join(name).display().to_string();
        assert_refused(&out, name, &[&path, wanted, "nothing was written"]);
        assert_eq!(snapshot(&dir), before, "{name}: the directory changed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
