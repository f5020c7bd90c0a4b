//! What to run: the grid (flags of `scale`), one cell of it, and one process's share of a cell.

use crate::error::LoadgenError;
use crate::workload::Workload;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The protocol of a session; part of the result files' contract.
pub use openenv_results::Mode;

/// The grid's defaults, defined once: [`crate::GridSpec::default`] and the CLI's flags
/// (`scale`, `experiment`) both use these.
pub mod defaults {
    use super::Mode;

    /// `--url`.
    pub const URL: &str = "http://localhost:8000";
    /// `--mode`.
    pub const MODE: Mode = Mode::Ws;
    /// `--requests` (N).
    pub const BATCH_SIZE: usize = 10;
    /// `--wait`, seconds each step waits on the server.
    pub const WAIT_SECONDS: f64 = 1.0;
    /// `--reps`.
    pub const REPS: u32 = 1;
    /// `--steps`, as in the Python original.
    pub const STEPS: u32 = 1;
    /// `--ramp`: all sessions of a cell start at once, as in the Python original.
    pub const RAMP_SECONDS: f64 = 0.0;
    /// `--launch-batch` (see [`crate::GridSpec::launch_batch`]).
    pub const LAUNCH_BATCH: usize = 32;
    /// `--timeout`, the deadline of every network operation, seconds.
    pub const TIMEOUT_SECONDS: f64 = 120.0;
    /// `--close-timeout`: the Python original's client (`websockets`) gives the close handshake 10 s.
    pub const CLOSE_TIMEOUT_SECONDS: f64 = 10.0;
    /// `--hardware`, the label written to every record.
    pub const HARDWARE: &str = "cpu-basic";
    /// `--expected-hosts`.
    pub const EXPECTED_HOSTS: usize = 1;
    /// `--cooldown`, the pause between cells, seconds.
    pub const COOLDOWN_SECONDS: f64 = 0.5;
}

/// One server to talk to, parsed from `http[s]://host[:port][/prefix]` (ws:// and wss:// also
/// accepted; `https` and `wss` both mean TLS for both modes, as openenv's client maps them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// As given on the command line (the `url` column).
    pub url: String,
    pub host: String,
    pub port: u16,
    /// Path prefix without trailing slash ("" for none): routes are `<prefix>/ws`, `<prefix>/reset`.
    pub prefix: String,
    /// `https://` or `wss://`: TLS, SNI and certificate name = `host`.
    #[serde(default)]
    pub tls: bool,
}

impl Target {
    /// Checks everything a session will need from the URL, so a bad one is refused before
    /// any file is written, saying what is wrong: the scheme, user info (not supported: the
    /// load generator sends no credentials), the host (a name, an IPv4 address or a bracketed
    /// IPv6 one), the port (1-65535), and no query or fragment (routes are `<prefix>/ws`, ...).
    pub fn parse(url: &str) -> Result<Target, LoadgenError> {
        let bad = |reason: &str| LoadgenError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("missing scheme (expected http://, https://, ws:// or wss://)"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            _ => return Err(bad("scheme must be http, https, ws or wss")),
        };
        if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(&format!(
                "contains {c:?} (whitespace or a control character)"
            )));
        }
        let default_port = if tls { 443 } else { 80 };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad(
                "user info (user:password@) is not supported: the load generator sends no credentials",
            ));
        }
        if path.contains('?') {
            return Err(bad(
                "a query (?...) is not supported: give the base URL only",
            ));
        }
        if path.contains('#') {
            return Err(bad(
                "a fragment (#...) is not supported: give the base URL only",
            ));
        }
        let port_of = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad(&format!(
                "bad port {p:?}: expected a number from 1 to 65535"
            ))),
            Ok(n) => Ok(n),
        };
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let (h, after) = stripped.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad(&format!("[{h}] is not an IPv6 address")));
            }
            let port = match after.strip_prefix(':') {
                Some(p) => port_of(p)?,
                None if after.is_empty() => default_port,
                None => return Err(bad(&format!("unexpected {after:?} after ]"))),
            };
            (h.to_owned(), port)
        } else {
            let (h, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, port_of(p)?),
                None => (authority, default_port),
            };
            if let Some(c) = h
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
            {
                return Err(bad(&format!(
                    "{c:?} in host {h:?} (a host is a name, an IPv4 address or [an IPv6 address])"
                )));
            }
            (h.to_owned(), port)
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        Ok(Target {
            url: url.to_owned(),
            host,
            port,
            prefix: path.trim_end_matches('/').to_owned(),
            tls,
        })
    }

    /// `Host:` header value.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{}/ws", self.authority(), self.prefix)
    }

    pub fn is_loopback_v4(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<Ipv4Addr>()
                .map(|a| a.is_loopback())
                .unwrap_or(false)
    }
}

