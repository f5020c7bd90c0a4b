//! A server in this process on its own thread and runtime (`experiment`'s local server), so the
//! load generator's runtime on the caller's thread and the server's each get a core of their own.

use crate::{ServerConfig, ServerError, ServerHandle};

/// A [`ServerHandle`] on 127.0.0.1 and a free port, running on a thread of its own with a
/// current-thread runtime. [`LocalServer::stop`] drains it and joins the thread.
pub struct LocalServer {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), ServerError>>,
}

impl LocalServer {
    /// Binds and starts serving; returns once the server listens (or could not bind).
    pub fn start(cfg: ServerConfig) -> Result<LocalServer, ServerError> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<std::io::Result<String>>();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("openenv-server".into())
            .spawn(move || -> Result<(), ServerError> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                    let server = match ServerHandle::start(addr, cfg).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = addr_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = addr_tx.send(Ok(server.http_url()));
                    let _ = stop_rx.await;
                    server.shutdown().await
                })
            })?;
        let url = match addr_rx.recv() {
            Ok(Ok(url)) => url,
            Ok(Err(e)) => return Err(ServerError::Io(e)),
            Err(_) => {
                let why = match thread.join() {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(())) => "it ended".into(),
                    Err(_) => "it panicked".into(),
                };
                return Err(ServerError::Join(format!(
                    "the local server thread ended before binding: {why}"
                )));
            }
        };
        Ok(LocalServer { url, stop, thread })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drains the server (as [`ServerHandle::shutdown`]) and joins its thread.
    pub fn stop(self) -> Result<(), ServerError> {
        let _ = self.stop.send(());
        self.thread
            .join()
            .map_err(|_| ServerError::Join("the local server thread panicked".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get_health(addr: &str) -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        Ok(resp)
    }

    #[test]
    fn serves_on_its_own_thread_until_stopped() {
        let server = LocalServer::start(ServerConfig::default()).unwrap();
        let addr = server.url().trim_start_matches("http://").to_owned();
        assert!(
            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
            "{addr}"
        );
        // Served without any runtime on this thread.
        let resp = get_health(&addr).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        server.stop().unwrap();
        assert!(get_health(&addr).is_err(), "still listening after stop");
    }
}
