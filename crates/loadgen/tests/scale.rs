//! The load engine against our server: in-process servers on port 0 for the grid logic, and
//! `openenv-bench` processes (server and `scale`) where signals, kills and worker processes
//! are the point.

// Each test has its own thread and runtime; the RwLock in `common` only keeps the giant cell
// apart from the others, so holding it across awaits is the point.
#![allow(clippy::await_holding_lock)]

mod common;

use common::*;
use openenv_loadgen::{run_cell, run_grid_until, CellParams, Event, GridSpec, Mode, Observer};
use openenv_server::{ServerConfig, ServerHandle};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Recorder {
    warnings: Vec<String>,
    progress_events: usize,
    finished: usize,
}

impl Observer for Recorder {
    fn on_event(&mut self, e: Event<'_>) {
        match e {
            Event::Warning(w) => self.warnings.push(w),
            Event::Progress(_) => self.progress_events += 1,
            Event::CellFinished { .. } => self.finished += 1,
            _ => {}
        }
    }
}

async fn server(max_envs: usize) -> ServerHandle {
    let cfg = ServerConfig {
        max_concurrent_envs: max_envs,
        ..ServerConfig::default()
    };
    ServerHandle::start("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap()
}

/// How most tests here start: the light-load lock, an in-process server, a fresh results dir.
async fn setup(
    name: &str,
    max_envs: usize,
) -> (
    std::sync::RwLockReadGuard<'static, ()>,
    ServerHandle,
    std::path::PathBuf,
) {
    let load = light();
    (load, server(max_envs).await, tmpdir(name))
}

/// And how they end.
async fn teardown(srv: ServerHandle, dir: &std::path::Path) {
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

async fn run(spec: &GridSpec, obs: &mut Recorder) -> openenv_loadgen::GridOutcome {
    run_grid_until(spec, obs, std::future::pending())
        .await
        .unwrap()
}

#[tokio::test]
async fn ws_and_http_grid_with_reps_and_steps() {
    let (_load, srv, dir) = setup("grid", 0).await;
    let g = GridSpec {
        modes: vec![Mode::Http, Mode::Ws], // --compare
        batch_sizes: vec![1, 5],
        waits: vec![0.0, 0.05],
        reps: 2,
        steps: 3,
        ..spec(vec![srv.http_url()], &dir)
    };
    let mut obs = Recorder::default();
    let out = run(&g, &mut obs).await;
    assert!(!out.interrupted && !out.missing_hosts, "{:?}", obs.warnings);
    assert_eq!(out.cells.len(), 16);
    assert_eq!(obs.finished, 16);

    let rows = read_summary(&dir);
    assert_eq!(rows.len(), 16);
    // Cells in order: mode, wait, N, repetition.
    let order: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["mode"].clone(),
                r["wait_seconds"].clone(),
                r["batch_size"].clone(),
                r["repetition"].clone(),
            )
        })
        .collect();
    assert_eq!(
        order[0],
        ("http".into(), "0.0".into(), "1".into(), "1".into())
    );
    assert_eq!(
        order[1],
        ("http".into(), "0.0".into(), "1".into(), "2".into())
    );
    assert_eq!(order[2].2, "5");
    assert_eq!(
        order[8],
        ("ws".into(), "0.0".into(), "1".into(), "1".into())
    );
    for r in &rows {
        assert_eq!(r["failed"], "0", "{r:?}");
        assert_eq!(r["steps"], "3");
        let n: usize = r["batch_size"].parse().unwrap();
        // One session_hash per record (for HTTP, that of the env that ran the last step).
        assert_eq!(r["unique_sessions"].parse::<usize>().unwrap(), n);
    }

    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 2 * 2 * 2 * (1 + 5));
    for rec in &raw {
        assert_eq!(rec["success"], true, "{rec}");
        let wait = rec["wait_requested"].as_f64().unwrap();
        let waited = rec["waited_seconds"].as_f64().unwrap();
        assert!((waited - 3.0 * wait).abs() < 1e-9, "{rec}");
        assert!(rec["step_latency"].as_f64().unwrap() >= 3.0 * wait);
        let parts = ["connect_latency", "reset_latency", "step_latency"]
            .iter()
            .map(|k| rec[k].as_f64().unwrap())
            .sum::<f64>();
        assert!(rec["total_latency"].as_f64().unwrap() >= parts);
    }
    teardown(srv, &dir).await;
}

