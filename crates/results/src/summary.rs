//! One row of `summary.csv`: one cell (mode, N, wait, repetition).
//!
//! [`COLUMNS`] is the only list of columns: it writes a row ([`CellSummary::csv_fields`], in
//! order, floats as Python prints them) and reads one back ([`SummaryFile`]: by name, in any
//! order, every column optional, values parsed by the column's kind with the tolerance files of
//! the Python tools and of pandas round-trips need). Adding a column is one entry at the end of
//! [`COLUMNS`] (plus, when the value is new, the field that holds it).

use crate::float::py_float;
use crate::record::Mode;
use crate::ResultsError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the load generator itself fared during a cell (all processes together).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadgenStats {
    pub processes: usize,
    /// user + system CPU time of every load-generator process during the cell.
    pub cpu_seconds: f64,
    /// Sum over processes of each one's peak resident memory during the cell.
    pub peak_rss_bytes: u64,
    /// Worst lateness of a 10 ms timer on any process's event loop.
    pub max_lag: f64,
    /// Highest CPU seconds per second of any one process's event loop over its busiest second
    /// (a process's sessions all run on one thread: one core at most). A cell-wide average would
    /// hide a saturated connect storm behind the idle waits.
    pub busiest_cpu_fraction: f64,
    /// Latest actual session start minus the intended start.
    pub launch_spread: f64,
    /// WS sessions whose close handshake missed the close deadline and whose connection the
    /// load generator aborted (still successful: every reply had arrived). In `raw.jsonl`
    /// their `close_latency` is the deadline (or a little more).
    pub close_timeouts: usize,
}

impl LoadgenStats {
    /// A saturated load generator understates the server: its own delays end up in the latencies.
    pub fn saturated(&self) -> bool {
        self.busiest_cpu_fraction >= 0.9 || self.max_lag >= 0.25
    }

    /// Why the cell counts as saturated, naming the resource that was short: our own CPU, or
    /// the cores (busy with other processes, e.g. the server) while our event loop waited.
    pub fn saturation(&self) -> Option<String> {
        let cpu = self.busiest_cpu_fraction * 100.0;
        let lag = self.max_lag * 1e3;
        if self.busiest_cpu_fraction >= 0.9 {
            Some(format!(
                "busiest process {cpu:.0}% CPU in its busiest second, event-loop lag {lag:.0} ms"
            ))
        } else if self.max_lag >= 0.25 {
            Some(format!(
                "event-loop lag {lag:.0} ms while its busiest process used at most {cpu:.0}% CPU \
                 in any second: other processes held the cores"
            ))
        } else {
            None
        }
    }
}

/// One cell as `scale` writes it. Percentiles are over the successful sessions (as the Python
/// original computes them, see [`percentile`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellSummary {
    pub mode: Mode,
    pub url: String,
    pub num_requests: usize,
    pub batch_size: usize,
    pub wait_seconds: f64,
    pub repetition: u32,
    /// When the cell ended, UTC (as the Python original).
    pub timestamp: String,
    pub hardware: String,
    pub successful: usize,
    pub failed: usize,
    pub error_rate: f64,
    pub total_wall_time: f64,
    pub connect_p50: f64,
    pub connect_p95: f64,
    pub connect_p99: f64,
    pub reset_p50: f64,
    pub reset_p95: f64,
    pub reset_p99: f64,
    pub step_p50: f64,
    pub step_p95: f64,
    pub step_p99: f64,
    pub total_min: f64,
    pub total_max: f64,
    pub total_avg: f64,
    pub total_p50: f64,
    pub total_p90: f64,
    pub total_p95: f64,
    pub total_p99: f64,
    pub requests_per_second: f64,
    pub effective_concurrency: f64,
    /// Distinct `pid`s, `session_hash`es and `host_url`s of the successful sessions. `None`
    /// (an empty field: pandas reads NaN, the column stays numeric) when the cell had successful
    /// sessions but none reported the field: an environment other than the benchmark one
    /// reports no identity, and 0 or 1 would be a false answer.
    pub unique_pids: Option<usize>,
    pub unique_sessions: Option<usize>,
    pub unique_hosts: Option<usize>,
    // ---- additions ----
    pub steps: u32,
    pub ramp_seconds: f64,
    /// Most sessions connected at the same moment (from the end of the connect to the end of
    /// the session, start offsets included): how much of N really overlapped.
    pub peak_open_sessions: usize,
    pub loadgen: LoadgenStats,
    pub interrupted: bool,
    /// `Class:count` pairs of the failures, `;`-separated, sorted by class.
    pub error_types: String,
}

