//! `openenv-bench`: one binary, thin. Each subcommand lives in `cmd/<name>.rs`, parses its flags
//! and calls into a library crate; no measurement or formatting logic lives here.

mod args;
mod cmd;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "openenv-bench",
    version,
    about = "How many concurrent OpenEnv environment sessions can this infrastructure hold, and at what latency?",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: start a local server, run a sweep over WS and HTTP, analyze it.
    Experiment(cmd::experiment::Args),
    /// Serve the OpenEnv benchmark environment (step waits `wait_seconds`).
    Serve(cmd::serve::Args),
    /// The scaling test: batches of N concurrent sessions x wait times x repetitions.
    // Boxed: its many flags would make every variant as large.
    Scale(Box<cmd::scale::Args>),
    /// Turn summary.csv files into tables, PNG figures and an experiment log.
    Analyze(cmd::analyze::Args),
    /// Print a load-balancer config (Envoy, HAProxy, nginx) for several servers.
    LbConfig(cmd::lb_config::Args),
    /// Exit 0 when a server's GET /health answers {"status":"healthy"} (Docker HEALTHCHECK).
    Health(cmd::health::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Experiment(args) => cmd::experiment::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Scale(args) => cmd::scale::run(*args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::LbConfig(args) => cmd::lb_config::run(args),
        Command::Health(args) => cmd::health::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
