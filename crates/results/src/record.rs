//! One line of `raw.jsonl`: one session.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Keys of one `raw.jsonl` line, in the Python original's order. Ours follow, never precede, them.
pub const RAW_KEYS: [&str; 17] = [
    "request_id",
    "mode",
    "timestamp",
    "wait_requested",
    "batch_size",
    "hardware",
    "connect_latency",
    "reset_latency",
    "step_latency",
    "total_latency",
    "waited_seconds",
    "pid",
    "session_hash",
    "host_url",
    "success",
    "error_type",
    "error_message",
];

/// The protocol a session speaks (the `mode` key and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Http,
    Ws,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Http => "http",
            Mode::Ws => "ws",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "http" => Ok(Mode::Http),
            "ws" => Ok(Mode::Ws),
            other => Err(format!("unknown mode {other:?} (http or ws)")),
        }
    }
}

/// Why a session failed: the `error_type` key (the detail goes to `error_message`). Written as
/// the variant's name (`"ConnectionRefused"`). Classes written by other tools (the Python
/// original writes exception names such as `"ConnectionClosedOK"`) read as [`FailureClass::Other`]
/// and are written back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureClass {
    /// TCP connect refused (nothing listening, or the server died).
    ConnectionRefused,
    /// TCP connect did not finish within `--timeout`.
    ConnectTimeout,
    /// Any other connect failure (e.g. no free local port: "Cannot assign requested address").
    ConnectError,
    /// The WebSocket upgrade was answered with an HTTP status other than 101.
    HandshakeRejected,
    /// `CAPACITY_REACHED` error frame, or a close right after the upgrade.
    CapacityReached,
    /// Any other error frame; the code leads `error_message`.
    ServerError,
    /// The environment rejected the action or the reset data: a WS `VALIDATION_ERROR`, an HTTP
    /// 422 (`--action`, `--reset-data`, `--mcp-args` the environment does not accept).
    ActionRejected,
    /// An MCP tool call (or an `openenv/session/*` call) answered with a JSON-RPC error, or a
    /// tool result flagged as an error (`isError`).
    ToolError,
    /// HTTP mode: `/reset` or `/step` answered with a non-2xx status.
    HttpStatus,
    /// The connection ended (close frame, EOF, reset) before the session finished.
    ClosedEarly,
    /// A reply did not arrive within `--timeout`.
    Timeout,
    /// A reply that is not what the protocol says (unparseable, wrong type, wrong step count).
    InvalidReply,
    /// The TLS handshake failed (untrusted or mismatched certificate, protocol error).
    TlsError,
    /// Ctrl-C while the session was in flight.
    Interrupted,
    /// The worker process that ran the session died before reporting it.
    WorkerLost,
    /// A class this version does not know (another tool's, or a later version's), kept verbatim.
    Other(String),
}

impl FailureClass {
    /// Every class this version writes.
    pub const KNOWN: [FailureClass; 15] = [
        FailureClass::ConnectionRefused,
        FailureClass::ConnectTimeout,
        FailureClass::ConnectError,
        FailureClass::HandshakeRejected,
        FailureClass::CapacityReached,
        FailureClass::ServerError,
        FailureClass::HttpStatus,
        FailureClass::ClosedEarly,
        FailureClass::Timeout,
        FailureClass::InvalidReply,
        FailureClass::TlsError,
        FailureClass::Interrupted,
        FailureClass::WorkerLost,
        FailureClass::ActionRejected,
        FailureClass::ToolError,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            FailureClass::ConnectionRefused => "ConnectionRefused",
            FailureClass::ConnectTimeout => "ConnectTimeout",
            FailureClass::ConnectError => "ConnectError",
            FailureClass::HandshakeRejected => "HandshakeRejected",
            FailureClass::CapacityReached => "CapacityReached",
            FailureClass::ServerError => "ServerError",
            FailureClass::HttpStatus => "HttpStatus",
            FailureClass::ClosedEarly => "ClosedEarly",
            FailureClass::Timeout => "Timeout",
            FailureClass::InvalidReply => "InvalidReply",
            FailureClass::TlsError => "TlsError",
            FailureClass::Interrupted => "Interrupted",
            FailureClass::WorkerLost => "WorkerLost",
            FailureClass::ActionRejected => "ActionRejected",
            FailureClass::ToolError => "ToolError",
            FailureClass::Other(s) => s,
        }
    }
}

impl From<&str> for FailureClass {
    fn from(s: &str) -> Self {
        FailureClass::KNOWN
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or_else(|| FailureClass::Other(s.to_owned()))
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FailureClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureClass {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(FailureClass::from(s.as_ref()))
    }
}

/// Keys in the Python original's order ([`RAW_KEYS`]), then ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub request_id: usize,
    pub mode: Mode,
    /// When the session started, UTC, `2026-11-29T13:22:15.461189Z` ([`utc_timestamp`]).
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
    pub error_type: Option<FailureClass>,
    pub error_message: Option<String>,
    // ---- additions (after the Python original's keys) ----
    pub repetition: u32,
    pub url: String,
    pub steps: u32,
    pub tcp_connect_latency: f64,
    /// WS only: the upgrade request/response alone.
    pub upgrade_latency: f64,
    /// WS only: from sending `{"type":"close"}` to the end of the connection.
    pub close_latency: f64,
    /// Seconds from the session's intended start to its actual start.
    pub start_delay: f64,
    /// Seconds from the cell's intended start to this session's (its `--ramp` offset; 0
    /// without a ramp), so `start_offset + start_delay` is when it really started. Absent from
    /// files written before it existed (read as 0).
    #[serde(default)]
    pub start_offset: f64,
    /// Which process ran it (0: the parent).
    pub worker: usize,
    /// `https`/`wss` only: the TLS handshake alone (part of `connect_latency`).
    #[serde(default)]
    pub tls_latency: f64,
    /// Host name of the load-generator process that ran the session (beside `worker`: several
    /// nodes may each run workers). Absent from files written before it existed (read as "").
    #[serde(default)]
    pub client_host: String,
    /// Sum of the rewards the session's step replies carried (`null` when none carried one,
    /// as the benchmark environment's and MCP tool calls'). Absent from older files (`null`).
    #[serde(default)]
    pub reward: Option<f64>,
    /// The last step reply's `done`.
    #[serde(default)]
    pub done: bool,
    /// How many step replies said `done`; each one before the session's last step was followed
    /// by a `reset` (the session keeps its `--steps` steps; see docs/scale.md).
    #[serde(default)]
    pub episodes_done: u32,
}

