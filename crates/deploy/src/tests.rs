//! Parse every generated config back and check what it must contain. The real envoy/haproxy/nginx
//! load them in deploy/tests (`envoy --mode validate`, `haproxy -c`, `nginx -t`).

use super::*;
use serde_json::{json, Value};

fn backends(list: &[&str]) -> Vec<Backend> {
    list.iter().map(|b| b.parse().unwrap()).collect()
}

fn cfg(kind: LbKind) -> LbConfig {
    LbConfig::new(
        kind,
        backends(&["10.200.0.12:8000", "10.200.0.13:8000", "node4:9000"]),
    )
}

#[test]
fn backend_parsing() {
    let b: Backend = "node2:8000".parse().unwrap();
    assert_eq!((b.host.as_str(), b.port, b.addr), ("node2", 8000, None));
    let b: Backend = "10.0.0.2:1".parse().unwrap();
    assert_eq!(b.addr, Some("10.0.0.2".parse().unwrap()));
    let b: Backend = "[::1]:8000".parse().unwrap();
    assert_eq!(
        (b.host.as_str(), b.endpoint()),
        ("::1", "[::1]:8000".into())
    );
    for bad in [
        "",
        "node2",
        "node2:",
        ":80",
        "node2:0",
        "node2:70000",
        "a b:80",
        "::1:80",
        "x;y:80",
    ] {
        assert!(bad.parse::<Backend>().is_err(), "{bad:?} accepted");
    }
    assert_eq!("HAProxy".parse::<LbKind>().unwrap(), LbKind::Haproxy);
    assert!("traefik".parse::<LbKind>().is_err());
}

#[test]
fn validation_rejects_bad_settings() {
    let mut c = cfg(LbKind::Envoy);
    c.backends.clear();
    assert_eq!(render(&c), Err(DeployError::NoBackends));
    let mut c = cfg(LbKind::Envoy);
    c.backends.push("node4:9000".parse().unwrap());
    assert!(matches!(render(&c), Err(DeployError::DuplicateBackend(_))));
    let mut c = cfg(LbKind::Haproxy);
    c.limits.max_sessions = 10_000; // 2 fds each: more than 20,000 fds
    assert!(matches!(render(&c), Err(DeployError::TooLarge { .. })));
    let mut c = cfg(LbKind::Envoy);
    c.admin_port = c.listen_port;
    assert_eq!(render(&c), Err(DeployError::PortClash(8080)));
    let mut c = cfg(LbKind::Envoy);
    c.limits.circuit_breaker = 1024;
    assert!(matches!(render(&c), Err(DeployError::TooSmall { .. })));
}

