//! Workers across processes and nodes (issue 12 part 1, issue 13's silent worker): the start
//! barrier, `scale --slurm`'s srun workers (through a stand-in `srun` that runs them here),
//! `client_host` and `run.json`'s `loadgen_hosts`, and workers that die, never speak or lie
//! about their clock. Loopback only.

// Each test has its own thread and runtime; the RwLock in `common` only keeps the giant cell of
// scale.rs apart from the others, so holding it across awaits is the point.
#![allow(clippy::await_holding_lock)]

mod common;

use common::*;
use openenv_loadgen::{run_grid_until, Event, GridSpec, Observer, SlurmWorkers};
use openenv_server::{ServerConfig, ServerHandle};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Warnings(Vec<String>);

impl Observer for Warnings {
    fn on_event(&mut self, e: Event<'_>) {
        if let Event::Warning(w) = e {
            self.0.push(w);
        }
    }
}

async fn server() -> ServerHandle {
    let cfg = ServerConfig {
        max_concurrent_envs: 0,
        ..ServerConfig::default()
    };
    ServerHandle::start("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap()
}

fn spec(url: String, dir: &std::path::Path) -> GridSpec {
    GridSpec {
        urls: vec![url],
        output_dir: Some(dir.to_owned()),
        cooldown: 0.0,
        timeout: 20.0,
        command_line: vec!["test".into()],
        ..GridSpec::default()
    }
}

fn run_json(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

fn hostname() -> String {
    let out = std::process::Command::new("hostname").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Exactly one record per session id 0..n.
fn assert_one_record_each(raw: &[serde_json::Value], n: u64) {
    let ids: Vec<u64> = raw
        .iter()
        .map(|r| r["request_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len() as u64, n, "one record per session");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len() as u64, n);
    assert!(ids.iter().all(|&i| i < n));
}

#[tokio::test]
async fn slurm_workers_run_every_session_with_client_host_and_hosts_in_run_json() {
    let _load = light();
    let srv = server().await;
    let dir = tmpdir("slurm-workers");
    let log = dir.with_extension("srun.log");
    let _ = std::fs::remove_file(&log);
    let srun = format!("{}/tests/fixtures/fake-srun", env!("CARGO_MANIFEST_DIR"));
    let g = GridSpec {
        batch_sizes: vec![40],
        waits: vec![0.2],
        reps: 2,
        slurm: Some(SlurmWorkers {
            nodes: vec!["nodeA".into(), "nodeB".into()],
            srun: vec![srun, format!("--log={}", log.display())],
            worker: worker_cmd(),
        }),
        ..spec(srv.http_url(), &dir)
    };
    let out = run_grid_until(&g, &mut Warnings::default(), std::future::pending())
        .await
        .unwrap();
    for c in &out.cells {
        let s = &c.summary;
        assert_eq!(s.successful, 40, "{}", s.error_types);
        // Workers only: one per node, none in this process.
        assert_eq!(s.loadgen.processes, 2);
    }
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 80);
    let me = hostname();
    let workers: BTreeMap<u64, usize> = raw.iter().fold(BTreeMap::new(), |mut m, r| {
        assert_eq!(r["client_host"], me.as_str(), "{r}");
        *m.entry(r["worker"].as_u64().unwrap()).or_default() += 1;
        m
    });
    assert_eq!(workers, BTreeMap::from([(1, 40), (2, 40)]));
    // One intended start for both workers: each session's start delay is small.
    let late = raw
        .iter()
        .map(|r| r["start_delay"].as_f64().unwrap())
        .fold(0.0, f64::max);
    eprintln!("largest start delay over 2 srun workers: {late:.4} s");
    // Each worker its own job step on its own node.
    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 4, "two steps per cell: {calls}");
    for node in ["nodeA", "nodeB"] {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(&format!("--nodelist={node} ")))
                .count(),
            2,
            "{calls}"
        );
    }
    assert!(lines
        .iter()
        .all(|l| l.starts_with("--overlap --nodes=1 --ntasks=1 ")));
    assert!(calls.contains("--job-name=openenv-lg-1") && calls.contains("--job-name=openenv-lg-2"));
    // run.json: the host, its two processes, both cells, and its measured clock.
    let hosts = run_json(&dir)["loadgen_hosts"].clone();
    let hosts = hosts.as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let h = &hosts[0];
    assert_eq!(h["host"], me.as_str());
    assert_eq!(
        (
            h["processes"].as_u64(),
            h["sessions"].as_u64(),
            h["cells"].as_u64()
        ),
        (Some(2), Some(80), Some(2))
    );
    assert_eq!(h["lost_workers"], 0);
    assert!(h["cpu_seconds"].as_f64().unwrap() > 0.0 && h["peak_rss_bytes"].as_u64().unwrap() > 0);
    // Same machine, same clock: the measured offset is within the probe's round trip.
    let (offset, rtt) = (
        h["clock_offset_seconds"].as_f64().unwrap(),
        h["clock_rtt_seconds"].as_f64().unwrap(),
    );
    assert!(rtt > 0.0 && offset.abs() <= rtt / 2.0 + 1e-3, "{h}");
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(&log);
}

/// Issue 13: `--worker-command "sleep 1000"` hung `scale`. A worker that never says hello is
/// stopped at the start deadline (--timeout), its share recorded as WorkerLost, and the rest
/// of the cell, and the grid, go on.
#[tokio::test]
async fn a_worker_that_never_speaks_is_stopped_and_its_share_lost() {
    let _load = light();
    let srv = server().await;
    let dir = tmpdir("never-speaks");
    let g = GridSpec {
        batch_sizes: vec![6],
        waits: vec![0.0],
        reps: 2,
        timeout: 2.0,
        sessions_per_process: Some(2),
        worker_command: Some(vec!["sleep".into(), "1000".into()]),
        ..spec(srv.http_url(), &dir)
    };
    let t = Instant::now();
    let mut obs = Warnings::default();
    let out = run_grid_until(&g, &mut obs, std::future::pending())
        .await
        .unwrap();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(out.cells.len(), 2, "the grid goes on");
    for c in &out.cells {
        assert_eq!((c.summary.successful, c.summary.failed), (2, 4));
        assert_eq!(c.summary.error_types, "WorkerLost:4");
    }
    let raw = read_raw(&dir);
    assert_eq!(raw.len(), 12);
    for r in raw.iter().filter(|r| r["success"] == false) {
        let msg = r["error_message"].as_str().unwrap();
        assert!(msg.contains("did not say hello within 2 s"), "{msg}");
        assert!(msg.contains("stopped (pid "), "{msg}");
    }
    assert!(
        obs.0.iter().any(|w| w.contains("worker 2 lost")),
        "{:?}",
        obs.0
    );
    let hosts = run_json(&dir)["loadgen_hosts"].clone();
    let lost: u64 = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["lost_workers"].as_u64().unwrap())
        .sum();
    assert_eq!(lost, 4, "{hosts}");
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A worker killed mid-cell (SIGKILL: no last word): its sessions are WorkerLost, every other
/// session completes, and each session has exactly one record.
#[tokio::test]
async fn a_worker_killed_mid_cell_loses_only_its_share() {
    let _load = light();
    let srv = server().await;
    let dir = tmpdir("killed-mid-cell");
    // Worker 2 is killed 1 s into its 2 s sessions; worker 1 runs normally. (sh gives a
    // background job /dev/null as stdin unless told otherwise: fd 3 keeps ours.)
    let script = r#"exec 3<&0; "$0" <&3 & p=$!; if [ {worker} = 2 ]; then sleep 1.5; kill -9 $p; fi; wait $p"#;
    let g = GridSpec {
        batch_sizes: vec![30],
        waits: vec![2.0],
        sessions_per_process: Some(10),
        worker_command: Some(vec![
            "sh".into(),
            "-c".into(),
            script.into(),
            worker_cmd()[0].clone(),
        ]),
        ..spec(srv.http_url(), &dir)
    };
    let out = run_grid_until(&g, &mut Warnings::default(), std::future::pending())
        .await
        .unwrap();
    let s = &out.cells[0].summary;
    assert_eq!((s.successful, s.failed), (20, 10), "{}", s.error_types);
    assert_eq!(s.error_types, "WorkerLost:10");
    let raw = read_raw(&dir);
    assert_one_record_each(&raw, 30);
    for r in &raw {
        let lost = r["error_type"] == "WorkerLost";
        assert_eq!(lost, r["worker"] == 2, "{r}");
        if lost {
            let msg = r["error_message"].as_str().unwrap();
            assert!(msg.contains("exit status: 137"), "{msg}");
            // The killed worker had said hello: its host is known.
            assert_eq!(r["client_host"], hostname().as_str());
        }
    }
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Clock skew: a worker whose clock is 1,000 s ahead gets the cell's start in its own clock
/// (1,000 s later than ours), and run.json records the offset.
#[tokio::test]
async fn the_start_is_sent_in_each_workers_own_clock() {
    let _load = light();
    let srv = server().await;
    let dir = tmpdir("skewed");
    let seen = dir.with_extension("start");
    let _ = std::fs::remove_file(&seen);
    // Speaks the barrier like a worker, with a clock 1,000 s fast; records the start line it
    // is given, then exits without running anything.
    let script = format!(
        r#"read share
echo '{{"t":"hello","host":"skewed-host","pid":'$$',"cores":1}}'
while read l; do
  case $l in
    *clock*) echo "{{\"t\":\"clock\",\"unix_ns\":$(( $(date +%s%N) + 1000000000000 ))}}" ;;
    *start*) echo "$l" > {}; exit 3 ;;
  esac
done"#,
        seen.display()
    );
    let g = GridSpec {
        batch_sizes: vec![4],
        waits: vec![0.0],
        sessions_per_process: Some(2),
        worker_command: Some(vec!["bash".into(), "-c".into(), script]),
        ..spec(srv.http_url(), &dir)
    };
    let out = run_grid_until(&g, &mut Warnings::default(), std::future::pending())
        .await
        .unwrap();
    let ours_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert_eq!(out.cells[0].summary.error_types, "WorkerLost:2");
    let line = std::fs::read_to_string(&seen).unwrap();
    let start: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(start["t"], "start");
    let ahead = start["start_unix_ns"].as_i64().unwrap() as f64 / 1e9 - ours_now;
    assert!(
        (990.0..1001.0).contains(&ahead),
        "start {ahead} s ahead of our clock"
    );
    let hosts = run_json(&dir)["loadgen_hosts"].clone();
    let skewed = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "skewed-host")
        .unwrap_or_else(|| panic!("{hosts}"))
        .clone();
    let offset = skewed["clock_offset_seconds"].as_f64().unwrap();
    assert!((offset - 1000.0).abs() < 0.5, "{skewed}");
    assert_eq!(skewed["lost_workers"], 1);
    // Its lost sessions carry the host it named.
    let raw = read_raw(&dir);
    assert!(raw
        .iter()
        .filter(|r| r["worker"] == 1)
        .all(|r| r["client_host"] == "skewed-host"));
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = std::fs::remove_file(&seen);
}
