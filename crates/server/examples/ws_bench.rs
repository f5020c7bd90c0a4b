//! A small WebSocket client to measure the server (numbers in docs/server.md).
//!
//! ```text
//! # full sessions: connect + reset + step(wait) + close, at most C in flight
//! cargo run --release -p openenv-server --example ws_bench -- storm -n 10000 -c 1000 --wait 0 --url ws://127.0.0.1:8000/ws
//! # hold N idle sessions (each did one reset) and report the server's RSS per session
//! cargo run --release -p openenv-server --example ws_bench -- hold -n 10000 --server-pid PID
//! ```
//! One current-thread runtime, 2 KiB WebSocket buffers, so the client stays small too.

use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

struct Opts {
    mode: String,
    url: String,
    n: usize,
    concurrency: usize,
    wait: f64,
    server_pid: Option<u32>,
    hold_secs: f64,
}

fn parse() -> Opts {
    let mut o = Opts {
        mode: "storm".into(),
        url: "ws://127.0.0.1:8000/ws".into(),
        n: 1000,
        concurrency: 500,
        wait: 0.0,
        server_pid: None,
        hold_secs: 2.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("flag value");
        match a.as_str() {
            "storm" | "hold" => o.mode = a,
            "--url" => o.url = val(),
            "-n" => o.n = val().parse().unwrap(),
            "-c" | "--concurrency" => o.concurrency = val().parse().unwrap(),
            "--wait" => o.wait = val().parse().unwrap(),
            "--server-pid" => o.server_pid = Some(val().parse().unwrap()),
            "--hold-secs" => o.hold_secs = val().parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

type Ws = WebSocketStream<TcpStream>;

async fn open(url: &str, addr: &str) -> Result<Ws, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let cfg = WebSocketConfig::default()
        .read_buffer_size(2048)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(cfg))
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

async fn call(ws: &mut Ws, text: &str) -> Result<String, String> {
    ws.send(Message::text(text.to_owned()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let s = t.as_str().to_owned();
                if s.contains(r#""type":"error""#) {
                    return Err(s);
                }
                return Ok(s);
            }
            Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("eof".into()),
        }
    }
}

async fn session(url: &str, addr: &str, step: &str) -> Result<(), String> {
    let mut ws = open(url, addr).await?;
    call(&mut ws, r#"{"type":"reset","data":{}}"#).await?;
    call(&mut ws, step).await?;
    ws.send(Message::text(r#"{"type":"close"}"#))
        .await
        .map_err(|e| e.to_string())?;
    // The server answers with a close frame; then the connection ends.
    while let Some(Ok(_)) = ws.next().await {}
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

async fn storm(o: &Opts, addr: String) {
    let step = format!(
        r#"{{"type":"step","data":{{"wait_seconds":{}}}}}"#,
        serde_json::Value::from(o.wait)
    );
    let sem = Arc::new(tokio::sync::Semaphore::new(o.concurrency));
    let url = Arc::new(o.url.clone());
    let addr = Arc::new(addr);
    let step = Arc::new(step);
    let before = o.server_pid.map(rss_kib);
    let server_cpu0 = o.server_pid.map(cpu_secs);
    let client_cpu0 = cpu_secs(std::process::id());
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(o.n);
    for _ in 0..o.n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (url, addr, step) = (url.clone(), addr.clone(), step.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = session(&url, &addr, &step).await;
            drop(permit);
            (t.elapsed().as_secs_f64(), r)
        }));
    }
    let mut lat = Vec::with_capacity(o.n);
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks {
        let (d, r) = t.await.unwrap();
        match r {
            Ok(()) => lat.push(d),
            Err(e) => *errors.entry(e.chars().take(80).collect()).or_default() += 1,
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let client_cpu = cpu_secs(std::process::id()) - client_cpu0;
    let server_cpu = o
        .server_pid
        .map(cpu_secs)
        .zip(server_cpu0)
        .map(|(a, b)| a - b);
    lat.sort_by(f64::total_cmp);
    println!(
        "storm: n={} concurrency={} wait={} ok={} failed={} wall={:.3}s sessions/s={:.0} \
         p50={:.4}s p99={:.4}s max={:.4}s",
        o.n,
        o.concurrency,
        o.wait,
        lat.len(),
        o.n - lat.len(),
        wall,
        lat.len() as f64 / wall,
        pct(&lat, 50.0),
        pct(&lat, 99.0),
        lat.last().copied().unwrap_or(f64::NAN),
    );
    for (e, n) in errors {
        println!("  error x{n}: {e}");
    }
    let per = |cpu: f64| cpu * 1e6 / o.n as f64;
    match server_cpu {
        Some(sc) => println!(
            "cpu: server {:.0} us/session, client {:.0} us/session (user+sys)",
            per(sc),
            per(client_cpu)
        ),
        None => println!("cpu: client {:.0} us/session", per(client_cpu)),
    }
    if let (Some(pid), Some(b)) = (o.server_pid, before) {
        println!("server rss: before {b} KiB, after {} KiB", rss_kib(pid));
    }
}

async fn hold(o: &Opts, addr: String) {
    let pid = o.server_pid.expect("hold needs --server-pid");
    let idle = rss_kib(pid);
    let sem = Arc::new(tokio::sync::Semaphore::new(o.concurrency));
    let url = Arc::new(o.url.clone());
    let addr = Arc::new(addr);
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(o.n);
    for _ in 0..o.n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (url, addr) = (url.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut ws = open(&url, &addr).await?;
            call(&mut ws, r#"{"type":"reset","data":{}}"#).await?;
            drop(permit);
            Ok::<Ws, String>(ws)
        }));
    }
    let mut held = Vec::with_capacity(o.n);
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(ws) => held.push(ws),
            Err(_) => failed += 1,
        }
    }
    let opened = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(o.hold_secs)).await;
    let full = rss_kib(pid);
    println!(
        "hold: {} sessions open ({failed} failed) in {opened:.2}s; server rss idle {idle} KiB, \
         with sessions {full} KiB -> {:.2} KiB ({:.0} B) per session",
        held.len(),
        (full.saturating_sub(idle)) as f64 / held.len().max(1) as f64,
        (full.saturating_sub(idle)) as f64 * 1024.0 / held.len().max(1) as f64,
    );
    let t1 = Instant::now();
    let mut closes = Vec::with_capacity(held.len());
    for mut ws in held {
        closes.push(tokio::spawn(async move {
            let _ = ws.send(Message::text(r#"{"type":"close"}"#)).await;
            while let Some(Ok(_)) = ws.next().await {}
        }));
    }
    for c in closes {
        let _ = c.await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "closed all in {:.2}s; server rss after {} KiB",
        t1.elapsed().as_secs_f64(),
        rss_kib(pid)
    );
}

fn main() {
    let o = parse();
    let hostport = o
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match o.mode.as_str() {
            "hold" => hold(&o, hostport).await,
            _ => storm(&o, hostport).await,
        }
    });
}
