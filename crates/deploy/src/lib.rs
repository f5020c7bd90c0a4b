//! openenv-deploy: load-balancer config generation for multi-node deployments.
//!
//! `render(&LbConfig)` turns a list of backends (the `openenv-bench serve` instances) into a complete
//! config file for Envoy, HAProxy or nginx. Every config:
//! - passes WebSocket upgrades through (`GET /ws`) and plain HTTP (`/reset`, `/step`, ...);
//! - health-checks the backends on `/health` (actively for Envoy and HAProxy; nginx open source
//!   has only passive checks: a refused connect marks a backend failed for `fail_timeout`);
//! - retries a failed connect on a *different* backend (Envoy `previous_hosts`, HAProxy
//!   `option redispatch`, nginx `proxy_next_upstream`);
//! - never times out a long-lived session (1 h idle timeout, no overall request timeout);
//! - raises connection limits well past Envoy's default circuit breakers (1,024) up to what one
//!   process can hold here: see [`Limits`].

mod envoy;
mod haproxy;
mod nginx;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Which load balancer to generate a config for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbKind {
    Envoy,
    Haproxy,
    Nginx,
}

impl LbKind {
    pub const ALL: [LbKind; 3] = [LbKind::Envoy, LbKind::Haproxy, LbKind::Nginx];

    pub fn name(self) -> &'static str {
        match self {
            LbKind::Envoy => "envoy",
            LbKind::Haproxy => "haproxy",
            LbKind::Nginx => "nginx",
        }
    }
}

impl fmt::Display for LbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LbKind {
    type Err = DeployError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "envoy" => Ok(LbKind::Envoy),
            "haproxy" => Ok(LbKind::Haproxy),
            "nginx" => Ok(LbKind::Nginx),
            _ => Err(DeployError::UnknownLb(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeployError {
    #[error("unknown load balancer {0:?} (expected envoy, haproxy or nginx)")]
    UnknownLb(String),
    #[error("invalid backend {0:?}: expected HOST:PORT (e.g. node2:8000 or 10.0.0.2:8000)")]
    InvalidBackend(String),
    #[error("no backends given: pass at least one --backend HOST:PORT")]
    NoBackends,
    #[error("duplicate backend {0}")]
    DuplicateBackend(String),
    #[error("{what} must be at least {min}, got {got}")]
    TooSmall {
        what: &'static str,
        min: u64,
        got: u64,
    },
    #[error("{what} {got} exceeds what one process can hold here ({max}): each proxied session uses 2 of the 20,000 file descriptors a process may open")]
    TooLarge {
        what: &'static str,
        max: u64,
        got: u64,
    },
    #[error("port {0} is used twice (listen, admin)")]
    PortClash(u16),
    /// A value that would be written into the config verbatim but could break its syntax
    /// (a newline, `;`, `{`, a quote, a space...).
    #[error("invalid {what} {value:?}: expected {expected}")]
    InvalidValue {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A host as it may appear in a config: an IP address, or a DNS name (letters, digits, `-`,
/// `.`, `_`).
fn valid_host(h: &str) -> bool {
    h.parse::<IpAddr>().is_ok()
        || (!h.is_empty()
            && h.len() <= 253
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)))
}

/// A path as it may appear in a config unquoted: no whitespace, quotes, `;`, `#`, `{`, `}`,
/// `$` or control characters (each means something to nginx or HAProxy).
fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 4096
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+~@,=:%".contains(c))
}

/// One upstream server. `addr` is its resolved address, when known: Envoy then uses a STATIC
/// cluster (no DNS at run time); without it Envoy resolves `host` itself (STRICT_DNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub host: String,
    pub port: u16,
    pub addr: Option<IpAddr>,
}

impl Backend {
    /// `host:port` as given on the command line.
    pub fn endpoint(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }

    /// Address to connect to: the resolved IP if known, else the host name.
    pub fn connect_host(&self) -> String {
        match self.addr {
            Some(ip) => ip.to_string(),
            None => self.host.clone(),
        }
    }

    /// A short name usable as an identifier in configs (HAProxy server names, Envoy hostnames).
    pub fn ident(&self) -> String {
        let mut s: String = self
            .host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        s.push('_');
        s.push_str(&self.port.to_string());
        s
    }
}

impl FromStr for Backend {
    type Err = DeployError;
    /// `HOST:PORT`, `IPv4:PORT` or `[IPv6]:PORT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DeployError::InvalidBackend(s.to_string());
        let s_trim = s.trim();
        let (host, port) = if let Some(rest) = s_trim.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (h, p)
        } else {
            s_trim.rsplit_once(':').ok_or_else(bad)?
        };
        if host.is_empty()
            || host.contains(':') && !s_trim.starts_with('[')
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(bad());
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 {
            return Err(bad());
        }
        let addr = host.parse::<IpAddr>().ok();
        Ok(Backend {
            host: host.to_string(),
            port,
            addr,
        })
    }
}

