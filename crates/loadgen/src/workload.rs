//! What a session's steps send, and how the replies of an arbitrary environment are read.
//!
//! Three workloads: the benchmark environment's step (`wait_seconds`, the default), any
//! environment's action (`--action`, `--action-file`), and an MCP tool call per step
//! (`--mcp-tool`, sent as openenv 0.10's clients send it). `--reset-data` goes with any of them.
//! The benchmark environment's replies are read by the typed path of `ws`/`http`; everything
//! else goes through [`observation`] and [`jsonrpc`] here, which know nothing of its fields.

use crate::ctx::Failure;
use crate::error::LoadgenError;
use crate::record::FailureClass;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// What each step of a session sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Workload {
    /// The benchmark environment: each step asks the server to wait the cell's `wait`.
    #[default]
    Benchmark,
    /// Step k (0-based, counted over the whole session) sends `actions[k % len]`, each a JSON
    /// object as compact text: the `data` of a WS `step`, `{"action": ...}` of `POST /step`.
    Actions { actions: Vec<String> },
    /// Each step calls this MCP tool with these arguments (a JSON object as compact text):
    /// WS `{"type":"mcp","data":<JSON-RPC tools/call>}`, or over HTTP `POST /mcp` on a session
    /// made by `openenv/session/create`, as 0.10's `MCPToolClient` does.
    Mcp { tool: String, arguments: String },
}

impl Workload {
    pub fn is_benchmark(&self) -> bool {
        matches!(self, Workload::Benchmark)
    }

    /// `--action JSON`: one action for every step.
    pub fn action(text: &str) -> Result<Workload, LoadgenError> {
        Ok(Workload::Actions {
            actions: vec![object("--action", text)?],
        })
    }

    /// `--action-file FILE`: one JSON object per line (blank lines skipped); step k of a
    /// session sends line k mod len.
    pub fn action_file(path: &Path) -> Result<Workload, LoadgenError> {
        let bad = |why: String| {
            LoadgenError::BadInput(format!("--action-file {}: {why}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut actions = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            actions.push(object(&format!("line {}", i + 1), line).map_err(|e| bad(e.to_string()))?);
        }
        if actions.is_empty() {
            return Err(bad("no action in it (one JSON object per line)".into()));
        }
        Ok(Workload::Actions { actions })
    }

    /// `--mcp-tool NAME --mcp-args JSON` (no arguments: `{}`).
    pub fn mcp(tool: &str, arguments: Option<&str>) -> Result<Workload, LoadgenError> {
        if tool.is_empty() {
            return Err(LoadgenError::BadInput("--mcp-tool: empty tool name".into()));
        }
        Ok(Workload::Mcp {
            tool: tool.to_owned(),
            arguments: match arguments {
                Some(a) => object("--mcp-args", a)?,
                None => "{}".into(),
            },
        })
    }

    /// The `data` of a WS `step` (also the `action` of `POST /step`) for step `k` (0-based).
    pub(crate) fn action_at(&self, k: u32) -> Option<&str> {
        match self {
            Workload::Actions { actions } => Some(&actions[k as usize % actions.len()]),
            _ => None,
        }
    }
}

/// `--reset-data JSON`: validated, as compact text.
pub fn reset_data(text: &str) -> Result<String, LoadgenError> {
    object("--reset-data", text)
}

/// `text` as a JSON object in compact form (key order kept), or an error naming `what`.
fn object(what: &str, text: &str) -> Result<String, LoadgenError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| LoadgenError::BadInput(format!("{what}: not JSON ({e}): {}", clip(text))))?;
    if !v.is_object() {
        return Err(LoadgenError::BadInput(format!(
            "{what}: not a JSON object: {}",
            clip(text)
        )));
    }
    Ok(v.to_string())
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

/// A JSON-RPC request as 0.10's clients send it.
pub(crate) fn jsonrpc_request(method: &str, params: &str, id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":{},"params":{params},"id":{id}}}"#,
        Value::from(method)
    )
}

