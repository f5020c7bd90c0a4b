//! `openenv-bench analyze`: flags of the Python original's `analyze_results.py`; the work is in openenv-report.

use anyhow::{bail, Context};
use openenv_report::{Input, Options, Outcome};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Results directory holding summary.csv (experiments/results/<infra>/<date>/); may be
    /// repeated. The infrastructure name is the directory's parent.
    #[arg(
        short,
        long = "input",
        value_name = "DIR",
        required_unless_present = "all"
    )]
    pub input: Vec<PathBuf>,
    /// Analyze the latest <date>/ of every <infra>/ under --results-dir.
    #[arg(long, conflicts_with = "input")]
    pub all: bool,
    /// Where --all looks for <infra>/<date>/ directories.
    #[arg(long, value_name = "DIR", default_value = openenv_results::layout::DEFAULT_RESULTS_DIR)]
    pub results_dir: PathBuf,
    /// Figures directory; tables.md and EXPERIMENT_LOG.md go to its parent.
    #[arg(
        short,
        long,
        value_name = "DIR",
        default_value = openenv_report::DEFAULT_FIGURES_DIR
    )]
    pub output: PathBuf,
    /// Max batch = largest N whose mean success rate over repetitions is at least this.
    #[arg(long, value_name = "RATE", default_value_t = openenv_report::DEFAULT_THRESHOLD)]
    pub success_threshold: f64,
    /// Write tables (and the log), no figures.
    #[arg(long, conflicts_with = "figures_only")]
    pub tables_only: bool,
    /// Write figures only (no tables, no log entry).
    #[arg(long)]
    pub figures_only: bool,
    /// Cores of an infrastructure for batch per core (overrides run.json); may be repeated.
    #[arg(long, value_name = "INFRA=N", value_parser = parse_cores)]
    pub cores: Vec<(String, u32)>,
    /// Infrastructure name for a single --input (instead of the directory's parent).
    #[arg(long, value_name = "NAME", requires = "input")]
    pub infra: Option<String>,
    /// Do not add an entry to EXPERIMENT_LOG.md.
    #[arg(long)]
    pub no_log: bool,
    /// Print the analysis as JSON (as analysis.json) on stdout and write nothing.
    #[arg(long, conflicts_with_all = ["tables_only", "figures_only"])]
    pub json: bool,
    /// Compare this run (one --input) with an earlier results directory: capacities per mode
    /// and wait, and total p99 at every N both measured. Prints the table of differences; exit
    /// code 5 when a capacity fell or a p99 rose by more than --max-regression.
    #[arg(long, value_name = "DIR", conflicts_with = "all")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: the largest tolerated change, a fraction (0.10 = 10%).
    #[arg(long, value_name = "FRAC", default_value_t = openenv_report::baseline::DEFAULT_MAX_REGRESSION, requires = "baseline")]
    pub max_regression: f64,
}

/// Exit code of `analyze --baseline` when a capacity fell or a p99 rose beyond
/// --max-regression (1 is an error, 2 bad usage).
pub const EXIT_REGRESSION: u8 = 5;

fn parse_cores(s: &str) -> Result<(String, u32), String> {
    let (infra, n) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected INFRA=N, got {s:?}"))?;
    let n: u32 = n.parse().map_err(|_| format!("not a core count: {n:?}"))?;
    if infra.is_empty() || n == 0 {
        return Err(format!("expected INFRA=N with N > 0, got {s:?}"));
    }
    Ok((infra.to_string(), n))
}

