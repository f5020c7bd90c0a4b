//! One line of `raw.jsonl`: one session. The type and its failure classes are the result files'
//! contract (`openenv-results`); re-exported here for the engine's call sites.

pub use openenv_results::record::{utc_date, utc_timestamp, FailureClass, SessionRecord};
