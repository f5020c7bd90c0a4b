//! Where results go: `<results>/<infra>/<YYYY-MM-DD>/`, or `<YYYY-MM-DD>_<HHMMSS>/` for a further
//! run of the same day. Names sort by time, so the newest run of an infrastructure is the last
//! directory by name. `scale` (its default output), `experiment` (a fresh directory per run, also
//! for the SLURM batch script) and `analyze --all` (the newest run per infrastructure) all use it.

use crate::ResultsError;
use std::path::{Path, PathBuf};

/// The default `<results>` directory, relative to where the command runs.
pub const DEFAULT_RESULTS_DIR: &str = "experiments/results";

/// The infrastructure name of `scale`'s default output directory.
pub const SCALE_DEFAULT_INFRA: &str = "local";

const SUMMARY: &str = "summary.csv";

/// `<results>/<infra>/<UTC date>/`: today's directory (a run appends to it when it exists).
pub fn today_dir(results_dir: &Path, infra: &str) -> PathBuf {
    results_dir
        .join(infra)
        .join(chrono::Utc::now().format("%Y-%m-%d").to_string())
}

/// A fresh results directory for a new run: today's, or `<UTC date>_<HHMMSS>` when today's
/// already holds results (both sort after earlier runs, so the newest is picked by name).
pub fn new_run_dir(results_dir: &Path, infra: &str) -> PathBuf {
    let now = chrono::Utc::now();
    let base = results_dir.join(infra);
    let day = base.join(now.format("%Y-%m-%d").to_string());
    if !day.join(SUMMARY).exists() {
        return day;
    }
    base.join(now.format("%Y-%m-%d_%H%M%S").to_string())
}

/// Checks that `infra` names one directory level (not empty, no separator, not hidden).
pub fn check_infra_name(infra: &str) -> Result<(), String> {
    if infra.is_empty() || infra.contains(['/', '\\']) || infra.starts_with('.') {
        Err(format!("must be a plain directory name, got {infra:?}"))
    } else {
        Ok(())
    }
}

fn dir_name(dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into())
}

/// The run's label: its directory's name (`<date>` in `<results>/<infra>/<date>/`).
pub fn run_label(dir: &Path) -> String {
    dir_name(dir)
}

/// The infrastructure of a results directory: its parent's name (`<infra>` of
/// `<results>/<infra>/<date>/`), as the Python original's analyzer infers it.
pub fn infra_from_dir(dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// For every `<results>/<infra>/`, the newest `<date>/` subdirectory (by name) holding a
/// `summary.csv`; an `<infra>/` without such subdirectories that holds a `summary.csv` itself
/// (a run directory given as the results root, as `reference-results/<run>/`) is taken as is.
/// Returns (directory, infra name), sorted by infra name.
pub fn latest_runs(results_dir: &Path) -> Result<Vec<(PathBuf, String)>, ResultsError> {
    let mut infra_dirs: Vec<PathBuf> = std::fs::read_dir(results_dir)
        .map_err(|e| ResultsError::io(results_dir, e))?
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
            .filter(|p| p.join(SUMMARY).is_file())
            .collect();
        runs.sort();
        match runs.pop() {
            Some(latest) => out.push((latest, name)),
            None if infra_dir.join(SUMMARY).is_file() => out.push((infra_dir, name)),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_run_dir_does_not_reuse_a_run_and_sorts_after_it() {
        let d = std::env::temp_dir().join(format!("results-newdir-{}", std::process::id()));
        let first = new_run_dir(&d, "local-native");
        assert_eq!(first, today_dir(&d, "local-native"));
        assert_eq!(first.parent().unwrap(), d.join("local-native"));
        std::fs::create_dir_all(&first).unwrap();
        std::fs::write(first.join("summary.csv"), "x").unwrap();
        let second = new_run_dir(&d, "local-native");
        assert_ne!(first, second);
        assert!(second.file_name() > first.file_name());
        std::fs::create_dir_all(&second).unwrap();
        std::fs::write(second.join("summary.csv"), "x").unwrap();
        // An <infra>/ holding its summary.csv directly is a run itself.
        std::fs::create_dir_all(d.join("flat")).unwrap();
        std::fs::write(d.join("flat/summary.csv"), "x").unwrap();
        std::fs::create_dir_all(d.join("empty")).unwrap();
        let latest = latest_runs(&d).unwrap();
        assert_eq!(
            latest,
            vec![
                (d.join("flat"), "flat".to_string()),
                (second.clone(), "local-native".to_string())
            ]
        );
        assert_eq!(infra_from_dir(&second), "local-native");
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
        assert_eq!(
            run_label(Path::new("r/x/2026-11-29_101010")),
            "2026-11-29_101010"
        );
    }

    #[test]
    fn infra_names_are_one_level() {
        assert!(check_infra_name("slurm-multi").is_ok());
        for bad in ["", "a/b", "..", ".hidden", "a\\b"] {
            assert!(check_infra_name(bad).is_err(), "{bad:?}");
        }
    }
}
