//! `openenv-bench experiment`: the main job. Start the benchmark server in-process (or use an
//! external deployment with --url), run a grid of the Python original over WS and HTTP with `scale`'s engine and
//! progress display, then analyze the results (tables, figures, log entry).

use crate::progress::ScaleProgress;
use anyhow::{bail, Context};
use openenv_loadgen::search::{Criterion, SearchSpec};
use openenv_loadgen::{defaults, GridSpec, Mode};
use openenv_results::layout;
use openenv_results::run::{RunAnnotation, ServerInfo};
use openenv_server::{LocalServer, ServerConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The Python original's grids (docs/background.md).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    /// 1,4,16,64 × wait 1.0, 1 rep (under a minute).
    Quick,
    /// 1..128 (powers of 2) × wait 0.1, 1.0, 5.0 × 3 reps.
    Standard,
    /// 1..16 × wait 1.0 × 3 reps, timeout 180 s (a Hugging Face Space).
    HfSpaces,
    /// 1..256 × wait 1.0 × 3 reps (one SLURM node).
    SlurmSingle,
    /// 1..512 × wait 1.0 × 3 reps (several SLURM nodes behind a load balancer).
    SlurmMulti,
}

struct Preset {
    batch_sizes: Vec<usize>,
    waits: Vec<f64>,
    reps: u32,
    timeout: f64,
}

fn powers_of_two(max: usize) -> Vec<usize> {
    std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n <= max)
        .collect()
}

