//! Record writing: one `raw.jsonl` line, one cell's summary, one cell appended to disk.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use openenv_loadgen::summary::{compute, CellInfo, LoadgenStats};
use openenv_loadgen::writer::{run_info, OutputDir};
use openenv_loadgen::{FailureClass, Mode, SessionRecord};
use std::path::PathBuf;
use std::time::SystemTime;

/// A cell of N = 2,048 (the comparison's headline cell).
const N: usize = 2048;

fn record(i: usize) -> SessionRecord {
    // Latencies spread so that the percentiles sort real data.
    let jitter = (i as f64 * 0.618_033_988_7).fract();
    // About 1% failures, so the summary filters and counts error types.
    let failed = matches!(i % 97, 0);
    SessionRecord {
        request_id: i,
        mode: Mode::Ws,
        timestamp: "2026-11-29T15:00:00.123456Z".into(),
        wait_requested: 1.0,
        batch_size: N,
        hardware: "cpu-basic".into(),
        connect_latency: 0.01 + 0.1 * jitter,
        reset_latency: 0.001 + 0.01 * jitter,
        step_latency: 1.0 + 0.05 * jitter,
        total_latency: 1.02 + 0.2 * jitter,
        waited_seconds: 1.0,
        pid: 4000 + (i % 2) as u32,
        session_hash: format!("{:012x}", i * 7919),
        host_url: "benchmark-host:8000".into(),
        success: !failed,
        error_type: failed.then_some(FailureClass::Timeout),
        error_message: failed.then(|| "no step reply within 120 s".to_owned()),
        repetition: 1,
        url: "http://127.0.0.1:8000".into(),
        steps: 1,
        tcp_connect_latency: 0.005 * jitter,
        upgrade_latency: 0.005 + 0.09 * jitter,
        close_latency: 0.001,
        start_delay: 0.0001 * jitter,
        start_offset: 0.0,
        worker: 0,
        tls_latency: 0.0,
        client_host: "lg".into(),
        reward: None,
        done: false,
        episodes_done: 0,
    }
}

fn cell() -> CellInfo {
    CellInfo {
        mode: Mode::Ws,
        url: "http://127.0.0.1:8000".into(),
        batch_size: N,
        wait: 1.0,
        repetition: 1,
        hardware: "cpu-basic".into(),
        steps: 1,
        ramp: 0.0,
    }
}

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("openenv-microbench-{}", std::process::id()))
}

fn records(c: &mut Criterion) {
    let recs: Vec<SessionRecord> = (0..N).map(record).collect();
    let mut g = c.benchmark_group("records");

    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_jsonl_line", |b| {
        b.iter(|| black_box(&recs[5]).to_json_line())
    });

    g.throughput(Throughput::Elements(N as u64));
    let info = cell();
    g.bench_function("cell_summary_2048", |b| {
        b.iter(|| {
            compute(
                &info,
                black_box(&recs),
                2.0,
                SystemTime::now(),
                LoadgenStats::default(),
                false,
            )
        })
    });

    // Whole cell to disk (raw.jsonl lines + the summary row), into a fresh directory each time
    // so the files do not grow across iterations.
    let summary = compute(
        &info,
        &recs,
        2.0,
        SystemTime::now(),
        LoadgenStats::default(),
        false,
    );
    let dir = scratch_dir();
    let run = run_info(vec!["microbench".into()]);
    g.sample_size(30);
    g.bench_function("append_cell_2048", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&dir);
                OutputDir::open(&dir, &run).unwrap()
            },
            |mut out| out.append_cell(black_box(&recs), &summary).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, records);
criterion_main!(benches);
