//! `find_max` against real servers: one whose capacity is known exactly (300 WS sessions), and
//! one whose latency grows with concurrency (a delaying proxy), where the SLO decides.

use openenv_loadgen::search::{Criterion, LimitedBy, SearchSpec, CAPACITY_FILE};
use openenv_loadgen::{find_max_until, Event, GridSpec, Mode, Observer};
use openenv_server::{ServerConfig, ServerHandle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Steps {
    steps: Vec<(usize, bool)>,
    finished: usize,
}

impl Observer for Steps {
    fn on_event(&mut self, e: Event<'_>) {
        match e {
            Event::SearchStep { n, passed, .. } => self.steps.push((n, passed)),
            Event::SearchFinished { .. } => self.finished += 1,
            _ => {}
        }
    }
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("openenv-find-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn grid(url: String, dir: &std::path::Path, wait: f64) -> GridSpec {
    GridSpec {
        urls: vec![url],
        modes: vec![Mode::Ws],
        waits: vec![wait],
        output_dir: Some(dir.to_owned()),
        cooldown: 0.0,
        timeout: 20.0,
        command_line: vec!["test".into()],
        ..GridSpec::default()
    }
}

/// A server that rejects every WS session above 300: success at N is 300/N, so the largest N
/// at 95% is 315.
#[tokio::test]
async fn capped_server_capacity_is_found_within_precision() {
    let cfg = ServerConfig {
        max_concurrent_envs: 300,
        ..ServerConfig::default()
    };
    let server = ServerHandle::start("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let dir = tmpdir("capped");
    let spec = grid(format!("http://{}", server.local_addr()), &dir, 0.2);
    let search = SearchSpec::default();
    let mut obs = Steps::default();
    let t0 = Instant::now();
    let out = find_max_until(&spec, &search, &mut obs, std::future::pending())
        .await
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert!(!out.interrupted);
    assert_eq!(out.capacities.len(), 1);
    let c = &out.capacities[0];
    let max = c.max_batch.unwrap();
    let fail = c.first_failing.unwrap();
    println!(
        "capped server (300): max_batch {max}, first_failing {fail}, {} cells, {secs:.1} s",
        out.cells
    );
    assert_eq!(c.limited_by, LimitedBy::Server);
    assert!((300..=315).contains(&max), "{max}");
    assert!(
        fail > max && (fail - max) as f64 / max as f64 <= 0.05,
        "{fail}"
    );
    assert!(out.cells <= 20, "{} cells", out.cells);
    assert_eq!(obs.steps.len(), out.cells);
    assert_eq!(obs.finished, 1);
    // Every searched cell is an ordinary cell: one summary row each, plus the header.
    let rows = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert_eq!(rows.lines().count(), out.cells + 1);
    let file = std::fs::read_to_string(dir.join(CAPACITY_FILE)).unwrap();
    let parsed = openenv_loadgen::search::CapacityFile::from_json(&file).unwrap();
    assert_eq!(parsed.0.len(), 1);
    let p = &parsed.0[0];
    assert_eq!(
        (p.max_batch, p.first_failing, p.limited_by, p.cells.len()),
        (c.max_batch, c.first_failing, c.limited_by, c.cells.len())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Forwards each connection to `upstream` after a delay of `per_open` × the connections open
/// at that moment: latency grows with concurrency, success does not drop.
async fn delaying_proxy(upstream: std::net::SocketAddr, per_open: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let open = open.clone();
            let k = open.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                tokio::time::sleep(per_open * k as u32).await;
                if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut up).await;
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    format!("http://{addr}")
}

/// Latency, not success, bounds N: every cell succeeds in full, and the search stops where the
/// p99 crosses the SLO.
#[tokio::test]
async fn slo_decides_when_latency_grows_with_n() {
    let server = ServerHandle::start("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    // 2 ms per open connection: p99 ≈ wait + N × 2 ms, so `wait + 0.3 s` holds up to N ≈ 150.
    let url = delaying_proxy(server.local_addr(), Duration::from_millis(2)).await;
    let dir = tmpdir("slo");
    let spec = grid(url, &dir, 0.1);
    let search = SearchSpec {
        start: 8,
        criterion: Criterion {
            slo_over_wait: Some(0.3),
            ..Criterion::default()
        },
        ..SearchSpec::default()
    };
    let mut obs = Steps::default();
    let out = find_max_until(&spec, &search, &mut obs, std::future::pending())
        .await
        .unwrap();
    let c = &out.capacities[0];
    println!(
        "delayed server, p99 <= wait + 0.3 s: max_batch {:?}, first_failing {:?}, {} cells",
        c.max_batch, c.first_failing, out.cells
    );
    assert_eq!(c.limited_by, LimitedBy::Server);
    assert!(c.cells.iter().all(|t| t.success == 1.0), "{:?}", c.cells);
    let failed: Vec<_> = c.cells.iter().filter(|t| !t.passed).collect();
    assert!(!failed.is_empty());
    assert!(
        failed.iter().all(|t| t.reason.contains("p99")),
        "{failed:?}"
    );
    let max = c.max_batch.unwrap();
    assert!((50..=300).contains(&max), "{max}");
    let _ = std::fs::remove_dir_all(&dir);
}