#[tokio::test]
async fn urls_round_robin_and_expected_hosts() {
    let _load = light();
    let (a, b) = (server(0).await, server(0).await);
    let dir = tmpdir("urls");
    let mut g = GridSpec {
        expected_hosts: 2,
        ..one_cell(vec![a.http_url(), b.http_url()], &dir, 6, 0.0)
    };
    let mut obs = Recorder::default();
    let out = run(&g, &mut obs).await;
    assert!(!out.missing_hosts, "{:?}", obs.warnings);
    assert_eq!(out.cells[0].summary.unique_hosts, Some(2));
    assert_eq!(
        out.cells[0].summary.url,
        format!("{},{}", a.http_url(), b.http_url())
    );
    let raw = read_raw(&dir);
    for rec in &raw {
        let id = rec["request_id"].as_u64().unwrap();
        let want = if id % 2 == 0 {
            a.http_url()
        } else {
            b.http_url()
        };
        assert_eq!(rec["url"], want.as_str());
        let port = if id % 2 == 0 {
            a.local_addr().port()
        } else {
            b.local_addr().port()
        };
        assert!(
            rec["host_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":{port}")),
            "{rec}"
        );
    }

    // Only one server now, two expected: flagged, with a warning.
    g.urls = vec![a.http_url()];
    let mut obs = Recorder::default();
    let out = run(&g, &mut obs).await;
    assert!(out.missing_hosts);
    assert!(
        obs.warnings
            .iter()
            .any(|w| w.contains("1 distinct host_url answered, 2 expected")),
        "{:?}",
        obs.warnings
    );
    // Appended to the same files.
    assert_eq!(read_summary(&dir).len(), 2);
    assert_eq!(read_raw(&dir).len(), 12);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn capacity_rejections_are_classified() {
    let (_load, srv, dir) = setup("capacity", 2).await;
    let g = one_cell(vec![srv.http_url()], &dir, 6, 0.5);
    let out = run(&g, &mut Recorder::default()).await;
    let s = &out.cells[0].summary;
    assert_eq!((s.successful, s.failed), (2, 4));
    assert_eq!(s.error_types, "CapacityReached:4");
    for rec in read_raw(&dir).iter().filter(|r| r["success"] == false) {
        assert_eq!(rec["error_type"], "CapacityReached");
        assert!(
            rec["error_message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("capacity"),
            "{rec}"
        );
        // The upgrade itself went through (101): it is not a connect failure.
        assert!(rec["connect_latency"].as_f64().unwrap() > 0.0);
    }
    teardown(srv, &dir).await;
}

#[tokio::test]
async fn ramp_spreads_the_session_starts() {
    let (_load, srv, dir) = setup("ramp", 0).await;
    let g = GridSpec {
        ramp: 1.0,
        ..one_cell(vec![srv.http_url()], &dir, 5, 0.0)
    };
    let out = run(&g, &mut Recorder::default()).await;
    let s = &out.cells[0].summary;
    assert_eq!(s.successful, 5);
    // Session i starts at i/5 s: the last at 0.8 s.
    assert!(s.total_wall_time >= 0.8, "wall {}", s.total_wall_time);
    let stamps: Vec<String> = read_raw(&dir)
        .iter()
        .map(|r| r["timestamp"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "request_id order is start order");
    teardown(srv, &dir).await;
}

/// A WS server that answers reset and step but ignores `{"type":"close"}` and never sends a close
/// frame. Reports, per connection, how it ended and how long after the close request.
async fn server_that_never_closes() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, Duration)>,
) {
    use futures_util::{SinkExt, StreamExt};
    use openenv_protocol::{Observation, ServerMessage, StepResponse};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let mut close_asked: Option<Instant> = None;
                let end = loop {
                    let text = match ws.next().await {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(other)) => break (format!("frame {other:?}"), Duration::ZERO),
                        end => {
                            let after = close_asked.map(|t| t.elapsed()).unwrap_or_default();
                            break (format!("ended: {end:?}"), after);
                        }
                    };
                    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let step_count = match v["type"].as_str().unwrap() {
                        "reset" => 0,
                        "step" => 1,
                        "close" => {
                            close_asked = Some(Instant::now());
                            continue;
                        }
                        other => panic!("unexpected request {other}"),
                    };
                    let reply = ServerMessage::Observation(StepResponse {
                        observation: Observation {
                            waited_seconds: 0.0,
                            pid: 1,
                            session_hash: "0123456789ab".into(),
                            host_url: "test:0".into(),
                            step_count,
                        },
                        reward: None,
                        done: false,
                    });
                    let json = serde_json::to_string(&reply).unwrap();
                    ws.send(Message::text(json)).await.unwrap();
                };
                let _ = tx.send(end);
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn a_close_that_misses_its_deadline_is_aborted_not_failed() {
    let _load = light();
    let (url, mut ends) = server_that_never_closes().await;
    let dir = tmpdir("close-timeout");
    // Two processes (one session each): the count travels back from the worker too.
    let g = GridSpec {
        close_timeout: 0.5,
        sessions_per_process: Some(1),
        worker_command: Some(worker_cmd()),
        ..one_cell(vec![url], &dir, 2, 0.0)
    };
    let t = Instant::now();
    let out = run(&g, &mut Recorder::default()).await;
    // Well within --timeout (20 s) and the old 10 s close deadline.
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "took {:?}",
        t.elapsed()
    );
    let s = &out.cells[0].summary;
    assert_eq!(s.loadgen.processes, 2);
    assert_eq!((s.successful, s.failed), (2, 0), "{}", s.error_types);
    assert_eq!(s.loadgen.close_timeouts, 2);
    assert_eq!(read_summary(&dir)[0]["close_timeouts"], "2");
    for rec in read_raw(&dir) {
        assert_eq!(rec["success"], true, "{rec}");
        let close = rec["close_latency"].as_f64().unwrap();
        assert!((0.5..3.0).contains(&close), "{rec}");
        assert!(rec["total_latency"].as_f64().unwrap() >= close, "{rec}");
    }
    // The client aborted each connection (RST): the server's read fails, no close frame.
    for _ in 0..2 {
        let (end, after) = tokio::time::timeout(Duration::from_secs(5), ends.recv())
            .await
            .expect("a server connection never ended")
            .unwrap();
        assert!(end.contains("ConnectionReset"), "{end}");
        assert!(
            after >= Duration::from_millis(400),
            "ended {after:?} after close"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_server_that_closes_promptly_counts_no_close_timeouts() {
    let (_load, srv, dir) = setup("close-ok", 0).await;
    let g = GridSpec {
        close_timeout: 0.5,
        ..one_cell(vec![srv.http_url()], &dir, 3, 0.0)
    };
    let out = run(&g, &mut Recorder::default()).await;
    let s = &out.cells[0].summary;
    assert_eq!((s.successful, s.loadgen.close_timeouts), (3, 0));
    assert_eq!(read_summary(&dir)[0]["close_timeouts"], "0");
    teardown(srv, &dir).await;
}

#[tokio::test]
async fn nothing_listening_is_connection_refused() {
    let _load = light();
    let dir = tmpdir("refused");
    let g = GridSpec {
        batch_sizes: vec![3],
        modes: vec![Mode::Http, Mode::Ws],
        ..spec(vec![format!("http://127.0.0.1:{}", free_port())], &dir)
    };
    let out = run(&g, &mut Recorder::default()).await;
    for c in &out.cells {
        assert_eq!(c.summary.error_types, "ConnectionRefused:3");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn worker_processes_share_a_cell_and_merge_records() {
    let (_load, srv, dir) = setup("workers", 0).await;
    let g = GridSpec {
        sessions_per_process: Some(100),
        worker_command: Some(worker_cmd()),
        ..one_cell(vec![srv.http_url()], &dir, 250, 0.2)
    };
    let mut obs = Recorder::default();
    let out = run(&g, &mut obs).await;
    let s = &out.cells[0].summary;
    assert_eq!(s.loadgen.processes, 3);
    assert_eq!(s.successful, 250, "{}", s.error_types);
    assert!(s.loadgen.cpu_seconds > 0.0 && s.loadgen.peak_rss_bytes > 0);
    let raw = read_raw(&dir);
    let ids: Vec<u64> = raw
        .iter()
        .map(|r| r["request_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (0..250).collect::<Vec<_>>());
    let workers: BTreeMap<u64, usize> = raw.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r["worker"].as_u64().unwrap()).or_default() += 1;
        m
    });
    assert_eq!(workers, BTreeMap::from([(0, 84), (1, 83), (2, 83)]));
    // Aligned: every process started its sessions from the same intended start.
    let max_delay = raw
        .iter()
        .map(|r| r["start_delay"].as_f64().unwrap())
        .fold(0.0, f64::max);
    eprintln!("largest start delay over 3 processes: {max_delay:.4} s");
    assert!(obs.progress_events > 0);
    teardown(srv, &dir).await;
}

#[tokio::test]
async fn a_worker_that_dies_leaves_worker_lost_records() {
    let (_load, srv, dir) = setup("worker-dies", 0).await;
    let g = GridSpec {
        sessions_per_process: Some(2),
        // Reads its share, then dies without a word; `{worker}` is the worker's number.
        worker_command: Some(vec![
            "sh".into(),
            "-c".into(),
            "head -n1 >/dev/null; exit 1{worker}".into(),
        ]),
        ..one_cell(vec![srv.http_url()], &dir, 6, 0.0)
    };
    let out = run(&g, &mut Recorder::default()).await;
    let s = &out.cells[0].summary;
    assert_eq!((s.successful, s.failed), (2, 4));
    assert_eq!(s.error_types, "WorkerLost:4");
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 6);
    for r in raw.iter().filter(|r| r["success"] == false) {
        let id = r["request_id"].as_u64().unwrap();
        let code = if id < 4 {
            "exit status: 11"
        } else {
            "exit status: 12"
        };
        assert!(id >= 2);
        assert!(r["error_message"].as_str().unwrap().contains(code), "{r}");
    }
    teardown(srv, &dir).await;
}

#[test]
fn ctrl_c_records_the_cell_in_flight() {
    interrupt_records_the_cell_in_flight(libc::SIGINT);
}

/// What `timeout`, `docker stop` and SLURM send: handled like Ctrl-C (issue 13, item 8).
#[test]
fn sigterm_records_the_cell_in_flight() {
    interrupt_records_the_cell_in_flight(libc::SIGTERM);
}

#[test]
fn sighup_records_the_cell_in_flight() {
    interrupt_records_the_cell_in_flight(libc::SIGHUP);
}

fn interrupt_records_the_cell_in_flight(signal: i32) {
    let _load = light();
    let srv = ChildServer::ours(&[("MAX_CONCURRENT_ENVS", "0")]);
    let dir = tmpdir(&format!("signal{signal}"));
    let child = scale_into(
        &dir,
        &[
            "-u",
            &srv.url(),
            "--requests-grid",
            "4,30",
            "-w",
            "5",
            "--cooldown",
            "0",
            "--sessions-per-process",
            "20",
        ],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // The first cell (5 s) is in flight; interrupt it.
    std::thread::sleep(Duration::from_millis(2500));
    unsafe { libc::kill(child.id() as i32, signal) };
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(t.elapsed() < Duration::from_secs(10), "slow to stop");
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 4, "only the cell in flight, whole lines");
    for r in &raw {
        assert_eq!(r["error_type"], "Interrupted", "{r}");
        // Recorded as far as it got: it had connected and reset before the signal.
        assert!(
            r["connect_latency"].as_f64().unwrap() > 0.0
                && r["reset_latency"].as_f64().unwrap() > 0.0
        );
    }
    let rows = read_summary(&dir);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["interrupted"], "True");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctrl_c_reaches_worker_processes() {
    interrupt_reaches_worker_processes(libc::SIGINT, false);
}

/// SLURM and `kill -TERM -PGID` signal every process of the group, the workers too: they stop
/// and report their sessions, none is lost.
#[test]
fn sigterm_to_the_process_group_reaches_worker_processes() {
    interrupt_reaches_worker_processes(libc::SIGTERM, true);
}

fn interrupt_reaches_worker_processes(signal: i32, to_group: bool) {
    use std::os::unix::process::CommandExt;
    let _load = light();
    let srv = ChildServer::ours(&[("MAX_CONCURRENT_ENVS", "0")]);
    let dir = tmpdir(&format!("signal{signal}-workers"));
    let child = scale_into(
        &dir,
        &[
            "-u",
            &srv.url(),
            "-n",
            "30",
            "-w",
            "5",
            "--sessions-per-process",
            "10",
        ],
    )
    .stderr(std::process::Stdio::piped())
    .process_group(0)
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let pid = child.id() as i32;
    unsafe { libc::kill(if to_group { -pid } else { pid }, signal) };
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 130);
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 30);
    let workers: HashSet<u64> = raw.iter().map(|r| r["worker"].as_u64().unwrap()).collect();
    assert_eq!(workers.len(), 3);
    assert!(
        raw.iter().all(|r| r["error_type"] == "Interrupted"),
        "workers report their own sessions as interrupted"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn server_killed_mid_cell_gives_failed_records_not_a_hang() {
    let _load = light();
    let mut srv = ChildServer::ours(&[("MAX_CONCURRENT_ENVS", "0")]);
    let dir = tmpdir("killed");
    let child = scale_into(
        &dir,
        &[
            "-u",
            &srv.url(),
            "--requests-grid",
            "40,5",
            "-w",
            "3",
            "-t",
            "60",
            "--cooldown",
            "0",
        ],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    srv.kill();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    // Far below the 60 s per-request timeout: the dead connections are noticed at once.
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 45);
    let by_cell: Vec<(u64, String)> = raw
        .iter()
        .map(|r| {
            (
                r["batch_size"].as_u64().unwrap(),
                r["error_type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        by_cell
            .iter()
            .filter(|(n, _)| *n == 40)
            .all(|(_, e)| e == "ClosedEarly"),
        "{by_cell:?}"
    );
    // The next cell finds nothing listening.
    assert!(
        by_cell
            .iter()
            .filter(|(n, _)| *n == 5)
            .all(|(_, e)| e == "ConnectionRefused"),
        "{by_cell:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_frozen_server_gives_timeouts_within_the_deadline() {
    let _load = light();
    let srv = ChildServer::ours(&[]);
    let dir = tmpdir("frozen");
    // SIGSTOP to the server we started: the kernel still completes TCP handshakes into the
    // backlog, but nothing answers.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGSTOP) };
    let t = Instant::now();
    let out = scale_into(&dir, &["-u", &srv.url(), "-n", "5", "-t", "1.5"])
        .output()
        .unwrap();
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGCONT) };
    assert_exit(&out, 0);
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    for r in read_raw(&dir) {
        assert_eq!(r["error_type"], "Timeout", "{r}");
        assert!(
            r["error_message"].as_str().unwrap().contains("upgrade"),
            "{r}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn foreign_summary_header_is_refused_and_nothing_written() {
    let _load = light();
    let dir = tmpdir("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    let foreign = "when,what\n1,2\n";
    std::fs::write(dir.join("summary.csv"), foreign).unwrap();
    let out = scale_into(&dir, &["-u", "http://127.0.0.1:9", "-n", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("foreign header"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("summary.csv")).unwrap(),
        foreign
    );
    assert!(!dir.join("raw.jsonl").exists() && !dir.join("run.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn require_hosts_turns_the_warning_into_an_exit_code() {
    let _load = light();
    let srv = ChildServer::ours(&[]);
    let dir = tmpdir("hosts");
    let d = dir.to_str().unwrap();
    let base = [
        "-u",
        &srv.url(),
        "-n",
        "2",
        "-w",
        "0",
        "--expected-hosts",
        "2",
        "-o",
        d,
    ];
    let warn = scale_cmd(&base).output().unwrap();
    assert_eq!(warn.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&warn.stderr).contains("2 expected"));
    let fail = scale_cmd(&[&base[..], &["--require-hosts"]].concat())
        .output()
        .unwrap();
    assert_exit(&fail, 3);
    let ok = scale_cmd(&[
        "-u",
        &srv.url(),
        "-n",
        "2",
        "-w",
        "0",
        "--require-hosts",
        "-o",
        d,
    ])
    .output()
    .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["previous_runs"].as_array().unwrap().len(), 2);
    assert!(run["command_line"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "--require-hosts"));
    assert_eq!(read_summary(&dir).len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 25,000 concurrent WS sessions: more than one process can hold (20,000 open files each), so
/// the server runs 2 workers and `scale` spreads the cell over worker processes and loopback
/// source addresses. Every record must be in the files.
#[test]
fn twenty_five_thousand_ws_sessions_in_one_cell() {
    let _load = heavy();
    let srv = ChildServer::ours(&[("WORKERS", "2"), ("MAX_CONCURRENT_ENVS", "0")]);
    let dir = tmpdir("25k");
    let t = Instant::now();
    let out = scale_into(
        &dir,
        &["-u", &srv.url(), "-n", "25000", "-w", "1", "-t", "60"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}\n25k cell took {:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 25_000);
    let ids: HashSet<u64> = raw
        .iter()
        .map(|r| r["request_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 25_000);
    let rows = read_summary(&dir);
    let procs: usize = rows[0]["loadgen_processes"].parse().unwrap();
    assert!(procs >= 2, "one process cannot hold 25,000 sockets");
    let pids: usize = rows[0]["unique_pids"].parse().unwrap();
    assert_eq!(
        rows[0]["successful"], "25000",
        "failures: {}",
        rows[0]["error_types"]
    );
    assert_eq!(pids, 2, "both server workers served");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One cell as a library call (what a capacity search does): no files, every record back, each
/// session's intended start offset in its record, also from worker processes.
#[tokio::test]
async fn run_cell_returns_the_records_with_their_start_offsets() {
    let _load = light();
    let srv = server(0).await;
    let g = GridSpec {
        urls: vec![srv.http_url()],
        ramp: 0.6,
        timeout: 20.0,
        sessions_per_process: Some(2),
        worker_command: Some(worker_cmd()),
        ..GridSpec::default()
    };
    let cell = CellParams {
        mode: Mode::Ws,
        wait: 0.0,
        batch_size: 6,
        repetition: 2,
    };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut obs = Recorder::default();
    let r = run_cell(&g, &cell, &mut obs, stop).await.unwrap();
    assert_eq!(r.summary.successful, 6, "{}", r.summary.error_types);
    assert_eq!(r.summary.loadgen.processes, 3);
    assert_eq!((r.summary.batch_size, r.summary.repetition), (6, 2));
    assert!(!r.missing_hosts, "{:?}", r.warnings);
    assert_eq!(obs.finished, 0, "cell events are the grid's");
    let ids: Vec<usize> = r.records.iter().map(|r| r.request_id).collect();
    assert_eq!(ids, (0..6).collect::<Vec<_>>());
    for rec in &r.records {
        let want = 0.6 * rec.request_id as f64 / 6.0;
        assert!((rec.start_offset - want).abs() < 1e-12, "{rec:?}");
        assert_eq!(rec.worker, rec.request_id / 2);
    }
    // The last session was meant to start 0.5 s in: the wall time covers it.
    assert!(
        r.summary.total_wall_time >= 0.5,
        "{}",
        r.summary.total_wall_time
    );
    srv.shutdown().await.unwrap();
}
