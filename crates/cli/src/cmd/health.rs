//! `openenv-bench health [--url URL] [--timeout SECS]`: GET <url>/health, exit 0 when the server
//! answers 200 with `{"status":"healthy"}`, 1 with the reason otherwise. The images are FROM
//! scratch (no shell, no curl), so their Docker HEALTHCHECK runs this. HTTP by hyper (in the tree).

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{header, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Server base URL (plain HTTP); GET <url>/health. Default http://127.0.0.1:$PORT ($PORT of
    /// the environment, else 8000; $HOST instead of 127.0.0.1 when it names one address), so a
    /// container's HEALTHCHECK follows the PORT the server was started with.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Seconds the whole check (connect, request, answer) may take.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub timeout: f64,
}

/// The URL `serve` listens on according to the same HOST/PORT variables it reads.
fn default_url() -> String {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let host = match std::env::var("HOST") {
        Ok(h) if !h.is_empty() && h != "0.0.0.0" && h != "::" && h != "[::]" => h,
        _ => "127.0.0.1".into(),
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    format!("http://{host}:{port}")
}

/// `<url>/health` (kept as is when the URL already ends in /health).
fn health_uri(url: &str) -> anyhow::Result<Uri> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("--url {url:?}: not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(s) => bail!("--url {url}: scheme {s} not supported (plain http only)"),
        None => bail!("--url {url}: expected http://HOST[:PORT]"),
    }
    let base = uri.path().trim_end_matches('/');
    let path = if base.ends_with("/health") {
        base.to_string()
    } else {
        format!("{base}/health")
    };
    let mut parts = uri.into_parts();
    parts.path_and_query = Some(path.parse()?);
    Ok(Uri::from_parts(parts)?)
}

async fn get(uri: &Uri) -> anyhow::Result<(StatusCode, Bytes)> {
    let host = uri.host().context("URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let authority = uri.authority().context("URL has no host")?.as_str();
    let req = Request::get(uri.path())
        .header(header::HOST, authority)
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    // The answer is 20 bytes; cap what a wrong server could make us buffer.
    let body = Limited::new(resp.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let url = args.url.unwrap_or_else(default_url);
    let uri = health_uri(&url)?;
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .context("--timeout must be a positive number of seconds")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = match rt.block_on(async { tokio::time::timeout(timeout, get(&uri)).await })
    {
        Ok(r) => r.with_context(|| format!("{uri}: no answer (is the server running?)"))?,
        Err(_) => bail!("{uri}: no answer within {} s", args.timeout),
    };
    let text = String::from_utf8_lossy(&body);
    let healthy = serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|v| v.get("status").and_then(|s| s.as_str()) == Some("healthy"));
    if status != StatusCode::OK || !healthy {
        bail!("{uri}: unhealthy: HTTP {status}, body {:?}", text.trim());
    }
    println!("healthy: {uri} {}", text.trim());
    Ok(ExitCode::SUCCESS)
}
