//! openenv-report: `summary.csv` (ours and the Python tools') -> markdown tables, PNG figures and
//! an experiment log. The successor of the Python original's `analyze_results.py`.
//!
//! The entry point is [`run`]; the pieces ([`summary`], [`dataset`], [`analysis`], [`tables`],
//! [`figures`], [`log`], [`output`]) are public for callers that want only part of it.

pub mod analysis;
pub mod baseline;
mod chart;
pub mod dataset;
pub mod figures;
pub mod log;
pub mod output;
pub mod summary;
pub mod tables;

pub use analysis::{analyze, Analysis, Curve, InfraAnalysis, Point};
pub use dataset::{latest_run_dirs, latest_runs, Dataset, RunInfo};
pub use summary::{Summary, SummaryRow};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{path}: no column {column:?} (needed to compute success per batch size)")]
    MissingColumn { path: PathBuf, column: String },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{dir}: no summary.csv")]
    NoSummary { dir: PathBuf },
    #[error("no results to analyze (no summary row could be read)")]
    NoData,
    #[error("{path}: no row could be analyzed: {detail}")]
    NoRows { path: PathBuf, detail: String },
    /// A result file that parsed but is not what it should be (a foreign `capacity.json`).
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: not a regular file but {kind}")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("drawing a figure: {0}")]
    Plot(String),
    #[error("--success-threshold must be in (0, 1], got {0}")]
    BadThreshold(f64),
}

/// The result files' errors, as the report names them.
impl From<openenv_results::ResultsError> for ReportError {
    fn from(e: openenv_results::ResultsError) -> Self {
        use openenv_results::ResultsError as R;
        match e {
            R::Io { path, source } => ReportError::Io { path, source },
            R::Json { path, source } => ReportError::Json { path, source },
            R::Csv { path, source } => ReportError::Csv { path, source },
            R::Invalid { path, reason } => ReportError::Invalid { path, reason },
        }
    }
}

/// One results directory to analyze, with an optional infrastructure name (default: the name of
/// the directory's parent, as in `experiments/results/<infra>/<date>/`).
#[derive(Debug, Clone)]
pub struct Input {
    pub dir: PathBuf,
    pub infra: Option<String>,
}

/// Default of [`Options::threshold`]: the Python original's 95% success (defined with the result
/// files, so `scale --find-max` uses the same number).
pub const DEFAULT_THRESHOLD: f64 = openenv_results::DEFAULT_SUCCESS_THRESHOLD;

/// Default figures directory; `tables.md` and `EXPERIMENT_LOG.md` go to its parent.
pub const DEFAULT_FIGURES_DIR: &str = "experiments/reports/figures/";

/// Default of [`Options::command`].
pub const DEFAULT_COMMAND: &str = "openenv-bench analyze";

/// What to analyze and where to write. `analyze` and `experiment` both build it; its defaults
/// are the constants above.
#[derive(Debug, Clone)]
pub struct Options {
    pub inputs: Vec<Input>,
    /// Max batch threshold on mean success rate, in (0, 1] ([`DEFAULT_THRESHOLD`]).
    pub threshold: f64,
    /// `--cores INFRA=N`: wins over `run.json`.
    pub cores: BTreeMap<String, u32>,
    /// Where `tables.md` goes; `None` skips the tables.
    pub tables_path: Option<PathBuf>,
    /// Where `analysis.json` (the [`Analysis`], machine-readable) goes; `None` skips it.
    pub json_path: Option<PathBuf>,
    /// Where the figures go; `None` skips them.
    pub figures_dir: Option<PathBuf>,
    /// Where `EXPERIMENT_LOG.md` is; `None` leaves the log alone.
    pub log_path: Option<PathBuf>,
    /// The command line to record in the log.
    pub command: String,
}

impl Options {
    /// The Python original's layout: figures in `figures_dir`; `tables.md`, `analysis.json` and `EXPERIMENT_LOG.md` in its
    /// parent (so the default `experiments/reports/figures/` puts them in `experiments/reports/`).
    pub fn with_layout(inputs: Vec<Input>, figures_dir: &Path) -> Options {
        let reports = figures_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Options {
            inputs,
            threshold: DEFAULT_THRESHOLD,
            cores: BTreeMap::new(),
            tables_path: Some(reports.join("tables.md")),
            json_path: Some(reports.join("analysis.json")),
            figures_dir: Some(figures_dir.to_path_buf()),
            log_path: Some(reports.join("EXPERIMENT_LOG.md")),
            command: DEFAULT_COMMAND.into(),
        }
    }

    /// Sets the success threshold, which must lie in (0, 1].
    pub fn with_threshold(mut self, threshold: f64) -> Result<Options, ReportError> {
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(ReportError::BadThreshold(threshold));
        }
        self.threshold = threshold;
        Ok(self)
    }
}

/// What [`run`] did.
#[derive(Debug)]
pub struct Outcome {
    pub analysis: Analysis,
    /// The tables as written to `tables.md` (when tables were asked for).
    pub tables: Option<String>,
    pub tables_path: Option<PathBuf>,
    /// Where `analysis.json` was written.
    pub json_path: Option<PathBuf>,
    pub figures: Vec<PathBuf>,
    pub log_path: Option<PathBuf>,
    /// Directories that could not be loaded at all (the others were analyzed).
    pub load_errors: Vec<ReportError>,
}