#[test]
fn envoy_config_has_ws_health_retries_and_raised_limits() {
    let text = render(&cfg(LbKind::Envoy)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v, envoy_value(&cfg(LbKind::Envoy)).unwrap());
    let listener = &v["static_resources"]["listeners"][0];
    assert_eq!(
        listener.pointer("/address/socket_address/port_value"),
        Some(&json!(8080))
    );
    let hcm = listener
        .pointer("/filter_chains/0/filters/0/typed_config")
        .unwrap();
    assert_eq!(
        hcm.pointer("/upgrade_configs/0/upgrade_type")
            .and_then(Value::as_str),
        Some("websocket")
    );
    assert_eq!(
        hcm.get("stream_idle_timeout").and_then(Value::as_str),
        Some("3600s")
    );
    assert_eq!(
        hcm.get("delayed_close_timeout").and_then(Value::as_str),
        Some("0s"),
        "Envoy's 1 s delayed close would add 1 s to every WS session"
    );
    let route = hcm
        .pointer("/route_config/virtual_hosts/0/routes/0/route")
        .unwrap();
    assert_eq!(route.get("timeout").and_then(Value::as_str), Some("0s"));
    assert_eq!(
        route.get("cluster").and_then(Value::as_str),
        Some(envoy::CLUSTER)
    );
    let retry = route.get("retry_policy").unwrap();
    assert!(retry
        .get("retry_on")
        .and_then(Value::as_str)
        .unwrap()
        .contains("connect-failure"));
    assert_eq!(
        retry
            .pointer("/retry_host_predicate/0/name")
            .and_then(Value::as_str),
        Some("envoy.retry_host_predicates.previous_hosts")
    );
    let cluster = v.pointer("/static_resources/clusters/0").unwrap();
    // node4 is a name: Envoy must resolve it.
    assert_eq!(
        cluster.get("type").and_then(Value::as_str),
        Some("STRICT_DNS")
    );
    let th = cluster.pointer("/circuit_breakers/thresholds/0").unwrap();
    for k in ["max_connections", "max_pending_requests", "max_requests"] {
        let n = th.get(k).and_then(Value::as_i64).unwrap();
        assert!(n > 9_000, "{k} = {n}: Envoy's default 1,024 not raised");
    }
    let hc = cluster.pointer("/health_checks/0").unwrap();
    assert_eq!(
        hc.pointer("/http_health_check/path")
            .and_then(Value::as_str),
        Some("/health")
    );
    assert_eq!(
        hc.get("no_traffic_interval").and_then(Value::as_str),
        Some("1s")
    );
    let eps = cluster
        .pointer("/load_assignment/endpoints/0/lb_endpoints")
        .and_then(Value::as_array)
        .unwrap();
    let addrs: Vec<(&str, i64)> = eps
        .iter()
        .map(|e| {
            let sa = e.pointer("/endpoint/address/socket_address").unwrap();
            (
                sa.get("address").and_then(Value::as_str).unwrap(),
                sa.get("port_value").and_then(Value::as_i64).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        addrs,
        vec![
            ("10.200.0.12", 8000),
            ("10.200.0.13", 8000),
            ("node4", 9000)
        ]
    );
    let max_down = v
        .pointer(
            "/overload_manager/resource_monitors/0/typed_config/max_active_downstream_connections",
        )
        .and_then(Value::as_i64)
        .unwrap();
    assert!(max_down * 2 <= NOFILE_HARD_LIMIT as i64 && max_down > 9_000);
    assert_eq!(
        v.pointer("/admin/address/socket_address/address")
            .and_then(Value::as_str),
        Some("127.0.0.1")
    );
}

#[test]
fn envoy_static_cluster_when_all_addresses_known() {
    let c = LbConfig::new(
        LbKind::Envoy,
        backends(&["127.0.0.2:8000", "127.0.0.3:8000"]),
    );
    let v = envoy_value(&c).unwrap();
    assert_eq!(
        v.pointer("/static_resources/clusters/0/type")
            .and_then(Value::as_str),
        Some("STATIC")
    );
    assert!(v
        .pointer("/static_resources/clusters/0/dns_lookup_family")
        .is_none());
}

/// nginx config as a tree: (directive words, children) for every statement.
#[derive(Debug)]
struct Directive {
    words: Vec<String>,
    children: Vec<Directive>,
}

fn nginx_parse(text: &str) -> Vec<Directive> {
    // Tokenizer: words, quoted strings, ';', '{', '}'; '#' comments to end of line.
    let mut toks: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            ';' | '{' | '}' => {
                toks.push(c.to_string());
                chars.next();
            }
            '"' | '\'' => {
                chars.next();
                let mut w = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => w.push(chars.next().expect("escape at end")),
                        Some(ch) if ch == c => break,
                        Some(ch) => w.push(ch),
                        None => panic!("unterminated string"),
                    }
                }
                toks.push(format!("\u{0}{w}"));
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || ";{}#".contains(ch) {
                        break;
                    }
                    w.push(ch);
                    chars.next();
                }
                toks.push(w);
            }
        }
    }
    fn block(toks: &[String], pos: &mut usize, top: bool) -> Vec<Directive> {
        let mut out = Vec::new();
        let mut words = Vec::new();
        while *pos < toks.len() {
            let t = &toks[*pos];
            *pos += 1;
            match t.as_str() {
                ";" => {
                    assert!(!words.is_empty(), "empty statement");
                    out.push(Directive {
                        words: std::mem::take(&mut words),
                        children: vec![],
                    });
                }
                "{" => {
                    assert!(!words.is_empty(), "block without a name");
                    let children = block(toks, pos, false);
                    out.push(Directive {
                        words: std::mem::take(&mut words),
                        children,
                    });
                }
                "}" => {
                    assert!(!top, "unbalanced '}}'");
                    assert!(words.is_empty(), "statement without ';'");
                    return out;
                }
                w => words.push(w.trim_start_matches('\u{0}').to_string()),
            }
        }
        assert!(top, "unclosed block");
        assert!(words.is_empty(), "statement without ';' at end");
        out
    }
    let mut pos = 0;
    block(&toks, &mut pos, true)
}

fn find<'a>(ds: &'a [Directive], name: &str) -> Vec<&'a Directive> {
    ds.iter().filter(|d| d.words[0] == name).collect()
}

fn one<'a>(ds: &'a [Directive], name: &str) -> &'a Directive {
    let f = find(ds, name);
    assert_eq!(f.len(), 1, "expected one {name}");
    f[0]
}

