//! TCP connect with a deadline and an optional loopback source address, then TLS if asked.

use crate::record::FailureClass;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;

use crate::ctx::{secs, Failure, SessionCtx};
use crate::tls::Stream;

/// Connects within `timeout`. With `src`, binds that source address first with
/// IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port at connect time per (src, dst) pair and
/// each source address brings its own ~28k ports.
pub(crate) async fn connect(
    addr: SocketAddr,
    src: Option<Ipv4Addr>,
    timeout: Duration,
) -> Result<TcpStream, Failure> {
    let fut = async {
        match (src, addr) {
            (Some(src), SocketAddr::V4(_)) => {
                let sock = socket2::Socket::new(
                    socket2::Domain::IPV4,
                    socket2::Type::STREAM.nonblocking(),
                    None,
                )?;
                let one: libc::c_int = 1;
                // SAFETY: setsockopt with a pointer to a live c_int of the right size.
                let rc = unsafe {
                    libc::setsockopt(
                        sock.as_raw_fd(),
                        libc::IPPROTO_IP,
                        libc::IP_BIND_ADDRESS_NO_PORT,
                        (&one as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                if rc != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                sock.bind(&SocketAddr::from((src, 0)).into())?;
                let std_stream: std::net::TcpStream = sock.into();
                TcpSocket::from_std_stream(std_stream).connect(addr).await
            }
            _ => TcpStream::connect(addr).await,
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(Failure::new(
            FailureClass::ConnectTimeout,
            format!("TCP connect to {addr} not done within {}", secs(timeout)),
        )),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(Failure::new(
            FailureClass::ConnectionRefused,
            format!("connect to {addr}: {e}"),
        )),
        Ok(Err(e)) => Err(Failure::new(
            FailureClass::ConnectError,
            format!("connect to {addr}: {e}"),
        )),
        Ok(Ok(s)) => {
            // Requests are tiny and latency-bound: never let Nagle hold them back.
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

/// TCP connect, then the TLS handshake when the target is `https`/`wss` (SNI = the URL host).
/// Returns the stream, the TCP connect time and the TLS handshake time (0 without TLS).
pub(crate) async fn open(ctx: &SessionCtx<'_>) -> Result<(Stream, f64, f64), Failure> {
    let t = Instant::now();
    let tcp = connect(ctx.addr, ctx.src, ctx.timeout).await?;
    let tcp_latency = t.elapsed().as_secs_f64();
    let Some(connector) = ctx.tls else {
        return Ok((Stream::Plain(tcp), tcp_latency, 0.0));
    };
    let t = Instant::now();
    let host = &ctx.target.host;
    let name = ServerName::try_from(host.clone()).map_err(|e| {
        Failure::new(
            FailureClass::TlsError,
            format!("bad TLS server name {host:?}: {e}"),
        )
    })?;
    match tokio::time::timeout(ctx.timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(Failure::new(
            FailureClass::Timeout,
            format!(
                "TLS handshake with {host} not done within {}",
                secs(ctx.timeout)
            ),
        )),
        Ok(Err(e)) => Err(Failure::new(
            FailureClass::TlsError,
            format!("TLS handshake with {host}: {e}"),
        )),
        Ok(Ok(s)) => Ok((
            Stream::Tls(Box::new(s)),
            tcp_latency,
            t.elapsed().as_secs_f64(),
        )),
    }
}
