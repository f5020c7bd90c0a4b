//! `openenv-bench scale`: the scaling test (flags of the Python original's `tests/test_scaling.py`).

use crate::progress::ScaleProgress;
use openenv_loadgen::search::{self, Criterion, SearchSpec};
use openenv_loadgen::{defaults, GridSpec, Mode, Workload};
use openenv_results::layout;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server base URL.
    #[arg(short = 'u', long, default_value = defaults::URL)]
    pub url: String,
    /// Several servers, comma-separated: sessions go round-robin over them (no load balancer).
    #[arg(long, value_delimiter = ',')]
    pub urls: Option<Vec<String>>,
    /// Concurrent sessions per batch (N).
    #[arg(
        short = 'n',
        long = "requests",
        visible_alias = "batch-size",
        default_value_t = defaults::BATCH_SIZE
    )]
    pub requests: usize,
    /// Seconds each step waits on the server.
    #[arg(short = 'w', long, default_value_t = defaults::WAIT_SECONDS, value_parser = crate::args::seconds)]
    pub wait: f64,
    /// Protocol: http or ws.
    #[arg(short = 'm', long, default_value = defaults::MODE.as_str(), value_parser = ["http", "ws"])]
    pub mode: String,
    /// Batch sizes to sweep, comma- or space-separated (overrides -n).
    #[arg(
        long = "requests-grid",
        visible_alias = "batch-size-grid",
        value_delimiter = ',',
        num_args = 1..
    )]
    pub requests_grid: Option<Vec<usize>>,
    /// Wait times to sweep, comma- or space-separated (overrides -w).
    #[arg(long = "wait-grid", value_delimiter = ',', num_args = 1.., value_parser = crate::args::seconds)]
    pub wait_grid: Option<Vec<f64>>,
    /// Repetitions of every cell.
    #[arg(long, default_value_t = defaults::REPS)]
    pub reps: u32,
    /// Run the grid over HTTP, then over WebSocket.
    #[arg(long)]
    pub compare: bool,
    /// Label written to every record (e.g. cpu-basic, slurm-48c).
    #[arg(long, default_value = defaults::HARDWARE)]
    pub hardware: String,
    /// Distinct host_url values expected to answer in each cell.
    #[arg(long, default_value_t = defaults::EXPECTED_HOSTS)]
    pub expected_hosts: usize,
    /// Exit non-zero (3) when a cell saw fewer hosts than --expected-hosts (default: warn).
    #[arg(long)]
    pub require_hosts: bool,
    /// Where raw.jsonl, summary.csv and run.json go (appended if present).
    /// Default: experiments/results/local/<UTC date>.
    #[arg(short = 'o', long)]
    pub output_dir: Option<PathBuf>,
    /// Deadline of every network operation, seconds.
    #[arg(short = 't', long, default_value_t = defaults::TIMEOUT_SECONDS, value_parser = crate::args::seconds)]
    pub timeout: f64,
    /// WS: deadline of the close handshake, seconds. A close that misses it (every reply has
    /// arrived) aborts the connection without failing the session; counted in close_timeouts.
    #[arg(long, default_value_t = defaults::CLOSE_TIMEOUT_SECONDS, value_parser = crate::args::seconds)]
    pub close_timeout: f64,
    /// Print the full latency table of every cell.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Steps per session.
    #[arg(long, default_value_t = defaults::STEPS)]
    pub steps: u32,
    /// Spread the session starts of a cell over this many seconds (0: all at once).
    #[arg(long, default_value_t = defaults::RAMP_SECONDS, value_parser = crate::args::seconds)]
    pub ramp: f64,
    /// Launch K sessions, handle the replies that arrived meanwhile, launch K more (so the
    /// client's own queue stays out of the latencies). 0: all sessions of a process in one
    /// burst, as the Python original's asyncio.gather (more overlap, latencies inflated at large N).
    #[arg(long, default_value_t = defaults::LAUNCH_BATCH)]
    pub launch_batch: usize,
    /// Pause between cells, seconds.
    #[arg(long, default_value_t = defaults::COOLDOWN_SECONDS, value_parser = crate::args::seconds)]
    pub cooldown: f64,
    /// Most sessions per load-generator process; bigger cells use worker processes.
    /// Default: the open-files limit minus 1000.
    #[arg(long)]
    pub sessions_per_process: Option<usize>,
    /// Source addresses to spread connections over, round-robin per target (default: automatic,
    /// 127.0.0.x for loopback targets only). Each must be an address of this host (loopback or
    /// an interface's, e.g. extra addresses on eth0 towards a load balancer): every source
    /// brings its own ~28k ports per destination, so many HTTP sessions (TIME_WAIT) or WS
    /// sessions to one LB address do not run out of ports.
    #[arg(long, value_delimiter = ',')]
    pub source_addrs: Option<Vec<Ipv4Addr>>,
    /// Command that starts a worker process, split on whitespace; `{worker}` becomes the
    /// worker's number (e.g. `srun -N1 -n1 --relative={worker} openenv-bench scale --worker-stdio`).
    /// Default: this binary with `scale --worker-stdio`.
    #[arg(long)]
    pub worker_command: Option<String>,
    /// Run every session in load-generator workers started with `srun` on the nodes of the
    /// SLURM allocation, at least one per node (this process only coordinates and writes the
    /// files). Needs an allocation (sbatch/salloc: SLURM_JOB_ID).
    #[arg(long, conflicts_with = "worker_command")]
    pub slurm: bool,
    /// --slurm on these nodes only, comma-separated host names (default: every node of the
    /// allocation, from `scontrol show hostnames`). Implies --slurm.
    #[arg(long, value_delimiter = ',', conflicts_with = "worker_command")]
    pub slurm_nodes: Option<Vec<String>>,
    /// https/wss: trust this PEM certificate (or bundle) besides Mozilla's roots, as curl's
    /// --cacert (repeatable).
    #[arg(long, value_name = "PATH")]
    pub cacert: Vec<PathBuf>,
    /// https/wss: skip certificate verification (self-signed test deployments).
    #[arg(long)]
    pub insecure: bool,
    /// Search the largest N each (mode, wait) holds instead of running a fixed grid: grow N
    /// geometrically from --start until a cell fails the criterion, then bisect to --precision.
    /// Writes capacity.json beside summary.csv. Incompatible with --requests-grid.
    #[arg(long, conflicts_with = "requests_grid")]
    pub find_max: bool,
    /// --find-max: first N tried.
    #[arg(long, default_value_t = search::DEFAULT_START, requires = "find_max")]
    pub start: usize,
    /// --find-max: stop when the smallest failing N is within this fraction above the largest
    /// passing one (0.05 = 5%).
    #[arg(long, default_value_t = search::DEFAULT_PRECISION, requires = "find_max")]
    pub precision: f64,
    /// --find-max: largest N tried (the answer is then "≥ N").
    #[arg(long, default_value_t = search::DEFAULT_MAX_REQUESTS, requires = "find_max")]
    pub max_requests: usize,
    /// --find-max: time budget of each (mode, wait) search, seconds; no cell starts after it
    /// (the answer then says "stopped by the time budget").
    #[arg(long, value_parser = crate::args::seconds, requires = "find_max")]
    pub budget: Option<f64>,
    /// --find-max: a cell passes when its mean success rate over --reps is at least this.
    #[arg(long, default_value_t = search::DEFAULT_SUCCESS_THRESHOLD, requires = "find_max")]
    pub success_threshold: f64,
    /// --find-max: a cell also needs total-latency p99 <= this many seconds.
    #[arg(long, value_parser = crate::args::seconds, requires = "find_max")]
    pub slo_p99: Option<f64>,
    /// --find-max: a cell also needs total-latency p99 <= steps × wait + this many seconds.
    #[arg(long, value_parser = crate::args::seconds, requires = "find_max")]
    pub slo_over_wait: Option<f64>,
    /// Any environment: the action every step sends, a JSON object (the `data` of a WS `step`,
    /// `{"action": ...}` of `POST /step`). The wait grid does not apply: 0 is recorded as the wait.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["wait", "wait_grid", "action_file", "mcp_tool"])]
    pub action: Option<String>,
    /// Any environment: a file of actions, one JSON object per line; step k of a session sends
    /// line k mod (number of lines). The wait grid does not apply.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["wait", "wait_grid", "mcp_tool"])]
    pub action_file: Option<PathBuf>,
    /// The `data` of every reset (WS) / the body of `POST /reset` (HTTP), a JSON object
    /// (default `{}`).
    #[arg(long, value_name = "JSON")]
    pub reset_data: Option<String>,
    /// MCP environments: each step calls this tool, as openenv 0.10's client does (WS: an `mcp`
    /// message; HTTP: `POST /mcp` on a session from `openenv/session/create`). The wait grid
    /// does not apply.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["wait", "wait_grid"])]
    pub mcp_tool: Option<String>,
    /// --mcp-tool: the tool's arguments, a JSON object (default `{}`).
    #[arg(long, value_name = "JSON", requires = "mcp_tool")]
    pub mcp_args: Option<String>,
    /// Internal: run as a worker process (share spec on stdin, records on stdout).
    #[arg(long, hide = true)]
    pub worker_stdio: bool,
}

