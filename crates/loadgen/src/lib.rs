//! openenv-loadgen: the scaling engine behind `openenv-bench scale`.
//!
//! A grid (modes × wait times × batch sizes × repetitions) is run cell by cell ([`run_grid`], a
//! loop over [`run_cell`]). Each cell opens N sessions (WebSocket or HTTP) that all start from
//! one intended start (plus each session's ramp offset), records one [`SessionRecord`] per
//! session and one [`CellSummary`] per cell, and appends them to `raw.jsonl` / `summary.csv`
//! (the Python tools' contract) plus `run.json`. Cells larger than one process can hold are
//! spread over worker processes ([`worker`]), whose records are merged into the same files.
//!
//! The engine never formats output: progress goes to an [`Observer`]. Session failures are not
//! errors: they are records.
//!
//! Modules, top to bottom (each uses only those below it):
//! `grid` (the cells in order, files) → `cell` (one cell over processes, summary) → `worker`
//! (the stdio protocol, both ends) → `share` (one process's sessions, launched on time) →
//! `session` (one session's outcome) → `ws` / `http` → `net` → `ctx` (what a session needs);
//! beside them `meter` (the load generator's own costs), `observe` (counters, events), `spec`,
//! `record`, `summary`, `writer`, `tls`, `error`, and `search` (the capacity search's pure logic).

mod cell;
mod ctx;
mod error;
mod find;
mod grid;
mod http;
pub mod meter;
mod net;
pub mod observe;
pub mod record;
pub mod search;
mod session;
mod share;
mod signal;
pub mod spec;
pub mod summary;
mod tls;
pub mod worker;
pub mod workload;
pub mod writer;
mod ws;

pub use cell::{run_cell, CellResult};
pub use error::LoadgenError;
pub use find::{find_max, find_max_until, rep_stats, write_capacity, FindOutcome};
pub use grid::{run_grid, run_grid_until, CellOutcome, GridOutcome};
pub use observe::{Event, NullObserver, Observer, Progress};
pub use record::{FailureClass, SessionRecord};
pub use spec::{defaults, CellParams, GridSpec, Mode, SlurmWorkers, Target};
pub use summary::CellSummary;
pub use workload::Workload;
