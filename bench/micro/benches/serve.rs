//! The server's per-request path over loopback sockets (one client, one request at a time):
//! a WebSocket `state` and `step` (wait 0) round trip on one session, with and without an idle
//! timeout (which arms the stalled-write guard), and a keep-alive `POST /step`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use openenv_server::{ServerConfig, ServerHandle};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

fn ws(c: &mut Criterion, name: &str, cfg: ServerConfig) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(ServerHandle::start("127.0.0.1:0".parse().unwrap(), cfg))
        .unwrap();
    let (mut client, _) = rt
        .block_on(tokio_tungstenite::connect_async(server.ws_url()))
        .unwrap();
    let mut g = c.benchmark_group("serve");
    g.throughput(Throughput::Elements(1));
    for (what, msg) in [
        ("state", r#"{"type":"state"}"#),
        ("step", r#"{"type":"step","data":{"wait_seconds":0}}"#),
    ] {
        g.bench_function(format!("ws_{what}_roundtrip{name}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    client.send(Message::text(msg)).await.unwrap();
                    client.next().await.unwrap().unwrap()
                })
            })
        });
    }
    g.finish();
    drop(client);
    rt.block_on(server.shutdown()).unwrap();
}

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(ServerHandle::start(
            "127.0.0.1:0".parse().unwrap(),
            ServerConfig::default(),
        ))
        .unwrap();
    let mut s = rt
        .block_on(tokio::net::TcpStream::connect(server.local_addr()))
        .unwrap();
    s.set_nodelay(true).unwrap();
    let body = r#"{"action":{"wait_seconds":0}}"#;
    let req = format!(
        "POST /step HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buf = vec![0u8; 4096];
    let mut g = c.benchmark_group("serve");
    g.throughput(Throughput::Elements(1));
    g.bench_function("http_step_keepalive", |b| {
        b.iter(|| {
            rt.block_on(async {
                s.write_all(req.as_bytes()).await.unwrap();
                // One response: head + a JSON body ending in `}`.
                let mut n = 0;
                loop {
                    n += s.read(&mut buf[n..]).await.unwrap();
                    if buf[..n].ends_with(b"}") {
                        break n;
                    }
                }
            })
        })
    });
    g.finish();
    drop(s);
    rt.block_on(server.shutdown()).unwrap();
}

fn all(c: &mut Criterion) {
    ws(c, "", ServerConfig::default());
    ws(
        c,
        "_idle_timeout",
        ServerConfig {
            idle_timeout: Some(Duration::from_secs(60)),
            ..ServerConfig::default()
        },
    );
    http(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
