//! OpenEnv wire types (as served by openenv-core 0.3.0). The result files' contract is in
//! `openenv-results`.
//!
//! No I/O here: the server and the load generator both depend on this crate, so the shapes that
//! cross a socket are written down exactly once.

pub mod inbound;
pub mod pyjson;

use serde::{Deserialize, Serialize};

/// What `step`/`reset` report about the benchmark environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub waited_seconds: f64,
    pub pid: u32,
    /// 12 lowercase hex chars, stable for one environment instance (one WS session).
    pub session_hash: String,
    /// `<hostname>:<PORT>` of the server that ran the environment.
    pub host_url: String,
    pub step_count: u64,
}

/// Body of `POST /reset` / `POST /step` replies and `data` of a WS `observation` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResponse {
    pub observation: Observation,
    /// Always `null` for the benchmark environment, but serialized.
    pub reward: Option<f64>,
    pub done: bool,
}

/// `GET /state` body and `data` of a WS `state` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvState {
    pub episode_id: Option<String>,
    pub step_count: u64,
}

/// The seven WS error codes of openenv-core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Connection stays open.
    InvalidJson,
    /// Connection stays open.
    UnknownType,
    /// Connection stays open; carries `errors`.
    ValidationError,
    /// Connection stays open.
    ExecutionError,
    /// Sent unprompted after the upgrade, then close 1000; carries `active_sessions`, `max_sessions`.
    CapacityReached,
    /// Then close 1000.
    FactoryError,
    /// Then close 1000 (e.g. a binary frame).
    SessionError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "INVALID_JSON",
            ErrorCode::UnknownType => "UNKNOWN_TYPE",
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::ExecutionError => "EXECUTION_ERROR",
            ErrorCode::CapacityReached => "CAPACITY_REACHED",
            ErrorCode::FactoryError => "FACTORY_ERROR",
            ErrorCode::SessionError => "SESSION_ERROR",
        }
    }

    /// Whether the server closes the connection (code 1000) right after sending this error.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            ErrorCode::CapacityReached | ErrorCode::FactoryError | ErrorCode::SessionError
        )
    }
}

/// `data` of a WS `error` message. Extra keys (`errors`, `active_sessions`, `max_sessions`)
/// are kept in `extra` so that they round-trip in the order they arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorData {
    pub message: String,
    pub code: ErrorCode,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Every message the server sends on `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum ServerMessage {
    Observation(StepResponse),
    State(EnvState),
    Error(ErrorData),
}

/// The four requests a client sends on `/ws`, serialized exactly as the Python client does
/// (`data` present for reset and step, absent for state and close).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Reset,
    Step { wait_seconds: f64 },
    State,
    Close,
}

impl ClientMessage {
    /// The JSON text frame for this request.
    pub fn to_json(&self) -> String {
        match self {
            ClientMessage::Reset => r#"{"type":"reset","data":{}}"#.to_owned(),
            ClientMessage::Step { wait_seconds } => {
                // serde_json prints f64 the way Python's json does for ordinary values (0.1, 1.0 -> 1.0).
                let w = serde_json::Value::from(*wait_seconds);
                format!(r#"{{"type":"step","data":{{"wait_seconds":{w}}}}}"#)
            }
            ClientMessage::State => r#"{"type":"state"}"#.to_owned(),
            ClientMessage::Close => r#"{"type":"close"}"#.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_message_roundtrips_the_capture() {
        let text = r#"{"type":"observation","data":{"observation":{"waited_seconds":0.1,"pid":4655,"session_hash":"146cb108493f","host_url":"vm:8000","step_count":1},"reward":null,"done":false}}"#;
        let msg: ServerMessage = serde_json::from_str(text).unwrap();
        let ServerMessage::Observation(ref r) = msg else {
            panic!("not an observation: {msg:?}")
        };
        assert_eq!(r.observation.step_count, 1);
        assert_eq!(serde_json::to_string(&msg).unwrap(), text);
    }

    #[test]
    fn capacity_error_keeps_extra_keys_in_order() {
        let text = r#"{"type":"error","data":{"message":"Server at capacity: 2/2 sessions active. Cannot accept new connections.","code":"CAPACITY_REACHED","active_sessions":2,"max_sessions":2}}"#;
        let msg: ServerMessage = serde_json::from_str(text).unwrap();
        let ServerMessage::Error(ref e) = msg else {
            panic!("not an error: {msg:?}")
        };
        assert_eq!(e.code, ErrorCode::CapacityReached);
        assert!(e.code.closes_connection());
        assert_eq!(serde_json::to_string(&msg).unwrap(), text);
    }

    #[test]
    fn client_messages_are_what_python_sends() {
        let step: serde_json::Value =
            serde_json::from_str(&ClientMessage::Step { wait_seconds: 0.1 }.to_json()).unwrap();
        assert_eq!(step["data"]["wait_seconds"], 0.1);
        assert_eq!(ClientMessage::Close.to_json(), r#"{"type":"close"}"#);
    }
}
