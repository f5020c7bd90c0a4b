//! One results directory (`experiments/results/<infra>/<date>/`): its summary and its `run.json`.
//! The directory layout and `run.json` are the result files' contract (`openenv-results`).

use crate::summary::Summary;
use crate::ReportError;
use openenv_results::layout;
pub use openenv_results::layout::infra_from_dir;
use openenv_results::CapacityFile;
pub use openenv_results::RunInfo;
use std::path::{Path, PathBuf};

/// The summary file of a results directory.
pub const SUMMARY_CSV: &str = "summary.csv";

/// The results of one run of one infrastructure.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Infrastructure name: the results directory's parent (`results/<infra>/<date>/`), as the
    /// Python original's analyzer infers it.
    pub infra: String,
    pub dir: PathBuf,
    pub summary: Summary,
    /// `None` when the directory has no `run.json` (the Python tools never write one).
    pub run: Option<RunInfo>,
    /// `capacity.json` (`scale --find-max`, `experiment`'s search); `None` when absent.
    pub capacity: Option<CapacityFile>,
}

impl Dataset {
    /// Loads `dir/summary.csv` and, when present, `dir/run.json`. `infra` overrides the name
    /// inferred from the directory's parent.
    pub fn load(dir: &Path, infra: Option<&str>) -> Result<Dataset, ReportError> {
        let summary_path = dir.join(SUMMARY_CSV);
        if !regular_file(&summary_path)? {
            // Say whether the directory itself is missing or unreadable, or only the file.
            std::fs::read_dir(dir).map_err(|source| ReportError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            return Err(ReportError::NoSummary {
                dir: dir.to_path_buf(),
            });
        }
        let summary = Summary::read(&summary_path)?;
        let run_path = dir.join(openenv_results::run::RUN_JSON);
        let run = if regular_file(&run_path)? {
            Some(RunInfo::read(&run_path)?)
        } else {
            None
        };
        // A capacity.json that is not one is refused (the error names it), not ignored.
        let capacity = CapacityFile::read(dir)?;
        let infra = infra
            .map(str::to_string)
            .unwrap_or_else(|| infra_from_dir(dir));
        Ok(Dataset {
            infra,
            dir: dir.to_path_buf(),
            summary,
            run,
            capacity,
        })
    }

    /// The run's date: the directory name (`<date>` in `results/<infra>/<date>/`).
    pub fn label(&self) -> String {
        layout::run_label(&self.dir)
    }
}

/// Whether `path` is a regular file (following symlinks): `false` when it does not exist; an
/// error naming the path and the cause when it cannot be looked at (permission, a symlink loop)
/// or is something else (a FIFO would block the read forever, a directory cannot be read).
fn regular_file(path: &Path) -> Result<bool, ReportError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(true),
        Ok(m) => Err(ReportError::NotRegular {
            path: path.to_path_buf(),
            kind: file_kind(&m.file_type()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ReportError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(unix)]
fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn file_kind(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// For every `<results_dir>/<infra>/`, the newest run directory holding a `summary.csv`, as the
/// Python original's `--all` picks them (see [`layout::latest_runs`]). Returns (directory, infra
/// name), sorted by infra name.
pub fn latest_runs(results_dir: &Path) -> Result<Vec<(PathBuf, String)>, ReportError> {
    Ok(layout::latest_runs(results_dir)?)
}

/// The directories of [`latest_runs`].
pub fn latest_run_dirs(results_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    Ok(latest_runs(results_dir)?
        .into_iter()
        .map(|(d, _)| d)
        .collect())
}

/// Makes infra names unique: datasets whose inferred names collide (several directories under
/// one parent, as in `reference-results/`) are named after their own directory instead, and
/// `<parent>/<dir>` if that still collides.
pub fn disambiguate(datasets: &mut [Dataset]) {
    let count = |names: &[String], n: &str| names.iter().filter(|x| *x == n).count();
    let names: Vec<String> = datasets.iter().map(|d| d.infra.clone()).collect();
    let renamed: Vec<String> = datasets
        .iter()
        .map(|d| {
            if count(&names, &d.infra) > 1 {
                d.label()
            } else {
                d.infra.clone()
            }
        })
        .collect();
    for (i, d) in datasets.iter_mut().enumerate() {
        if count(&names, &d.infra) > 1 {
            d.infra = if count(&renamed, &renamed[i]) > 1 {
                format!("{}/{}", d.infra, renamed[i])
            } else {
                renamed[i].clone()
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_json_is_read_with_the_dataset() {
        let d = std::env::temp_dir().join(format!("report-dataset-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("summary.csv"),
            "mode,num_requests,wait_seconds,error_rate\n",
        )
        .unwrap();
        std::fs::write(
            d.join("run.json"),
            r#"{"cores": 2, "server_cores": 48, "tool": "x"}"#,
        )
        .unwrap();
        let ds = Dataset::load(&d, Some("infra")).unwrap();
        let run = ds.run.unwrap();
        assert_eq!(run.serving_cores(), Some(48));
        assert_eq!(run.fields()["tool"], "x");
        std::fs::write(d.join("run.json"), "[1]").unwrap();
        assert!(matches!(
            Dataset::load(&d, None),
            Err(ReportError::Json { .. })
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