impl CellSummary {
    /// Load-generator CPU per session of the cell, microseconds.
    pub fn loadgen_cpu_per_session_us(&self) -> f64 {
        if self.num_requests > 0 {
            self.loadgen.cpu_seconds * 1e6 / self.num_requests as f64
        } else {
            0.0
        }
    }

    /// Sum of the load-generator processes' peak resident memory, MiB.
    pub fn loadgen_peak_rss_mib(&self) -> f64 {
        self.loadgen.peak_rss_bytes as f64 / (1024.0 * 1024.0)
    }

    /// The CSV fields in [`COLUMNS`] order.
    pub fn csv_fields(&self) -> Vec<String> {
        COLUMNS.iter().map(|c| c.format(self)).collect()
    }
}

/// How a column's values are written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Written as is; read as the trimmed text.
    Text,
    /// A non-negative integer; read from `16` or `16.0` (pandas round-trips turn ints into floats).
    Count,
    /// A float as Python prints it (`1.0`, `1e-07`); `nan`, `None`, `null` read as no value.
    Float,
    /// Python's `True`/`False`; also read from `true`/`1`/`yes`/`1.0` and their negations.
    Flag,
}

#[derive(Clone, Copy)]
enum Write {
    Text(fn(&CellSummary) -> String),
    Count(fn(&CellSummary) -> u64),
    /// A count that may be unknown: written as an empty field.
    OptCount(fn(&CellSummary) -> Option<u64>),
    Float(fn(&CellSummary) -> f64),
    Flag(fn(&CellSummary) -> bool),
}

/// One column of `summary.csv`.
#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// Earlier names of this column, looked up (in order) before `name` when reading.
    pub aliases: &'static [&'static str],
    write: Write,
}

impl std::fmt::Debug for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Column")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .finish()
    }
}

impl Column {
    const fn text(name: &'static str, f: fn(&CellSummary) -> String) -> Column {
        Column {
            name,
            aliases: &[],
            write: Write::Text(f),
        }
    }
    const fn count(name: &'static str, f: fn(&CellSummary) -> u64) -> Column {
        Column {
            name,
            aliases: &[],
            write: Write::Count(f),
        }
    }
    const fn opt_count(name: &'static str, f: fn(&CellSummary) -> Option<u64>) -> Column {
        Column {
            name,
            aliases: &[],
            write: Write::OptCount(f),
        }
    }
    const fn float(name: &'static str, f: fn(&CellSummary) -> f64) -> Column {
        Column {
            name,
            aliases: &[],
            write: Write::Float(f),
        }
    }
    const fn flag(name: &'static str, f: fn(&CellSummary) -> bool) -> Column {
        Column {
            name,
            aliases: &[],
            write: Write::Flag(f),
        }
    }
    const fn alias(mut self, aliases: &'static [&'static str]) -> Column {
        self.aliases = aliases;
        self
    }

    pub fn kind(&self) -> Kind {
        match self.write {
            Write::Text(_) => Kind::Text,
            Write::Count(_) | Write::OptCount(_) => Kind::Count,
            Write::Float(_) => Kind::Float,
            Write::Flag(_) => Kind::Flag,
        }
    }

    /// This column's field of `s`, as written.
    pub fn format(&self, s: &CellSummary) -> String {
        match self.write {
            Write::Text(f) => f(s),
            Write::Count(f) => f(s).to_string(),
            Write::OptCount(f) => f(s).map(|n| n.to_string()).unwrap_or_default(),
            Write::Float(f) => py_float(f(s)),
            Write::Flag(f) => if f(s) { "True" } else { "False" }.to_owned(),
        }
    }

    /// Whether the Python original writes this column (the first [`REFERENCE_COLUMNS`]).
    pub fn is_reference(&self) -> bool {
        REFERENCE_COLUMNS.contains(&self.name)
    }
}

