//! `https://`/`wss://` targets on loopback: a TLS-terminating proxy (self-signed "localhost"
//! certificate) in front of our in-process server.

mod common;

use common::*;
use openenv_loadgen::{run_grid_until, GridSpec, Mode, NullObserver};
use openenv_server::{ServerConfig, ServerHandle};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig as TlsServerConfig;

/// Accepts TLS on 127.0.0.1:0 and forwards the plaintext to `backend`. Returns its port.
async fn tls_proxy(backend: SocketAddr, cert: CertificateDer<'static>, key: Vec<u8>) -> u16 {
    let config = TlsServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects our certificate ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    port
}

fn grid(url: &str, mode: Mode, n: usize, dir: &Path, cacert: Option<&Path>) -> GridSpec {
    GridSpec {
        urls: vec![url.to_owned()],
        modes: vec![mode],
        batch_sizes: vec![n],
        waits: vec![0.0],
        steps: 2,
        timeout: 20.0,
        cooldown: 0.0,
        output_dir: Some(dir.to_owned()),
        command_line: vec!["test".into()],
        extra_root_certs: cacert.map(PathBuf::from).into_iter().collect(),
        ..GridSpec::default()
    }
}

async fn run(g: &GridSpec) -> Vec<serde_json::Value> {
    let dir = g.output_dir.clone().unwrap();
    let out = run_grid_until(g, &mut NullObserver, std::future::pending())
        .await
        .unwrap();
    assert_eq!(out.cells.len(), 1);
    let raw = read_raw(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    raw
}

#[tokio::test]
async fn https_and_wss_through_a_tls_proxy() {
    let srv = ServerHandle::start("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let certs = tmpdir("tls-cert");
    std::fs::create_dir_all(&certs).unwrap();
    let cacert = certs.join("localhost.pem");
    std::fs::write(&cacert, ck.cert.pem()).unwrap();
    let port = tls_proxy(
        srv.local_addr(),
        ck.cert.der().clone(),
        ck.signing_key.serialize_der(),
    )
    .await;
    let url = format!("https://localhost:{port}");

    // Trusting the certificate: every session of both modes succeeds, over TLS.
    for (mode, n) in [(Mode::Ws, 8), (Mode::Http, 8)] {
        let raw = run(&grid(&url, mode, n, &tmpdir("tls-ok"), Some(&cacert))).await;
        assert_eq!(raw.len(), n);
        for rec in &raw {
            assert_eq!(rec["success"], true, "{rec}");
            assert_eq!(rec["waited_seconds"], 0.0);
            let tls = rec["tls_latency"].as_f64().unwrap();
            let tcp = rec["tcp_connect_latency"].as_f64().unwrap();
            let connect = rec["connect_latency"].as_f64().unwrap();
            assert!(tls > 0.0 && connect >= tcp + tls, "{rec}");
            // The reference's 17 keys come first, in its order; ours (tls_latency) after them.
            let keys: Vec<&str> = rec
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys[..17],
                openenv_results::record::RAW_KEYS[..],
                "{keys:?}"
            );
            assert!(keys[17..].contains(&"tls_latency"), "{keys:?}");
        }
        let tls_ms: Vec<f64> = raw
            .iter()
            .map(|r| r["tls_latency"].as_f64().unwrap() * 1e3)
            .collect();
        println!("{mode:?} N={n}: tls_latency ms {tls_ms:.2?}");
    }

    // Worker processes (4 sessions each) get --cacert with their share and build their own config.
    let g = GridSpec {
        sessions_per_process: Some(4),
        worker_command: Some(worker_cmd()),
        ..grid(&url, Mode::Ws, 8, &tmpdir("tls-workers"), Some(&cacert))
    };
    let raw = run(&g).await;
    assert_eq!(raw.len(), 8);
    assert!(
        raw.iter().any(|r| r["worker"] != 0),
        "no worker ran a session"
    );
    for rec in &raw {
        assert_eq!(rec["success"], true, "{rec}");
        assert!(rec["tls_latency"].as_f64().unwrap() > 0.0, "{rec}");
    }

    // Without the certificate: a classified failure naming the reason, in both modes.
    for mode in [Mode::Ws, Mode::Http] {
        let raw = run(&grid(&url, mode, 2, &tmpdir("tls-untrusted"), None)).await;
        assert_eq!(raw.len(), 2);
        for rec in &raw {
            assert_eq!(rec["success"], false, "{rec}");
            assert_eq!(rec["error_type"], "TlsError", "{rec}");
            let msg = rec["error_message"].as_str().unwrap();
            assert!(msg.contains("certificate"), "{msg}");
        }
    }

    // --insecure: the same untrusted certificate is accepted.
    let g = GridSpec {
        insecure: true,
        ..grid(&url, Mode::Ws, 2, &tmpdir("tls-insecure"), None)
    };
    for rec in run(&g).await {
        assert_eq!(rec["success"], true, "{rec}");
    }

    // A --cacert that is not a PEM certificate stops the run before any session.
    let bogus = certs.join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    let g = grid(&url, Mode::Ws, 1, &tmpdir("tls-bogus"), Some(&bogus));
    let err = run_grid_until(&g, &mut NullObserver, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--cacert"), "{err}");

    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&certs).unwrap();
}