/// The `params` of a `tools/call` (plus `session_id` over HTTP, as `MCPToolClient` sends it).
pub(crate) fn tool_call_params(tool: &str, arguments: &str, session_id: Option<&str>) -> String {
    let mut p = format!(r#"{{"name":{},"arguments":{arguments}"#, Value::from(tool));
    if let Some(id) = session_id {
        p.push_str(&format!(r#","session_id":{}"#, Value::from(id)));
    }
    p.push('}');
    p
}

/// What a session keeps of one observation reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reply {
    pub reward: Option<f64>,
    pub done: bool,
    /// The benchmark environment's identity fields, when the observation has them.
    pub pid: Option<u32>,
    pub session_hash: Option<String>,
    pub host_url: Option<String>,
}

impl Reply {
    pub(crate) fn from_benchmark(r: openenv_protocol::StepResponse) -> Reply {
        Reply {
            reward: r.reward,
            done: r.done,
            pid: Some(r.observation.pid).filter(|p| *p > 0),
            session_hash: Some(r.observation.session_hash).filter(|s| !s.is_empty()),
            host_url: Some(r.observation.host_url).filter(|s| !s.is_empty()),
        }
    }
}

/// A session's step replies, summed up for its record.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    reward: Option<f64>,
    done: bool,
    dones: u32,
    last: Reply,
}

impl Tally {
    /// Counts one step reply; returns its `done`.
    pub(crate) fn step(&mut self, r: Reply) -> bool {
        if let Some(x) = r.reward {
            *self.reward.get_or_insert(0.0) += x;
        }
        self.done = r.done;
        self.dones += u32::from(r.done);
        self.last = r;
        self.done
    }

    /// `reward`, `done`, `episodes_done` and the last reply's identity (absent: 0 and "", as
    /// the Python original writes them).
    pub(crate) fn write(self, rec: &mut crate::record::SessionRecord) {
        rec.reward = self.reward;
        rec.done = self.done;
        rec.episodes_done = self.dones;
        rec.pid = self.last.pid.unwrap_or(0);
        rec.session_hash = self.last.session_hash.unwrap_or_default();
        rec.host_url = self.last.host_url.unwrap_or_default();
    }
}

/// `{"observation": {...}, "reward": .., "done": ..}` (the `data` of a WS `observation`, the
/// body of `POST /reset` / `/step`). No `observation` object: `InvalidReply`.
pub(crate) fn observation(data: &Value, what: &str) -> Result<Reply, Failure> {
    let Some(obs) = data.get("observation").and_then(Value::as_object) else {
        return Err(Failure::new(
            FailureClass::InvalidReply,
            format!(
                "{what} reply without an `observation` object: {}",
                clip(&data.to_string())
            ),
        ));
    };
    let text = |k: &str| {
        obs.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    Ok(Reply {
        reward: data.get("reward").and_then(Value::as_f64),
        done: data.get("done").and_then(Value::as_bool).unwrap_or(false),
        pid: obs
            .get("pid")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0),
        session_hash: text("session_hash"),
        host_url: text("host_url"),
    })
}

/// A WS text frame answering `reset`/`step`: an `observation` message, else a classified failure.
pub(crate) fn ws_observation(text: &str, what: &str) -> Result<Reply, Failure> {
    let data = ws_message(text, what, "observation")?;
    observation(&data, what)
}

/// A WS text frame answering an `mcp` message: the JSON-RPC result, else a classified failure.
pub(crate) fn ws_mcp(text: &str, what: &str) -> Result<Value, Failure> {
    let data = ws_message(text, what, "mcp")?;
    jsonrpc(data, what)
}

/// The `data` of a message of type `want`; an `error` message or another type is a failure.
fn ws_message(text: &str, what: &str, want: &str) -> Result<Value, Failure> {
    let mut msg: Value = serde_json::from_str(text).map_err(|e| {
        Failure::new(
            FailureClass::InvalidReply,
            format!("unparseable {what} reply ({e}): {}", clip(text)),
        )
    })?;
    let kind = msg
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let data = msg.get_mut("data").map(Value::take).unwrap_or(Value::Null);
    if kind == want {
        return Ok(data);
    }
    if kind == "error" {
        let code = data.get("code").and_then(Value::as_str).unwrap_or("?");
        let message = data.get("message").and_then(Value::as_str).unwrap_or("");
        let class = match code {
            "CAPACITY_REACHED" => FailureClass::CapacityReached,
            "VALIDATION_ERROR" => FailureClass::ActionRejected,
            _ => FailureClass::ServerError,
        };
        let detail = match data.get("errors") {
            Some(errors) => format!("{code}: {message} {}", clip(&errors.to_string())),
            None => format!("{code}: {message}"),
        };
        return Err(Failure::new(class, detail));
    }
    Err(Failure::new(
        FailureClass::InvalidReply,
        format!("{kind:?} message as {what} reply: {}", clip(text)),
    ))
}

/// A JSON-RPC response: its `result`; an `error`, or a tool result flagged as an error
/// (`isError`, FastMCP's `is_error`), is a `ToolError` (a capacity error of
/// `openenv/session/create`, which carries `max_sessions`, is `CapacityReached`).
pub(crate) fn jsonrpc(mut resp: Value, what: &str) -> Result<Value, Failure> {
    if let Some(err) = resp.get("error").filter(|e| !e.is_null()) {
        let code = err.get("code").map(Value::to_string).unwrap_or_default();
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        let class = if err.pointer("/data/max_sessions").is_some() {
            FailureClass::CapacityReached
        } else {
            FailureClass::ToolError
        };
        return Err(Failure::new(
            class,
            format!("{what}: JSON-RPC error {code}: {message}"),
        ));
    }
    let Some(result) = resp.get_mut("result").map(Value::take) else {
        return Err(Failure::new(
            FailureClass::InvalidReply,
            format!(
                "{what}: JSON-RPC reply with neither result nor error: {}",
                clip(&resp.to_string())
            ),
        ));
    };
    let flagged = ["isError", "is_error"]
        .iter()
        .any(|k| result.get(*k).and_then(Value::as_bool) == Some(true));
    if flagged {
        return Err(Failure::new(
            FailureClass::ToolError,
            format!(
                "{what}: the tool reported an error: {}",
                clip(&result.to_string())
            ),
        ));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_must_be_json_objects_and_keep_their_key_order() {
        let w = Workload::action(r#" {"message": "hi", "a": 1} "#).unwrap();
        assert_eq!(w.action_at(7), Some(r#"{"message":"hi","a":1}"#));
        for bad in ["", "nope", "[1]", "\"x\"", "{\"a\":"] {
            let e = Workload::action(bad).unwrap_err().to_string();
            assert!(e.starts_with("--action: not"), "{bad:?}: {e}");
        }
        assert!(reset_data("[]").is_err());
        assert_eq!(reset_data(r#"{"seed": 3}"#).unwrap(), r#"{"seed":3}"#);
        assert!(Workload::mcp("echo", Some("1")).is_err());
        assert!(Workload::mcp("", None).is_err());
        assert_eq!(
            Workload::mcp("echo", None).unwrap(),
            Workload::Mcp {
                tool: "echo".into(),
                arguments: "{}".into()
            }
        );
    }

    #[test]
    fn an_action_file_cycles_over_its_lines_and_names_a_bad_one() {
        let dir = std::env::temp_dir().join(format!("workload-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.jsonl");
        std::fs::write(&f, "{\"m\":\"a\"}\n\n{\"m\":\"b\"}\n").unwrap();
        let w = Workload::action_file(&f).unwrap();
        let seq: Vec<_> = (0..4).map(|k| w.action_at(k).unwrap()).collect();
        assert_eq!(
            seq,
            [
                r#"{"m":"a"}"#,
                r#"{"m":"b"}"#,
                r#"{"m":"a"}"#,
                r#"{"m":"b"}"#
            ]
        );
        std::fs::write(&f, "{\"m\":\"a\"}\n{\"m\":\"b\"}\n42\n").unwrap();
        let e = Workload::action_file(&f).unwrap_err().to_string();
        assert!(e.contains("line 3: not a JSON object"), "{e}");
        std::fs::write(&f, "{\"m\":\"a\"}\n{oops\n").unwrap();
        let e = Workload::action_file(&f).unwrap_err().to_string();
        assert!(e.contains("line 2: not JSON"), "{e}");
        std::fs::write(&f, "\n  \n").unwrap();
        let e = Workload::action_file(&f).unwrap_err().to_string();
        assert!(e.contains("no action"), "{e}");
        let e = Workload::action_file(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replies_are_observations_or_classified_failures() {
        let ok = r#"{"type":"observation","data":{"observation":{"echoed_message":"hi","metadata":{}},"reward":2,"done":true}}"#;
        let r = ws_observation(ok, "step").unwrap();
        assert_eq!(
            (r.reward, r.done, r.pid, r.host_url),
            (Some(2.0), true, None, None)
        );
        let bench = r#"{"type":"observation","data":{"observation":{"pid":7,"session_hash":"abc","host_url":"h:1","step_count":1},"reward":null,"done":false}}"#;
        let r = ws_observation(bench, "step").unwrap();
        assert_eq!(
            (r.pid, r.host_url.as_deref(), r.reward),
            (Some(7), Some("h:1"), None)
        );
        let cases = [
            (
                r#"{"type":"error","data":{"message":"Invalid action","code":"VALIDATION_ERROR","errors":[]}}"#,
                FailureClass::ActionRejected,
            ),
            (
                r#"{"type":"error","data":{"message":"boom","code":"EXECUTION_ERROR"}}"#,
                FailureClass::ServerError,
            ),
            (
                r#"{"type":"error","data":{"message":"full","code":"CAPACITY_REACHED"}}"#,
                FailureClass::CapacityReached,
            ),
            (
                r#"{"type":"observation","data":{"reward":1,"done":false}}"#,
                FailureClass::InvalidReply,
            ),
            (
                r#"{"type":"observation","data":{"observation":3}}"#,
                FailureClass::InvalidReply,
            ),
            (r#"{"type":"state","data":{}}"#, FailureClass::InvalidReply),
            ("not json", FailureClass::InvalidReply),
        ];
        for (text, class) in cases {
            assert_eq!(
                ws_observation(text, "step").unwrap_err().class,
                class,
                "{text}"
            );
        }
    }

    #[test]
    fn jsonrpc_errors_and_flagged_tool_results_are_failures() {
        let ok = serde_json::json!({"jsonrpc":"2.0","id":1,"result":{"data":"x","is_error":false}});
        assert_eq!(jsonrpc(ok, "t").unwrap()["data"], "x");
        let err = serde_json::json!({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Environment does not support MCP"}});
        let f = jsonrpc(err, "tools/call").unwrap_err();
        assert_eq!(f.class, FailureClass::ToolError);
        assert!(f.message.contains("-32603") && f.message.contains("does not support"));
        let flagged = serde_json::json!({"result":{"content":[],"isError":true}});
        assert_eq!(
            jsonrpc(flagged, "t").unwrap_err().class,
            FailureClass::ToolError
        );
        let full = serde_json::json!({"error":{"code":-32000,"message":"capacity","data":{"active_sessions":2,"max_sessions":2}}});
        assert_eq!(
            jsonrpc(full, "t").unwrap_err().class,
            FailureClass::CapacityReached
        );
        let neither = serde_json::json!({"jsonrpc":"2.0","id":1});
        assert_eq!(
            jsonrpc(neither, "t").unwrap_err().class,
            FailureClass::InvalidReply
        );
        assert_eq!(
            tool_call_params("echo", r#"{"message":"hi"}"#, Some("s1")),
            r#"{"name":"echo","arguments":{"message":"hi"},"session_id":"s1"}"#
        );
        assert_eq!(
            jsonrpc_request("tools/call", "{}", 3),
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{},"id":3}"#
        );
    }
}