/// Number of columns the Python original writes; they come first, in this order.
pub const REFERENCE_COUNT: usize = 33;

/// Every column, in the order written: the Python original's, then ours. New columns go at the
/// end only, so files of earlier versions stay continuable (their header is a prefix of ours).
pub static COLUMNS: &[Column] = &[
    // ---- the Python original's (`test_scaling.py`) ----
    Column::text("mode", |s| s.mode.as_str().to_owned()),
    Column::text("url", |s| s.url.clone()),
    Column::count("num_requests", |s| s.num_requests as u64),
    Column::count("batch_size", |s| s.batch_size as u64),
    Column::float("wait_seconds", |s| s.wait_seconds),
    Column::count("repetition", |s| u64::from(s.repetition)),
    Column::text("timestamp", |s| s.timestamp.clone()),
    Column::text("hardware", |s| s.hardware.clone()),
    Column::count("successful", |s| s.successful as u64),
    Column::count("failed", |s| s.failed as u64),
    Column::float("error_rate", |s| s.error_rate),
    Column::float("total_wall_time", |s| s.total_wall_time),
    Column::float("connect_p50", |s| s.connect_p50),
    Column::float("connect_p95", |s| s.connect_p95),
    Column::float("connect_p99", |s| s.connect_p99),
    Column::float("reset_p50", |s| s.reset_p50),
    Column::float("reset_p95", |s| s.reset_p95),
    Column::float("reset_p99", |s| s.reset_p99),
    Column::float("step_p50", |s| s.step_p50),
    Column::float("step_p95", |s| s.step_p95),
    Column::float("step_p99", |s| s.step_p99),
    Column::float("total_min", |s| s.total_min),
    Column::float("total_max", |s| s.total_max),
    Column::float("total_avg", |s| s.total_avg),
    Column::float("total_p50", |s| s.total_p50),
    Column::float("total_p90", |s| s.total_p90),
    Column::float("total_p95", |s| s.total_p95),
    Column::float("total_p99", |s| s.total_p99),
    Column::float("requests_per_second", |s| s.requests_per_second),
    Column::float("effective_concurrency", |s| s.effective_concurrency),
    Column::opt_count("unique_pids", |s| s.unique_pids.map(|n| n as u64)),
    Column::opt_count("unique_sessions", |s| s.unique_sessions.map(|n| n as u64)),
    Column::opt_count("unique_hosts", |s| s.unique_hosts.map(|n| n as u64)),
    // ---- ours ----
    Column::count("steps", |s| u64::from(s.steps)),
    Column::float("ramp_seconds", |s| s.ramp_seconds),
    Column::count("peak_open_sessions", |s| s.peak_open_sessions as u64),
    Column::count("loadgen_processes", |s| s.loadgen.processes as u64),
    Column::float("loadgen_cpu_seconds", |s| s.loadgen.cpu_seconds),
    Column::float("loadgen_cpu_per_session_us", |s| {
        s.loadgen_cpu_per_session_us()
    }),
    Column::float("loadgen_peak_rss_mib", |s| s.loadgen_peak_rss_mib()),
    Column::float("loadgen_max_lag", |s| s.loadgen.max_lag),
    Column::float("loadgen_busiest_cpu_fraction", |s| {
        s.loadgen.busiest_cpu_fraction
    }),
    Column::float("launch_spread", |s| s.loadgen.launch_spread),
    // An early version of ours called it `loadgen_saturated`.
    Column::flag("saturated", |s| s.loadgen.saturated()).alias(&["loadgen_saturated"]),
    Column::flag("interrupted", |s| s.interrupted),
    Column::text("error_types", |s| s.error_types.clone()),
    Column::count("close_timeouts", |s| s.loadgen.close_timeouts as u64),
];

