//! Reading `summary.csv` (ours, the Python tools', earlier versions') through the column table of
//! `openenv-results`, with the report's policy on top.
//!
//! Only a few columns are required (mode, batch size, wait, success); everything else is optional so
//! that older files, the Python tools' files and files with extra trailing columns all load. A row
//! whose value in a column the report uses cannot be parsed is recorded in [`Summary::skipped`]
//! instead of failing the whole file.

use crate::ReportError;
use openenv_results::summary::{SummaryFile, SummaryRecord};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One parsed row of `summary.csv`: one (mode, N, wait, repetition) cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    pub mode: String,
    pub url: String,
    /// `num_requests` (the Python original's grouping key), falling back to `batch_size`.
    pub batch_size: u64,
    pub wait_seconds: f64,
    pub repetition: Option<u32>,
    pub timestamp: String,
    pub hardware: String,
    pub successful: Option<u64>,
    pub failed: Option<u64>,
    /// Fraction of sessions that succeeded, `1 - error_rate` as the Python original computes it.
    pub success_rate: f64,
    pub total_wall_time: Option<f64>,
    pub connect_p50: Option<f64>,
    pub connect_p95: Option<f64>,
    pub connect_p99: Option<f64>,
    pub reset_p50: Option<f64>,
    pub reset_p95: Option<f64>,
    pub reset_p99: Option<f64>,
    pub step_p50: Option<f64>,
    pub step_p95: Option<f64>,
    pub step_p99: Option<f64>,
    pub total_min: Option<f64>,
    pub total_max: Option<f64>,
    pub total_avg: Option<f64>,
    pub total_p50: Option<f64>,
    pub total_p90: Option<f64>,
    pub total_p95: Option<f64>,
    pub total_p99: Option<f64>,
    pub requests_per_second: Option<f64>,
    pub effective_concurrency: Option<f64>,
    pub unique_pids: Option<u64>,
    pub unique_sessions: Option<u64>,
    pub unique_hosts: Option<u64>,
    /// `None` when the file has no saturation column (the Python tools never write one).
    pub loadgen_saturated: Option<bool>,
    /// `interrupted` (our `scale`): the cell was cut short by Ctrl-C.
    pub interrupted: Option<bool>,
    /// `peak_open_sessions` (our `scale`): the most sessions open at once in the cell. `None` when
    /// the column is absent (Python tools, older files) or its value does not parse: it only adds
    /// a flag, so a bad value never costs the row.
    pub peak_open_sessions: Option<u64>,
    /// Every column of the row the column table knows (typed by its kind in `analysis.json`).
    #[serde(rename = "columns", serialize_with = "columns_json")]
    pub record: SummaryRecord,
}

fn columns_json<S: serde::Serializer>(rec: &SummaryRecord, s: S) -> Result<S::Ok, S::Error> {
    rec.to_json().serialize(s)
}

/// A row that could not be parsed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    pub line: u64,
    pub reason: String,
}

/// The parsed content of one `summary.csv`.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub path: PathBuf,
    pub rows: Vec<SummaryRow>,
    pub skipped: Vec<SkippedRow>,
    /// Whether the header has a load-generator saturation column at all.
    pub has_saturation_column: bool,
}