#[test]
fn nginx_config_parses_and_has_ws_upgrade_retries_and_limits() {
    let mut c = cfg(LbKind::Nginx);
    c.state_dir = "/var/tmp/lb state".replace(' ', "_");
    let text = render(&c).unwrap();
    let top = nginx_parse(&text);
    let rl: u32 = one(&top, "worker_rlimit_nofile").words[1].parse().unwrap();
    assert!(rl <= NOFILE_HARD_LIMIT);
    let events = one(&top, "events");
    let wc: u32 = one(&events.children, "worker_connections").words[1]
        .parse()
        .unwrap();
    assert!(wc > 2 * 9_000 && wc <= rl, "worker_connections {wc}");
    let http = one(&top, "http");
    let ups = one(&http.children, "upstream");
    assert_eq!(ups.words[1], nginx::UPSTREAM);
    let servers: Vec<&str> = find(&ups.children, "server")
        .iter()
        .map(|d| d.words[1].as_str())
        .collect();
    assert_eq!(
        servers,
        vec!["10.200.0.12:8000", "10.200.0.13:8000", "node4:9000"]
    );
    let srv = one(&http.children, "server");
    let listen = &one(&srv.children, "listen").words;
    assert_eq!(listen[1], "0.0.0.0:8080");
    assert!(listen.iter().any(|w| w == "reuseport"));
    let loc = find(&srv.children, "location")
        .into_iter()
        .find(|d| d.words[1] == "/")
        .expect("location /");
    let headers: Vec<Vec<String>> = find(&loc.children, "proxy_set_header")
        .iter()
        .map(|d| d.words[1..].to_vec())
        .collect();
    assert!(headers.contains(&vec!["Upgrade".into(), "$http_upgrade".into()]));
    assert!(headers.contains(&vec!["Connection".into(), "$connection_upgrade".into()]));
    assert_eq!(one(&loc.children, "proxy_http_version").words[1], "1.1");
    assert_eq!(one(&loc.children, "proxy_read_timeout").words[1], "3600s");
    assert!(one(&loc.children, "proxy_next_upstream")
        .words
        .contains(&"error".to_string()));
    assert_eq!(one(&top, "pid").words[1], "/var/tmp/lb_state/nginx.pid");
}

/// HAProxy config as sections: (header words, keyword lines).
fn haproxy_parse(text: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut out: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for line in text.lines() {
        let code = line.split('#').next().unwrap();
        if code.trim().is_empty() {
            continue;
        }
        let words: Vec<String> = code.split_whitespace().map(str::to_string).collect();
        if !code.starts_with(' ') {
            assert!(
                ["global", "defaults", "frontend", "backend", "listen"]
                    .contains(&words[0].as_str()),
                "unknown section {line:?}"
            );
            out.push((words, vec![]));
        } else {
            out.last_mut()
                .expect("keyword before any section")
                .1
                .push(words);
        }
    }
    out
}

#[test]
fn haproxy_config_parses_and_has_health_checks_retries_and_limits() {
    let text = render(&cfg(LbKind::Haproxy)).unwrap();
    let secs = haproxy_parse(&text);
    let sec = |name: &str| {
        &secs
            .iter()
            .find(|(h, _)| h.join(" ") == name)
            .unwrap_or_else(|| panic!("no section {name}"))
            .1
    };
    let has = |lines: &Vec<Vec<String>>, kw: &str| -> Vec<Vec<String>> {
        lines
            .iter()
            .filter(|l| l.join(" ").starts_with(kw))
            .cloned()
            .collect()
    };
    let maxconn: u32 = has(sec("global"), "maxconn")[0][1].parse().unwrap();
    assert!(maxconn > 9_000 && maxconn * 2 < NOFILE_HARD_LIMIT);
    let d = sec("defaults");
    assert_eq!(has(d, "mode")[0][1], "http");
    assert_eq!(has(d, "timeout tunnel")[0][2], "3600s");
    assert_eq!(has(d, "option redispatch").len(), 1);
    assert_eq!(has(d, "retries")[0][1], "3");
    let fe = sec("frontend openenv_in");
    assert_eq!(has(fe, "bind")[0][1], "0.0.0.0:8080");
    let be = sec(&format!("backend {}", haproxy::BACKEND));
    assert_eq!(has(be, "option httpchk").len(), 1);
    assert!(has(be, "http-check send")[0].contains(&"/health".to_string()));
    let servers: Vec<String> = has(be, "server ")
        .iter()
        .map(|l| {
            assert_eq!(l.last().unwrap(), "check", "server without health check");
            l[2].clone()
        })
        .collect();
    assert_eq!(
        servers,
        vec!["10.200.0.12:8000", "10.200.0.13:8000", "node4:9000"]
    );
    let mut names: Vec<String> = has(be, "server ").iter().map(|l| l[1].clone()).collect();
    names.dedup();
    assert_eq!(names.len(), 3, "server names must be unique");
}

