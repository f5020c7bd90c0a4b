//! One results directory (`experiments/results/<infra>/<date>/`): its summary and its `run.json`.

use crate::summary::Summary;
use crate::ReportError;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// `run.json`, written by `scale` next to `summary.csv`. Only `cores` is interpreted; every other
/// key is kept for the experiment log's configuration section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    pub cores: Option<u32>,
    /// The command line that produced the results, when recorded (`command`, a string or a list).
    pub command: Option<String>,
    pub fields: Map<String, Value>,
}

impl RunInfo {
    pub fn read(path: &Path) -> Result<RunInfo, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ReportError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn parse(text: &str) -> Result<RunInfo, serde_json::Error> {
        let fields: Map<String, Value> = serde_json::from_str(text)?;
        // `server_cores` (the machine that served, when a run records it) wins over `cores` (the
        // machine that ran `scale`, the same one for local runs).
        let cores = fields
            .get("server_cores")
            .and_then(Value::as_u64)
            .or_else(|| fields.get("cores").and_then(Value::as_u64))
            .and_then(|c| u32::try_from(c).ok())
            .filter(|&c| c > 0);
        // `scale` writes `command_line` (a list); accept `command` too.
        let command = match fields.get("command_line").or_else(|| fields.get("command")) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(parts)) => Some(
                parts
                    .iter()
                    .map(|p| {
                        p.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| p.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        };
        Ok(RunInfo {
            cores,
            command,
            fields,
        })
    }
}

/// The results of one run of one infrastructure.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Infrastructure name: the results directory's parent (`results/<infra>/<date>/`), as the
    /// seed's analyzer infers it.
    pub infra: String,
    pub dir: PathBuf,
    pub summary: Summary,
    /// `None` when the directory has no `run.json` (the Python tools never write one).
    pub run: Option<RunInfo>,
}

impl Dataset {
    /// Loads `dir/summary.csv` and, when present, `dir/run.json`. `infra` overrides the name
    /// inferred from the directory's parent.
    pub fn load(dir: &Path, infra: Option<&str>) -> Result<Dataset, ReportError> {
        let summary_path = dir.join("summary.csv");
        if !summary_path.is_file() {
            return Err(ReportError::NoSummary {
                dir: dir.to_path_buf(),
            });
        }
        let summary = Summary::read(&summary_path)?;
        let run_path = dir.join("run.json");
        let run = if run_path.is_file() {
            Some(RunInfo::read(&run_path)?)
        } else {
            None
        };
        let infra = infra
            .map(str::to_string)
            .unwrap_or_else(|| infra_from_dir(dir));
        Ok(Dataset {
            infra,
            dir: dir.to_path_buf(),
            summary,
            run,
        })
    }

    /// The run's date: the directory name (`<date>` in `results/<infra>/<date>/`).
    pub fn label(&self) -> String {
        dir_name(&self.dir)
    }
}

fn dir_name(dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into())
}

/// The parent directory's name (`results/<infra>/<date>/` -> `<infra>`).
pub fn infra_from_dir(dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// Adds (or replaces) top-level keys of `dir/run.json`, creating it if needed; other keys stay.
pub fn annotate_run_json(dir: &Path, extra: &Map<String, Value>) -> Result<(), ReportError> {
    let path = dir.join("run.json");
    let mut fields = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str::<Map<String, Value>>(&text).map_err(|source| {
            ReportError::Json {
                path: path.clone(),
                source,
            }
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(source) => return Err(ReportError::Io { path, source }),
    };
    for (k, v) in extra {
        fields.insert(k.clone(), v.clone());
    }
    let text = serde_json::to_string_pretty(&fields).expect("a JSON map serializes") + "\n";
    std::fs::write(&path, text).map_err(|source| ReportError::Io { path, source })
}

/// A fresh results directory for a new run: `<results_dir>/<infra>/<UTC date>/`, or
/// `<UTC date>_<HHMMSS>` when today's already holds results (both sort after earlier runs, so
/// `--all` still picks the newest).
pub fn new_run_dir(results_dir: &Path, infra: &str) -> PathBuf {
    let now = chrono::Utc::now();
    let base = results_dir.join(infra);
    let day = base.join(now.format("%Y-%m-%d").to_string());
    if !day.join("summary.csv").exists() {
        return day;
    }
    base.join(now.format("%Y-%m-%d_%H%M%S").to_string())
}

/// For every `<results_dir>/<infra>/`, the newest `<date>/` subdirectory (by name, descending)
/// holding a `summary.csv`, as the seed's `--all` picks them; an `<infra>/` without dated
/// subdirectories that holds a `summary.csv` itself (as `reference-results/<run>/` does) is taken
/// as is. Returns (directory, infra name), sorted by infra name.
pub fn latest_runs(results_dir: &Path) -> Result<Vec<(PathBuf, String)>, ReportError> {
    let io = |source| ReportError::Io {
        path: results_dir.to_path_buf(),
        source,
    };
    let mut infra_dirs: Vec<PathBuf> = std::fs::read_dir(results_dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    infra_dirs.sort();
    let mut out = Vec::new();
    for infra_dir in infra_dirs {
        let name = dir_name(&infra_dir);
        let Ok(entries) = std::fs::read_dir(&infra_dir) else {
            continue;
        };
        let mut runs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("summary.csv").is_file())
            .collect();
        runs.sort();
        match runs.pop() {
            Some(latest) => out.push((latest, name)),
            None if infra_dir.join("summary.csv").is_file() => out.push((infra_dir, name)),
            None => {}
        }
    }
    Ok(out)
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
    fn run_json_cores_and_command() {
        let r = RunInfo::parse(
            r#"{"cores": 2, "command": ["openenv-bench", "scale", "-n", "4"], "grid": [1,4]}"#,
        )
        .unwrap();
        assert_eq!(r.cores, Some(2));
        assert_eq!(r.command.as_deref(), Some("openenv-bench scale -n 4"));
        assert_eq!(r.fields.len(), 3);
        assert_eq!(RunInfo::parse(r#"{"cores": 0}"#).unwrap().cores, None);
        assert!(RunInfo::parse("[1]").is_err());
    }

    #[test]
    fn server_cores_win_and_annotation_keeps_keys() {
        let d = std::env::temp_dir().join(format!("report-annotate-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("run.json"), r#"{"cores": 2, "tool": "x"}"#).unwrap();
        let mut extra = Map::new();
        extra.insert("server_cores".into(), Value::from(48));
        annotate_run_json(&d, &extra).unwrap();
        let r = RunInfo::read(&d.join("run.json")).unwrap();
        assert_eq!(r.cores, Some(48));
        assert_eq!(r.fields["tool"], "x");
        assert_eq!(r.fields["cores"], 2);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn new_run_dir_does_not_reuse_a_run() {
        let d = std::env::temp_dir().join(format!("report-newdir-{}", std::process::id()));
        let first = new_run_dir(&d, "local-native");
        assert_eq!(first.parent().unwrap(), d.join("local-native"));
        std::fs::create_dir_all(&first).unwrap();
        std::fs::write(first.join("summary.csv"), "x").unwrap();
        let second = new_run_dir(&d, "local-native");
        assert_ne!(first, second);
        assert!(second.file_name() > first.file_name());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn infra_is_the_parent_directory() {
        assert_eq!(
            infra_from_dir(Path::new("experiments/results/local-native/2026-11-29")),
            "local-native"
        );
        assert_eq!(
            infra_from_dir(Path::new("experiments/results/local-native/2026-11-29/")),
            "local-native"
        );
    }
}
