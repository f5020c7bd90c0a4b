//! OpenEnv wire types (as served by openenv 0.10.0, which openenv-core 0.3.0 clients accept). The
//! result files' contract is in `openenv-results`.
//!
//! No I/O here: the server and the load generator both depend on this crate, so the shapes that
//! cross a socket are written down exactly once.

pub mod inbound;
pub mod mcp;
pub mod pyjson;

use serde::{Deserialize, Serialize};

/// What `step`/`reset` report about the benchmark environment.
///
/// Serialized as openenv 0.10 does, with the (always empty) `metadata` of the observation first:
/// `{"metadata":{},"waited_seconds":..,...}`. openenv-core 0.3.0 left it out; its clients accept
/// it (the pydantic `Observation` has the field). Reading ignores `metadata`, so both parse.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Observation {
    pub waited_seconds: f64,
    pub pid: u32,
    /// 12 lowercase hex chars, stable for one environment instance (one WS session).
    pub session_hash: String,
    /// `<hostname>:<PORT>` of the server that ran the environment.
    pub host_url: String,
    pub step_count: u64,
}

/// An empty JSON object, written without building a map.
struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl Serialize for Observation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Observation", 6)?;
        st.serialize_field("metadata", &EmptyObject)?;
        st.serialize_field("waited_seconds", &self.waited_seconds)?;
        st.serialize_field("pid", &self.pid)?;
        st.serialize_field("session_hash", &self.session_hash)?;
        st.serialize_field("host_url", &self.host_url)?;
        st.serialize_field("step_count", &self.step_count)?;
        st.end()
    }
}

/// `data` of a WS `observation` message (and, through [`HttpStepResponse`], the body of
/// `POST /reset` / `POST /step`). openenv 0.10 adds a top-level `metadata` here only when the
/// observation's metadata is non-empty, which it never is for the benchmark environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResponse {
    pub observation: Observation,
    /// Always `null` for the benchmark environment, but serialized.
    pub reward: Option<f64>,
    pub done: bool,
}

/// The HTTP body of `POST /reset` / `POST /step` as openenv 0.10 sends it: FastAPI's response
/// model always serializes `metadata`, so it ends in `"metadata":null`.
pub struct HttpStepResponse<'a>(pub &'a StepResponse);

impl Serialize for HttpStepResponse<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("StepResponse", 4)?;
        st.serialize_field("observation", &self.0.observation)?;
        st.serialize_field("reward", &self.0.reward)?;
        st.serialize_field("done", &self.0.done)?;
        st.serialize_field("metadata", &None::<()>)?;
        st.end()
    }
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
        // openenv 0.10's message, byte for byte.
        let text = r#"{"type":"observation","data":{"observation":{"metadata":{},"waited_seconds":0.1,"pid":4655,"session_hash":"146cb108493f","host_url":"vm:8000","step_count":1},"reward":null,"done":false}}"#;
        let msg: ServerMessage = serde_json::from_str(text).unwrap();
        let ServerMessage::Observation(ref r) = msg else {
            panic!("not an observation: {msg:?}")
        };
        assert_eq!(r.observation.step_count, 1);
        assert_eq!(serde_json::to_string(&msg).unwrap(), text);
        // openenv-core 0.3.0's (no metadata) reads the same.
        let old = text.replace(r#""metadata":{},"#, "");
        assert_eq!(serde_json::from_str::<ServerMessage>(&old).unwrap(), msg);
    }

    #[test]
    fn http_body_ends_with_null_metadata() {
        let text = r#"{"observation":{"metadata":{},"waited_seconds":0.0,"pid":1,"session_hash":"ccc6ced13140","host_url":"vm:1","step_count":0},"reward":null,"done":false,"metadata":null}"#;
        let r: StepResponse = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&HttpStepResponse(&r)).unwrap(), text);
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