/// The Python original's columns, in order (the first [`REFERENCE_COUNT`] of [`COLUMNS`]).
pub static REFERENCE_COLUMNS: [&str; REFERENCE_COUNT] = {
    let mut names = [""; REFERENCE_COUNT];
    let mut i = 0;
    while i < REFERENCE_COUNT {
        names[i] = COLUMNS[i].name;
        i += 1;
    }
    names
};

/// The header we write: every column of [`COLUMNS`], in order.
pub fn header() -> Vec<&'static str> {
    COLUMNS.iter().map(|c| c.name).collect()
}

/// The column called `name` (not an alias).
pub fn column(name: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.name == name)
}

/// Which columns an existing `summary.csv` has, for appending to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryLayout {
    /// Ours: every column of [`COLUMNS`].
    Full,
    /// Written by the Python tool: only its columns are appended, so it stays loadable.
    ReferenceOnly,
    /// Written by an earlier version of ours, whose header is a prefix of today's (columns are
    /// only ever added at the end): that many columns are appended.
    Earlier(usize),
}

impl SummaryLayout {
    /// The layout of an existing header, or `None` for a foreign one (not ours, not the
    /// Python original's, not a prefix of ours).
    pub fn of_header(found: &[&str]) -> Option<SummaryLayout> {
        let ours = header();
        if found == ours.as_slice() {
            Some(SummaryLayout::Full)
        } else if found == REFERENCE_COLUMNS.as_slice() {
            Some(SummaryLayout::ReferenceOnly)
        } else if found.len() > REFERENCE_COUNT
            && found.len() < ours.len()
            && ours[..found.len()] == *found
        {
            Some(SummaryLayout::Earlier(found.len()))
        } else {
            None
        }
    }

    /// How many columns a row appended to such a file has.
    pub fn width(self) -> usize {
        match self {
            SummaryLayout::Full => COLUMNS.len(),
            SummaryLayout::ReferenceOnly => REFERENCE_COUNT,
            SummaryLayout::Earlier(n) => n,
        }
    }
}

/// Percentile by linear interpolation between closest ranks, as numpy's default
/// (`numpy.percentile(values, p)`) and so the Python tools compute it. `sorted` must be sorted
/// ascending; `p` in 0..=100. Returns 0.0 for no values, as the Python original does.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

// ---------------------------------------------------------------- reading

/// A `summary.csv` read through [`COLUMNS`]: ours, the Python tools', earlier versions', with
/// columns in any order and unknown columns ignored. Nothing is required here; what a reader
/// needs is its own policy (see `openenv-report`).
#[derive(Debug, Clone, Default)]
pub struct SummaryFile {
    /// The header as found (trimmed, without a byte-order mark).
    pub header: Vec<String>,
    /// For every entry of [`COLUMNS`]: the name it has in this file, when present.
    found: Vec<Option<String>>,
    /// Rows with at least one non-empty field, in file order.
    pub records: Vec<SummaryRecord>,
    /// Lines the CSV parser could not read at all: (line, reason).
    pub unreadable: Vec<(u64, String)>,
}

/// One row of a [`SummaryFile`]: its fields, by column, parsed on demand by the column's kind.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRecord {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// For every entry of [`COLUMNS`]: (name in the file, trimmed non-empty text).
    cells: Vec<Option<(String, String)>>,
}