fn default_close_timeout() -> f64 {
    defaults::CLOSE_TIMEOUT_SECONDS
}

/// The whole sweep. Defaults ([`crate::defaults`]) are the Python original's.
#[derive(Debug, Clone)]
pub struct GridSpec {
    /// One or more servers; sessions go round-robin over them (`--urls`).
    pub urls: Vec<String>,
    /// In order (`--compare` is `[Http, Ws]`).
    pub modes: Vec<Mode>,
    pub batch_sizes: Vec<usize>,
    pub waits: Vec<f64>,
    pub reps: u32,
    /// Steps per session (`--steps`, 1 as in the Python original).
    pub steps: u32,
    /// Spread the session starts over this many seconds (0: all at once, as the Python original).
    pub ramp: f64,
    /// K > 0 (default 32): launch K sessions, handle the replies that arrived meanwhile, launch
    /// K more, as fast as the process can: latencies are the server's, not the client's queue.
    /// 0: every session of a process in one burst before any reply is handled (the Python original's
    /// asyncio.gather): the most overlap, but replies that arrive during a long burst wait in
    /// the client and inflate the latencies (see `loadgen_max_lag`). `peak_open_sessions` and
    /// `launch_spread` show how much of N really overlapped.
    pub launch_batch: usize,
    /// Deadline for each network operation, seconds (`--timeout`).
    pub timeout: f64,
    /// WS: deadline of the close handshake, seconds (`--close-timeout`, 10 as the Python original's
    /// `websockets` client). Once every reply has arrived, a close that does not finish in time
    /// aborts the connection; the session stays successful and is counted in `close_timeouts`.
    pub close_timeout: f64,
    pub hardware: String,
    /// Distinct `host_url`s expected per cell (`--expected-hosts`).
    pub expected_hosts: usize,
    /// None: no files (the caller keeps the outcome).
    pub output_dir: Option<PathBuf>,
    /// Recorded in run.json.
    pub command_line: Vec<String>,
    /// Pause between cells, seconds.
    pub cooldown: f64,
    /// Most sessions one process runs at once; None: derived from the open-files limit.
    pub sessions_per_process: Option<usize>,
    /// Program and arguments that start a worker process speaking the [`crate::worker`] protocol
    /// on stdin/stdout. Needed only when a cell exceeds `sessions_per_process`. `{worker}` in
    /// any argument is replaced by the worker's number (1, 2, ...).
    pub worker_command: Option<Vec<String>>,
    /// Run no session in this process: every share goes to a worker (`worker_command`). For a
    /// caller that holds the server in this process (`experiment`), so that the server and the
    /// load generator do not draw on one open-files limit.
    pub workers_only: bool,
    /// Loopback source addresses to spread over; None: automatic (only for loopback targets and
    /// only when one source address would run short of ports).
    pub source_addrs: Option<Vec<Ipv4Addr>>,
    /// `https`/`wss`: PEM files of extra trust anchors besides Mozilla's roots (`--cacert`).
    pub extra_root_certs: Vec<PathBuf>,
    /// `https`/`wss`: skip certificate verification (`--insecure`, self-signed test servers).
    pub insecure: bool,
    /// Run every session in workers started with `srun` on these SLURM nodes (`--slurm`,
    /// `--slurm-nodes`) instead of this process and `worker_command`.
    pub slurm: Option<SlurmWorkers>,
    /// What each step sends (`--action`, `--action-file`, `--mcp-tool`; default: the benchmark
    /// environment's wait). Any other than the benchmark's needs `waits == [0.0]`: the server is
    /// not asked to wait, and 0 is what `wait_requested` / `wait_seconds` then hold.
    pub workload: Workload,
    /// `data` of every `reset` (`--reset-data`, a JSON object as compact text); None: `{}`.
    pub reset_data: Option<String>,
}

