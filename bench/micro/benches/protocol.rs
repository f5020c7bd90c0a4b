//! Message parse and serialize: what the server and the load generator do per request.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use openenv_protocol::inbound::{parse_http_step, parse_ws_request, Limits};
use openenv_protocol::{ClientMessage, ServerMessage};
use openenv_server::env::{BenchEnv, ServerIdentity};

const STEP: &str = r#"{"type":"step","data":{"wait_seconds":1.0}}"#;
const RESET: &str = r#"{"type":"reset","data":{}}"#;
const HTTP_STEP: &[u8] = br#"{"action":{"wait_seconds":1.0}}"#;
const REPLY: &str = r#"{"type":"observation","data":{"observation":{"waited_seconds":1.0,"pid":4655,"session_hash":"146cb108493f","host_url":"benchmark-host:8000","step_count":1},"reward":null,"done":false}}"#;

fn who() -> ServerIdentity {
    ServerIdentity {
        pid: 4655,
        host_url: "benchmark-host:8000".into(),
    }
}

fn server(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("server");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_ws_step", |b| {
        b.iter(|| parse_ws_request(black_box(STEP), &limits).unwrap())
    });
    g.bench_function("parse_ws_reset", |b| {
        b.iter(|| parse_ws_request(black_box(RESET), &limits).unwrap())
    });
    g.bench_function("parse_http_step_body", |b| {
        b.iter(|| parse_http_step(Some("application/json"), black_box(HTTP_STEP), &limits).unwrap())
    });
    let who = who();
    let mut env = BenchEnv::new();
    g.bench_function("serialize_observation", |b| {
        b.iter(|| {
            let msg = ServerMessage::Observation(env.observation(black_box(1.0), &who));
            serde_json::to_string(&msg).unwrap()
        })
    });
    // What one WS step costs the server apart from the socket: parse, step, reply.
    g.bench_function("ws_step_roundtrip", |b| {
        b.iter(|| {
            let _req = parse_ws_request(black_box(STEP), &limits).unwrap();
            env.step();
            let msg = ServerMessage::Observation(env.observation(1.0, &who));
            serde_json::to_string(&msg).unwrap()
        })
    });
    g.bench_function("new_env", |b| b.iter(BenchEnv::new));
    g.finish();
}

fn client(c: &mut Criterion) {
    let mut g = c.benchmark_group("client");
    g.throughput(Throughput::Elements(1));
    g.bench_function("format_step", |b| {
        b.iter(|| {
            ClientMessage::Step {
                wait_seconds: black_box(1.0),
            }
            .to_json()
        })
    });
    g.bench_function("format_reset", |b| {
        b.iter(|| ClientMessage::Reset.to_json())
    });
    g.bench_function("parse_observation_reply", |b| {
        b.iter(|| serde_json::from_str::<ServerMessage>(black_box(REPLY)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, server, client);
criterion_main!(benches);