impl SummaryFile {
    pub fn read(path: &Path) -> Result<SummaryFile, ResultsError> {
        let file = std::fs::File::open(path).map_err(|e| ResultsError::io(path, e))?;
        Self::from_reader(file).map_err(|source| ResultsError::Csv {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Fails only when the header cannot be read; unreadable rows are collected.
    pub fn from_reader<R: std::io::Read>(reader: R) -> Result<SummaryFile, csv::Error> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let header: Vec<String> = rdr
            .headers()?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        let position = |name: &str| header.iter().position(|h| h == name);
        let mut index = Vec::with_capacity(COLUMNS.len());
        let mut found = Vec::with_capacity(COLUMNS.len());
        for c in COLUMNS {
            let hit = c
                .aliases
                .iter()
                .chain(std::iter::once(&c.name))
                .find_map(|n| position(n).map(|i| (i, n.to_string())));
            index.push(hit.as_ref().map(|(i, _)| *i));
            found.push(hit.map(|(_, n)| n));
        }
        let mut file = SummaryFile {
            header,
            found,
            ..SummaryFile::default()
        };
        for (i, rec) in rdr.records().enumerate() {
            // Header is line 1; records are counted from line 2 (no multi-line fields here).
            let fallback = i as u64 + 2;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(fallback);
                    file.unreadable.push((line, e.to_string()));
                    continue;
                }
            };
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let line = rec.position().map(|p| p.line()).unwrap_or(fallback);
            let cells = index
                .iter()
                .zip(&file.found)
                .map(|(i, name)| {
                    let text = rec.get((*i)?)?.trim();
                    (!text.is_empty()).then(|| (name.clone().unwrap_or_default(), text.to_owned()))
                })
                .collect();
            file.records.push(SummaryRecord { line, cells });
        }
        Ok(file)
    }

    /// Whether the file has the column `name` (under its name or an alias).
    pub fn has(&self, name: &str) -> bool {
        COLUMNS
            .iter()
            .position(|c| c.name == name)
            .is_some_and(|i| self.found[i].is_some())
            || self.header.iter().any(|h| h == name)
    }
}

fn index_of(name: &str, kinds: &[Kind]) -> usize {
    let i = COLUMNS
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name:?} is not a summary.csv column"));
    debug_assert!(
        kinds.contains(&COLUMNS[i].kind()),
        "{name:?} is a {:?} column",
        COLUMNS[i].kind()
    );
    i
}

fn parse_float(v: &str) -> Result<Option<f64>, String> {
    if matches!(v.to_ascii_lowercase().as_str(), "nan" | "none" | "null") {
        return Ok(None);
    }
    v.parse::<f64>()
        .map(Some)
        .map_err(|_| format!("not a number: {v:?}"))
}

impl SummaryRecord {
    fn cell(&self, i: usize) -> Option<(&str, &str)> {
        self.cells[i]
            .as_ref()
            .map(|(n, t)| (n.as_str(), t.as_str()))
    }

