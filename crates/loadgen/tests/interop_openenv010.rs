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

/// Records of `dir` by mode.
fn by_mode<'a>(raw: &'a [serde_json::Value], mode: &str) -> Vec<&'a serde_json::Value> {
    raw.iter().filter(|r| r["mode"] == mode).collect()
}

fn run_ok(args: &[&str]) {
    let out = scale_cmd(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "scale {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The echo environment of tests/python/echo_env.py (0.10's `create_app`): `--action`,
/// `--action-file` and `--reset-data` over WS and HTTP; every step rejected (an empty message
/// fails the environment's pydantic validation) is never a success; `--find-max` with an action.
#[test]
fn scale_drives_the_echo_environment_with_actions() {
    let _g = light();
    let srv = ChildServer::python_env_010("echo_env.py", &[("MAX_CONCURRENT_ENVS", "16")]);
    let url = srv.url();
    let dir = tmpdir("echo010");
    let d = dir.to_str().unwrap();
    let common = ["-u", &url, "--compare", "--cooldown", "0", "-o", d];

    // One action for every step: reward is the message length, summed over the 3 steps.
    let mut args = common.to_vec();
    args.extend([
        "-n",
        "6",
        "--steps",
        "3",
        "--action",
        r#"{"message":"hello"}"#,
    ]);
    args.extend(["--reset-data", r#"{"seed":7}"#]);
    run_ok(&args);
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 12);
    for r in &raw {
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(r["reward"], 15.0, "{r}");
        assert_eq!(
            (r["done"].as_bool(), r["episodes_done"].as_u64()),
            (Some(false), Some(0))
        );
        // No wait grid: 0 is the wait, and the environment reports no identity.
        assert_eq!(
            (r["wait_requested"].as_f64(), r["waited_seconds"].as_f64()),
            (Some(0.0), Some(0.0))
        );
        assert_eq!(
            (r["pid"].as_u64(), r["host_url"].as_str()),
            (Some(0), Some(""))
        );
    }
    assert_eq!(by_mode(&raw, "http").len(), 6);
    let rows = read_summary(&dir);
    for row in &rows {
        assert_eq!(row["successful"], "6");
        assert_eq!(row["wait_seconds"], "0.0");
        // Unknown, not 0 or 1: an empty field (NaN for pandas).
        for k in ["unique_pids", "unique_sessions", "unique_hosts"] {
            assert_eq!(row[k], "", "{k} in {row:?}");
        }
    }
    // pandas still reads it all, as the Python analyzer does.
    let check = std::process::Command::new(python())
        .arg(workspace_root().join("tests/python/check_results.py"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "check_results: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // An action file: step k sends line k mod 2 ("a", then "abcd"): 1 + 4 + 1.
    let file = dir.join("actions.jsonl");
    std::fs::write(&file, "{\"message\":\"a\"}\n{\"message\":\"abcd\"}\n").unwrap();
    let dir2 = tmpdir("echo010-file");
    let d2 = dir2.to_str().unwrap();
    let f = file.to_str().unwrap();
    run_ok(&[
        "-u",
        &url,
        "--compare",
        "-n",
        "3",
        "--steps",
        "3",
        "--action-file",
        f,
        "--cooldown",
        "0",
        "-o",
        d2,
    ]);
    let raw = read_raw(&dir2);
    assert_eq!(raw.len(), 6);
    assert!(
        raw.iter()
            .all(|r| r["success"] == true && r["reward"] == 6.0),
        "{raw:?}"
    );

    // Every step rejected: no session may count as a success, over either protocol.
    let dir3 = tmpdir("echo010-rejected");
    let d3 = dir3.to_str().unwrap();
    run_ok(&[
        "-u",
        &url,
        "--compare",
        "-n",
        "5",
        "--action",
        r#"{"message":""}"#,
        "--cooldown",
        "0",
        "-o",
        d3,
    ]);
    let raw = read_raw(&dir3);
    assert_eq!(raw.len(), 10);
    for r in &raw {
        assert_eq!(r["success"], false, "{r}");
        assert_eq!(r["error_type"], "ActionRejected", "{r}");
        let msg = r["error_message"].as_str().unwrap();
        assert!(msg.contains("string_too_short"), "{msg}");
    }
    for row in read_summary(&dir3) {
        assert_eq!(
            (row["successful"].as_str(), row["error_types"].as_str()),
            ("0", "ActionRejected:5")
        );
    }

    // --find-max with an action: every N up to the ceiling passes; with the rejected action
    // none does (exit 4, capacity "none").
    let dir4 = tmpdir("echo010-find");
    let d4 = dir4.to_str().unwrap();
    run_ok(&[
        "-u",
        &url,
        "--find-max",
        "--max-requests",
        "8",
        "--action",
        r#"{"message":"x"}"#,
        "--cooldown",
        "0",
        "-o",
        d4,
    ]);
    let cap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir4.join("capacity.json")).unwrap())
            .unwrap();
    assert_eq!(
        (
            cap[0]["max_batch"].as_u64(),
            cap[0]["wait_seconds"].as_f64()
        ),
        (Some(8), Some(0.0)),
        "{cap}"
    );
    let dir5 = tmpdir("echo010-find-rejected");
    let d5 = dir5.to_str().unwrap();
    let out = scale_cmd(&[
        "-u",
        &url,
        "--find-max",
        "--max-requests",
        "8",
        "--action",
        r#"{"message":""}"#,
        "--cooldown",
        "0",
        "-o",
        d5,
    ])
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir5.join("capacity.json")).unwrap())
            .unwrap();
    assert!(cap[0]["max_batch"].is_null(), "{cap}");
    for d in [dir, dir2, dir3, dir4, dir5] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Bad `--action` / `--action-file` input stops `scale` before it writes anything.
#[test]
fn bad_actions_are_refused_before_anything_is_written() {
    let dir = tmpdir("bad-actions");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.jsonl");
    std::fs::write(&file, "{\"message\":\"a\"}\n[1,2]\n").unwrap();
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let out_dir = dir.join("out");
    let o = out_dir.to_str().unwrap();
    let (f, e) = (file.to_str().unwrap(), empty.to_str().unwrap());
    let missing = dir.join("missing.jsonl");
    let m = missing.to_str().unwrap();
    for (args, want) in [
        (vec!["--action", "{nope"], "--action: not JSON"),
        (vec!["--action", "[1]"], "--action: not a JSON object"),
        (vec!["--action-file", f], "line 2: not a JSON object"),
        (vec!["--action-file", e], "no action"),
        (vec!["--action-file", m], "missing.jsonl"),
        (
            vec!["--mcp-tool", "t", "--mcp-args", "1"],
            "--mcp-args: not a JSON object",
        ),
        (
            vec!["--action", "{}", "--reset-data", "x"],
            "--reset-data: not JSON",
        ),
    ] {
        let mut argv = vec!["-u", "http://127.0.0.1:9", "-o", o];
        argv.extend(args.iter().copied());
        let out = scale_cmd(&argv).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!out_dir.exists(), "{args:?} wrote {}", out_dir.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The MCP environment of tests/python/mcp_env.py (0.10's `MCPEnvironment` + FastMCP tools):
/// `--mcp-tool` over WS (`mcp` messages) and HTTP (`POST /mcp` on a session of its own, as
/// `MCPToolClient` does). A JSON-RPC error is a failure; the HTTP sessions are closed (a second
/// run at the server's capacity would fail otherwise).
#[test]
fn scale_calls_mcp_tools_of_the_mcp_environment() {
    let _g = light();
    let srv = ChildServer::python_env_010("mcp_env.py", &[("MAX_CONCURRENT_ENVS", "6")]);
    let url = srv.url();
    let dir = tmpdir("mcp010");
    let d = dir.to_str().unwrap();
    // An unknown tool first: every call fails, and each HTTP session is closed anyway.
    run_ok(&[
        "-u",
        &url,
        "--compare",
        "-n",
        "6",
        "--mcp-tool",
        "nosuch",
        "--cooldown",
        "0",
        "-o",
        d,
    ]);
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 12);
    for r in &raw {
        assert_eq!(
            (r["success"].as_bool(), r["error_type"].as_str()),
            (Some(false), Some("ToolError")),
            "{r}"
        );
        assert!(
            r["error_message"]
                .as_str()
                .unwrap()
                .contains("Unknown tool"),
            "{r}"
        );
    }
    for _ in 0..2 {
        run_ok(&[
            "-u",
            &url,
            "--compare",
            "-n",
            "6",
            "--steps",
            "2",
            "--mcp-tool",
            "add",
            "--mcp-args",
            r#"{"a":2,"b":3}"#,
            "--cooldown",
            "0",
            "-o",
            d,
        ]);
    }
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 36);
    for r in &raw[12..] {
        assert_eq!(r["success"], true, "{r}");
        assert!(r["reward"].is_null() && r["steps"] == 2, "{r}");
    }
    // HTTP: session create is the reset phase, session close the close phase.
    assert!(by_mode(&raw[12..], "http")
        .iter()
        .all(|r| r["close_latency"].as_f64().unwrap() > 0.0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--mcp-tool` against our server (an environment without tools, answered as 0.10 answers):
/// each call is a `ToolError`, never a success.
#[test]
fn mcp_tool_calls_to_a_server_without_tools_fail() {
    let _g = light();
    let srv = ChildServer::ours(&[]);
    let dir = tmpdir("mcp-ours");
    let d = dir.to_str().unwrap();
    run_ok(&[
        "-u",
        &srv.url(),
        "-n",
        "3",
        "--mcp-tool",
        "echo",
        "--cooldown",
        "0",
        "-o",
        d,
    ]);
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 3);
    for r in &raw {
        assert_eq!(r["error_type"], "ToolError", "{r}");
        assert!(
            r["error_message"]
                .as_str()
                .unwrap()
                .contains("Environment does not support MCP"),
            "{r}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
