//! `raw.jsonl`, `summary.csv` and `run.json` in one output directory, appended cell by cell.
//!
//! Every write is whole lines (a buffer of complete lines per `write`), and the files are opened
//! in append mode, so an interrupted run never leaves half a line and a later run can continue
//! the same directory.

use crate::record::SessionRecord;
use crate::summary::{header, CellSummary};
use crate::LoadgenError;
use openenv_results::run::{start_run, CommandLine, RUN_JSON};
pub use openenv_results::summary::SummaryLayout;
pub use openenv_results::RunInfo;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// This machine's facts for `run.json`, at the start of a `scale` run.
pub fn run_info(command_line: Vec<String>) -> RunInfo {
    let (soft, hard) = openenv_sys::nofile_limit();
    RunInfo {
        tool: Some("openenv-bench".into()),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        command_line: Some(CommandLine::Args(command_line)),
        hostname: openenv_sys::hostname().ok(),
        cores: Some(openenv_sys::cores() as u64),
        open_files_soft: Some(soft),
        open_files_hard: Some(hard),
        start_time: Some(crate::record::utc_timestamp(std::time::SystemTime::now())),
        ..RunInfo::default()
    }
}

pub struct OutputDir {
    dir: PathBuf,
    /// The directory's lock, held until the run ends (dropped with it).
    _lock: File,
    raw: File,
    summary: File,
    layout: SummaryLayout,
    /// `run.json`'s `loadgen_hosts` of this run so far.
    hosts: Vec<openenv_results::LoadgenHost>,
}

const RAW: &str = "raw.jsonl";
const SUMMARY: &str = "summary.csv";
/// Held (`flock`, exclusive) for the whole run; holds the pid of the run holding it.
const LOCK: &str = ".openenv-bench.lock";

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
    let found: Vec<&str> = first.split(',').collect();
    SummaryLayout::of_header(&found)
        .map(Some)
        .ok_or_else(|| LoadgenError::ForeignHeader {
            path: path.display().to_string(),
            found: first.chars().take(200).collect(),
        })
}

/// Keys every `raw.jsonl` line has, ours and the Python original's alike: a first line without
/// them is someone else's file.
const CORE_RAW_KEYS: [&str; 5] = [
    "request_id",
    "mode",
    "batch_size",
    "success",
    "total_latency",
];

/// Longest first line read to tell whose `raw.jsonl` it is (ours are a few hundred bytes).
const MAX_FIRST_LINE: u64 = 1 << 20;

/// Refuses a `raw.jsonl` whose first line is not a session record (a missing or empty file is
/// fine), as [`check_summary_header`] refuses a foreign `summary.csv`: appending our records to
/// someone else's file would mix them into it.
pub fn check_raw_records(dir: &Path) -> Result<(), LoadgenError> {
    use std::io::{BufRead, BufReader, Read};
    let path = dir.join(RAW);
    let ctx = || format!("reading {}", path.display());
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LoadgenError::io(ctx(), e)),
    };
    let mut first = Vec::new();
    BufReader::new(f)
        .take(MAX_FIRST_LINE)
        .read_until(b'\n', &mut first)
        .map_err(|e| LoadgenError::io(ctx(), e))?;
    if first.is_empty() {
        return Ok(());
    }
    let foreign = |reason: String| LoadgenError::ForeignRaw {
        path: path.display().to_string(),
        reason,
    };
    if first.last() != Some(&b'\n') && first.len() as u64 == MAX_FIRST_LINE {
        return Err(foreign(format!(
            "its first line is longer than {MAX_FIRST_LINE} bytes"
        )));
    }
    let line: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&first)
        .map_err(|e| foreign(format!("its first line is not a JSON object: {e}")))?;
    let missing: Vec<&str> = CORE_RAW_KEYS
        .into_iter()
        .filter(|k| !line.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(foreign(format!(
            "its first line has no {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Refuses a `run.json` that is there but cannot be read as one: starting a run rewrites it
/// (the old content moved under `previous_runs`), which would lose what is in it.
pub fn check_run_json(dir: &Path) -> Result<(), LoadgenError> {
    let path = dir.join(RUN_JSON);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(LoadgenError::CorruptRunJson {
                path: path.display().to_string(),
                reason: "not UTF-8 text".into(),
            })
        }
        Err(e) => return Err(LoadgenError::io(format!("reading {}", path.display()), e)),
    };
    RunInfo::parse(&text)
        .map(drop)
        .map_err(|e| LoadgenError::CorruptRunJson {
            path: path.display().to_string(),
            reason: if text.trim().is_empty() {
                "it is empty".into()
            } else {
                format!("not a JSON object: {e}")
            },
        })
}

/// Refuses a file that does not end in a newline (a missing or empty file is fine): appending
/// to it would glue our first line onto its half line.
fn check_whole_lines(path: &Path) -> Result<(), LoadgenError> {
    use std::io::{Read, Seek, SeekFrom};
    let ctx = || format!("reading {}", path.display());
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LoadgenError::io(ctx(), e)),
    };
    let len = f.metadata().map_err(|e| LoadgenError::io(ctx(), e))?.len();
    if len == 0 {
        return Ok(());
    }
    // The tail only (at most 64 KiB): enough to say how long the half line is.
    let tail_len = len.min(64 * 1024);
    f.seek(SeekFrom::End(-(tail_len as i64)))
        .map_err(|e| LoadgenError::io(ctx(), e))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    f.read_to_end(&mut tail)
        .map_err(|e| LoadgenError::io(ctx(), e))?;
    if tail.last() == Some(&b'\n') {
        return Ok(());
    }
    let bytes = match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => (tail.len() - i - 1) as u64,
        None if tail_len == len => len,
        None => tail_len, // at least this many
    };
    Err(LoadgenError::TornTail {
        path: path.display().to_string(),
        bytes,
    })
}