impl Summary {
    /// Reads `path`. Fails only when the file cannot be read or lacks a required column; bad rows
    /// are collected in `skipped`.
    pub fn read(path: &Path) -> Result<Summary, ReportError> {
        let file = std::fs::File::open(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(file, path)
    }

    /// Parses summary CSV text from any reader; `path` is used in messages only.
    pub fn from_reader<R: std::io::Read>(reader: R, path: &Path) -> Result<Summary, ReportError> {
        let file = SummaryFile::from_reader(reader).map_err(|source| ReportError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
        let missing = |name: &str| ReportError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
        };
        for required in ["mode", "wait_seconds"] {
            if !file.has(required) {
                return Err(missing(required));
            }
        }
        if !file.has("num_requests") && !file.has("batch_size") {
            return Err(missing("num_requests"));
        }
        let has_counts = file.has("successful") && file.has("failed");
        if !(file.has("error_rate") || has_counts) {
            return Err(missing("error_rate"));
        }
        let mut summary = Summary {
            path: path.to_path_buf(),
            has_saturation_column: file.has("saturated"),
            ..Summary::default()
        };
        let mut skipped: Vec<SkippedRow> = file
            .unreadable
            .iter()
            .map(|(line, reason)| SkippedRow {
                line: *line,
                reason: reason.clone(),
            })
            .collect();
        for rec in file.records {
            let line = rec.line;
            match parse_row(rec) {
                Ok(row) => summary.rows.push(row),
                Err(reason) => skipped.push(SkippedRow { line, reason }),
            }
        }
        skipped.sort_by_key(|r| r.line);
        summary.skipped = skipped;
        Ok(summary)
    }
}

/// The report's policy: a value that does not parse in a column the report uses costs the row,
/// except `peak_open_sessions` (it only adds a flag).
fn parse_row(rec: SummaryRecord) -> Result<SummaryRow, String> {
    let f = |name: &str| rec.float(name);
    let u = |name: &str| rec.count(name);
    let text = |name: &str| rec.text(name).unwrap_or_default().to_string();

    let mode = rec.text("mode").ok_or("mode: empty")?.to_ascii_lowercase();
    let batch_size = match u("num_requests")? {
        Some(n) => n,
        None => u("batch_size")?.ok_or("num_requests/batch_size: empty")?,
    };
    if batch_size == 0 {
        return Err("num_requests: zero".into());
    }
    let wait_seconds = f("wait_seconds")?.ok_or("wait_seconds: empty")?;
    if !wait_seconds.is_finite() || wait_seconds < 0.0 {
        return Err(format!("wait_seconds: out of range: {wait_seconds}"));
    }
    let successful = u("successful")?;
    let failed = u("failed")?;
    let success_rate = match f("error_rate")? {
        Some(e) if (0.0..=1.0).contains(&e) => 1.0 - e,
        Some(e) => return Err(format!("error_rate: out of range: {e}")),
        None => match (successful, failed) {
            (Some(s), Some(fl)) if s + fl > 0 => s as f64 / (s + fl) as f64,
            _ => return Err("error_rate: empty and no successful/failed counts".into()),
        },
    };
    let repetition = u("repetition")?
        .map(|r| u32::try_from(r).map_err(|_| "repetition: too large".to_string()))
        .transpose()?;
    Ok(SummaryRow {
        line: rec.line,
        mode,
        url: text("url"),
        batch_size,
        wait_seconds,
        repetition,
        timestamp: text("timestamp"),
        hardware: text("hardware"),
        successful,
        failed,
        success_rate,
        total_wall_time: f("total_wall_time")?,
        connect_p50: f("connect_p50")?,
        connect_p95: f("connect_p95")?,
        connect_p99: f("connect_p99")?,
        reset_p50: f("reset_p50")?,
        reset_p95: f("reset_p95")?,
        reset_p99: f("reset_p99")?,
        step_p50: f("step_p50")?,
        step_p95: f("step_p95")?,
        step_p99: f("step_p99")?,
        total_min: f("total_min")?,
        total_max: f("total_max")?,
        total_avg: f("total_avg")?,
        total_p50: f("total_p50")?,
        total_p90: f("total_p90")?,
        total_p95: f("total_p95")?,
        total_p99: f("total_p99")?,
        requests_per_second: f("requests_per_second")?,
        effective_concurrency: f("effective_concurrency")?,
        unique_pids: u("unique_pids")?,
        unique_sessions: u("unique_sessions")?,
        unique_hosts: u("unique_hosts")?,
        loadgen_saturated: rec.flag("saturated")?,
        interrupted: rec.flag("interrupted")?,
        peak_open_sessions: u("peak_open_sessions").ok().flatten(),
        record: rec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Summary {
        Summary::from_reader(text.as_bytes(), Path::new("t.csv")).unwrap()
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let s = parse("wait_seconds,error_rate,mode,num_requests,total_p99\n1.0,0.25,WS,16,1.5\n");
        assert_eq!(s.rows.len(), 1);
        let r = &s.rows[0];
        assert_eq!(
            (r.mode.as_str(), r.batch_size, r.wait_seconds),
            ("ws", 16, 1.0)
        );
        assert_eq!(r.success_rate, 0.75);
        assert_eq!(r.total_p99, Some(1.5));
        assert_eq!(r.connect_p50, None);
        assert!(!s.has_saturation_column);
    }

    #[test]
    fn bad_rows_are_counted_not_fatal() {
        let s = parse(
            "mode,num_requests,wait_seconds,error_rate,loadgen_saturated\n\
             ws,4,1.0,0.0,false\n\
             ws,abc,1.0,0.0,false\n\
             ws,8,1.0,1.5,false\n\
             ws,8,1.0\n\
             http,8.0,1.0,0.5,True\n",
        );
        assert_eq!(s.rows.len(), 2);
        assert_eq!(s.rows[1].batch_size, 8);
        assert_eq!(s.rows[1].loadgen_saturated, Some(true));
        let lines: Vec<u64> = s.skipped.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(s.skipped[0].reason.contains("num_requests"));
        assert!(s.skipped[1].reason.contains("error_rate"));
    }

    #[test]
    fn success_falls_back_to_counts_and_batch_size() {
        let s = parse("mode,batch_size,wait_seconds,successful,failed\nhttp,10,0.1,9,1\n");
        assert_eq!(s.rows[0].batch_size, 10);
        assert!((s.rows[0].success_rate - 0.9).abs() < 1e-12);
    }

    #[test]
    fn peak_open_sessions_is_optional_and_lenient() {
        let s = parse(
            "mode,num_requests,wait_seconds,error_rate,peak_open_sessions\n\
             ws,4,1.0,0.0,3\n\
             ws,8,1.0,0.0,lots\n\
             ws,16,1.0,0.0,\n",
        );
        assert!(s.skipped.is_empty());
        let peaks: Vec<Option<u64>> = s.rows.iter().map(|r| r.peak_open_sessions).collect();
        assert_eq!(peaks, [Some(3), None, None]);
        let absent = parse("mode,num_requests,wait_seconds,error_rate\nws,4,1.0,0.0\n");
        assert_eq!(absent.rows[0].peak_open_sessions, None);
    }

    #[test]
    fn missing_required_column_is_an_error() {
        let e = Summary::from_reader("mode,wait_seconds\nws,1\n".as_bytes(), Path::new("x"));
        assert!(matches!(e, Err(ReportError::MissingColumn { .. })));
    }
}