/// Connection limits, chosen for the 20,000 open files one process may hold here (the hard
/// `ulimit -n`, which cannot be raised). A proxied session holds 2 fds (client side + upstream),
/// so one LB process carries at most ~9,990 sessions; the defaults leave room for listeners,
/// health checks and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Concurrent client connections one LB process accepts (Envoy overload manager
    /// `max_active_downstream_connections`, HAProxy global `maxconn`, nginx `worker_connections / 2`).
    pub max_sessions: u32,
    /// Envoy cluster circuit breakers (max connections / pending / requests). Envoy's default is
    /// 1,024, which silently caps WS sessions at 1,024; this lets the fd limit be the only cap.
    pub circuit_breaker: u32,
    /// Per-process open-files limit the config asks for (nginx `worker_rlimit_nofile`).
    pub nofile: u32,
    /// Idle timeout of a session (WS tunnels and HTTP streams), seconds.
    pub stream_idle_timeout_s: u32,
}

/// Hard per-process open-files limit on the machine these defaults were measured on (docs/background.md).
pub const NOFILE_HARD_LIMIT: u32 = 20_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 9_900,
            circuit_breaker: 100_000,
            nofile: NOFILE_HARD_LIMIT,
            stream_idle_timeout_s: 3_600,
        }
    }
}

/// Everything a generated config depends on.
#[derive(Debug, Clone)]
pub struct LbConfig {
    pub kind: LbKind,
    pub backends: Vec<Backend>,
    /// Address the LB listens on for clients.
    pub listen_addr: String,
    pub listen_port: u16,
    /// Envoy admin / HAProxy stats port (bound to `admin_addr`). nginx answers `/lb-health` on
    /// the listen port instead.
    pub admin_addr: String,
    pub admin_port: u16,
    /// Worker threads: nginx `worker_processes`, HAProxy `nbthread` with one `bind` per thread
    /// (Envoy's `--concurrency` is a command-line flag).
    pub workers: Option<u32>,
    /// Directory for nginx's pid file and temp paths (nginx insists on writable ones).
    pub state_dir: String,
    pub limits: Limits,
}

impl LbConfig {
    pub fn new(kind: LbKind, backends: Vec<Backend>) -> Self {
        LbConfig {
            kind,
            backends,
            listen_addr: "0.0.0.0".to_string(),
            listen_port: 8080,
            admin_addr: "127.0.0.1".to_string(),
            admin_port: match kind {
                LbKind::Haproxy => 8404,
                _ => 9901,
            },
            workers: None,
            state_dir: "/tmp/openenv-lb".to_string(),
            limits: Limits::default(),
        }
    }

    /// Checks the settings; `render` calls it.
    pub fn validate(&self) -> Result<(), DeployError> {
        if self.backends.is_empty() {
            return Err(DeployError::NoBackends);
        }
        // Every string that is written into the config verbatim.
        let invalid = |what, value: &str, expected| DeployError::InvalidValue {
            what,
            value: value.to_string(),
            expected,
        };
        const HOST: &str = "an IP address or a host name (letters, digits, '-', '.', '_')";
        if !valid_host(&self.listen_addr) {
            return Err(invalid("listen address", &self.listen_addr, HOST));
        }
        if !valid_host(&self.admin_addr) {
            return Err(invalid("admin address", &self.admin_addr, HOST));
        }
        if !valid_path(&self.state_dir) {
            return Err(invalid(
                "state directory",
                &self.state_dir,
                "a path of letters, digits and / . _ - + ~ @ , = : % (no spaces, quotes, ';', '#', '{', '}', '$' or newlines)",
            ));
        }
        for b in &self.backends {
            if !valid_host(&b.host) || b.port == 0 {
                return Err(DeployError::InvalidBackend(b.endpoint()));
            }
        }
        for (i, b) in self.backends.iter().enumerate() {
            if self.backends[..i]
                .iter()
                .any(|o| o.host == b.host && o.port == b.port)
            {
                return Err(DeployError::DuplicateBackend(b.endpoint()));
            }
        }
        if self.kind != LbKind::Nginx && self.listen_port == self.admin_port {
            return Err(DeployError::PortClash(self.listen_port));
        }
        let l = &self.limits;
        if l.max_sessions < 1 {
            return Err(DeployError::TooSmall {
                what: "max sessions",
                min: 1,
                got: 0,
            });
        }
        // 2 fds per proxied session plus ~100 for listeners, health checks, logs.
        let max_sessions = (l.nofile.saturating_sub(100)) / 2;
        if l.max_sessions > max_sessions {
            return Err(DeployError::TooLarge {
                what: "max sessions",
                max: max_sessions as u64,
                got: l.max_sessions as u64,
            });
        }
        if l.nofile > NOFILE_HARD_LIMIT {
            return Err(DeployError::TooLarge {
                what: "nofile",
                max: NOFILE_HARD_LIMIT as u64,
                got: l.nofile as u64,
            });
        }
        if l.circuit_breaker < l.max_sessions {
            return Err(DeployError::TooSmall {
                what: "circuit breaker threshold",
                min: l.max_sessions as u64,
                got: l.circuit_breaker as u64,
            });
        }
        if l.stream_idle_timeout_s < 60 {
            return Err(DeployError::TooSmall {
                what: "stream idle timeout (s)",
                min: 60,
                got: l.stream_idle_timeout_s as u64,
            });
        }
        Ok(())
    }
}

