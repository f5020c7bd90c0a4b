//! `raw.jsonl`, `summary.csv` and `run.json` in one output directory, appended cell by cell.
//!
//! Every write is whole lines (a buffer of complete lines per `write`), and the files are opened
//! in append mode, so an interrupted run never leaves half a line and a later run can continue
//! the same directory.

use crate::record::SessionRecord;
use crate::summary::{header, CellSummary};
use crate::LoadgenError;
use openenv_protocol::results::SUMMARY_COLUMNS;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Facts about one `scale` run, written to `run.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunInfo {
    pub tool: String,
    pub version: String,
    pub command_line: Vec<String>,
    pub hostname: String,
    pub cores: usize,
    pub open_files_soft: u64,
    pub open_files_hard: u64,
    pub start_time: String,
}

impl RunInfo {
    pub fn here(command_line: Vec<String>) -> RunInfo {
        let (soft, hard) = crate::sys::nofile_limit();
        RunInfo {
            tool: "openenv-bench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command_line,
            hostname: crate::sys::hostname(),
            cores: crate::sys::cores(),
            open_files_soft: soft,
            open_files_hard: hard,
            start_time: crate::record::utc_timestamp(std::time::SystemTime::now()),
        }
    }
}

/// Which columns an existing `summary.csv` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryLayout {
    /// Ours: reference columns then our extras.
    Full,
    /// Written by the Python tool: we append only the reference columns, so it stays loadable.
    ReferenceOnly,
    /// Written by an earlier version of ours, whose header is a prefix of today's (columns are
    /// only ever added at the end): we append that many columns.
    Earlier(usize),
}

pub struct OutputDir {
    dir: PathBuf,
    raw: File,
    summary: File,
    layout: SummaryLayout,
}

const RAW: &str = "raw.jsonl";
const SUMMARY: &str = "summary.csv";
const RUN: &str = "run.json";

/// Checks an existing `summary.csv` header without touching anything.
pub fn check_summary_header(dir: &Path) -> Result<Option<SummaryLayout>, LoadgenError> {
    let path = dir.join(SUMMARY);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LoadgenError::io(format!("reading {}", path.display()), e)),
    };
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Ok(None);
    }
    let ours = header();
    let found: Vec<&str> = first.split(',').collect();
    if found == ours {
        Ok(Some(SummaryLayout::Full))
    } else if found == SUMMARY_COLUMNS {
        Ok(Some(SummaryLayout::ReferenceOnly))
    } else if found.len() > SUMMARY_COLUMNS.len()
        && found.len() < ours.len()
        && ours[..found.len()] == found[..]
    {
        Ok(Some(SummaryLayout::Earlier(found.len())))
    } else {
        Err(LoadgenError::ForeignHeader {
            path: path.display().to_string(),
            found: first.chars().take(200).collect(),
        })
    }
}

impl OutputDir {
    /// Opens (or creates) the directory. Refuses a foreign `summary.csv` before writing anything.
    pub fn open(dir: &Path, run: &RunInfo) -> Result<OutputDir, LoadgenError> {
        let existing = check_summary_header(dir)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| LoadgenError::io(format!("creating {}", dir.display()), e))?;
        let append = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .map_err(|e| LoadgenError::io(format!("opening {}", dir.join(name).display()), e))
        };
        let raw = append(RAW)?;
        let mut summary = append(SUMMARY)?;
        let layout = match existing {
            Some(l) => l,
            None => {
                write_whole(
                    &mut summary,
                    format!("{}\n", header().join(",")).as_bytes(),
                    SUMMARY,
                )?;
                SummaryLayout::Full
            }
        };
        write_run_json(dir, run)?;
        Ok(OutputDir {
            dir: dir.to_owned(),
            raw,
            summary,
            layout,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn layout(&self) -> SummaryLayout {
        self.layout
    }

    /// Appends a cell: its records (in `request_id` order), then its summary row.
    pub fn append_cell(
        &mut self,
        records: &[SessionRecord],
        summary: &CellSummary,
    ) -> Result<(), LoadgenError> {
        let mut buf = Vec::with_capacity(256 * 1024);
        for r in records {
            buf.extend_from_slice(r.to_json_line().as_bytes());
            if buf.len() >= 240 * 1024 {
                write_whole(&mut self.raw, &buf, RAW)?;
                buf.clear();
            }
        }
        write_whole(&mut self.raw, &buf, RAW)?;
        let mut fields = summary.csv_fields();
        match self.layout {
            SummaryLayout::Full => {}
            SummaryLayout::ReferenceOnly => fields.truncate(SUMMARY_COLUMNS.len()),
            SummaryLayout::Earlier(n) => fields.truncate(n),
        }
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(&fields)
            .map_err(|e| LoadgenError::io("formatting summary row", std::io::Error::other(e)))?;
        let row = w.into_inner().map_err(|e| {
            LoadgenError::io(
                "formatting summary row",
                std::io::Error::other(e.to_string()),
            )
        })?;
        write_whole(&mut self.summary, &row, SUMMARY)
    }
}

/// One `write_all` of complete lines; with O_APPEND a regular-file write lands whole.
fn write_whole(f: &mut File, bytes: &[u8], name: &str) -> Result<(), LoadgenError> {
    if bytes.is_empty() {
        return Ok(());
    }
    f.write_all(bytes)
        .map_err(|e| LoadgenError::io(format!("writing {name}"), e))
}

/// `run.json`: the latest run's facts at the top level; earlier runs of the same directory
/// kept under `previous_runs`.
fn write_run_json(dir: &Path, run: &RunInfo) -> Result<(), LoadgenError> {
    let path = dir.join(RUN);
    let mut previous: Vec<serde_json::Value> = Vec::new();
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(serde_json::Value::Object(mut old)) = serde_json::from_str(&text) {
            if let Some(serde_json::Value::Array(p)) = old.remove("previous_runs") {
                previous = p;
            }
            previous.push(serde_json::Value::Object(old));
        }
    }
    let mut v = serde_json::to_value(run).expect("run info serializes");
    v["previous_runs"] = serde_json::Value::Array(previous);
    let tmp = dir.join(".run.json.tmp");
    let text = serde_json::to_string_pretty(&v).expect("json") + "\n";
    std::fs::write(&tmp, text)
        .map_err(|e| LoadgenError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| LoadgenError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("loadgen-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn refuses_a_foreign_header_and_writes_nothing() {
        let d = tmpdir("foreign");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(SUMMARY), "a,b,c\n1,2,3\n").unwrap();
        let err = OutputDir::open(&d, &RunInfo::here(vec![])).err().unwrap();
        assert!(matches!(err, LoadgenError::ForeignHeader { .. }), "{err}");
        assert!(err.to_string().contains("foreign header"));
        assert_eq!(
            std::fs::read_to_string(d.join(SUMMARY)).unwrap(),
            "a,b,c\n1,2,3\n"
        );
        assert!(!d.join(RAW).exists() && !d.join(RUN).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reference_only_header_is_appended_without_extras() {
        let d = tmpdir("reference");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(SUMMARY), SUMMARY_COLUMNS.join(",") + "\n").unwrap();
        let o = OutputDir::open(&d, &RunInfo::here(vec!["x".into()])).unwrap();
        assert_eq!(o.layout(), SummaryLayout::ReferenceOnly);
        let o2 = OutputDir::open(&d, &RunInfo::here(vec!["y".into()])).unwrap();
        assert_eq!(o2.layout(), SummaryLayout::ReferenceOnly);
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join(RUN)).unwrap()).unwrap();
        assert_eq!(run["command_line"][0], "y");
        assert_eq!(run["previous_runs"][0]["command_line"][0], "x");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_earlier_version_of_our_header_is_continued_with_its_columns() {
        let d = tmpdir("earlier");
        std::fs::create_dir_all(&d).unwrap();
        let ours = header();
        let earlier = ours[..ours.len() - 1].join(",");
        std::fs::write(d.join(SUMMARY), format!("{earlier}\n")).unwrap();
        let mut o = OutputDir::open(&d, &RunInfo::here(vec![])).unwrap();
        assert_eq!(o.layout(), SummaryLayout::Earlier(ours.len() - 1));
        let s = crate::summary::tests::sample_summary();
        o.append_cell(&[], &s).unwrap();
        let text = std::fs::read_to_string(d.join(SUMMARY)).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert_eq!(row.split(',').count(), ours.len() - 1);
        // A header that is not a prefix of ours (a column renamed or reordered) is refused.
        let mut other: Vec<&str> = ours[..ours.len() - 1].to_vec();
        other.swap(ours.len() - 2, ours.len() - 3);
        std::fs::write(d.join(SUMMARY), format!("{}\n", other.join(","))).unwrap();
        assert!(check_summary_header(&d).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
