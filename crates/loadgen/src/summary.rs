//! Computing one row of `summary.csv` (one cell: mode, N, wait, repetition) from its records.
//! The row type and its columns are the result files' contract (`openenv-results`).

use crate::record::SessionRecord;
use crate::spec::Mode;
use openenv_results::summary::percentile;
pub use openenv_results::summary::{header, CellSummary, LoadgenStats};
use std::collections::{BTreeMap, HashSet};

/// What a cell was, apart from its records.
#[derive(Debug, Clone)]
pub struct CellInfo {
    pub mode: Mode,
    pub url: String,
    pub batch_size: usize,
    pub wait: f64,
    pub repetition: u32,
    pub hardware: String,
    pub steps: u32,
    pub ramp: f64,
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Percentiles by linear interpolation over the successful sessions (as the Python original);
/// `requests_per_second = successful / wall`, `effective_concurrency = N × wait / wall`.
pub fn compute(
    cell: &CellInfo,
    records: &[SessionRecord],
    wall: f64,
    end: std::time::SystemTime,
    loadgen: LoadgenStats,
    interrupted: bool,
) -> CellSummary {
    let ok: Vec<&SessionRecord> = records.iter().filter(|r| r.success).collect();
    let col = |f: fn(&SessionRecord) -> f64| sorted(ok.iter().map(|r| f(r)).collect());
    let connect = col(|r| r.connect_latency);
    let reset = col(|r| r.reset_latency);
    let step = col(|r| r.step_latency);
    let total = col(|r| r.total_latency);
    let n = cell.batch_size;
    let successful = ok.len();
    let failed = n.saturating_sub(successful);
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records.iter().filter(|r| !r.success) {
        *errors
            .entry(r.error_type.as_ref().map_or("Unknown", |c| c.as_str()))
            .or_default() += 1;
    }
    let per_wall = |x: f64| if wall > 0.0 { x / wall } else { 0.0 };
    CellSummary {
        mode: cell.mode,
        url: cell.url.clone(),
        num_requests: n,
        batch_size: n,
        wait_seconds: cell.wait,
        repetition: cell.repetition,
        timestamp: crate::record::utc_timestamp(end),
        hardware: cell.hardware.clone(),
        successful,
        failed,
        error_rate: if n > 0 { failed as f64 / n as f64 } else { 0.0 },
        total_wall_time: wall,
        connect_p50: percentile(&connect, 50.0),
        connect_p95: percentile(&connect, 95.0),
        connect_p99: percentile(&connect, 99.0),
        reset_p50: percentile(&reset, 50.0),
        reset_p95: percentile(&reset, 95.0),
        reset_p99: percentile(&reset, 99.0),
        step_p50: percentile(&step, 50.0),
        step_p95: percentile(&step, 95.0),
        step_p99: percentile(&step, 99.0),
        total_min: total.first().copied().unwrap_or(0.0),
        total_max: total.last().copied().unwrap_or(0.0),
        total_avg: if total.is_empty() {
            0.0
        } else {
            total.iter().sum::<f64>() / total.len() as f64
        },
        total_p50: percentile(&total, 50.0),
        total_p90: percentile(&total, 90.0),
        total_p95: percentile(&total, 95.0),
        total_p99: percentile(&total, 99.0),
        requests_per_second: per_wall(successful as f64),
        effective_concurrency: per_wall(n as f64 * cell.wait),
        unique_pids: distinct(&ok, |r| (r.pid != 0).then_some(r.pid.to_string())),
        unique_sessions: distinct(&ok, |r| {
            Some(r.session_hash.clone()).filter(|s| !s.is_empty())
        }),
        unique_hosts: distinct(&ok, |r| Some(r.host_url.clone()).filter(|s| !s.is_empty())),
        steps: cell.steps,
        ramp_seconds: cell.ramp,
        peak_open_sessions: peak_open(records),
        loadgen,
        interrupted,
        error_types: errors
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(";"),
    }
}

/// Distinct values of an identity field over the successful sessions; `None` (unknown) when
/// there were some and none reported the field (0 when there were none).
fn distinct(
    ok: &[&SessionRecord],
    field: impl Fn(&SessionRecord) -> Option<String>,
) -> Option<usize> {
    let seen: HashSet<String> = ok.iter().filter_map(|r| field(r)).collect();
    if seen.is_empty() && !ok.is_empty() {
        None
    } else {
        Some(seen.len())
    }
}

/// Sweep over [connected, ended] intervals (seconds from the intended start).
fn peak_open(records: &[SessionRecord]) -> usize {
    let mut events: Vec<(f64, i32)> = Vec::with_capacity(records.len() * 2);
    for r in records.iter().filter(|r| r.connect_latency > 0.0) {
        let start = r.start_offset + r.start_delay;
        events.push((start + r.connect_latency, 1));
        events.push((start + r.total_latency, -1));
    }
    // Ends before starts at the same instant.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut open, mut peak) = (0i64, 0i64);
    for (_, d) in events {
        open += i64::from(d);
        peak = peak.max(open);
    }
    peak as usize
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{FailureClass, SessionRecord};
    use crate::spec::Mode;
    use openenv_results::record::RAW_KEYS;
    use openenv_results::summary::REFERENCE_COLUMNS as SUMMARY_COLUMNS;

    /// A one-session cell, for the writer's tests.
    pub(crate) fn sample_summary() -> CellSummary {
        let cell = CellInfo {
            mode: Mode::Ws,
            url: "http://127.0.0.1:8000".into(),
            batch_size: 1,
            wait: 1.0,
            repetition: 1,
            hardware: "cpu-basic".into(),
            steps: 1,
            ramp: 0.0,
        };
        let records = [rec(0, true, 1.0, 1)];
        let end = std::time::SystemTime::UNIX_EPOCH;
        compute(&cell, &records, 1.0, end, LoadgenStats::default(), false)
    }

    pub(crate) fn rec(id: usize, ok: bool, total: f64, pid: u32) -> SessionRecord {
        let mut r: SessionRecord = serde_json::from_value(serde_json::json!({
            "request_id": id, "mode": "ws", "timestamp": "t", "wait_requested": 1.0,
            "batch_size": 4, "hardware": "cpu-basic", "connect_latency": total / 10.0,
            "reset_latency": 0.001, "step_latency": 1.0, "total_latency": total,
            "waited_seconds": 1.0, "pid": pid, "session_hash": format!("h{id}"),
            "host_url": "vm:8000", "success": true, "error_type": null, "error_message": null,
            "repetition": 1, "url": "u", "steps": 1, "tcp_connect_latency": 0.0,
            "upgrade_latency": 0.0, "close_latency": 0.0, "start_delay": 0.0, "worker": 0
        }))
        .unwrap();
        if !ok {
            r.fail(FailureClass::CapacityReached, "full");
        }
        r
    }

    #[test]
    fn summary_follows_the_reference_formulas() {
        let records = vec![
            rec(0, true, 1.0, 1),
            rec(1, true, 2.0, 2),
            rec(2, true, 4.0, 2),
            rec(3, false, 9.0, 0),
        ];
        let cell = CellInfo {
            mode: Mode::Ws,
            url: "http://127.0.0.1:8000".into(),
            batch_size: 4,
            wait: 1.0,
            repetition: 1,
            hardware: "cpu-basic".into(),
            steps: 1,
            ramp: 0.0,
        };
        let s = compute(
            &cell,
            &records,
            2.0,
            std::time::SystemTime::UNIX_EPOCH,
            LoadgenStats {
                close_timeouts: 1,
                ..LoadgenStats::default()
            },
            false,
        );
        assert_eq!((s.successful, s.failed), (3, 1));
        assert_eq!(s.error_rate, 0.25);
        assert_eq!(s.total_p50, 2.0); // the failure's 9.0 is excluded
        assert_eq!(s.total_max, 4.0);
        assert!((s.total_avg - 7.0 / 3.0).abs() < 1e-12);
        assert!((s.total_p90 - 3.6).abs() < 1e-12);
        assert_eq!(s.requests_per_second, 1.5);
        assert_eq!(s.effective_concurrency, 2.0);
        assert_eq!(
            (s.unique_pids, s.unique_sessions, s.unique_hosts),
            (Some(2), Some(3), Some(1))
        );
        assert_eq!(s.error_types, "CapacityReached:1");
        // All four connected at 1/10 of their total and ran from the same start.
        assert_eq!(s.peak_open_sessions, 4);
        let fields = s.csv_fields();
        assert_eq!(fields.len(), header().len());
        assert_eq!(fields[4], "1.0");
        assert_eq!(fields[10], "0.25");
        let col = |name: &str| header().iter().position(|c| *c == name).unwrap();
        assert_eq!(fields[col("close_timeouts")], "1");
        assert_eq!(fields[col("error_types")], "CapacityReached:1");
    }

    #[test]
    fn identity_nobody_reported_is_unknown_not_zero() {
        let cell = CellInfo {
            mode: Mode::Http,
            url: "u".into(),
            batch_size: 3,
            wait: 0.0,
            repetition: 1,
            hardware: "h".into(),
            steps: 1,
            ramp: 0.0,
        };
        let anonymous = |id, ok| {
            let mut r = rec(id, ok, 1.0, 0);
            r.session_hash.clear();
            r.host_url.clear();
            r
        };
        let end = std::time::SystemTime::UNIX_EPOCH;
        let run = |records: &[SessionRecord]| {
            let s = compute(&cell, records, 1.0, end, LoadgenStats::default(), false);
            (s.unique_pids, s.unique_sessions, s.unique_hosts)
        };
        // An echo environment: successes, no identity.
        let all = [anonymous(0, true), anonymous(1, true), anonymous(2, false)];
        assert_eq!(run(&all), (None, None, None));
        // No success at all: nothing answered, which is 0, as before.
        let none = [
            anonymous(0, false),
            anonymous(1, false),
            anonymous(2, false),
        ];
        assert_eq!(run(&none), (Some(0), Some(0), Some(0)));
        // Some report it: those are counted.
        let mut mixed = all.clone();
        mixed[1].host_url = "a:1".into();
        assert_eq!(run(&mixed).2, Some(1));
    }

    #[test]
    fn matches_reference_rows() {
        // Two cells of reference-results/python-openenv-w2-ws-wait1.0 (N=16 all ok; N=256 with
        // 59 capacity failures): recompute every latency column from the raw lines.
        let raw = include_str!("../tests/fixtures/reference-ws-wait1.0.jsonl");
        let csv = include_str!("../tests/fixtures/reference-ws-wait1.0-summary.csv");
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        assert_eq!(header, SUMMARY_COLUMNS);
        let lines: Vec<serde_json::Value> = raw
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for row in csv.lines().skip(1) {
            let cols: Vec<&str> = row.split(',').collect();
            let n: usize = cols[3].parse().unwrap();
            let records: Vec<SessionRecord> = lines
                .iter()
                .filter(|v| v["batch_size"] == n)
                .map(|v| {
                    let mut r = rec(0, true, 0.0, 0);
                    let mut ours = serde_json::to_value(&r).unwrap();
                    for k in RAW_KEYS {
                        ours[k] = v[k].clone();
                    }
                    r = serde_json::from_value(ours).unwrap();
                    r
                })
                .collect();
            assert_eq!(records.len(), n);
            let cell = CellInfo {
                mode: Mode::Ws,
                url: cols[1].into(),
                batch_size: n,
                wait: 1.0,
                repetition: 1,
                hardware: "cpu-basic".into(),
                steps: 1,
                ramp: 0.0,
            };
            let wall: f64 = cols[11].parse().unwrap();
            let s = compute(
                &cell,
                &records,
                wall,
                std::time::SystemTime::UNIX_EPOCH,
                LoadgenStats::default(),
                false,
            );
            let ours = s.csv_fields();
            for i in (8..SUMMARY_COLUMNS.len()).filter(|&i| i != 6) {
                let (a, b): (f64, f64) = (ours[i].parse().unwrap(), cols[i].parse().unwrap());
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "N={n} column {}: ours {a} reference {b}",
                    SUMMARY_COLUMNS[i]
                );
            }
        }
    }
}
