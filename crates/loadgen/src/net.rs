//! TCP connect with a deadline and an optional source address (any address of this host), then TLS if asked.

use crate::record::FailureClass;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;

use crate::ctx::{secs, Failure, SessionCtx};
use crate::tls::Stream;

/// Whether `src` can be a connection's source address here: binding it (port 0, released at
/// once) fails with EADDRNOTAVAIL unless it is an address of this host (any interface, not only
/// loopback).
pub(crate) fn check_local_source(src: Ipv4Addr) -> std::io::Result<()> {
    if src.is_unspecified() || src.is_multicast() || src.is_broadcast() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a unicast address",
        ));
    }
    std::net::UdpSocket::bind((src, 0)).map(drop)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::GridSpec;

    #[test]
    fn source_addresses_must_be_local() {
        // All of 127/8 is local; TEST-NET-1 (RFC 5737) is nobody's address.
        assert!(check_local_source(Ipv4Addr::new(127, 0, 0, 9)).is_ok());
        assert!(check_local_source(Ipv4Addr::new(192, 0, 2, 77)).is_err());
        assert!(check_local_source(Ipv4Addr::UNSPECIFIED).is_err());
        assert!(check_local_source(Ipv4Addr::BROADCAST).is_err());
        let spec = |a: Vec<Ipv4Addr>| GridSpec {
            source_addrs: Some(a),
            ..GridSpec::default()
        };
        assert!(spec(vec![Ipv4Addr::new(127, 0, 0, 2)]).validate().is_ok());
        let err = spec(vec![
            Ipv4Addr::new(127, 0, 0, 2),
            Ipv4Addr::new(192, 0, 2, 77),
        ])
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--source-addrs 192.0.2.77: not an address of this host"),
            "{err}"
        );
        assert!(spec(Vec::new()).validate().is_err());
    }

    /// The connection's local end carries the given source (here 127.0.0.23, not the kernel's pick).
    #[tokio::test]
    async fn connects_from_the_given_source() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let src = Ipv4Addr::new(127, 0, 0, 23);
        let s = connect(l.local_addr().unwrap(), Some(src), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(s.local_addr().unwrap().ip(), std::net::IpAddr::V4(src));
    }
}
