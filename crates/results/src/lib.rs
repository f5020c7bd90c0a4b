//! openenv-results: the files a run leaves behind, defined once.
//!
//! `scale` writes them (through this crate), `analyze` reads them (through this crate), and so do
//! the Python tools of the Python original (burtenshaw/openenv-scaling: `test_scaling.py`,
//! `analyze_results.py`), whose keys and columns come first in every file:
//!
//! - [`record`]: one `raw.jsonl` line per session ([`SessionRecord`], [`FailureClass`]);
//! - [`summary`]: one `summary.csv` row per cell ([`CellSummary`]) and the one column table
//!   ([`summary::COLUMNS`]) that both writes and reads the file;
//! - [`capacity`]: `capacity.json`, the answers of a capacity search ([`Capacity`], [`CapacityFile`]);
//! - [`run`]: `run.json`, what is known about a run besides its cells ([`RunInfo`]);
//! - [`layout`]: where results directories go (`<results>/<infra>/<YYYY-MM-DD>[_HHMMSS]/`);
//! - [`float`]: floats written the way Python prints them.

pub mod capacity;
pub mod float;
pub mod layout;
pub mod record;
pub mod run;
pub mod summary;

pub use capacity::{Capacity, CapacityFile, Criterion, LimitedBy, TriedCell, CAPACITY_FILE};
pub use float::py_float;
pub use record::{FailureClass, Mode, SessionRecord};
pub use run::{LoadgenHost, RunAnnotation, RunInfo, ServerInfo};
pub use summary::{CellSummary, LoadgenStats, SummaryFile, SummaryRecord};

use std::path::PathBuf;

/// The success rate a cell needs to count as held: the Python original's max batch is the largest
/// N whose mean success over repetitions reaches it. `analyze` and `scale --find-max` both use it.
pub const DEFAULT_SUCCESS_THRESHOLD: f64 = 0.95;

/// What can go wrong reading or writing a result file.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Parsed, but not what the file should hold (a foreign or damaged file).
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
}

impl ResultsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ResultsError::Io {
            path: path.into(),
            source,
        }
    }
}