impl Outcome {
    pub fn skipped_rows(&self) -> usize {
        self.analysis.infras.iter().map(|i| i.skipped.len()).sum()
    }
}

/// The inputs of `--all`: the latest run of every infrastructure under `results_dir`, named
/// after its `<infra>/` directory.
pub fn all_inputs(results_dir: &Path) -> Result<Vec<Input>, ReportError> {
    Ok(dataset::latest_runs(results_dir)?
        .into_iter()
        .map(|(dir, infra)| Input {
            dir,
            infra: Some(infra),
        })
        .collect())
}

/// Loads every input; returns the datasets that loaded and the errors of those that did not.
/// Colliding inferred infra names are made unique (`<parent>/<dir>`).
pub fn load(inputs: &[Input]) -> (Vec<Dataset>, Vec<ReportError>) {
    let mut datasets = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        match Dataset::load(&input.dir, input.infra.as_deref()) {
            Ok(d) => datasets.push(d),
            Err(e) => errors.push(e),
        }
    }
    dataset::disambiguate(&mut datasets);
    (datasets, errors)
}

/// The analysis of an earlier results directory, to compare a run with (`analyze --baseline`).
/// A directory that is missing, has no `summary.csv`, no analyzable row or a foreign
/// `capacity.json` is an error naming it.
pub fn load_baseline(
    dir: &Path,
    threshold: f64,
    cores: &BTreeMap<String, u32>,
) -> Result<InfraAnalysis, ReportError> {
    let d = Dataset::load(dir, None)?;
    let datasets = [d];
    if datasets[0].summary.rows.is_empty() {
        return Err(nothing_to_analyze(&datasets, Vec::new()));
    }
    let mut a = analyze(&datasets, threshold, cores);
    Ok(a.infras.remove(0))
}

/// The analysis as pretty-printed JSON (`analysis.json`, `analyze --json`).
pub fn analysis_json(analysis: &Analysis) -> String {
    serde_json::to_string_pretty(analysis).expect("the analysis serializes")
}

/// Why no row can be analyzed: the first directory that did not load, else the first file
/// whose rows were all invalid (the first reasons given), else the first file with no rows.
fn nothing_to_analyze(datasets: &[Dataset], load_errors: Vec<ReportError>) -> ReportError {
    if let Some(e) = load_errors.into_iter().next() {
        return e;
    }
    let path = |d: &Dataset| d.dir.join(dataset::SUMMARY_CSV);
    if let Some(d) = datasets.iter().find(|d| !d.summary.skipped.is_empty()) {
        let skipped = &d.summary.skipped;
        let reasons: Vec<String> = skipped
            .iter()
            .take(3)
            .map(|r| format!("line {}: {}", r.line, r.reason))
            .collect();
        return ReportError::NoRows {
            path: path(d),
            detail: format!(
                "all {} row(s) are invalid ({}{})",
                skipped.len(),
                reasons.join("; "),
                if skipped.len() > 3 { "; ..." } else { "" }
            ),
        };
    }
    match datasets.first() {
        Some(d) => ReportError::NoRows {
            path: path(d),
            detail: "it has a header but no data rows".into(),
        },
        None => ReportError::NoData,
    }
}

/// Loads, analyzes and writes tables, figures and log entries as `opts` asks.
pub fn run(opts: &Options) -> Result<Outcome, ReportError> {
    let (datasets, load_errors) = load(&opts.inputs);
    if datasets.iter().all(|d| d.summary.rows.is_empty()) {
        return Err(nothing_to_analyze(&datasets, load_errors));
    }
    let analysis = analyze(&datasets, opts.threshold, &opts.cores);
    let generated = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();

    // Everything is rendered to temporary files first and put in place together at the end:
    // a failure anywhere (a full disk, a figure) leaves every previous output as it was.
    let mut staging = output::Staging::new();
    let mut tables = None;
    if let Some(path) = &opts.tables_path {
        let md = tables::tables_markdown(&analysis, &generated);
        staging.write(path, md.as_bytes())?;
        tables = Some(md);
    }
    if let Some(path) = &opts.json_path {
        staging.write(path, (analysis_json(&analysis) + "\n").as_bytes())?;
    }
    let figures = match &opts.figures_dir {
        Some(dir) => figures::render_figures(&analysis, dir, &mut staging)?,
        None => Vec::new(),
    };
    if let Some(path) = &opts.log_path {
        let entries: Vec<log::LogEntry> = analysis
            .infras
            .iter()
            .zip(&datasets)
            .filter(|(infra, _)| infra.rows > 0)
            .map(|(infra, d)| log::LogEntry {
                analysis: infra,
                run: d.run.as_ref(),
                threshold: opts.threshold,
                command: &opts.command,
                logged_at: &generated,
            })
            .collect();
        if !entries.is_empty() {
            let text = log::updated_log(path, &entries)?;
            staging.write(path, text.as_bytes())?;
        }
    }
    staging.commit()?;
    Ok(Outcome {
        analysis,
        tables,
        tables_path: opts.tables_path.clone(),
        json_path: opts.json_path.clone(),
        figures,
        log_path: opts.log_path.clone(),
        load_errors,
    })
}