impl Args {
    /// The library options these flags mean.
    pub fn options(&self) -> anyhow::Result<Options> {
        let mut opts = Options::with_layout(Vec::new(), &self.output)
            .with_threshold(self.success_threshold)?;
        if self.infra.is_some() && self.input.len() != 1 {
            bail!("--infra names a single --input");
        }
        let inputs: Vec<Input> = if self.all {
            let inputs = openenv_report::all_inputs(&self.results_dir)
                .with_context(|| format!("--all: reading {}", self.results_dir.display()))?;
            if inputs.is_empty() {
                bail!(
                    "--all: no <infra>/<date>/summary.csv under {}",
                    self.results_dir.display()
                );
            }
            inputs
        } else {
            self.input
                .iter()
                .map(|dir| Input {
                    dir: dir.clone(),
                    infra: self.infra.clone(),
                })
                .collect()
        };
        opts.inputs = inputs;
        opts.cores = self.cores.iter().cloned().collect();
        if self.tables_only {
            opts.figures_dir = None;
        }
        if self.figures_only {
            opts.tables_path = None;
            opts.json_path = None;
            opts.log_path = None;
        }
        if self.no_log {
            opts.log_path = None;
        }
        if self.json {
            opts.tables_path = None;
            opts.json_path = None;
            opts.figures_dir = None;
            opts.log_path = None;
        }
        opts.command = std::env::args().collect::<Vec<_>>().join(" ");
        Ok(opts)
    }
}

/// Runs the analysis and prints the tables and where everything went.
pub fn execute(opts: &Options) -> anyhow::Result<Outcome> {
    let outcome = openenv_report::run(opts).context("analyze")?;
    for e in &outcome.load_errors {
        eprintln!("warning: skipped {e}");
    }
    for i in &outcome.analysis.infras {
        eprintln!(
            "Loaded {} rows from {}{}",
            i.rows,
            i.summary_path.display(),
            if i.skipped.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} unparseable row(s) skipped; see Flags)",
                    i.skipped.len()
                )
            }
        );
    }
    let mut out = String::new();
    if let Some(md) = &outcome.tables {
        out += &format!("{md}\n");
    }
    if let Some(p) = &outcome.tables_path {
        out += &format!("Tables:  {}\n", p.display());
    }
    if let Some(p) = &outcome.json_path {
        out += &format!("JSON:    {}\n", p.display());
    }
    for f in &outcome.figures {
        out += &format!("Figure:  {}\n", f.display());
    }
    if let Some(p) = &outcome.log_path {
        out += &format!("Log:     {}\n", p.display());
    }
    emit(&out)?;
    Ok(outcome)
}

/// Writes to stdout. A reader that stopped reading (`| head`, `| grep -q`) ends the output
/// quietly: the files are written by then, and `println!` would panic on the broken pipe.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = args.options()?;
    // The baseline is checked before anything is written: a missing or foreign directory is
    // an error of its own, not a regression.
    let baseline = match &args.baseline {
        Some(dir) => {
            openenv_report::baseline::check_max_regression(args.max_regression)
                .map_err(anyhow::Error::msg)?;
            if opts.inputs.len() != 1 {
                bail!("--baseline compares one results directory: give exactly one --input");
            }
            let b = openenv_report::load_baseline(dir, opts.threshold, &opts.cores)
                .with_context(|| format!("--baseline {}", dir.display()))?;
            Some((dir, b))
        }
        None => None,
    };
    let outcome = if args.json {
        let outcome = openenv_report::run(&opts).context("analyze")?;
        for e in &outcome.load_errors {
            eprintln!("warning: skipped {e}");
        }
        emit(&format!(
            "{}\n",
            openenv_report::analysis_json(&outcome.analysis)
        ))?;
        outcome
    } else {
        execute(&opts)?
    };
    let Some((dir, base)) = baseline else {
        return Ok(ExitCode::SUCCESS);
    };
    let Some(current) = outcome.analysis.infras.first() else {
        bail!("--baseline: the input could not be analyzed");
    };
    let cmp = openenv_report::baseline::compare(current, &base, args.max_regression);
    let text = openenv_report::baseline::markdown(
        &cmp,
        &current.dir.display().to_string(),
        &dir.display().to_string(),
    );
    if args.json {
        // stdout holds the JSON alone.
        eprint!("{text}");
    } else {
        emit(&format!("\n{text}"))?;
    }
    Ok(if cmp.regressions() > 0 {
        ExitCode::from(EXIT_REGRESSION)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_flag_parses() {
        assert_eq!(parse_cores("hf-spaces=2"), Ok(("hf-spaces".into(), 2)));
        assert!(parse_cores("x=0").is_err());
        assert!(parse_cores("x").is_err());
        assert!(parse_cores("=4").is_err());
    }
}
