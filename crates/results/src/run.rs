//! `run.json`: what is known about a run besides its cells.
//!
//! `scale` writes the load generator's side when it opens a results directory ([`start_run`]);
//! `experiment` (and so the SLURM batch script, which calls it) adds what only it knows, such as
//! the infrastructure and the serving machine's cores ([`annotate`]); `analyze` reads it
//! ([`RunInfo::read`]). Every key is optional: files of earlier versions and files written by
//! hand read, a key whose value has an unexpected type is kept verbatim in
//! [`RunInfo::other`] instead of failing the file, and keys this version does not know survive
//! a rewrite.

use crate::ResultsError;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::path::Path;

/// The file name, in a results directory.
pub const RUN_JSON: &str = "run.json";

/// A command line: `scale` writes a list of arguments; a string is read too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    Args(Vec<String>),
    Text(String),
}

impl CommandLine {
    /// The arguments joined by spaces (as a reader would type them).
    pub fn joined(&self) -> String {
        match self {
            CommandLine::Args(a) => a.join(" "),
            CommandLine::Text(t) => t.clone(),
        }
    }
}

/// Which server answered: `{"external": URL}` or the in-process server's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_process: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_envs: Option<u64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_timeout: Option<f64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One load-generator host of a run (`run.json` `loadgen_hosts`), summed or maximized over
/// the run's cells. Every key is optional when read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadgenHost {
    /// Host name (`gethostname`), as the records' `client_host`.
    pub host: String,
    /// Its cores, as it reported them.
    pub cores: u64,
    /// Cells it took part in.
    pub cells: usize,
    /// Most load-generator processes it ran in one cell.
    pub processes: usize,
    /// Sessions it ran (all cells; lost workers' sessions included).
    pub sessions: usize,
    /// CPU time (user + system) of its processes, all cells.
    pub cpu_seconds: f64,
    /// Highest sum of its processes' peak resident memory in one cell.
    pub peak_rss_bytes: u64,
    /// Highest CPU share of one of its processes' event loops in its busiest second.
    pub busiest_cpu_fraction: f64,
    /// Worst event-loop lag of its processes.
    pub max_lag: f64,
    /// Cells in which it was saturated (as the cell's `saturated` column, for this host alone).
    pub saturated_cells: usize,
    /// Its worker processes that died, went silent or never started (their sessions are
    /// `WorkerLost`).
    pub lost_workers: usize,
    /// Its clock minus the parent's (seconds; positive: ahead), measured at the last cell's
    /// start (the clock probe with the shortest round trip); the start time each worker got was
    /// corrected by it. 0 for the parent's own host.
    pub clock_offset_seconds: f64,
    /// Round trip of that probe: the offset is known to within half of it.
    pub clock_rtt_seconds: f64,
}

/// The content of `run.json`. Keys are written in this order, then [`RunInfo::other`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunInfo {
    // ---- written by `scale` (the load generator's machine) ----
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Read from `command_line`, or from `command` as some hand-written files have it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<CommandLine>,
    /// The load generator's host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Cores of the load generator's host (the serving one too, for a local run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cores: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_files_soft: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_files_hard: Option<u64>,
    /// UTC, as [`crate::record::utc_timestamp`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Every host that ran load-generator processes in this run, over all its cells so far
    /// (rewritten after each cell): the parent's and each worker's, e.g. the client nodes of
    /// `scale --slurm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loadgen_hosts: Option<Vec<LoadgenHost>>,
    /// Earlier runs into the same directory, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_runs: Option<Vec<RunInfo>>,
    // ---- added by `experiment` ----
    /// The infrastructure name (`<infra>` of the results directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infra: Option<String>,
    /// The `--grid` preset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid_preset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerInfo>,
    /// Cores of the serving infrastructure (all server nodes together); wins over `cores`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cores: Option<u64>,
    /// Keys this version does not interpret (or whose value had an unexpected type), as found.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Takes `key` out of `map` as a `T`; a value of another type stays in `map`.
fn take<T: serde::de::DeserializeOwned>(map: &mut Map<String, Value>, keys: &[&str]) -> Option<T> {
    for key in keys {
        let Some(v) = map.get(*key) else { continue };
        if let Ok(t) = serde_json::from_value::<T>(v.clone()) {
            map.shift_remove(*key);
            return Some(t);
        }
    }
    None
}