impl Grid {
    fn preset(self) -> Preset {
        let p = |batch_sizes, waits: &[f64], reps, timeout| Preset {
            batch_sizes,
            waits: waits.to_vec(),
            reps,
            timeout,
        };
        match self {
            Grid::Quick => p(vec![1, 4, 16, 64], &[1.0], 1, defaults::TIMEOUT_SECONDS),
            Grid::Standard => p(
                powers_of_two(128),
                &[0.1, 1.0, 5.0],
                3,
                defaults::TIMEOUT_SECONDS,
            ),
            Grid::HfSpaces => p(powers_of_two(16), &[1.0], 3, 180.0),
            Grid::SlurmSingle => p(powers_of_two(256), &[1.0], 3, defaults::TIMEOUT_SECONDS),
            Grid::SlurmMulti => p(powers_of_two(512), &[1.0], 3, defaults::TIMEOUT_SECONDS),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run this fixed grid of the Python original instead of searching the capacity. Without --grid (and without
    /// --requests-grid) the experiment searches the largest N per protocol at each wait
    /// (default 1 s): success >= --success-threshold and total-latency p99 <= steps × wait +
    /// 0.5 s, at most 75 s of search per protocol, answer in capacity.json and printed first.
    #[arg(long, value_enum)]
    pub grid: Option<Grid>,
    /// Benchmark an external deployment at this URL instead of starting a local server.
    #[arg(short = 'u', long, requires = "infra")]
    pub url: Option<String>,
    /// Infrastructure name: results go to <results-dir>/<infra>/<date>/.
    /// Default: local-native (the in-process server).
    #[arg(long)]
    pub infra: Option<String>,
    /// Cores of the serving infrastructure, for batch per core (default: this machine's, when
    /// the server runs here).
    #[arg(long)]
    pub cores: Option<u32>,
    /// Override the preset's batch sizes.
    #[arg(
        long = "requests-grid",
        visible_alias = "batch-size-grid",
        value_delimiter = ','
    )]
    pub requests_grid: Option<Vec<usize>>,
    /// Override the preset's wait times.
    #[arg(long = "wait-grid", value_delimiter = ',', value_parser = crate::args::seconds)]
    pub wait_grid: Option<Vec<f64>>,
    /// Override the preset's repetitions.
    #[arg(long)]
    pub reps: Option<u32>,
    /// Protocols to run, in this order.
    #[arg(long, value_delimiter = ',', default_value = "ws,http")]
    pub modes: Vec<Mode>,
    /// Override the preset's deadline of every network operation, seconds.
    #[arg(short = 't', long, value_parser = crate::args::seconds)]
    pub timeout: Option<f64>,
    /// Pause between cells, seconds.
    #[arg(long, default_value_t = defaults::COOLDOWN_SECONDS, value_parser = crate::args::seconds)]
    pub cooldown: f64,
    /// Source addresses of this host to spread connections over (as `scale --source-addrs`).
    #[arg(long, value_delimiter = ',')]
    pub source_addrs: Option<Vec<std::net::Ipv4Addr>>,
    /// Label written to every record.
    #[arg(long, default_value = defaults::HARDWARE)]
    pub hardware: String,
    /// Distinct hosts expected to answer in each cell (several nodes behind a balancer).
    #[arg(long, default_value_t = defaults::EXPECTED_HOSTS)]
    pub expected_hosts: usize,
    /// Concurrent WebSocket sessions the local server accepts (0 = no cap).
    #[arg(long, default_value_t = 0)]
    pub max_concurrent_envs: usize,
    /// Where <infra>/<date>/ result directories go.
    #[arg(long, default_value = layout::DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
    /// Figures directory; tables.md and EXPERIMENT_LOG.md go to its parent.
    #[arg(short = 'o', long, default_value = openenv_report::DEFAULT_FIGURES_DIR)]
    pub output: PathBuf,
    /// Max batch = largest N whose mean success rate over repetitions is at least this.
    #[arg(long, default_value_t = openenv_report::DEFAULT_THRESHOLD)]
    pub success_threshold: f64,
    /// Only run and record (run.json included); no tables, figures or log entry.
    #[arg(long)]
    pub no_analyze: bool,
    /// Print the full latency table of every cell.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// The in-process server's configuration. Its header timeout (slow-loris guard, 10 s by default)
/// is the grid's per-operation timeout: in giant cells on few cores the load generator sends some
/// upgrade requests well over 10 s after the TCP connect, and the server must not cut them off.
fn local_server_config(max_concurrent_envs: usize, header_timeout: Duration) -> ServerConfig {
    ServerConfig {
        port: 0,
        max_concurrent_envs,
        header_read_timeout: header_timeout,
        ..ServerConfig::default()
    }
}

/// The default experiment's search (no --grid): the criterion's latency margin over the wait,
/// the first N and each protocol's time budget. Two protocols × 75 s + the analysis keep the
/// whole job under 3 minutes on 2 cores; a search the budget cuts short says so.
pub const SEARCH_SLO_OVER_WAIT: f64 = 0.5;
pub const SEARCH_START: usize = 16;
pub const SEARCH_BUDGET_SECONDS: f64 = 75.0;
/// The waits searched when --wait-grid is not given.
pub const SEARCH_WAITS: [f64; 1] = [1.0];

fn search_spec(success_threshold: f64) -> SearchSpec {
    SearchSpec {
        start: SEARCH_START,
        budget: Some(Duration::from_secs_f64(SEARCH_BUDGET_SECONDS)),
        criterion: Criterion {
            success_threshold,
            slo_p99: None,
            slo_over_wait: Some(SEARCH_SLO_OVER_WAIT),
        },
        ..SearchSpec::default()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // No preset and no batch sizes: search instead of sweeping.
    let searching = args.grid.is_none() && args.requests_grid.is_none();
    let grid_name = args.grid.unwrap_or(Grid::Quick);
    let mut preset = grid_name.preset();
    if searching {
        preset.waits = SEARCH_WAITS.to_vec();
        preset.reps = 1;
    }
    let infra = args.infra.clone().unwrap_or_else(|| "local-native".into());
    layout::check_infra_name(&infra).map_err(|e| anyhow::anyhow!("--infra {e}"))?;
    if args.modes.is_empty() {
        bail!("--modes names no protocol");
    }
    let out_dir = layout::new_run_dir(&args.results_dir, &infra);
    let input = openenv_report::Input {
        dir: out_dir.clone(),
        infra: None,
    };
    let mut analyze_opts = openenv_report::Options::with_layout(vec![input], &args.output)
        .with_threshold(args.success_threshold)?;

    // Deadline of every network operation, for the load generator and the local server alike.
    let timeout = args.timeout.unwrap_or(preset.timeout);
    if !(timeout.is_finite() && timeout > 0.0) {
        bail!("--timeout must be > 0, got {timeout}");
    }
    let local = match &args.url {
        Some(_) => None,
        None => Some(
            LocalServer::start(local_server_config(
                args.max_concurrent_envs,
                Duration::from_secs_f64(timeout),
            ))
            .context("starting the local server")?,
        ),
    };
    let url = match (&args.url, &local) {
        (Some(u), _) => u.clone(),
        (None, Some(s)) => s.url().to_owned(),
        _ => unreachable!(),
    };
    match &local {
        Some(_) => eprintln!(
            "local server: {url} (in-process, {})",
            match args.max_concurrent_envs {
                0 => "no session cap".to_string(),
                n => format!("at most {n} WebSocket sessions"),
            }
        ),
        None => eprintln!("target: {url} ({infra})"),
    }

    let spec = GridSpec {
        urls: vec![url.clone()],
        modes: args.modes.clone(),
        batch_sizes: args.requests_grid.clone().unwrap_or(preset.batch_sizes),
        waits: args.wait_grid.clone().unwrap_or(preset.waits),
        reps: args.reps.unwrap_or(preset.reps),
        timeout,
        hardware: args.hardware.clone(),
        expected_hosts: args.expected_hosts,
        output_dir: Some(out_dir.clone()),
        command_line: std::env::args().collect(),
        cooldown: args.cooldown,
        worker_command: Some(super::scale::worker_command()?),
        // The in-process server needs this process's open files for itself: two per session
        // when the load generator shares them stopped the search at half the server's reach.
        workers_only: local.is_some(),
        source_addrs: args.source_addrs.clone(),
        ..GridSpec::default()
    };
    let mut progress = ScaleProgress::new(args.verbose);
    let (interrupted, answer) = if searching {
        let search = search_spec(args.success_threshold);
        let found = openenv_loadgen::find_max(&spec, &search, &mut progress);
        if let Some(server) = local {
            server.stop().context("stopping the local server")?;
        }
        let found = found?;
        progress.finish_search(&openenv_loadgen::FindOutcome {
            capacities: Vec::new(),
            ..found.clone()
        });
        (
            found.interrupted,
            crate::progress::answer_lines(&found.capacities),
        )
    } else {
        let grid = openenv_loadgen::run_grid(&spec, &mut progress);
        if let Some(server) = local {
            server.stop().context("stopping the local server")?;
        }
        let outcome = grid?;
        progress.finish(&outcome);
        (outcome.interrupted, Vec::new())
    };

    // What run.json cannot know by itself: which infrastructure served and with how many cores.
    let server_cores = args.cores.map(u64::from).or_else(|| {
        args.url
            .is_none()
            .then(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
    });
    let preset_name = match args.grid {
        None if searching => "find-max".to_string(),
        _ => clap::ValueEnum::to_possible_value(&grid_name)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default(),
    };
    let server = match &args.url {
        Some(u) => ServerInfo {
            external: Some(u.clone()),
            ..ServerInfo::default()
        },
        None => ServerInfo {
            in_process: Some(true),
            max_concurrent_envs: Some(args.max_concurrent_envs as u64),
            header_timeout: Some(timeout),
            ..ServerInfo::default()
        },
    };
    let note = RunAnnotation {
        infra: Some(infra.clone()),
        grid_preset: Some(preset_name),
        server: Some(server),
        server_cores,
    };
    openenv_results::run::annotate(&out_dir, &note)?;

    // The answer first, then the tables and figures.
    for line in &answer {
        println!("{line}");
    }
    if args.no_analyze {
        println!("Results: {}", out_dir.display());
        return Ok(if interrupted {
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        });
    }
    analyze_opts.command = std::env::args().collect::<Vec<_>>().join(" ");
    super::analyze::execute(&analyze_opts)?;
    println!("Results: {}", out_dir.display());
    if interrupted {
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_the_python_original_grids() {
        assert_eq!(Grid::Quick.preset().batch_sizes, [1, 4, 16, 64]);
        assert_eq!(Grid::Quick.preset().waits, [1.0]);
        assert_eq!(
            Grid::Standard.preset().batch_sizes,
            [1, 2, 4, 8, 16, 32, 64, 128]
        );
        assert_eq!(Grid::Standard.preset().waits, [0.1, 1.0, 5.0]);
        assert_eq!(Grid::Standard.preset().reps, 3);
        assert_eq!(Grid::HfSpaces.preset().timeout, 180.0);
        assert_eq!(*Grid::SlurmSingle.preset().batch_sizes.last().unwrap(), 256);
        assert_eq!(*Grid::SlurmMulti.preset().batch_sizes.last().unwrap(), 512);
    }

    #[test]
    fn local_server_header_timeout_is_the_grid_timeout() {
        let cfg = local_server_config(7, Duration::from_secs(180));
        assert_eq!(cfg.header_read_timeout, Duration::from_secs(180));
        assert_eq!(cfg.max_concurrent_envs, 7);
        // Only the header timeout differs from a server's defaults.
        let d = ServerConfig::default();
        assert_eq!(
            (cfg.idle_timeout, cfg.max_wait_seconds, cfg.ws_fast_path),
            (d.idle_timeout, d.max_wait_seconds, d.ws_fast_path)
        );
    }

    /// The in-process server really applies it: a connection that sends nothing is closed after
    /// the grid's timeout (0.5 s here), not after the server's default 10 s.
    #[test]
    fn local_server_closes_a_silent_connection_after_the_grid_timeout() {
        use std::io::{Read, Write};
        let server =
            LocalServer::start(local_server_config(0, Duration::from_millis(500))).unwrap();
        let addr = server.url().trim_start_matches("http://").to_owned();
        let mut silent = std::net::TcpStream::connect(&addr).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let t = std::time::Instant::now();
        let mut buf = [0u8; 64];
        let n = silent
            .read(&mut buf)
            .expect("closed by the server, not timed out");
        assert_eq!(n, 0, "EOF");
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
            "closed after {waited:?}"
        );
        // A prompt request is still served.
        let mut ok = std::net::TcpStream::connect(&addr).unwrap();
        ok.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        ok.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        ok.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        server.stop().unwrap();
    }
}