#[test]
fn header_states_the_limits() {
    for kind in LbKind::ALL {
        let text = render(&cfg(kind)).unwrap();
        let header = if kind == LbKind::Envoy {
            // JSON has no comments: the same lines are in node.metadata.comment.
            let v: Value = serde_json::from_str(&text).unwrap();
            let lines = v
                .pointer("/node/metadata/comment")
                .and_then(Value::as_array);
            lines
                .unwrap()
                .iter()
                .map(|l| format!("# {}\n", l.as_str().unwrap()))
                .collect()
        } else {
            text.clone()
        };
        assert!(header.starts_with("# Generated by `openenv-bench lb-config"));
        assert!(
            header.contains("9900 concurrent sessions"),
            "{kind}: {text}"
        );
    }
}

#[test]
fn nginx_workers_and_listen_follow_settings() {
    let mut c = cfg(LbKind::Nginx);
    c.workers = Some(3);
    c.listen_addr = "127.0.0.1".into();
    c.listen_port = 18080;
    let top = nginx_parse(&render(&c).unwrap());
    assert_eq!(one(&top, "worker_processes").words[1], "3");
    let srv = one(&one(&top, "http").children, "server");
    assert_eq!(one(&srv.children, "listen").words[1], "127.0.0.1:18080");
}

/// Values written into a config verbatim are checked: a newline (or `;`, a quote...) in them
/// would add directives of the caller's choosing.
#[test]
fn values_that_would_break_the_config_are_refused() {
    for kind in LbKind::ALL {
        for bad in [
            "/tmp/x\nuser root;",
            "/tmp/a b",
            "/tmp/x;",
            "/tmp/{x}",
            "/tmp/\"x",
            "",
        ] {
            let mut c = cfg(kind);
            c.state_dir = bad.into();
            match render(&c) {
                Err(DeployError::InvalidValue { what, .. }) => assert_eq!(what, "state directory"),
                other => panic!("{kind} state_dir {bad:?}: {other:?}"),
            }
        }
        for bad in ["0.0.0.0\nlisten 81", "0.0.0.0;", "", "a b", "*"] {
            let mut c = cfg(kind);
            c.listen_addr = bad.into();
            assert!(
                matches!(
                    render(&c),
                    Err(DeployError::InvalidValue {
                        what: "listen address",
                        ..
                    })
                ),
                "{kind} listen_addr {bad:?}"
            );
            let mut c = cfg(kind);
            c.admin_addr = bad.into();
            assert!(
                matches!(
                    render(&c),
                    Err(DeployError::InvalidValue {
                        what: "admin address",
                        ..
                    })
                ),
                "{kind} admin_addr {bad:?}"
            );
        }
        let mut c = cfg(kind);
        c.backends[0].host = "node1\n  server evil 1.2.3.4".into();
        assert!(
            matches!(render(&c), Err(DeployError::InvalidBackend(_))),
            "{kind}"
        );
        // Ordinary values still pass.
        let mut c = cfg(kind);
        c.state_dir = "/var/tmp/openenv-lb_2".into();
        c.listen_addr = "lb-node.example".into();
        c.admin_addr = "::1".into();
        render(&c).unwrap();
    }
}

#[test]
fn haproxy_threads_get_one_listener_each() {
    let mut c = cfg(LbKind::Haproxy);
    c.workers = Some(2);
    let text = render(&c).unwrap();
    let secs = haproxy_parse(&text);
    let lines = |name: &str| -> Vec<Vec<String>> {
        secs.iter()
            .find(|(h, _)| h.join(" ") == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no section {name}: {text}"))
    };
    let global = lines("global");
    assert!(
        global.contains(&vec!["nbthread".to_string(), "2".to_string()]),
        "{text}"
    );
    let binds: Vec<String> = lines("frontend openenv_in")
        .into_iter()
        .filter(|l| l[0] == "bind")
        .map(|l| l.join(" "))
        .collect();
    assert_eq!(
        binds,
        [
            "bind 0.0.0.0:8080 backlog 4096 thread 1",
            "bind 0.0.0.0:8080 backlog 4096 thread 2"
        ]
    );
    // without --workers: HAProxy's own default, one listener
    let one = render(&cfg(LbKind::Haproxy)).unwrap();
    assert!(!one.contains("nbthread") && one.matches("bind 0.0.0.0:8080").count() == 1);
}

#[test]
fn envoy_buffers_are_limited_both_ways() {
    let v = envoy_value(&cfg(LbKind::Envoy)).unwrap();
    let l = &v["static_resources"]["listeners"][0];
    let c = &v["static_resources"]["clusters"][0];
    assert_eq!(l["per_connection_buffer_limit_bytes"], 32768);
    assert_eq!(c["per_connection_buffer_limit_bytes"], 32768);
}
