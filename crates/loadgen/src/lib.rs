//! openenv-loadgen: the scaling engine behind `openenv-bench scale`.
//!
//! A grid (modes × wait times × batch sizes × repetitions) is run cell by cell. Each cell opens N
//! sessions (WebSocket or HTTP) that all start from one intended start time, records one
//! [`SessionRecord`] per session and one [`CellSummary`] per cell, and appends them to
//! `raw.jsonl` / `summary.csv` plus `run.json` (the result files' contract, `openenv-results`).
//! Cells larger than one process can hold are spread over worker processes of the same binary
//! ([`worker`]), whose records are merged into the same files.
//!
//! The engine never formats output: progress goes to an [`Observer`].

mod grid;
mod http;
mod net;
pub mod record;
pub mod search;
mod share;
pub mod spec;
pub mod summary;
pub mod sys;
mod tls;
pub mod worker;
pub mod writer;
mod ws;

pub use grid::{
    run_grid, run_grid_until, CellOutcome, Event, GridOutcome, NullObserver, Observer, Progress,
};
pub use record::{FailureClass, SessionRecord};
pub use spec::{GridSpec, Mode, Target};
pub use summary::CellSummary;

/// Everything that can stop a grid before or between cells. Session failures are not errors:
/// they are records.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    #[error("invalid target URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid grid: {0}")]
    BadSpec(String),
    #[error(
        "{path} has a foreign header; refusing to append (nothing was written). \
         Use another --output-dir. Found: {found:?}"
    )]
    ForeignHeader { path: String, found: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("worker process: {0}")]
    Worker(String),
    #[error(transparent)]
    Results(#[from] openenv_results::ResultsError),
}

impl LoadgenError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LoadgenError::Io {
            context: context.into(),
            source,
        }
    }
}
