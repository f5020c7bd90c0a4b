//! `openenv-bench lb-config envoy|haproxy|nginx --backend HOST:PORT ...`: print a load-balancer
//! config for several servers (logic in the `openenv-deploy` crate).

use anyhow::Context;
use openenv_deploy::{render, run_hint, Backend, LbConfig, LbKind, Limits};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Limits set: 9,900 concurrent sessions per LB process by default (a proxied \
session holds 2 fds; one process may open 20,000 here), Envoy circuit breakers 100,000 (default \
1,024), 1 h idle timeout for WebSocket sessions. Validate with `envoy --mode validate -c F`, \
`haproxy -c -f F`, `nginx -t -c F`."
)]
pub struct Args {
    /// Load balancer: envoy, haproxy or nginx.
    #[arg(value_parser = parse_kind)]
    pub kind: LbKind,
    /// A server behind the LB, HOST:PORT (repeat, or comma-separated).
    #[arg(long = "backend", short = 'b', required = true, value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Port the LB listens on for clients.
    #[arg(long, default_value_t = 8080)]
    pub listen: u16,
    /// Address the LB listens on for clients.
    #[arg(long, default_value = "0.0.0.0")]
    pub listen_addr: String,
    /// Envoy admin / HAProxy stats port (nginx answers /lb-health on the listen port).
    #[arg(long)]
    pub admin_port: Option<u16>,
    /// Address of the admin / stats endpoint (unauthenticated: keep it on loopback).
    #[arg(long, default_value = "127.0.0.1")]
    pub admin_addr: String,
    /// Concurrent sessions one LB process accepts (at most 9,950: 2 fds per session).
    #[arg(long, default_value_t = Limits::default().max_sessions)]
    pub max_sessions: u32,
    /// nginx worker processes / HAProxy threads (nbthread, one listening socket per thread)
    /// (default: the LB's own: nginx auto, HAProxy one per CPU). Envoy: pass --concurrency.
    #[arg(long)]
    pub workers: Option<u32>,
    /// Directory for nginx's pid file and temp paths (must exist and be writable).
    #[arg(long, default_value = "/tmp/openenv-lb")]
    pub state_dir: String,
    /// Keep host names as given instead of resolving them now (Envoy then resolves by DNS).
    #[arg(long)]
    pub no_resolve: bool,
    /// Write the config to this file instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<std::path::PathBuf>,
}

fn parse_kind(s: &str) -> Result<LbKind, String> {
    s.parse()
        .map_err(|e: openenv_deploy::DeployError| e.to_string())
}

fn resolve(b: &mut Backend) -> anyhow::Result<()> {
    if b.addr.is_some() {
        return Ok(());
    }
    let addr = openenv_sys::resolve(&b.host, b.port, std::time::Duration::from_secs(30))
        .with_context(|| format!("cannot resolve backend host {:?}", b.host))?;
    b.addr = Some(addr.ip());
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut backends = Vec::new();
    for spec in &args.backends {
        let mut b: Backend = spec.parse()?;
        if !args.no_resolve {
            resolve(&mut b)?;
        }
        backends.push(b);
    }
    let mut cfg = LbConfig::new(args.kind, backends);
    cfg.listen_port = args.listen;
    cfg.listen_addr = args.listen_addr;
    if let Some(p) = args.admin_port {
        cfg.admin_port = p;
    }
    cfg.admin_addr = args.admin_addr;
    cfg.limits.max_sessions = args.max_sessions;
    cfg.workers = args.workers;
    cfg.state_dir = args.state_dir;
    let text = render(&cfg)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} ({} backends); run: {}",
                path.display(),
                cfg.backends.len(),
                run_hint(cfg.kind, &path.display().to_string())
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
