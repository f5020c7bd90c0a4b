//! Is our minimal HTTP/1.1 client measurably cheaper than a hyper client connection per
//! session? Runs N concurrent HTTP sessions (own connection, POST /reset, POST /step with
//! wait 0) both ways against one server and prints the client's CPU time per session.
//!
//!     cargo run --release -p openenv-loadgen --example http_client_cost -- [N] [ROUNDS]
//!
//! Starts our server in-process on a second thread (its CPU is not counted: getrusage of the
//! client thread only, RUSAGE_THREAD).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use openenv_loadgen::{run_grid_until, GridSpec, Mode, NullObserver};
use openenv_protocol::StepResponse;
use std::time::{Duration, Instant};

async fn hyper_session(addr: std::net::SocketAddr) -> Result<u64, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).ok();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut last = 0;
    for (path, body) in [
        ("/reset", "{}"),
        ("/step", r#"{"action":{"wait_seconds":0.0}}"#),
    ] {
        let req = hyper::Request::post(path)
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .map_err(|e| e.to_string())?;
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let r: StepResponse = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        last = r.observation.step_count;
    }
    Ok(last)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse().unwrap()).unwrap_or(2000);
    let rounds: usize = args.next().map(|a| a.parse().unwrap()).unwrap_or(3);

    // Server on its own thread and runtime.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let cfg = openenv_server::ServerConfig {
                max_concurrent_envs: 0,
                ..Default::default()
            };
            let srv = openenv_server::ServerHandle::start("127.0.0.1:0".parse().unwrap(), cfg)
                .await
                .unwrap();
            addr_tx.send(srv.local_addr()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = addr_rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("N={n} HTTP sessions (reset + step, wait 0), client thread CPU per session:");
    for round in 1..=rounds {
        // Ours, through the engine (as `scale -m http` runs it).
        let spec = GridSpec {
            urls: vec![format!("http://{addr}")],
            modes: vec![Mode::Http],
            batch_sizes: vec![n],
            waits: vec![0.0],
            cooldown: 0.0,
            ..GridSpec::default()
        };
        let cpu0 = openenv_sys::thread_cpu_time();
        let t = Instant::now();
        let out = rt
            .block_on(run_grid_until(
                &spec,
                &mut NullObserver,
                std::future::pending(),
            ))
            .unwrap();
        let ours = (openenv_sys::thread_cpu_time() - cpu0).as_secs_f64() * 1e6 / n as f64;
        let ok = out.cells[0].summary.successful;
        let wall_ours = t.elapsed();
        std::thread::sleep(Duration::from_millis(500));

        // hyper, one client connection per session, all at once.
        let cpu0 = openenv_sys::thread_cpu_time();
        let t = Instant::now();
        let results = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..n {
                set.spawn(hyper_session(addr));
            }
            let mut ok = 0;
            while let Some(r) = set.join_next().await {
                if matches!(r, Ok(Ok(1))) {
                    ok += 1;
                }
            }
            ok
        });
        let hyper_us = (openenv_sys::thread_cpu_time() - cpu0).as_secs_f64() * 1e6 / n as f64;
        println!(
            "round {round}: ours {ours:.1} µs ({ok}/{n} ok, {:.2} s) | hyper {hyper_us:.1} µs ({results}/{n} ok, {:.2} s)",
            wall_ours.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