/// Takes the directory's exclusive lock (`flock` through std's `File::try_lock`) and writes our
/// pid into the lock file. The kernel releases the lock when the process ends, however it ends,
/// so a lock file left behind blocks nobody; a live holder is named in the refusal.
fn lock_dir(dir: &Path) -> Result<File, LoadgenError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK);
    let ctx = || format!("locking {}", path.display());
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LoadgenError::io(ctx(), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LoadgenError::Locked {
                dir: dir.display().to_string(),
                holder: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(LoadgenError::io(ctx(), e)),
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| LoadgenError::io(ctx(), e))?;
    Ok(file)
}

impl OutputDir {
    /// Opens (or creates) the directory. Refuses a foreign `summary.csv` or `raw.jsonl`, a
    /// half line in either, or an unreadable `run.json`, before writing anything.
    pub fn open(dir: &Path, run: &RunInfo) -> Result<OutputDir, LoadgenError> {
        check_summary_header(dir)?;
        check_whole_lines(&dir.join(RAW))?;
        check_whole_lines(&dir.join(SUMMARY))?;
        check_raw_records(dir)?;
        check_run_json(dir)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| LoadgenError::io(format!("creating {}", dir.display()), e))?;
        let lock = lock_dir(dir)?;
        // Again under the lock: a run that just ended may have written the files since.
        let existing = check_summary_header(dir)?;
        check_raw_records(dir)?;
        check_run_json(dir)?;
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
        start_run(dir, run.clone())?;
        Ok(OutputDir {
            dir: dir.to_owned(),
            _lock: lock,
            raw,
            summary,
            layout,
            hosts: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Adds one cell's load-generator hosts to `run.json`'s `loadgen_hosts` (rewritten
    /// atomically): counts and CPU time add up over the run, peaks take the highest.
    pub fn record_hosts(
        &mut self,
        cell: &[openenv_results::LoadgenHost],
    ) -> Result<(), LoadgenError> {
        for h in cell {
            match self.hosts.iter_mut().find(|r| r.host == h.host) {
                Some(r) => crate::cell::merge_host(r, h),
                None => self.hosts.push(h.clone()),
            }
        }
        openenv_results::run::set_loadgen_hosts(&self.dir, &self.hosts)?;
        Ok(())
    }

    pub fn layout(&self) -> SummaryLayout {
        self.layout
    }

    /// Appends a cell: its records (in `request_id` order), then its summary row. All or
    /// nothing: a failed write (a full disk) cuts both files back to where the cell began, so
    /// no half line and no record without its summary row is left behind.
    pub fn append_cell(
        &mut self,
        records: &[SessionRecord],
        summary: &CellSummary,
    ) -> Result<(), LoadgenError> {
        let len = |f: &File, name: &str| {
            f.metadata()
                .map(|m| m.len())
                .map_err(|e| LoadgenError::io(format!("reading the size of {name}"), e))
        };
        // The directory lock makes these lengths ours alone until the cell is written.
        let raw_len = len(&self.raw, RAW)?;
        let summary_len = len(&self.summary, SUMMARY)?;
        let result = self.append_cell_unguarded(records, summary);
        if result.is_err() {
            // Best effort: the write error is what the caller needs to see.
            let _ = self.raw.set_len(raw_len);
            let _ = self.summary.set_len(summary_len);
        }
        result
    }

    fn append_cell_unguarded(
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
        fields.truncate(self.layout.width());
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

#[cfg(test)]
mod tests {
    use super::*;
    use openenv_results::run::RUN_JSON as RUN;
    use openenv_results::summary::REFERENCE_COLUMNS as SUMMARY_COLUMNS;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("loadgen-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Two runs into one directory would interleave their headers and lose a run from
    /// run.json (issue 13, item 9): the second is refused while the first holds the lock, and
    /// the lock file left behind blocks nobody once the first is gone.
    #[test]
    fn a_second_run_into_a_locked_directory_is_refused() {
        let d = tmpdir("locked");
        let first = OutputDir::open(&d, &run_info(vec![])).unwrap();
        let err = OutputDir::open(&d, &run_info(vec![])).err().unwrap();
        assert!(matches!(err, LoadgenError::Locked { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&d.display().to_string()), "{msg}");
        assert!(msg.contains(&std::process::id().to_string()), "{msg}");
        let header_lines = |d: &Path| {
            std::fs::read_to_string(d.join(SUMMARY))
                .unwrap()
                .lines()
                .count()
        };
        assert_eq!(header_lines(&d), 1, "the refused run wrote nothing");
        drop(first);
        assert!(d.join(LOCK).exists(), "a stale lock file stays...");
        let again = OutputDir::open(&d, &run_info(vec![])).expect("...and blocks nobody");
        drop(again);
        assert_eq!(header_lines(&d), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A full disk mid-cell (issue 13, item 7): a cell is written whole or not at all, so both
    /// files keep ending in a newline and every record has its summary row. A real full disk:
    /// a 64 KiB tmpfs mounted on the test's directory (needs root; skipped, saying so, if not).
    #[test]
    fn a_full_disk_leaves_no_half_line_and_no_orphan_records() {
        struct Mount(PathBuf);
        impl Drop for Mount {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount").arg(&self.0).status();
            }
        }
        let d = tmpdir("full");
        std::fs::create_dir_all(&d).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&d)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs on {} (not root?)",
                d.display()
            );
            return;
        }
        let mount = Mount(d.clone());
        let mut o = OutputDir::open(&d, &run_info(vec![])).unwrap();
        let records: Vec<SessionRecord> = (0..50)
            .map(|i| crate::summary::tests::rec(i, true, 1.0, 1))
            .collect();
        let s = crate::summary::tests::sample_summary();
        let mut written = 0;
        let err = loop {
            match o.append_cell(&records, &s) {
                Ok(()) => written += 1,
                Err(e) => break e,
            }
            assert!(written < 100, "a 64 KiB disk never filled");
        };
        assert!(err.to_string().contains("No space left"), "{err}");
        drop(o);
        let raw = std::fs::read_to_string(d.join(RAW)).unwrap();
        let summary = std::fs::read_to_string(d.join(SUMMARY)).unwrap();
        assert!(
            raw.is_empty() || raw.ends_with('\n'),
            "half a line in raw.jsonl"
        );
        assert!(summary.ends_with('\n'), "half a line in summary.csv");
        assert_eq!(summary.lines().count(), 1 + written);
        assert_eq!(
            raw.lines().count(),
            50 * written,
            "records without a summary row"
        );
        drop(mount);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A half line left by an older version or a killed writer: appending would glue our
    /// first record onto it, so the run is refused with nothing written (issue 13, item 7).
    #[test]
    fn a_torn_tail_is_refused_and_nothing_written() {
        for name in [RAW, SUMMARY] {
            let d = tmpdir("torn");
            std::fs::create_dir_all(&d).unwrap();
            let torn = if name == RAW {
                "{\"request_id\": 0}\n{\"request_".to_string()
            } else {
                format!("{}\n1,2", header().join(","))
            };
            std::fs::write(d.join(name), &torn).unwrap();
            let err = OutputDir::open(&d, &run_info(vec![])).err().unwrap();
            assert!(matches!(err, LoadgenError::TornTail { .. }), "{err}");
            assert!(err.to_string().contains(name), "{err}");
            assert_eq!(std::fs::read_to_string(d.join(name)).unwrap(), torn);
            assert!(!d.join(RUN).exists());
            std::fs::remove_dir_all(&d).unwrap();
        }
    }

    #[test]
    fn refuses_a_foreign_header_and_writes_nothing() {
        let d = tmpdir("foreign");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(SUMMARY), "a,b,c\n1,2,3\n").unwrap();
        let err = OutputDir::open(&d, &run_info(vec![])).err().unwrap();
        assert!(matches!(err, LoadgenError::ForeignHeader { .. }), "{err}");
        assert!(err.to_string().contains("foreign header"));
        assert_eq!(
            std::fs::read_to_string(d.join(SUMMARY)).unwrap(),
            "a,b,c\n1,2,3\n"
        );
        assert!(!d.join(RAW).exists() && !d.join(RUN).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A foreign raw.jsonl used to be appended to (issue 13, item 9): refused as a foreign
    /// summary.csv is, naming the file, and nothing in the directory changes.
    #[test]
    fn refuses_a_foreign_raw_jsonl_and_writes_nothing() {
        for (i, foreign) in [
            "a,b,c\n1,2,3\n",
            "[1, 2]\n",
            "{\"event\": \"login\", \"user\": 7}\n",
            "{\"request_id\": 0, \"mode\": \"ws\"}\n",
        ]
        .into_iter()
        .enumerate()
        {
            let d = tmpdir(&format!("foreign-raw-{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(RAW), foreign).unwrap();
            let err = OutputDir::open(&d, &run_info(vec![])).err().unwrap();
            assert!(matches!(err, LoadgenError::ForeignRaw { .. }), "{err}");
            let msg = err.to_string();
            assert!(msg.contains(&d.join(RAW).display().to_string()), "{msg}");
            assert!(msg.contains("nothing was written"), "{msg}");
            assert_eq!(std::fs::read_to_string(d.join(RAW)).unwrap(), foreign);
            let names: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, [RAW], "nothing else created");
            std::fs::remove_dir_all(&d).unwrap();
        }
        // Ours and the Python original's first lines are accepted.
        let d = tmpdir("own-raw");
        std::fs::create_dir_all(&d).unwrap();
        let ours = crate::summary::tests::rec(0, true, 1.0, 1).to_json_line();
        let reference = format!(
            "{{{}}}\n",
            openenv_results::record::RAW_KEYS
                .iter()
                .map(|k| format!("\"{k}\": null"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for first in [ours, reference] {
            std::fs::write(d.join(RAW), &first).unwrap();
            drop(OutputDir::open(&d, &run_info(vec![])).unwrap());
            assert_eq!(std::fs::read_to_string(d.join(RAW)).unwrap(), first);
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A corrupt run.json used to be overwritten (issue 13, item 9): refused, naming the file,
    /// and nothing in the directory changes.
    #[test]
    fn refuses_a_corrupt_run_json_and_writes_nothing() {
        for (i, corrupt) in [
            &b"{\"tool\": \"openenv-bench\", \"cores\": "[..],
            b"",
            b"[1, 2]",
            b"\xff\xfe not text",
        ]
        .into_iter()
        .enumerate()
        {
            let d = tmpdir(&format!("corrupt-run-{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(RUN), corrupt).unwrap();
            let err = OutputDir::open(&d, &run_info(vec![])).err().unwrap();
            assert!(matches!(err, LoadgenError::CorruptRunJson { .. }), "{err}");
            let msg = err.to_string();
            assert!(msg.contains(&d.join(RUN).display().to_string()), "{msg}");
            assert!(msg.contains("nothing was written"), "{msg}");
            assert_eq!(std::fs::read(d.join(RUN)).unwrap(), corrupt);
            let names: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, [RUN], "nothing else created");
            std::fs::remove_dir_all(&d).unwrap();
        }
    }

    #[test]
    fn reference_only_header_is_appended_without_extras() {
        let d = tmpdir("reference");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(SUMMARY), SUMMARY_COLUMNS.join(",") + "\n").unwrap();
        let o = OutputDir::open(&d, &run_info(vec!["x".into()])).unwrap();
        assert_eq!(o.layout(), SummaryLayout::ReferenceOnly);
        // One run after the other: a directory holds one run at a time.
        drop(o);
        let o2 = OutputDir::open(&d, &run_info(vec!["y".into()])).unwrap();
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
        let mut o = OutputDir::open(&d, &run_info(vec![])).unwrap();
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