impl RunInfo {
    /// Interprets a JSON object: known keys of the right type become fields, the rest stays.
    pub fn from_map(mut map: Map<String, Value>) -> RunInfo {
        let previous_runs = take::<Vec<Map<String, Value>>>(&mut map, &["previous_runs"])
            .map(|runs| runs.into_iter().map(RunInfo::from_map).collect());
        RunInfo {
            tool: take(&mut map, &["tool"]),
            version: take(&mut map, &["version"]),
            command_line: take(&mut map, &["command_line", "command"]),
            hostname: take(&mut map, &["hostname"]),
            cores: take(&mut map, &["cores"]),
            open_files_soft: take(&mut map, &["open_files_soft"]),
            open_files_hard: take(&mut map, &["open_files_hard"]),
            start_time: take(&mut map, &["start_time"]),
            loadgen_hosts: take(&mut map, &["loadgen_hosts"]),
            previous_runs,
            infra: take(&mut map, &["infra"]),
            grid_preset: take(&mut map, &["grid_preset"]),
            server: take(&mut map, &["server"]),
            server_cores: take(&mut map, &["server_cores"]),
            other: map,
        }
    }

    /// Parses `run.json` text; fails only when it is not a JSON object.
    pub fn parse(text: &str) -> Result<RunInfo, serde_json::Error> {
        Ok(RunInfo::from_map(serde_json::from_str(text)?))
    }

    pub fn read(path: &Path) -> Result<RunInfo, ResultsError> {
        let text = std::fs::read_to_string(path).map_err(|e| ResultsError::io(path, e))?;
        Self::parse(&text).map_err(|source| ResultsError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The cores to divide by for batch per core: the serving infrastructure's
    /// (`server_cores`), else the machine that ran `scale` (`cores`, the same one for a local
    /// run). `None` when unknown or zero.
    pub fn serving_cores(&self) -> Option<u32> {
        self.server_cores
            .or(self.cores)
            .and_then(|c| u32::try_from(c).ok())
            .filter(|&c| c > 0)
    }

    /// The command line that produced the results, joined.
    pub fn command(&self) -> Option<String> {
        self.command_line.as_ref().map(CommandLine::joined)
    }

    /// Every key, as it will be written (known keys in order, then the others).
    pub fn fields(&self) -> Map<String, Value> {
        match serde_json::to_value(self).expect("run info serializes") {
            Value::Object(m) => m,
            _ => unreachable!("a struct serializes to an object"),
        }
    }

    /// Writes `dir/run.json` (atomically: a temporary file renamed over it).
    pub fn write(&self, dir: &Path) -> Result<(), ResultsError> {
        let path = dir.join(RUN_JSON);
        let tmp = dir.join(".run.json.tmp");
        let text = serde_json::to_string_pretty(self).expect("run info serializes") + "\n";
        std::fs::write(&tmp, text).map_err(|e| ResultsError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| ResultsError::io(&path, e))
    }
}

impl<'de> Deserialize<'de> for RunInfo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(d).map(RunInfo::from_map)
    }
}

/// Records a new run into `dir/run.json`: `run` at the top level, what was there before moved
/// under `previous_runs`. A `run.json` that is not a JSON object is an error (and is left as it
/// is): rewriting it would lose it.
pub fn start_run(dir: &Path, mut run: RunInfo) -> Result<(), ResultsError> {
    let path = dir.join(RUN_JSON);
    let mut previous = Vec::new();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut old =
                RunInfo::parse(&text).map_err(|source| ResultsError::Json { path, source })?;
            previous = old.previous_runs.take().unwrap_or_default();
            previous.push(old);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ResultsError::io(path, e)),
    }
    run.previous_runs = Some(previous);
    run.write(dir)
}

/// Sets `loadgen_hosts` in `dir/run.json` (created if missing); other keys stay. A `run.json`
/// that is not a JSON object is an error (and is left as it is).
pub fn set_loadgen_hosts(dir: &Path, hosts: &[LoadgenHost]) -> Result<(), ResultsError> {
    let mut run = read_or_default(dir)?;
    run.loadgen_hosts = Some(hosts.to_vec());
    run.write(dir)
}