impl SessionRecord {
    pub fn fail(&mut self, class: FailureClass, message: impl Into<String>) {
        self.success = false;
        self.error_type = Some(class);
        self.error_message = Some(message.into());
    }

    /// The record as one `raw.jsonl` line, newline included.
    pub fn to_json_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("record serializes");
        s.push('\n');
        s
    }
}

/// A UTC time as the files write it: `2026-11-29T13:22:15.461189Z`.
pub fn utc_timestamp(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Today's UTC date, `YYYY-MM-DD` (the name of a results directory, see [`crate::layout`]).
pub fn utc_date() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
            start_offset: 0.0,
            worker: 0,
            tls_latency: 0.0,
            client_host: "lg1".into(),
            reward: None,
            done: false,
            episodes_done: 0,
        }
    }

    #[test]
    fn client_host_is_written_and_defaults_for_older_lines() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json_line()).unwrap();
        assert_eq!(v["client_host"], "lg1");
        let mut older = v.clone();
        older.as_object_mut().unwrap().remove("client_host");
        let back: SessionRecord = serde_json::from_value(older).unwrap();
        assert_eq!(back.client_host, "");
    }

    #[test]
    fn start_offset_follows_the_reference_keys_and_defaults_for_older_lines() {
        let mut r = sample();
        r.start_offset = 0.25;
        let v: serde_json::Value = serde_json::from_str(&r.to_json_line()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let at = keys.iter().position(|k| *k == "start_offset").unwrap();
        assert!(at >= RAW_KEYS.len(), "{keys:?}");
        assert_eq!(keys[at - 1], "start_delay");
        assert_eq!(v["start_offset"], 0.25);
        // A line written before the field existed still reads, as 0.
        let mut older = v.clone();
        older.as_object_mut().unwrap().remove("start_offset");
        let back: SessionRecord = serde_json::from_value(older).unwrap();
        assert_eq!(back.start_offset, 0.0);
        assert_eq!(back.request_id, r.request_id);
    }

    #[test]
    fn reward_and_done_come_after_the_reference_keys_and_default_for_older_lines() {
        let mut r = sample();
        r.reward = Some(2.5);
        r.done = true;
        r.episodes_done = 1;
        let v: serde_json::Value = serde_json::from_str(&r.to_json_line()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        for k in ["reward", "done", "episodes_done"] {
            assert!(keys.iter().position(|x| *x == k).unwrap() >= RAW_KEYS.len());
        }
        assert_eq!(
            (v["reward"].as_f64(), v["done"].as_bool()),
            (Some(2.5), Some(true))
        );
        let mut older = v.clone();
        for k in ["reward", "done", "episodes_done"] {
            older.as_object_mut().unwrap().remove(k);
        }
        let back: SessionRecord = serde_json::from_value(older).unwrap();
        assert_eq!(
            (back.reward, back.done, back.episodes_done),
            (None, false, 0)
        );
        // No reward is written as null (pandas: NaN), not left out.
        let v = serde_json::to_value(sample()).unwrap();
        assert!(v["reward"].is_null() && v.get("reward").is_some());
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
        // Reference lines lack our extras; here we only check that the reference keys map onto
        // our fields, and that a class we do not know is kept verbatim.
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut ours = serde_json::to_value(sample()).unwrap();
        for k in RAW_KEYS {
            ours[k] = v[k].clone();
        }
        let r: SessionRecord = serde_json::from_value(ours).unwrap();
        assert_eq!(
            r.error_type,
            Some(FailureClass::Other("ConnectionClosedOK".into()))
        );
        assert_eq!(r.batch_size, 256);
        let back: serde_json::Value = serde_json::from_str(&r.to_json_line()).unwrap();
        assert_eq!(back["error_type"], "ConnectionClosedOK");
    }

    #[test]
    fn failure_classes_are_written_as_their_names() {
        for c in FailureClass::KNOWN {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<FailureClass>(&json).unwrap(), c);
            assert!(!matches!(
                FailureClass::from(c.as_str()),
                FailureClass::Other(_)
            ));
        }
        assert_eq!(FailureClass::CapacityReached.to_string(), "CapacityReached");
        let mut r = sample();
        r.fail(FailureClass::Timeout, "no reply");
        let v: serde_json::Value = serde_json::from_str(&r.to_json_line()).unwrap();
        assert_eq!(
            (v["error_type"].as_str(), v["success"].as_bool()),
            (Some("Timeout"), Some(false))
        );
    }
}
