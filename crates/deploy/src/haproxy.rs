//! HAProxy (tested with 2.6 from Debian 12).

use crate::LbConfig;
use std::fmt::Write as _;

pub const BACKEND: &str = "openenv_servers";

pub fn render(cfg: &LbConfig) -> String {
    let l = cfg.limits;
    let idle = l.stream_idle_timeout_s;
    let mut o = String::new();
    let w = &mut o;
    // Explicit maxconn: HAProxy derives one from `ulimit -n` otherwise (9,984 at 20,000 fds);
    // a value needing more fds than the process may open makes HAProxy refuse to start.
    let _ = writeln!(w, "global");
    let _ = writeln!(w, "    maxconn {}", l.max_sessions);
    if let Some(n) = cfg.workers {
        let _ = writeln!(w, "    nbthread {n}");
    }
    let _ = writeln!(w, "    log stderr format short local0 warning");
    let _ = writeln!(w);
    let _ = writeln!(w, "defaults");
    let _ = writeln!(w, "    mode http");
    let _ = writeln!(w, "    log global");
    let _ = writeln!(w, "    option dontlognull");
    let _ = writeln!(w, "    timeout connect 5s");
    // Client/server inactivity: longer than any step wait; tunnel applies after the WS upgrade.
    let _ = writeln!(w, "    timeout client {idle}s");
    let _ = writeln!(w, "    timeout server {idle}s");
    let _ = writeln!(w, "    timeout tunnel {idle}s");
    let _ = writeln!(w, "    timeout http-keep-alive 60s");
    let _ = writeln!(w, "    timeout client-fin 5s");
    let _ = writeln!(w, "    timeout queue 30s");
    // A connect that fails (server just died, health check not yet noticed) is retried, and
    // `redispatch 1` sends every retry to a different server.
    let _ = writeln!(w, "    retries 3");
    let _ = writeln!(w, "    option redispatch 1");
    let _ = writeln!(w, "    maxconn {}", l.max_sessions);
    let _ = writeln!(w);
    let _ = writeln!(w, "frontend openenv_in");
    // With N threads, one listening socket per thread (SO_REUSEPORT): the kernel spreads a
    // connect storm over the threads instead of all of them taking turns on one accept queue.
    match cfg.workers {
        Some(n) if n > 1 => {
            for t in 1..=n {
                let _ = writeln!(
                    w,
                    "    bind {}:{} backlog 4096 thread {t}",
                    cfg.listen_addr, cfg.listen_port
                );
            }
        }
        _ => {
            let _ = writeln!(
                w,
                "    bind {}:{} backlog 4096",
                cfg.listen_addr, cfg.listen_port
            );
        }
    }
    let _ = writeln!(w, "    maxconn {}", l.max_sessions);
    let _ = writeln!(w, "    default_backend {BACKEND}");
    let _ = writeln!(w);
    let _ = writeln!(w, "frontend stats");
    let _ = writeln!(w, "    bind {}:{}", cfg.admin_addr, cfg.admin_port);
    let _ = writeln!(
        w,
        "    http-request return status 200 content-type text/plain string \"ok\" if {{ path /lb-health }}"
    );
    let _ = writeln!(w, "    stats enable");
    let _ = writeln!(w, "    stats uri /stats");
    let _ = writeln!(w);
    let _ = writeln!(w, "backend {BACKEND}");
    let _ = writeln!(w, "    balance roundrobin");
    let _ = writeln!(w, "    option httpchk");
    let _ = writeln!(
        w,
        "    http-check send meth GET uri /health ver HTTP/1.1 hdr Host localhost"
    );
    let _ = writeln!(w, "    http-check expect status 200");
    // Down after 2 failed checks 1 s apart (~1.2 s measured), up again after 2 good ones.
    let _ = writeln!(
        w,
        "    default-server inter 1s fall 2 rise 2 maxconn {}",
        l.max_sessions
    );
    for b in &cfg.backends {
        let host = match b.connect_host().parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => b.connect_host(),
        };
        let _ = writeln!(w, "    server {} {}:{} check", b.ident(), host, b.port);
    }
    o
}