    /// The text of any column (empty fields are `None`).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.cell(index_of(
            name,
            &[Kind::Text, Kind::Count, Kind::Float, Kind::Flag],
        ))
        .map(|(_, t)| t)
    }

    /// A float or count column; errors name the column as the file does.
    pub fn float(&self, name: &str) -> Result<Option<f64>, String> {
        match self.cell(index_of(name, &[Kind::Float, Kind::Count])) {
            None => Ok(None),
            Some((n, v)) => parse_float(v).map_err(|e| format!("{n}: {e}")),
        }
    }

    /// A count column: `16` or `16.0`, never negative or fractional.
    pub fn count(&self, name: &str) -> Result<Option<u64>, String> {
        match self.cell(index_of(name, &[Kind::Count])) {
            None => Ok(None),
            Some((n, v)) => match parse_float(v).map_err(|e| format!("{n}: {e}"))? {
                None => Ok(None),
                Some(x) if x >= 0.0 && x.fract() == 0.0 && x < 1e15 => Ok(Some(x as u64)),
                Some(x) => Err(format!("{n}: not a non-negative integer: {x}")),
            },
        }
    }

    /// A flag column.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, String> {
        let Some((n, v)) = self.cell(index_of(name, &[Kind::Flag])) else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "none" | "null" | "nan" => Ok(None),
            "true" | "1" | "yes" | "1.0" => Ok(Some(true)),
            "false" | "0" | "no" | "0.0" => Ok(Some(false)),
            other => Err(format!("{n}: not a boolean: {other:?}")),
        }
    }

    /// Every column present in the row, by name, typed by its kind (a value that does not parse
    /// stays text): for machine-readable output.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for (c, cell) in COLUMNS.iter().zip(&self.cells) {
            let Some((_, text)) = cell else { continue };
            let parsed = match c.kind() {
                Kind::Text => None,
                Kind::Count => self.count(c.name).ok().flatten().map(Into::into),
                Kind::Float => self
                    .float(c.name)
                    .ok()
                    .flatten()
                    .and_then(|x| serde_json::Number::from_f64(x).map(Into::into)),
                Kind::Flag => self.flag(c.name).ok().flatten().map(Into::into),
            };
            out.insert(
                c.name.to_owned(),
                parsed.unwrap_or_else(|| serde_json::Value::String(text.clone())),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_summary() -> CellSummary {
        CellSummary {
            mode: Mode::Ws,
            url: "http://127.0.0.1:8000".into(),
            num_requests: 4,
            batch_size: 4,
            wait_seconds: 1.0,
            repetition: 2,
            timestamp: "1970-01-01T00:00:00.000000Z".into(),
            hardware: "cpu-basic".into(),
            successful: 3,
            failed: 1,
            error_rate: 0.25,
            total_wall_time: 2.0,
            connect_p50: 0.1,
            connect_p95: 0.2,
            connect_p99: 0.3,
            reset_p50: 0.001,
            reset_p95: 0.002,
            reset_p99: 0.003,
            step_p50: 1.0,
            step_p95: 1.0,
            step_p99: 1.0,
            total_min: 1.0,
            total_max: 4.0,
            total_avg: 7.0 / 3.0,
            total_p50: 2.0,
            total_p90: 3.6,
            total_p95: 3.8,
            total_p99: 3.96,
            requests_per_second: 1.5,
            effective_concurrency: 2.0,
            unique_pids: Some(2),
            unique_sessions: Some(3),
            unique_hosts: Some(1),
            steps: 1,
            ramp_seconds: 0.0,
            peak_open_sessions: 4,
            loadgen: LoadgenStats {
                processes: 1,
                cpu_seconds: 0.0004,
                peak_rss_bytes: 5 * 1024 * 1024,
                max_lag: 1e-7,
                busiest_cpu_fraction: 0.5,
                launch_spread: 0.00001,
                close_timeouts: 1,
            },
            interrupted: false,
            error_types: "CapacityReached:1".into(),
        }
    }

    /// The Python original's header, as its `test_scaling.py` writes it.
    const PYTHON_HEADER: &str = "mode,url,num_requests,batch_size,wait_seconds,repetition,timestamp,hardware,successful,failed,error_rate,total_wall_time,connect_p50,connect_p95,connect_p99,reset_p50,reset_p95,reset_p99,step_p50,step_p95,step_p99,total_min,total_max,total_avg,total_p50,total_p90,total_p95,total_p99,requests_per_second,effective_concurrency,unique_pids,unique_sessions,unique_hosts";

    #[test]
    fn reference_columns_come_first_in_the_python_order() {
        let py: Vec<&str> = PYTHON_HEADER.split(',').collect();
        assert_eq!(REFERENCE_COLUMNS.as_slice(), py.as_slice());
        assert!(COLUMNS[..REFERENCE_COUNT].iter().all(Column::is_reference));
        assert!(!COLUMNS[REFERENCE_COUNT..].iter().any(Column::is_reference));
        let mut names = header();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len(), "column names are unique");
    }

    #[test]
    fn a_row_is_written_in_column_order_floats_as_python() {
        let s = sample_summary();
        let f = s.csv_fields();
        assert_eq!(f.len(), header().len());
        let col = |name: &str| f[header().iter().position(|c| *c == name).unwrap()].as_str();
        assert_eq!(col("mode"), "ws");
        assert_eq!(col("wait_seconds"), "1.0");
        assert_eq!(col("error_rate"), "0.25");
        assert_eq!(col("repetition"), "2");
        assert_eq!(col("loadgen_max_lag"), "1e-07");
        assert_eq!(col("launch_spread"), "1e-05");
        assert_eq!(col("loadgen_cpu_per_session_us"), "100.0");
        assert_eq!(col("loadgen_peak_rss_mib"), "5.0");
        assert_eq!(col("saturated"), "False");
        assert_eq!(col("interrupted"), "False");
        assert_eq!(col("close_timeouts"), "1");
        assert_eq!(col("error_types"), "CapacityReached:1");
    }

    fn read(text: &str) -> SummaryFile {
        SummaryFile::from_reader(text.as_bytes()).unwrap()
    }

    #[test]
    fn our_row_reads_back_through_the_same_table() {
        let s = sample_summary();
        let text = format!("{}\n{}\n", header().join(","), s.csv_fields().join(","));
        let file = read(&text);
        let r = &file.records[0];
        assert_eq!(r.line, 2);
        assert_eq!(r.text("mode"), Some("ws"));
        assert_eq!(r.count("num_requests"), Ok(Some(4)));
        assert_eq!(r.float("loadgen_max_lag"), Ok(Some(1e-7)));
        assert_eq!(r.float("total_avg"), Ok(Some(7.0 / 3.0)));
        assert_eq!(r.flag("saturated"), Ok(Some(false)));
        assert_eq!(r.count("close_timeouts"), Ok(Some(1)));
        // Every column we write is found again, and to_json types it by its kind.
        assert!(COLUMNS.iter().all(|c| file.has(c.name)));
        let j = r.to_json();
        assert_eq!(j.len(), COLUMNS.len());
        assert_eq!(j["unique_pids"], 2);
        assert_eq!(j["total_p99"], 3.96);
        assert_eq!(j["interrupted"], false);
        assert_eq!(j["url"], "http://127.0.0.1:8000");
    }

    #[test]
    fn an_unknown_identity_count_is_an_empty_field_that_reads_as_none() {
        let mut s = sample_summary();
        s.unique_hosts = None;
        s.unique_pids = None;
        let text = format!("{}\n{}\n", header().join(","), s.csv_fields().join(","));
        let at = COLUMNS
            .iter()
            .position(|c| c.name == "unique_hosts")
            .unwrap();
        assert_eq!(s.csv_fields()[at], "");
        let r = &read(&text).records[0];
        assert_eq!(r.count("unique_hosts"), Ok(None));
        assert_eq!(r.count("unique_pids"), Ok(None));
        assert_eq!(r.count("unique_sessions"), Ok(Some(3)));
        // pandas writes NaN back for such a cell: still unknown, not an error.
        let pandas = text.replace(",,3,", ",nan,3,");
        assert_ne!(pandas, text);
        assert_eq!(read(&pandas).records[0].count("unique_pids"), Ok(None));
    }

    #[test]
    fn reading_is_tolerant() {
        let f = read(
            "\u{feff} wait_seconds ,num_requests,mode,loadgen_saturated,extra\n\
             nan,16.0,WS,1,x\n\
             ,,,,\n\
             1.0,-3,ws,maybe,y\n",
        );
        assert_eq!(f.records.len(), 2, "the blank row is dropped");
        let (a, b) = (&f.records[0], &f.records[1]);
        assert_eq!(a.float("wait_seconds"), Ok(None));
        assert_eq!(a.count("num_requests"), Ok(Some(16)));
        assert_eq!(
            a.flag("saturated"),
            Ok(Some(true)),
            "read through its alias"
        );
        assert!(f.has("saturated") && f.has("extra") && !f.has("interrupted"));
        assert_eq!(a.float("total_p99"), Ok(None), "absent column");
        assert_eq!(b.line, 4);
        let e = b.count("num_requests").unwrap_err();
        assert!(
            e.starts_with("num_requests: not a non-negative integer"),
            "{e}"
        );
        let e = b.flag("saturated").unwrap_err();
        assert!(e.starts_with("loadgen_saturated: not a boolean"), "{e}");
    }

    /// Every shape on disk reads through the table: the Python original's, ours, and the
    /// partial headers of earlier versions and hand-made files.
    #[test]
    fn every_known_file_shape_reads() {
        // (what, text, rows, lines whose required values are bad on purpose)
        let shapes: [(&str, &str, usize, &[u64]); 6] = [
            (
                "python",
                include_str!("../../loadgen/tests/fixtures/reference-ws-wait1.0-summary.csv"),
                2,
                &[],
            ),
            (
                "python-http",
                include_str!(
                    "../../report/tests/data/reference/python-openenv-w2-http-wait1.0/summary.csv"
                ),
                0,
                &[],
            ),
            (
                "ours",
                include_str!("../../report/tests/data/ours/local-native/2026-11-29/summary.csv"),
                0,
                &[],
            ),
            (
                "synthetic",
                include_str!(
                    "../../report/tests/data/synthetic/slurm-single/2026-01-13/summary.csv"
                ),
                0,
                &[11, 16],
            ),
            (
                "interrupted",
                include_str!(
                    "../../report/tests/data/interrupted/local-native/2026-11-29/summary.csv"
                ),
                0,
                &[],
            ),
            (
                "peak-open",
                include_str!(
                    "../../report/tests/data/peak-open/local-native/2026-11-29/summary.csv"
                ),
                0,
                &[],
            ),
        ];
        for (what, text, rows, bad) in shapes {
            let f = read(text);
            assert!(!f.records.is_empty(), "{what}: no rows");
            if rows > 0 {
                assert_eq!(f.records.len(), rows, "{what}");
            }
            let mut failed = Vec::new();
            for r in &f.records {
                let n = r.count("num_requests");
                let w = r.float("wait_seconds");
                match (n, w, r.text("mode")) {
                    (Ok(Some(n)), Ok(Some(_)), Some("ws" | "http")) if n > 0 => {}
                    _ => failed.push(r.line),
                }
            }
            assert_eq!(failed, bad, "{what}");
            // Known columns of the file are typed by their kind, the others ignored; the only
            // values that do not parse are the fixtures' deliberate ones.
            let mut bad_cells = Vec::new();
            for c in f.header.iter().filter_map(|h| column(h)) {
                for r in &f.records {
                    let ok = match c.kind() {
                        Kind::Text => true,
                        Kind::Count => r.count(c.name).is_ok(),
                        Kind::Float => r.float(c.name).is_ok(),
                        Kind::Flag => r.flag(c.name).is_ok(),
                    };
                    if !ok {
                        bad_cells.push((r.line, c.name));
                    }
                }
            }
            let expected: &[(u64, &str)] = match what {
                "synthetic" => &[(11, "num_requests")],
                "peak-open" => &[(10, "peak_open_sessions")],
                _ => &[],
            };
            assert_eq!(bad_cells, expected, "{what}");
        }
        // The Python original's file is the reference layout, ours the full one.
        let header_of = |t: &str| {
            t.lines()
                .next()
                .unwrap()
                .split(',')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let py = header_of(shapes[0].1);
        let py: Vec<&str> = py.iter().map(String::as_str).collect();
        assert_eq!(
            SummaryLayout::of_header(&py),
            Some(SummaryLayout::ReferenceOnly)
        );
    }

    #[test]
    fn layouts_of_existing_headers() {
        let ours = header();
        assert_eq!(SummaryLayout::of_header(&ours), Some(SummaryLayout::Full));
        let earlier = &ours[..ours.len() - 1];
        assert_eq!(
            SummaryLayout::of_header(earlier),
            Some(SummaryLayout::Earlier(ours.len() - 1))
        );
        assert_eq!(SummaryLayout::Earlier(40).width(), 40);
        assert_eq!(SummaryLayout::Full.width(), COLUMNS.len());
        let mut swapped = earlier.to_vec();
        swapped.swap(ours.len() - 2, ours.len() - 3);
        assert_eq!(SummaryLayout::of_header(&swapped), None);
        assert_eq!(SummaryLayout::of_header(&["a", "b"]), None);
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 95.0) - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn saturation_names_the_short_resource() {
        let lg = |cpu: f64, lag: f64| LoadgenStats {
            busiest_cpu_fraction: cpu,
            max_lag: lag,
            ..LoadgenStats::default()
        };
        assert_eq!(lg(0.5, 0.1).saturation(), None);
        assert!(!lg(0.5, 0.1).saturated());
        let own = lg(0.97, 13.8).saturation().unwrap();
        assert!(own.starts_with("busiest process 97% CPU"), "{own}");
        let others = lg(0.05, 13.827).saturation().unwrap();
        assert!(
            others.contains("lag 13827 ms") && others.contains("other processes"),
            "{others}"
        );
        assert!(lg(0.05, 13.827).saturated());
    }
}
