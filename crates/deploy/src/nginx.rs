//! nginx (tested with 1.22 from Debian 12). Open-source nginx has only passive health checks:
//! a refused connect marks a server failed for `fail_timeout` and the request goes to the next.

use crate::LbConfig;
use std::fmt::Write as _;

pub const UPSTREAM: &str = "openenv_servers";

pub fn render(cfg: &LbConfig) -> String {
    let l = cfg.limits;
    let idle = l.stream_idle_timeout_s;
    let st = cfg.state_dir.trim_end_matches('/');
    let workers = cfg
        .workers
        .map(|n| n.to_string())
        .unwrap_or_else(|| "auto".to_string());
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(w, "worker_processes {workers};");
    // Cannot exceed the hard `ulimit -n` (20,000 here).
    let _ = writeln!(w, "worker_rlimit_nofile {};", l.nofile);
    let _ = writeln!(w, "pid {st}/nginx.pid;");
    let _ = writeln!(w, "error_log stderr warn;");
    let _ = writeln!(w);
    let _ = writeln!(w, "events {{");
    // Per worker; a proxied session holds 2 (client + upstream). Debian's default 768 caps a
    // worker at ~384 sessions.
    let _ = writeln!(
        w,
        "    worker_connections {};",
        2 * l.max_sessions as u64 + 100
    );
    let _ = writeln!(w, "}}");
    let _ = writeln!(w);
    let _ = writeln!(w, "http {{");
    let _ = writeln!(w, "    access_log off;");
    for t in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let _ = writeln!(w, "    {t}_temp_path {st}/{t}_temp;");
    }
    // WS upgrades pass Upgrade/Connection through; plain HTTP gets an empty Connection header
    // so upstream keep-alive works.
    let _ = writeln!(w, "    map $http_upgrade $connection_upgrade {{");
    let _ = writeln!(w, "        default upgrade;");
    let _ = writeln!(w, "        ''      '';");
    let _ = writeln!(w, "    }}");
    let _ = writeln!(w);
    let _ = writeln!(w, "    upstream {UPSTREAM} {{");
    for b in &cfg.backends {
        let host = match b.connect_host().parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => b.connect_host(),
        };
        let _ = writeln!(
            w,
            "        server {host}:{} max_fails=1 fail_timeout=10s;",
            b.port
        );
    }
    let _ = writeln!(w, "        keepalive 256;");
    let _ = writeln!(w, "    }}");
    let _ = writeln!(w);
    let _ = writeln!(w, "    server {{");
    // reuseport: the kernel spreads accepts over the workers (without it one worker takes
    // nearly all connections and runs out of worker_connections).
    let _ = writeln!(
        w,
        "        listen {}:{} backlog=4096 reuseport;",
        cfg.listen_addr, cfg.listen_port
    );
    let _ = writeln!(w, "        location = /lb-health {{");
    let _ = writeln!(w, "            return 200 \"ok\\n\";");
    let _ = writeln!(w, "        }}");
    let _ = writeln!(w, "        location / {{");
    let _ = writeln!(w, "            proxy_pass http://{UPSTREAM};");
    let _ = writeln!(w, "            proxy_http_version 1.1;");
    let _ = writeln!(w, "            proxy_set_header Upgrade $http_upgrade;");
    let _ = writeln!(
        w,
        "            proxy_set_header Connection $connection_upgrade;"
    );
    let _ = writeln!(w, "            proxy_set_header Host $host;");
    let _ = writeln!(w, "            proxy_connect_timeout 5s;");
    let _ = writeln!(w, "            proxy_read_timeout {idle}s;");
    let _ = writeln!(w, "            proxy_send_timeout {idle}s;");
    let _ = writeln!(w, "            proxy_buffering off;");
    // A refused connect is retried on the next server (the request was never sent).
    let _ = writeln!(w, "            proxy_next_upstream error timeout;");
    let _ = writeln!(w, "            proxy_next_upstream_tries 3;");
    let _ = writeln!(w, "        }}");
    let _ = writeln!(w, "    }}");
    let _ = writeln!(w, "}}");
    o
}