fn read_or_default(dir: &Path) -> Result<RunInfo, ResultsError> {
    let path = dir.join(RUN_JSON);
    match std::fs::read_to_string(&path) {
        Ok(text) => RunInfo::parse(&text).map_err(|source| ResultsError::Json {
            path: path.clone(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RunInfo::default()),
        Err(e) => Err(ResultsError::io(path, e)),
    }
}

/// What `experiment` adds to a run's `run.json` after the fact; `None` leaves a key as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunAnnotation {
    pub infra: Option<String>,
    pub grid_preset: Option<String>,
    pub server: Option<ServerInfo>,
    pub server_cores: Option<u64>,
}

/// Adds the annotation's keys to `dir/run.json` (created if missing); other keys stay. A
/// `run.json` that is not a JSON object is an error (and is left as it is).
pub fn annotate(dir: &Path, note: &RunAnnotation) -> Result<RunInfo, ResultsError> {
    let mut run = read_or_default(dir)?;
    let RunAnnotation {
        infra,
        grid_preset,
        server,
        server_cores,
    } = note.clone();
    run.infra = infra.or(run.infra);
    run.grid_preset = grid_preset.or(run.grid_preset);
    run.server = server.or(run.server);
    run.server_cores = server_cores.or(run.server_cores);
    run.write(dir)?;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("results-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn run_json_cores_and_command() {
        let r = RunInfo::parse(
            r#"{"cores": 2, "command": ["openenv-bench", "scale", "-n", "4"], "grid": [1,4]}"#,
        )
        .unwrap();
        assert_eq!(r.serving_cores(), Some(2));
        assert_eq!(r.command().as_deref(), Some("openenv-bench scale -n 4"));
        assert_eq!(r.fields().len(), 3);
        assert_eq!(r.other["grid"], serde_json::json!([1, 4]));
        assert_eq!(
            RunInfo::parse(r#"{"cores": 0}"#).unwrap().serving_cores(),
            None
        );
        assert_eq!(
            RunInfo::parse(r#"{"command": "a b"}"#)
                .unwrap()
                .command()
                .as_deref(),
            Some("a b")
        );
        assert!(RunInfo::parse("[1]").is_err());
    }

    #[test]
    fn a_value_of_another_type_is_kept_not_fatal() {
        let r = RunInfo::parse(r#"{"cores": "two", "server_cores": 48, "server": "big"}"#).unwrap();
        assert_eq!(r.cores, None);
        assert_eq!(r.serving_cores(), Some(48));
        assert_eq!(r.other["cores"], "two");
        assert_eq!(r.other["server"], "big");
        // Nothing is lost on a rewrite.
        let back = RunInfo::parse(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    /// The keys earlier versions wrote (scale's, then experiment's annotation) read into fields
    /// and are written back in the same order.
    #[test]
    fn files_of_earlier_versions_read_and_keep_their_key_order() {
        let ours = include_str!("../../report/tests/data/ours/local-native/2026-11-29/run.json");
        let mut v: Map<String, Value> = serde_json::from_str(ours).unwrap();
        v.insert("infra".into(), "local-native".into());
        v.insert("grid_preset".into(), "quick".into());
        v.insert(
            "server".into(),
            serde_json::json!({"in_process": true, "max_concurrent_envs": 0, "header_timeout": 120.0}),
        );
        v.insert("server_cores".into(), 2.into());
        let r = RunInfo::from_map(v.clone());
        assert!(r.other.is_empty(), "{:?}", r.other);
        assert_eq!(r.tool.as_deref(), Some("openenv-bench"));
        assert_eq!(r.previous_runs, Some(vec![]));
        assert_eq!(r.server.as_ref().unwrap().header_timeout, Some(120.0));
        let keys: Vec<&String> = v.keys().collect();
        let fields = r.fields();
        assert_eq!(fields.keys().collect::<Vec<_>>(), keys);
        assert_eq!(Value::Object(fields), Value::Object(v));
        let synthetic =
            include_str!("../../report/tests/data/synthetic/slurm-single/2026-01-13/run.json");
        let s = RunInfo::parse(synthetic).unwrap();
        assert_eq!(
            (s.serving_cores(), s.hostname.as_deref()),
            (Some(48), Some("n1"))
        );
    }

    #[test]
    fn loadgen_hosts_are_written_read_and_kept_by_annotate() {
        let d = tmpdir("hosts");
        start_run(
            &d,
            RunInfo {
                cores: Some(2),
                ..RunInfo::default()
            },
        )
        .unwrap();
        let hosts = vec![
            LoadgenHost {
                host: "node4".into(),
                cores: 8,
                cells: 2,
                processes: 1,
                sessions: 2000,
                cpu_seconds: 0.4,
                peak_rss_bytes: 30 << 20,
                clock_offset_seconds: -0.0012,
                clock_rtt_seconds: 0.0004,
                ..LoadgenHost::default()
            },
            LoadgenHost {
                host: "node5".into(),
                lost_workers: 1,
                ..LoadgenHost::default()
            },
        ];
        set_loadgen_hosts(&d, &hosts).unwrap();
        annotate(
            &d,
            &RunAnnotation {
                infra: Some("slurm-distributed".into()),
                ..RunAnnotation::default()
            },
        )
        .unwrap();
        let r = RunInfo::read(&d.join(RUN_JSON)).unwrap();
        assert_eq!(r.loadgen_hosts.as_deref(), Some(&hosts[..]));
        assert_eq!(
            (r.cores, r.infra.as_deref()),
            (Some(2), Some("slurm-distributed"))
        );
        assert!(r.other.is_empty(), "{:?}", r.other);
        // A host written with fewer keys (by hand, or a later version's extra key) still reads.
        let r = RunInfo::parse(r#"{"loadgen_hosts": [{"host": "n1", "future": 1}]}"#).unwrap();
        assert_eq!(r.loadgen_hosts.unwrap()[0].host, "n1");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn start_run_keeps_earlier_runs_and_annotate_keeps_keys() {
        let d = tmpdir("start");
        let run = |c: &str| RunInfo {
            command_line: Some(CommandLine::Args(vec![c.into()])),
            cores: Some(2),
            ..RunInfo::default()
        };
        start_run(&d, run("x")).unwrap();
        start_run(&d, run("y")).unwrap();
        let r = RunInfo::read(&d.join(RUN_JSON)).unwrap();
        assert_eq!(r.command().as_deref(), Some("y"));
        let prev = r.previous_runs.as_ref().unwrap();
        assert_eq!(prev.len(), 1);
        assert_eq!(prev[0].command().as_deref(), Some("x"));
        assert!(prev[0].previous_runs.is_none());

        let note = RunAnnotation {
            infra: Some("slurm-multi".into()),
            server: Some(ServerInfo {
                external: Some("http://lb:8080".into()),
                ..ServerInfo::default()
            }),
            server_cores: Some(96),
            ..RunAnnotation::default()
        };
        annotate(&d, &note).unwrap();
        let r = RunInfo::read(&d.join(RUN_JSON)).unwrap();
        assert_eq!(r.serving_cores(), Some(96));
        assert_eq!(r.cores, Some(2));
        assert_eq!(r.infra.as_deref(), Some("slurm-multi"));
        assert_eq!(r.previous_runs.as_ref().unwrap().len(), 1);
        let text = std::fs::read_to_string(d.join(RUN_JSON)).unwrap();
        assert!(text.contains(r#""external": "http://lb:8080""#), "{text}");

        // Not an object: an error, and the file stays as it was.
        std::fs::write(d.join(RUN_JSON), "[1]").unwrap();
        assert!(matches!(
            annotate(&d, &note),
            Err(ResultsError::Json { .. })
        ));
        assert_eq!(std::fs::read_to_string(d.join(RUN_JSON)).unwrap(), "[1]");
        // Nor is a new run started over it (issue 13, item 9: it used to be overwritten).
        assert!(matches!(
            start_run(&d, run("z")),
            Err(ResultsError::Json { .. })
        ));
        assert_eq!(std::fs::read_to_string(d.join(RUN_JSON)).unwrap(), "[1]");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