/// Load-generator workers on the nodes of a SLURM allocation (`scale --slurm`): every cell is
/// spread over at least one worker per node, each its own job step
/// (`srun --overlap --nodes=1 --ntasks=1 --nodelist=<node> --job-name=openenv-lg-<k> <worker>`),
/// started together and released together by the start barrier ([`crate::worker`]). This
/// process runs no sessions itself then: it only coordinates and writes the files.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmWorkers {
    /// Host names, one per node (`scontrol show hostnames` form; no `node[1-3]` ranges).
    pub nodes: Vec<String>,
    /// The `srun` program, and any site arguments to put before ours.
    pub srun: Vec<String>,
    /// The worker as run on each node: this binary's `scale --worker-stdio` (the same path
    /// must exist on every node, as on a shared file system).
    pub worker: Vec<String>,
}

impl SlurmWorkers {
    /// The command that starts worker `k` (1..) on `node`.
    pub fn command(&self, k: usize, node: &str) -> Vec<String> {
        let mut c = self.srun.clone();
        c.extend([
            "--overlap".to_owned(),
            "--nodes=1".to_owned(),
            "--ntasks=1".to_owned(),
            format!("--nodelist={node}"),
            format!("--job-name=openenv-lg-{k}"),
        ]);
        c.extend(self.worker.iter().cloned());
        c
    }

    fn validate(&self) -> Result<(), LoadgenError> {
        let bad = |s: String| Err(LoadgenError::BadSpec(s));
        if self.nodes.is_empty() {
            return bad("--slurm: no nodes to run load-generator workers on".into());
        }
        if self.srun.is_empty() || self.worker.is_empty() {
            return bad("--slurm: empty srun or worker command".into());
        }
        for n in &self.nodes {
            let ok = !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !ok {
                return bad(format!(
                    "--slurm-nodes: {n:?} is not a node name (list names one by one, e.g. \
                     `$(scontrol show hostnames 'node[4-5]' | paste -sd,)`)"
                ));
            }
        }
        Ok(())
    }
}

impl Default for GridSpec {
    fn default() -> Self {
        GridSpec {
            urls: vec![defaults::URL.into()],
            modes: vec![defaults::MODE],
            batch_sizes: vec![defaults::BATCH_SIZE],
            waits: vec![defaults::WAIT_SECONDS],
            reps: defaults::REPS,
            steps: defaults::STEPS,
            ramp: defaults::RAMP_SECONDS,
            launch_batch: defaults::LAUNCH_BATCH,
            timeout: defaults::TIMEOUT_SECONDS,
            close_timeout: defaults::CLOSE_TIMEOUT_SECONDS,
            hardware: defaults::HARDWARE.into(),
            expected_hosts: defaults::EXPECTED_HOSTS,
            output_dir: None,
            command_line: Vec::new(),
            cooldown: defaults::COOLDOWN_SECONDS,
            sessions_per_process: None,
            worker_command: None,
            workers_only: false,
            source_addrs: None,
            extra_root_certs: Vec::new(),
            insecure: false,
            slurm: None,
            workload: Workload::Benchmark,
            reset_data: None,
        }
    }
}