/// How this binary starts a load-generator worker process (for cells larger than one process
/// can hold); `experiment` passes the same to `GridSpec::worker_command`.
pub fn worker_command() -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe()?;
    Ok(vec![
        exe.to_string_lossy().into_owned(),
        "scale".into(),
        "--worker-stdio".into(),
    ])
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.worker_stdio {
        let code = openenv_loadgen::worker::serve_stdio();
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    let spec = grid_spec(&args)?;
    let mut progress = ScaleProgress::new(args.verbose);
    if args.find_max {
        let search = search_spec(&args);
        let outcome = openenv_loadgen::find_max(&spec, &search, &mut progress)?;
        progress.finish_search(&outcome);
        return Ok(find_exit_code(&outcome));
    }
    let outcome = openenv_loadgen::run_grid(&spec, &mut progress)?;
    progress.finish(&outcome);
    if outcome.interrupted {
        return Ok(ExitCode::from(130));
    }
    if outcome.missing_hosts && args.require_hosts {
        eprintln!(
            "error: fewer distinct hosts answered than --expected-hosts {} (see warnings above)",
            args.expected_hosts
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// The search the flags ask for (checked by `find_max` before anything is written).
fn search_spec(args: &Args) -> SearchSpec {
    SearchSpec {
        start: args.start,
        precision: args.precision,
        max_requests: args.max_requests,
        budget: args.budget.map(std::time::Duration::from_secs_f64),
        criterion: Criterion {
            success_threshold: args.success_threshold,
            slo_p99: args.slo_p99,
            slo_over_wait: args.slo_over_wait,
        },
        ..SearchSpec::default()
    }
}

/// `--find-max` exit codes: 130 interrupted; 4 when some (mode, wait) found no passing N
/// (capacity "none", e.g. an unreachable server; capacity.json still written); 0 otherwise.
pub fn find_exit_code(outcome: &openenv_loadgen::FindOutcome) -> ExitCode {
    if outcome.interrupted {
        ExitCode::from(130)
    } else if outcome.capacities.iter().any(|c| c.max_batch.is_none()) {
        ExitCode::from(4)
    } else {
        ExitCode::SUCCESS
    }
}

/// The grid the flags ask for.
fn grid_spec(args: &Args) -> anyhow::Result<GridSpec> {
    let modes = if args.compare {
        vec![Mode::Http, Mode::Ws]
    } else {
        vec![args.mode.parse().map_err(anyhow::Error::msg)?]
    };
    // Bad input stops the run here, before the output directory is touched.
    let workload = if let Some(a) = &args.action {
        Workload::action(a)?
    } else if let Some(f) = &args.action_file {
        Workload::action_file(f)?
    } else if let Some(t) = &args.mcp_tool {
        Workload::mcp(t, args.mcp_args.as_deref())?
    } else {
        Workload::Benchmark
    };
    let reset_data = args
        .reset_data
        .as_deref()
        .map(openenv_loadgen::workload::reset_data)
        .transpose()?;
    // A step of another environment does not wait: one wait, 0, in every record and row.
    let waits = if workload.is_benchmark() {
        args.wait_grid.clone().unwrap_or_else(|| vec![args.wait])
    } else {
        vec![0.0]
    };
    let output_dir = args.output_dir.clone().unwrap_or_else(|| {
        layout::today_dir(
            Path::new(layout::DEFAULT_RESULTS_DIR),
            layout::SCALE_DEFAULT_INFRA,
        )
    });
    let spec = GridSpec {
        urls: args.urls.clone().unwrap_or_else(|| vec![args.url.clone()]),
        modes,
        batch_sizes: args
            .requests_grid
            .clone()
            .unwrap_or_else(|| vec![args.requests]),
        waits,
        reps: args.reps,
        steps: args.steps,
        ramp: args.ramp,
        launch_batch: args.launch_batch,
        timeout: args.timeout,
        close_timeout: args.close_timeout,
        hardware: args.hardware.clone(),
        expected_hosts: args.expected_hosts,
        output_dir: Some(output_dir),
        command_line: std::env::args().collect(),
        cooldown: args.cooldown,
        sessions_per_process: args.sessions_per_process,
        worker_command: Some(match &args.worker_command {
            Some(c) => c.split_whitespace().map(String::from).collect(),
            None => worker_command()?,
        }),
        workers_only: false,
        source_addrs: args.source_addrs.clone(),
        extra_root_certs: args.cacert.clone(),
        insecure: args.insecure,
        slurm: slurm_workers(args, std::env::var("SLURM_JOB_ID").ok())?,
        workload,
        reset_data,
    };
    Ok(spec)
}

/// `--slurm` / `--slurm-nodes`: srun workers on the allocation's nodes. `job_id` is
/// `SLURM_JOB_ID`: outside an allocation srun cannot start job steps, so that is an error.
fn slurm_workers(
    args: &Args,
    job_id: Option<String>,
) -> anyhow::Result<Option<openenv_loadgen::spec::SlurmWorkers>> {
    if !args.slurm && args.slurm_nodes.is_none() {
        return Ok(None);
    }
    if job_id.is_none_or(|j| j.is_empty()) {
        anyhow::bail!(
            "--slurm starts load-generator workers with srun inside a SLURM allocation, but \
             SLURM_JOB_ID is not set: run scale inside sbatch or salloc (e.g. \
             deploy/slurm/run_distributed_scale.sh), or use --worker-command"
        );
    }
    let nodes = match &args.slurm_nodes {
        Some(n) => n.iter().map(|s| s.trim().to_owned()).collect(),
        None => allocation_nodes()?,
    };
    Ok(Some(openenv_loadgen::spec::SlurmWorkers {
        nodes,
        srun: vec!["srun".into()],
        worker: worker_command()?,
    }))
}

/// Every node of the allocation, one name each (`scontrol show hostnames $SLURM_JOB_NODELIST`).
fn allocation_nodes() -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let list = std::env::var("SLURM_JOB_NODELIST")
        .context("--slurm: SLURM_JOB_NODELIST is not set (name the nodes with --slurm-nodes)")?;
    let out = std::process::Command::new("scontrol")
        .args(["show", "hostnames", &list])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context(
            "--slurm: running `scontrol show hostnames` (name the nodes with --slurm-nodes)",
        )?;
    anyhow::ensure!(
        out.status.success(),
        "--slurm: `scontrol show hostnames {list}` failed ({})",
        out.status
    );
    let nodes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    anyhow::ensure!(!nodes.is_empty(), "--slurm: no nodes in {list:?}");
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags' defaults are the library's: `scale` with no flags runs `GridSpec::default()`.
    #[test]
    fn flag_defaults_are_the_grid_defaults() {
        let args = crate::cmd::parse_flags::<Args>(&["scale"]);
        let got = grid_spec(&args).unwrap();
        let want = GridSpec::default();
        assert_eq!(got.urls, want.urls);
        assert_eq!(got.modes, want.modes);
        assert_eq!(got.batch_sizes, want.batch_sizes);
        assert_eq!(got.waits, want.waits);
        assert_eq!((got.reps, got.steps), (want.reps, want.steps));
        assert_eq!((got.ramp, got.launch_batch), (want.ramp, want.launch_batch));
        assert_eq!(
            (got.timeout, got.close_timeout, got.cooldown),
            (want.timeout, want.close_timeout, want.cooldown)
        );
        assert_eq!(
            (got.hardware, got.expected_hosts),
            (want.hardware, want.expected_hosts)
        );
        assert_eq!(got.sessions_per_process, want.sessions_per_process);
        assert_eq!(got.source_addrs, want.source_addrs);
        assert!(!got.insecure && got.extra_root_certs.is_empty());
        assert_eq!(got.slurm, want.slurm);
        assert_eq!(got.workload, want.workload);
        assert_eq!(got.reset_data, want.reset_data);
    }

    #[test]
    fn slurm_outside_an_allocation_is_a_clear_error_and_inside_builds_srun_workers() {
        let args = crate::cmd::parse_flags::<Args>(&["scale", "--slurm"]);
        let err = slurm_workers(&args, None).unwrap_err().to_string();
        assert!(err.contains("SLURM_JOB_ID is not set"), "{err}");
        let args = crate::cmd::parse_flags::<Args>(&["scale", "--slurm-nodes", "node4,node5"]);
        let w = slurm_workers(&args, Some("17".into())).unwrap().unwrap();
        assert_eq!(w.nodes, ["node4", "node5"]);
        let argv = w.command(2, "node5");
        assert_eq!(argv[0], "srun");
        assert!(argv.contains(&"--nodelist=node5".to_owned()), "{argv:?}");
        assert!(argv.ends_with(&["scale".to_owned(), "--worker-stdio".to_owned()]));
        assert!(crate::cmd::try_parse_flags::<Args>(&[
            "scale",
            "--slurm",
            "--worker-command",
            "w"
        ])
        .is_err());
        let none = crate::cmd::parse_flags::<Args>(&["scale"]);
        assert!(slurm_workers(&none, None).unwrap().is_none());
    }

    #[test]
    fn an_action_replaces_the_wait_grid_and_bad_input_is_refused() {
        let args = crate::cmd::parse_flags::<Args>(&["scale", "--action", r#"{"message":"hi"}"#]);
        let got = grid_spec(&args).unwrap();
        assert_eq!(got.waits, vec![0.0]);
        assert!(!got.workload.is_benchmark());
        // An explicit wait makes no sense with an action (the default is fine).
        for extra in [["-w", "1"], ["--wait-grid", "0.1"]] {
            let mut argv = vec!["scale", "--action", "{}"];
            argv.extend(extra);
            assert!(crate::cmd::try_parse_flags::<Args>(&argv).is_err());
        }
        for bad in ["[1]", "hi"] {
            let args = crate::cmd::parse_flags::<Args>(&["scale", "--action", bad]);
            let e = grid_spec(&args).unwrap_err().to_string();
            assert!(e.contains("--action"), "{e}");
        }
        let args =
            crate::cmd::parse_flags::<Args>(&["scale", "--mcp-tool", "echo", "--mcp-args", "3"]);
        assert!(grid_spec(&args)
            .unwrap_err()
            .to_string()
            .contains("--mcp-args"));
        let args = crate::cmd::parse_flags::<Args>(&["scale", "--reset-data", "x"]);
        assert!(grid_spec(&args)
            .unwrap_err()
            .to_string()
            .contains("--reset-data"));
        assert!(crate::cmd::try_parse_flags::<Args>(&["scale", "--mcp-args", "{}"]).is_err());
    }
}
