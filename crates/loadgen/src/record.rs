//! One line of `raw.jsonl`: one session.

use crate::spec::Mode;
use serde::{Deserialize, Serialize};

/// The `error_type` classes. The detail goes to `error_message`.
pub mod error_type {
    /// TCP connect refused (nothing listening, or the server died).
    pub const CONNECTION_REFUSED: &str = "ConnectionRefused";
    /// TCP connect did not finish within `--timeout`.
    pub const CONNECT_TIMEOUT: &str = "ConnectTimeout";
    /// Any other connect failure (e.g. no free local port: "Cannot assign requested address").
    pub const CONNECT_ERROR: &str = "ConnectError";
    /// The WebSocket upgrade was answered with an HTTP status other than 101.
    pub const HANDSHAKE_REJECTED: &str = "HandshakeRejected";
    /// `CAPACITY_REACHED` error frame, or a close right after the upgrade.
    pub const CAPACITY_REACHED: &str = "CapacityReached";
    /// Any other error frame; the code leads `error_message`.
    pub const SERVER_ERROR: &str = "ServerError";
    /// HTTP mode: `/reset` or `/step` answered with a non-2xx status.
    pub const HTTP_STATUS: &str = "HttpStatus";
    /// The connection ended (close frame, EOF, reset) before the session finished.
    pub const CLOSED_EARLY: &str = "ClosedEarly";
    /// A reply did not arrive within `--timeout`.
    pub const TIMEOUT: &str = "Timeout";
    /// A reply that is not what the protocol says (unparseable, wrong type, wrong step count).
    pub const INVALID_REPLY: &str = "InvalidReply";
    /// The TLS handshake failed (untrusted or mismatched certificate, protocol error).
    pub const TLS_ERROR: &str = "TlsError";
    /// Ctrl-C while the session was in flight.
    pub const INTERRUPTED: &str = "Interrupted";
    /// The worker process that ran the session died before reporting it.
    pub const WORKER_LOST: &str = "WorkerLost";
}

/// Keys in the reference order (`openenv_protocol::results::RAW_KEYS`), then ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub request_id: usize,
    pub mode: Mode,
    /// When the session started, UTC, `2026-11-29T13:22:15.461189Z`.
    pub timestamp: String,
    pub wait_requested: f64,
    pub batch_size: usize,
    pub hardware: String,
    /// TCP connect (+ TLS handshake) + WebSocket upgrade (WS), TCP connect (+ TLS) (HTTP).
    pub connect_latency: f64,
    pub reset_latency: f64,
    /// All steps of the session together (one step unless `--steps`).
    pub step_latency: f64,
    /// Connect + reset + steps + close.
    pub total_latency: f64,
    /// Sum over the session's steps, as reported by the server.
    pub waited_seconds: f64,
    pub pid: u32,
    pub session_hash: String,
    pub host_url: String,
    pub success: bool,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    // ---- additions (after the reference keys) ----
    pub repetition: u32,
    pub url: String,
    pub steps: u32,
    pub tcp_connect_latency: f64,
    /// WS only: the upgrade request/response alone.
    pub upgrade_latency: f64,
    /// WS only: from sending `{"type":"close"}` to the end of the connection.
    pub close_latency: f64,
    /// Seconds from the cell's intended start to this session's actual start.
    pub start_delay: f64,
    /// Which process ran it (0: the parent).
    pub worker: usize,
    /// `https`/`wss` only: the TLS handshake alone (part of `connect_latency`).
    #[serde(default)]
    pub tls_latency: f64,
}

impl SessionRecord {
    pub fn fail(&mut self, class: &str, message: impl Into<String>) {
        self.success = false;
        self.error_type = Some(class.to_owned());
        self.error_message = Some(message.into());
    }

    pub fn to_json_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("record serializes");
        s.push('\n');
        s
    }
}

/// Today's UTC date, `YYYY-MM-DD` (the default results directory name).
pub fn utc_date() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

pub(crate) fn utc_timestamp(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openenv_protocol::results::RAW_KEYS;

    pub(crate) fn sample() -> SessionRecord {
        SessionRecord {
            request_id: 3,
            mode: Mode::Ws,
            timestamp: utc_timestamp(std::time::SystemTime::UNIX_EPOCH),
            wait_requested: 1.0,
            batch_size: 16,
            hardware: "cpu-basic".into(),
            connect_latency: 0.01,
            reset_latency: 0.002,
            step_latency: 1.001,
            total_latency: 1.02,
            waited_seconds: 1.0,
            pid: 42,
            session_hash: "abcdef012345".into(),
            host_url: "vm:8000".into(),
            success: true,
            error_type: None,
            error_message: None,
            repetition: 1,
            url: "http://127.0.0.1:8000".into(),
            steps: 1,
            tcp_connect_latency: 0.004,
            upgrade_latency: 0.006,
            close_latency: 0.007,
            start_delay: 0.0001,
            worker: 0,
            tls_latency: 0.0,
        }
    }

    #[test]
    fn keys_follow_the_reference_order_then_extras() {
        let line = sample().to_json_line();
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(&keys[..RAW_KEYS.len()], &RAW_KEYS[..]);
        assert!(keys.len() > RAW_KEYS.len());
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(v["error_type"], serde_json::Value::Null);
        assert_eq!(v["mode"], "ws");
        // Python's json writes 1.0 for a float 1.0; so do we.
        assert!(line.contains(r#""wait_requested":1.0"#));
    }

    #[test]
    fn reads_a_reference_line() {
        let line = r#"{"request_id": 110, "mode": "ws", "timestamp": "2026-11-29T13:22:20.254580Z", "wait_requested": 1.0, "batch_size": 256, "hardware": "cpu-basic", "connect_latency": 0.0, "reset_latency": 0.0, "step_latency": 0.0, "total_latency": 0.53, "waited_seconds": 0.0, "pid": 0, "session_hash": "", "host_url": "", "success": false, "error_type": "ConnectionClosedOK", "error_message": "received 1000 (OK); then sent 1000 (OK)"}"#;
        // Reference lines lack our extras: they are read by the report crate with defaults;
        // here we only check that the reference keys map onto our fields.
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut ours = serde_json::to_value(sample()).unwrap();
        for k in RAW_KEYS {
            ours[k] = v[k].clone();
        }
        let r: SessionRecord = serde_json::from_value(ours).unwrap();
        assert_eq!(r.error_type.as_deref(), Some("ConnectionClosedOK"));
        assert_eq!(r.batch_size, 256);
    }
}