impl GridSpec {
    pub fn validate(&self) -> Result<Vec<Target>, LoadgenError> {
        let bad = |s: &str| Err(LoadgenError::BadSpec(s.to_owned()));
        if self.urls.is_empty() {
            return bad("no URL");
        }
        if self.modes.is_empty() || self.batch_sizes.is_empty() || self.waits.is_empty() {
            return bad("empty grid");
        }
        if self.batch_sizes.contains(&0) {
            return bad("batch sizes must be >= 1");
        }
        if self.waits.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return bad("wait times must be finite and >= 0");
        }
        if self.reps == 0 || self.steps == 0 {
            return bad("--reps and --steps must be >= 1");
        }
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            return bad("--timeout must be > 0");
        }
        if !(self.close_timeout.is_finite() && self.close_timeout > 0.0) {
            return bad("--close-timeout must be > 0");
        }
        if !(self.ramp.is_finite() && self.ramp >= 0.0) {
            return bad("--ramp must be >= 0");
        }
        if !self.workload.is_benchmark() && self.waits.iter().any(|w| *w != 0.0) {
            return bad("an action or MCP tool step does not wait: the wait grid must be [0]");
        }
        if self.sessions_per_process == Some(0) {
            return bad("sessions per process must be >= 1");
        }
        if self.workers_only && self.worker_command.is_none() && self.slurm.is_none() {
            return bad("workers only, but no worker command is set");
        }
        if let Some(s) = &self.slurm {
            s.validate()?;
        }
        if let Some(srcs) = &self.source_addrs {
            if srcs.is_empty() {
                return bad("--source-addrs is empty");
            }
            // A source that is not an address of this host would fail every session's bind.
            // With --slurm the sessions run on other nodes, whose addresses this host cannot check.
            for &a in srcs.iter().filter(|_| self.slurm.is_none()) {
                crate::net::check_local_source(a).map_err(|e| {
                    LoadgenError::BadSpec(format!(
                        "--source-addrs {a}: not an address of this host ({e}); list the host's addresses with `ip -4 addr`"
                    ))
                })?;
            }
        }
        let targets: Vec<Target> = self
            .urls
            .iter()
            .map(|u| Target::parse(u))
            .collect::<Result<_, _>>()?;
        if targets.iter().any(|t| t.tls) {
            // Unreadable --cacert files stop the run here, not as N failed sessions.
            crate::tls::client_config(&self.tls_settings())?;
        }
        Ok(targets)
    }

    pub(crate) fn tls_settings(&self) -> crate::tls::TlsSettings {
        crate::tls::TlsSettings {
            extra_root_certs: self.extra_root_certs.clone(),
            insecure: self.insecure,
        }
    }

    /// The `url` column: the URLs as given, comma-separated.
    pub fn url_label(&self) -> String {
        self.urls.join(",")
    }

    /// The cells in the order they run: mode → wait → N → repetition.
    pub fn cells(&self) -> Vec<CellParams> {
        let mut cells = Vec::new();
        for &mode in &self.modes {
            for &wait in &self.waits {
                for &batch_size in &self.batch_sizes {
                    for repetition in 1..=self.reps {
                        cells.push(CellParams {
                            mode,
                            wait,
                            batch_size,
                            repetition,
                        });
                    }
                }
            }
        }
        cells
    }

    /// Most sessions one process runs: `sessions_per_process`, or what the open-files limit
    /// allows (minus room for the rest of the process).
    pub fn per_process(&self) -> usize {
        self.sessions_per_process.unwrap_or_else(|| {
            let soft = openenv_sys::nofile_limit().0.min(1 << 20) as usize;
            soft.saturating_sub(1000).max(100)
        })
    }

    /// Whether this process runs the first share of each cell itself; not with `--slurm` or
    /// `workers_only`, where every share goes to a worker.
    pub fn runs_own_share(&self) -> bool {
        self.slurm.is_none() && !self.workers_only
    }

    /// How many processes a cell of N sessions runs on. With `slurm`: workers only, the same
    /// number on every node (at least one each), never more than N.
    pub fn processes(&self, n: usize) -> usize {
        let needed = n.div_ceil(self.per_process());
        match &self.slurm {
            Some(s) => {
                let nodes = s.nodes.len().max(1);
                (needed.div_ceil(nodes) * nodes).min(n).max(1)
            }
            None => needed,
        }
    }

    /// The command that starts worker `k` (1..) and the node it runs on when known: `srun` on
    /// the k-th node (round robin) with `slurm`, else `worker_command` with `{worker}` = k.
    pub(crate) fn worker_argv(&self, k: usize) -> Option<(Vec<String>, Option<String>)> {
        if let Some(s) = &self.slurm {
            let node = &s.nodes[(k - 1) % s.nodes.len()];
            return Some((s.command(k, node), Some(node.clone())));
        }
        let cmd = self.worker_command.as_ref()?;
        // `{worker}` becomes the worker's number (1..), so one template can place workers on
        // different nodes (e.g. `srun --relative={worker} ...`).
        let argv = cmd
            .iter()
            .map(|a| a.replace("{worker}", &k.to_string()))
            .collect();
        Some((argv, None))
    }

    pub(crate) fn needs_workers(&self, n: usize, per_process: usize) -> LoadgenError {
        LoadgenError::BadSpec(format!(
            "N={n} needs {} processes (at most {per_process} sessions per process) but no worker command is set",
            n.div_ceil(per_process)
        ))
    }
}