/// The config file text for `cfg.kind`.
pub fn render(cfg: &LbConfig) -> Result<String, DeployError> {
    cfg.validate()?;
    let body = match cfg.kind {
        // JSON has no comments: the header goes into the config itself (see `envoy::config`).
        LbKind::Envoy => {
            let mut json = serde_json::to_string_pretty(&envoy::config(cfg, &header_lines(cfg)))
                .expect("a serde_json::Value always serializes");
            json.push('\n');
            return Ok(json);
        }
        LbKind::Haproxy => haproxy::render(cfg),
        LbKind::Nginx => nginx::render(cfg),
    };
    let header: String = header_lines(cfg)
        .iter()
        .map(|x| format!("# {x}\n"))
        .collect();
    Ok(format!("{header}{body}"))
}

/// What the config does and which limits it sets (`#` comments, or Envoy's `node.metadata.comment`).
fn header_lines(cfg: &LbConfig) -> Vec<String> {
    let l = cfg.limits;
    let backends: Vec<String> = cfg.backends.iter().map(Backend::endpoint).collect();
    vec![
        format!("Generated by `openenv-bench lb-config {}`.", cfg.kind),
        format!("Backends: {}", backends.join(" ")),
        format!(
            "Clients: {}:{} (WebSocket /ws and HTTP); health checks GET /health.",
            cfg.listen_addr, cfg.listen_port
        ),
        format!(
            "Limits: {} concurrent sessions per LB process (each proxied session holds 2 of the {} fds a process may open);",
            l.max_sessions, l.nofile
        ),
        match cfg.kind {
            LbKind::Envoy => format!(
                "  circuit breakers {} (Envoy's default 1,024 would cap sessions at 1,024); idle timeout {} s.",
                l.circuit_breaker, l.stream_idle_timeout_s
            ),
            LbKind::Haproxy => format!(
                "  global/frontend/server maxconn {}; tunnel timeout {} s.",
                l.max_sessions, l.stream_idle_timeout_s
            ),
            LbKind::Nginx => format!(
                "  worker_connections {} per worker, worker_rlimit_nofile {}; read timeout {} s.",
                2 * l.max_sessions as u64 + 100,
                l.nofile,
                l.stream_idle_timeout_s
            ),
        },
        format!("Run: {}", run_hint(cfg.kind, "THIS_FILE")),
    ]
}

/// The Envoy config as a value (the same structure `render` prints as JSON).
pub fn envoy_value(cfg: &LbConfig) -> Result<serde_json::Value, DeployError> {
    cfg.validate()?;
    Ok(envoy::config(cfg, &header_lines(cfg)))
}

/// How to start the LB with the generated config, for docs and `--help`.
pub fn run_hint(kind: LbKind, path: &str) -> String {
    match kind {
        LbKind::Envoy => format!(
            "envoy -c {path} --concurrency 2 --disable-hot-restart   # validate: envoy --mode validate -c {path}"
        ),
        LbKind::Haproxy => format!("haproxy -db -f {path}   # validate: haproxy -c -f {path}"),
        LbKind::Nginx => {
            format!("nginx -c {path} -g 'daemon off;'   # validate: nginx -t -c {path}")
        }
    }
}

#[cfg(test)]
mod tests;
