//! One session's life around its transport: the record it starts from, the interrupt, and where
//! its outcome is recorded (success, failure class, counters).

use crate::ctx::SessionCtx;
use crate::record::{utc_timestamp, FailureClass, SessionRecord};
use crate::spec::{CellSpec, Mode, ShareSpec};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};
use tokio::sync::watch;

/// The record of session `id` before it ran on `client_host` (the load generator's host): the
/// cell's columns, its intended start offset, no phases, not successful.
pub(crate) fn blank(
    cell: &CellSpec,
    worker: usize,
    id: usize,
    started: SystemTime,
    client_host: &str,
) -> SessionRecord {
    let target = &cell.targets[id % cell.targets.len()];
    SessionRecord {
        request_id: id,
        mode: cell.params.mode,
        timestamp: utc_timestamp(started),
        wait_requested: cell.params.wait,
        batch_size: cell.params.batch_size,
        hardware: cell.hardware.clone(),
        connect_latency: 0.0,
        reset_latency: 0.0,
        step_latency: 0.0,
        total_latency: 0.0,
        waited_seconds: 0.0,
        pid: 0,
        session_hash: String::new(),
        host_url: String::new(),
        success: false,
        error_type: None,
        error_message: None,
        repetition: cell.params.repetition,
        url: target.url.clone(),
        steps: cell.steps,
        tcp_connect_latency: 0.0,
        upgrade_latency: 0.0,
        close_latency: 0.0,
        start_delay: 0.0,
        start_offset: cell.start_offset(id),
        worker,
        tls_latency: 0.0,
        client_host: client_host.to_owned(),
        reward: None,
        done: false,
        episodes_done: 0,
    }
}

/// Adds a `WorkerLost` record for every session of `share` missing from `records` (a process
/// or task that died before reporting), so every session is in the files; sorts by id.
#[cfg(test)]
pub(crate) fn fill_lost(
    records: &mut Vec<SessionRecord>,
    share: &ShareSpec,
    started: SystemTime,
    why: &str,
) {
    fill_missing(records, share, started, "", FailureClass::WorkerLost, why);
}

/// Adds a record of `class` for every session of `share` missing from `records`, as run (or
/// meant to run) on `client_host`; sorts by id.
pub(crate) fn fill_missing(
    records: &mut Vec<SessionRecord>,
    share: &ShareSpec,
    started: SystemTime,
    client_host: &str,
    class: FailureClass,
    why: &str,
) {
    let ids = share.first_id..share.first_id + share.count;
    let have: std::collections::HashSet<usize> = records
        .iter()
        .map(|r| r.request_id)
        .filter(|id| ids.contains(id))
        .collect();
    if have.len() < share.count {
        for id in ids.filter(|id| !have.contains(id)) {
            let mut r = blank(&share.cell, share.worker, id, started, client_host);
            r.fail(class.clone(), why);
            records.push(r);
        }
    }
    records.sort_by_key(|r| r.request_id);
}

/// Runs one session from its (already reached) start time; `stop` turning true ends it as
/// `Interrupted`. The transports fill the phases; the outcome is recorded here only.
pub(crate) async fn run(
    ctx: &SessionCtx<'_>,
    mut rec: SessionRecord,
    mut stop: watch::Receiver<bool>,
) -> SessionRecord {
    let counters = ctx.counters;
    if *stop.borrow() {
        rec.fail(
            FailureClass::Interrupted,
            "interrupted before the session started",
        );
        counters.failed.fetch_add(1, Ordering::Relaxed);
        return rec;
    }
    counters.launched.fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    let outcome = {
        let drive = async {
            match ctx.cell.params.mode {
                Mode::Ws => crate::ws::drive(ctx, &mut rec, t0).await,
                Mode::Http => crate::http::drive(ctx, &mut rec, t0).await,
            }
        };
        tokio::select! {
            result = drive => Some(result),
            _ = until_stopped(&mut stop) => None,
        }
    };
    rec.total_latency = t0.elapsed().as_secs_f64();
    match outcome {
        Some(Ok(())) => rec.success = true,
        Some(Err(f)) => rec.fail(f.class, f.message),
        None => rec.fail(FailureClass::Interrupted, "interrupted while in flight"),
    }
    if rec.success {
        counters.done.fetch_add(1, Ordering::Relaxed);
    } else {
        counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    rec
}

/// Resolves once `stop` is true; never if its sender is gone without stopping.
pub(crate) async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await
    }
}
