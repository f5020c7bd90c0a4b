//! What can stop a grid or a cell. Session failures are not errors: they are records.

/// Everything that can stop a grid before or between cells.
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
    /// `--action`, `--action-file`, `--reset-data`, `--mcp-args` that cannot be sent.
    #[error("{0}")]
    BadInput(String),
    #[error(
        "{path} has a foreign header; refusing to append (nothing was written). \
         Use another --output-dir. Found: {found:?}"
    )]
    ForeignHeader { path: String, found: String },
    #[error(
        "{path} is not a raw.jsonl written by this tool or the Python original ({reason}); \
         refusing to append to it (nothing was written). Use another --output-dir."
    )]
    ForeignRaw { path: String, reason: String },
    #[error(
        "{path} cannot be read as a run.json ({reason}); refusing to overwrite it (nothing was \
         written). Move it away or use another --output-dir."
    )]
    CorruptRunJson { path: String, reason: String },
    #[error(
        "{dir} is in use by another run{holder}; refusing to write into it (nothing was written). \
         Wait for it or use another --output-dir."
    )]
    Locked { dir: String, holder: String },
    #[error(
        "{path} ends in a half line ({bytes} bytes after its last newline: a full disk or a \
         killed writer); refusing to append (nothing was written). Cut it back to its last \
         newline or use another --output-dir."
    )]
    TornTail { path: String, bytes: u64 },
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
