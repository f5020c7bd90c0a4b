//! What one session needs to run, below the transports (`net`, `ws`, `http`), and how it fails.

use crate::observe::Counters;
use crate::record::FailureClass;
use crate::spec::{CellSpec, Target};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// One session's view of its cell: where to connect from and to, and its deadlines.
pub(crate) struct SessionCtx<'a> {
    /// The cell's parameters (wait, steps, ...).
    pub cell: &'a CellSpec,
    pub target: &'a Target,
    /// `target` resolved (once per process).
    pub addr: SocketAddr,
    /// Source address to bind before connecting; None: the kernel's choice.
    pub src: Option<Ipv4Addr>,
    /// `--timeout` as a Duration.
    pub timeout: Duration,
    /// WS: deadline of the close handshake.
    pub close_timeout: Duration,
    pub counters: &'a Counters,
    /// Some for `https`/`wss` targets.
    pub tls: Option<&'a tokio_rustls::TlsConnector>,
}

/// Why a session failed: `error_type` and `error_message`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub class: FailureClass,
    pub message: String,
}

impl Failure {
    pub fn new(class: FailureClass, message: impl Into<String>) -> Failure {
        Failure {
            class,
            message: message.into(),
        }
    }
}

/// A deadline as error messages write it (`120 s`).
pub(crate) fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}