/// One cell of a grid: what [`crate::run_cell`] runs (the rest comes from the [`GridSpec`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CellParams {
    pub mode: Mode,
    /// Seconds each step waits on the server.
    pub wait: f64,
    /// N: concurrent sessions.
    pub batch_size: usize,
    /// 1, 2, ...
    pub repetition: u32,
}

/// One cell as every process runs it: the same for all of the cell's shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellSpec {
    pub targets: Vec<Target>,
    #[serde(flatten)]
    pub params: CellParams,
    pub steps: u32,
    pub timeout: f64,
    /// See [`GridSpec::close_timeout`] (absent in a share from an older parent: 10 s).
    #[serde(default = "default_close_timeout")]
    pub close_timeout: f64,
    pub ramp: f64,
    /// See [`GridSpec::launch_batch`].
    #[serde(default)]
    pub launch_batch: usize,
    pub hardware: String,
    /// The cell's intended start, Unix time in nanoseconds (shared by every process). i64 (to
    /// the year 2262), not i128: serde's flatten, which keeps the share one flat object, has no
    /// 128-bit integers.
    pub start_unix_ns: i64,
    /// Source addresses to bind before connecting (round-robin by session id); empty: kernel's choice.
    pub source_addrs: Vec<Ipv4Addr>,
    /// See [`GridSpec::extra_root_certs`] (read by each process: workers need the same paths).
    #[serde(default)]
    pub extra_root_certs: Vec<PathBuf>,
    /// See [`GridSpec::insecure`].
    #[serde(default)]
    pub insecure: bool,
    /// See [`GridSpec::workload`] (absent in a share from an older parent: the benchmark's).
    #[serde(default)]
    pub workload: Workload,
    /// See [`GridSpec::reset_data`].
    #[serde(default)]
    pub reset_data: Option<String>,
}

impl CellSpec {
    /// Seconds from the cell's intended start to session `id`'s (`--ramp` spreads the starts
    /// evenly). The one place this is computed: each record carries it as `start_offset`.
    pub fn start_offset(&self, id: usize) -> f64 {
        let n = self.params.batch_size;
        if self.ramp > 0.0 && n > 1 {
            self.ramp * id as f64 / n as f64
        } else {
            0.0
        }
    }
}

/// What one process runs of one cell: sessions `first_id .. first_id + count` of its N.
/// Serializable: it is what the parent sends a worker process (possibly on another node), one
/// flat JSON object as before the cell's fields were grouped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareSpec {
    #[serde(flatten)]
    pub cell: CellSpec,
    pub first_id: usize,
    pub count: usize,
    /// 0 for the parent process, 1.. for workers.
    pub worker: usize,
    /// Start barrier: say `hello`, answer clock probes, and start at the time a later `start`
    /// line gives (see [`crate::worker`]) instead of `start_unix_ns`. Absent from an older
    /// parent's share: start at `start_unix_ns`.
    #[serde(default)]
    pub barrier: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reference_urls() {
        let t = Target::parse("http://localhost:8000").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("localhost", 8000, "")
        );
        assert_eq!(t.ws_url(), "ws://localhost:8000/ws");
        let t = Target::parse("http://127.0.0.1:9/env/").unwrap();
        assert_eq!(t.ws_url(), "ws://127.0.0.1:9/env/ws");
        assert!(t.is_loopback_v4());
        assert_eq!(Target::parse("http://h").unwrap().port, 80);
        let t = Target::parse("https://user-space.hf.space").unwrap();
        assert!(t.tls && t.port == 443);
        assert_eq!(t.ws_url(), "wss://user-space.hf.space:443/ws");
        let t = Target::parse("wss://localhost:8443/env").unwrap();
        assert!(t.tls && t.port == 8443);
        assert_eq!(t.ws_url(), "wss://localhost:8443/env/ws");
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("localhost:8000").is_err());
        assert!(Target::parse("http://:80").is_err());
        assert_eq!(Target::parse("http://[::1]:9/").unwrap().host, "::1");
        assert_eq!(Target::parse("HTTP://Host_1.example").unwrap().port, 80);
    }

    /// Each bad URL is refused with the reason (issue 13): `user:pass@host` used to pass as the
    /// host name `user:pass@host`, failing only at name resolution after files were written.
    #[test]
    fn bad_urls_are_refused_saying_what_is_wrong() {
        for (url, reason) in [
            ("http://user:pass@127.0.0.1:8000", "user info"),
            ("http://user@localhost", "user info"),
            ("localhost:8000", "missing scheme"),
            ("ftp://localhost", "scheme must be"),
            ("http://", "missing host"),
            ("http://:8000", "missing host"),
            ("http:///ws", "missing host"),
            ("http://localhost:0", "bad port \"0\""),
            ("http://localhost:99999", "bad port \"99999\""),
            ("http://localhost:", "bad port \"\""),
            ("http://localhost:80x", "bad port"),
            ("http://localhost?x=1", "a query"),
            ("http://localhost/env?x=1", "a query"),
            ("http://localhost/env#top", "a fragment"),
            ("http://a b:8000", "whitespace"),
            ("http://localhost/\n", "whitespace"),
            ("http://[::1", "unclosed ["),
            ("http://[nope]:80", "not an IPv6 address"),
            ("http://[::1]x", "after ]"),
            ("http://exa%mple.com", "in host"),
        ] {
            match Target::parse(url) {
                Err(e @ LoadgenError::BadUrl { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(reason), "{url:?}: {msg}");
                    assert!(msg.contains(&format!("{url:?}")), "names the URL: {msg}");
                }
                other => panic!("{url:?} accepted or wrong error: {other:?}"),
            }
        }
    }

    #[test]
    fn a_share_is_one_flat_object_and_an_older_parents_share_still_reads() {
        // As an older parent wrote it: no close_timeout, launch_batch, certificates.
        let old = r#"{"targets":[{"url":"http://127.0.0.1:9","host":"127.0.0.1","port":9,"prefix":""}],
            "mode":"http","wait":0.5,"steps":2,"timeout":20.0,"ramp":1.0,"batch_size":8,
            "repetition":3,"hardware":"hw","first_id":4,"count":4,"start_unix_ns":17,
            "source_addrs":["127.0.0.2"],"worker":1}"#;
        let share: ShareSpec = serde_json::from_str(old).unwrap();
        let c = &share.cell;
        assert_eq!(
            c.params,
            CellParams {
                mode: Mode::Http,
                wait: 0.5,
                batch_size: 8,
                repetition: 3
            }
        );
        assert_eq!((share.first_id, share.count, share.worker), (4, 4, 1));
        assert_eq!(
            (c.close_timeout, c.launch_batch, c.insecure),
            (10.0, 0, false)
        );
        assert_eq!(c.start_offset(4), 0.5);
        let v = serde_json::to_value(&share).unwrap();
        for k in [
            "mode",
            "wait",
            "batch_size",
            "repetition",
            "first_id",
            "start_unix_ns",
        ] {
            assert!(v.get(k).is_some(), "{k} at the top level: {v}");
        }
        let back: ShareSpec = serde_json::from_value(v).unwrap();
        assert_eq!(back.cell.params, c.params);
    }

    #[test]
    fn a_share_carries_its_workload_to_the_worker() {
        let old = r#"{"targets":[],"mode":"ws","wait":0.0,"steps":1,"timeout":1.0,"ramp":0.0,
            "batch_size":1,"repetition":1,"hardware":"h","first_id":0,"count":1,
            "start_unix_ns":0,"source_addrs":[],"worker":1}"#;
        let mut share: ShareSpec = serde_json::from_str(old).unwrap();
        assert_eq!(
            (&share.cell.workload, &share.cell.reset_data),
            (&Workload::Benchmark, &None)
        );
        for w in [
            Workload::action(r#"{"message":"hi"}"#).unwrap(),
            Workload::mcp("add", Some(r#"{"a":1}"#)).unwrap(),
        ] {
            share.cell.workload = w.clone();
            share.cell.reset_data = Some(r#"{"seed":1}"#.into());
            let line = serde_json::to_string(&share).unwrap();
            let back: ShareSpec = serde_json::from_str(&line).unwrap();
            assert_eq!(back.cell.workload, w, "{line}");
            assert_eq!(back.cell.reset_data.as_deref(), Some(r#"{"seed":1}"#));
        }
        // A wait grid other than [0] makes no sense with an action.
        let g = GridSpec {
            workload: Workload::action("{}").unwrap(),
            ..GridSpec::default()
        };
        assert!(g.validate().is_err());
        let g = GridSpec {
            waits: vec![0.0],
            ..g
        };
        assert!(g.validate().is_ok());
    }

    #[test]
    fn cells_run_mode_then_wait_then_n_then_repetition() {
        let g = GridSpec {
            modes: vec![Mode::Http, Mode::Ws],
            waits: vec![0.1, 1.0],
            batch_sizes: vec![1, 4],
            reps: 2,
            ..GridSpec::default()
        };
        let cells = g.cells();
        assert_eq!(cells.len(), 16);
        let key = |c: &CellParams| (c.mode.as_str(), c.wait, c.batch_size, c.repetition);
        assert_eq!(key(&cells[0]), ("http", 0.1, 1, 1));
        assert_eq!(key(&cells[1]), ("http", 0.1, 1, 2));
        assert_eq!(key(&cells[2]), ("http", 0.1, 4, 1));
        assert_eq!(key(&cells[4]), ("http", 1.0, 1, 1));
        assert_eq!(key(&cells[8]), ("ws", 0.1, 1, 1));
        let one = GridSpec {
            sessions_per_process: Some(100),
            ..GridSpec::default()
        };
        assert_eq!((one.processes(100), one.processes(101)), (1, 2));
    }

    #[test]
    fn validate_rejects_nonsense() {
        let mut g = GridSpec::default();
        assert!(g.validate().is_ok());
        g.batch_sizes = vec![0];
        assert!(g.validate().is_err());
        let g = GridSpec {
            waits: vec![-1.0],
            ..GridSpec::default()
        };
        assert!(g.validate().is_err());
    }
}
