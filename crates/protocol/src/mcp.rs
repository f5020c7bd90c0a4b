//! MCP (JSON-RPC 2.0) as an openenv 0.10 server answers it for an environment without MCP tools,
//! which the benchmark environment is: over a WS `{"type":"mcp","data":<request>}` message and
//! over `POST /mcp`.
//!
//! What the real 0.10 client sends (`MCPToolClient`, production mode, over `POST /mcp`):
//! `{"jsonrpc":"2.0","method":"tools/list","params":{"session_id":S},"id":N}` and
//! `{"jsonrpc":"2.0","method":"tools/call","params":{"name":T,"arguments":{..},"session_id":S},"id":N}`,
//! after `openenv/session/create`.

use crate::inbound::PYDANTIC_ERRORS_URL;
use crate::pyjson::py_repr;
use serde_json::{json, Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// JSON-RPC "server error", what 0.10 answers a session it cannot create with.
pub const SERVER_ERROR: i64 = -32000;

/// Where the request arrived: the WS session's own id (the answer to `openenv/session/create`
/// there), `POST /mcp` of a server that holds no sessions, or `POST /mcp` with the server's
/// held sessions (made by `openenv/session/create`, attached to by `/ws?session_id=`).
#[derive(Clone, Copy)]
pub enum Origin<'a> {
    Ws { session_id: &'a str },
    Http,
    HttpSessions(&'a dyn SessionBook),
}

/// The sessions a server holds outside a WebSocket (0.10's HTTP MCP sessions).
pub trait SessionBook {
    /// A new session's id, or `Err((active, max))` at capacity.
    fn create(&self) -> Result<String, (usize, usize)>;
    /// Closes (or, while a WebSocket is attached, marks for closing) the session `id`.
    fn close(&self, id: &str) -> Closing;
    fn contains(&self, id: &str) -> bool;
}

/// What `openenv/session/close` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    Closed,
    /// A WebSocket is attached: closed when it detaches.
    WhenDetached,
    Unknown,
}

/// A JSON-RPC error response: `{"jsonrpc":"2.0","id":..,"error":{"code","message","data":null}}`.
pub fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": null}})
}

/// A JSON-RPC success response: `{"jsonrpc":"2.0","id":..,"result":..}`.
pub fn success(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// `POST /mcp` with a body that is not JSON (0.10 gives no message detail and no id).
pub fn parse_error() -> Value {
    error(&Value::Null, PARSE_ERROR, "Parse error")
}

/// Python truthiness of a JSON value (`if not x:`).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Bool(true)) => true,
    }
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Validate a request as pydantic's `JsonRpcRequest` (extra keys forbidden; `jsonrpc` the
/// literal "2.0"; `method` a string; `params` an object, default `{}`; `id` string, integer or
/// null). On failure: the text of pydantic's `ValidationError`.
fn validate(req: &Map<String, Value>) -> Result<(), String> {
    // (location, message, error type, input)
    let mut errs: Vec<(String, &str, &str, &Value)> = Vec::new();
    let whole = Value::Object(req.clone());
    match req.get("jsonrpc") {
        None => errs.push(("jsonrpc".into(), "Field required", "missing", &whole)),
        Some(Value::String(s)) if s == "2.0" => {}
        Some(v) => errs.push((
            "jsonrpc".into(),
            "Input should be '2.0'",
            "literal_error",
            v,
        )),
    }
    match req.get("method") {
        None => errs.push(("method".into(), "Field required", "missing", &whole)),
        Some(Value::String(_)) => {}
        Some(v) => errs.push((
            "method".into(),
            "Input should be a valid string",
            "string_type",
            v,
        )),
    }
    match req.get("params") {
        None | Some(Value::Object(_)) => {}
        Some(v) => errs.push((
            "params".into(),
            "Input should be a valid dictionary",
            "dict_type",
            v,
        )),
    }
    match req.get("id") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(Value::Number(n)) if !n.is_f64() => {}
        Some(v) => errs.push((
            "id".into(),
            "Input should be a valid string or integer",
            "union_type",
            v,
        )),
    }
    for (k, v) in req {
        if !["jsonrpc", "method", "params", "id"].contains(&k.as_str()) {
            errs.push((
                k.clone(),
                "Extra inputs are not permitted",
                "extra_forbidden",
                v,
            ));
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    let n = errs.len();
    let mut text = format!(
        "{n} validation error{} for JsonRpcRequest",
        if n == 1 { "" } else { "s" }
    );
    for (loc, msg, kind, input) in errs {
        text.push_str(&format!(
            "\n{loc}\n  {msg} [type={kind}, input_value={}, input_type={}]\n    For further information visit {PYDANTIC_ERRORS_URL}{kind}",
            py_repr(input),
            py_type(input)
        ));
    }
    Err(text)
}

/// The reply of a 0.10 server without MCP tools to one JSON-RPC request object (`data` of a WS
/// `mcp` message, or the parsed `POST /mcp` body).
pub fn answer(request: &Value, origin: Origin<'_>) -> Value {
    let Some(req) = request.as_object() else {
        let msg = format!(
            "Invalid request: 1 validation error for JsonRpcRequest\n  Input should be a valid dictionary or instance of JsonRpcRequest [type=model_type, input_value={}, input_type={}]\n    For further information visit {PYDANTIC_ERRORS_URL}model_type",
            py_repr(request),
            py_type(request)
        );
        return error(&Value::Null, INVALID_REQUEST, &msg);
    };
    if let Err(text) = validate(req) {
        return error(
            &Value::Null,
            INVALID_REQUEST,
            &format!("Invalid request: {text}"),
        );
    }
    let id = req.get("id").unwrap_or(&Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("");
    let empty = Map::new();
    let params = req
        .get("params")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    match (method, origin) {
        ("openenv/session/create", Origin::Ws { session_id }) => {
            return success(id, json!({ "session_id": session_id }))
        }
        ("openenv/session/create", Origin::HttpSessions(book)) => {
            return match book.create() {
                Ok(sid) => success(id, json!({ "session_id": sid })),
                Err((active, max)) => json!({"jsonrpc": "2.0", "id": id, "error": {
                    "code": SERVER_ERROR,
                    "message": format!("Server at capacity: {active}/{max} sessions active. Cannot accept new connections."),
                    "data": {"active_sessions": active, "max_sessions": max}}}),
            };
        }
        ("openenv/session/create", Origin::Http) => {
            // 0.10 would create a session held for later `?session_id=` attaches; this server
            // keeps no sessions outside a WebSocket.
            return error(
                id,
                INTERNAL_ERROR,
                "Sessions outside a WebSocket are not supported by this server",
            );
        }
        ("openenv/session/close", origin) => {
            let target = params.get("session_id");
            if !truthy(target) {
                return error(
                    id,
                    INVALID_PARAMS,
                    "Invalid params - 'session_id' is required",
                );
            }
            let target = target.map(crate::pyjson::py_str).unwrap_or_default();
            if let Origin::Ws { session_id } = origin {
                if target == session_id {
                    return error(
                        id,
                        INVALID_REQUEST,
                        "Cannot close active WebSocket-managed session via MCP method",
                    );
                }
            }
            if let Origin::HttpSessions(book) = origin {
                match book.close(&target) {
                    Closing::Closed => {
                        return success(id, json!({"session_id": target, "closed": true}))
                    }
                    Closing::WhenDetached => {
                        return success(
                            id,
                            json!({"session_id": target, "closed": false, "closing": true}),
                        )
                    }
                    Closing::Unknown => {}
                }
            }
            return error(id, INVALID_PARAMS, &format!("Unknown session_id: {target}"));
        }
        _ => {}
    }
    if !matches!(origin, Origin::Ws { .. }) {
        // Over HTTP a truthy `session_id` names a session to run the request in.
        if let Some(sid) = params.get("session_id").filter(|v| truthy(Some(v))) {
            let sid = crate::pyjson::py_str(sid);
            let known = matches!(origin, Origin::HttpSessions(book) if book.contains(&sid));
            if !known {
                return error(id, INVALID_PARAMS, &format!("Unknown session_id: {sid}"));
            }
        }
    }
    match method {
        "tools/list" => error(id, INTERNAL_ERROR, "Environment does not support MCP"),
        "tools/call" if !truthy(params.get("name")) => {
            error(id, INVALID_PARAMS, "Missing 'name' in params")
        }
        "tools/call" => error(id, INTERNAL_ERROR, "Environment does not support MCP"),
        other => error(id, METHOD_NOT_FOUND, &format!("Method not found: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(v: Value) -> Value {
        answer(&v, Origin::Ws { session_id: "s-1" })
    }

    #[test]
    fn methods_of_an_environment_without_tools() {
        let r = ws(json!({"jsonrpc": "2.0", "method": "tools/list", "params": {}, "id": 1}));
        assert_eq!(
            r.to_string(),
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Environment does not support MCP","data":null}}"#
        );
        let r = ws(json!({"jsonrpc": "2.0", "method": "tools/call", "params": {}, "id": 3}));
        assert_eq!(r["error"]["code"], INVALID_PARAMS);
        let r = ws(json!({"jsonrpc": "2.0", "method": "x/y", "id": "r"}));
        assert_eq!(r["error"]["message"], "Method not found: x/y");
        assert_eq!(r["id"], "r");
        let r = ws(json!({"jsonrpc": "2.0", "method": "openenv/session/create", "id": 2}));
        assert_eq!(r["result"]["session_id"], "s-1");
        let r = ws(
            json!({"jsonrpc": "2.0", "method": "openenv/session/close", "params": {"session_id": "s-1"}, "id": 2}),
        );
        assert_eq!(r["error"]["code"], INVALID_REQUEST);
        let r = answer(
            &json!({"jsonrpc": "2.0", "method": "tools/list", "params": {"session_id": "zz"}, "id": 5}),
            Origin::Http,
        );
        assert_eq!(r["error"]["message"], "Unknown session_id: zz");
    }

    #[derive(Default)]
    struct Book {
        held: std::cell::RefCell<Vec<String>>,
        attached: Vec<String>,
    }

    impl SessionBook for Book {
        fn create(&self) -> Result<String, (usize, usize)> {
            let mut held = self.held.borrow_mut();
            if !held.is_empty() {
                return Err((held.len(), 1));
            }
            held.push("h-1".into());
            Ok("h-1".into())
        }
        fn close(&self, id: &str) -> Closing {
            if self.attached.iter().any(|a| a == id) {
                return Closing::WhenDetached;
            }
            let mut held = self.held.borrow_mut();
            match held.iter().position(|h| h == id) {
                Some(i) => {
                    held.remove(i);
                    Closing::Closed
                }
                None => Closing::Unknown,
            }
        }
        fn contains(&self, id: &str) -> bool {
            self.held.borrow().iter().any(|h| h == id)
        }
    }

    #[test]
    fn http_sessions_are_created_used_and_closed_as_010_does() {
        let book = Book::default();
        let http = |v: Value| answer(&v, Origin::HttpSessions(&book));
        let create =
            json!({"jsonrpc": "2.0", "method": "openenv/session/create", "params": {}, "id": 1});
        assert_eq!(
            http(create.clone()),
            json!({"jsonrpc": "2.0", "id": 1, "result": {"session_id": "h-1"}})
        );
        // At capacity: 0.10's SessionCapacityError as a JSON-RPC server error.
        let full = http(create.clone());
        assert_eq!(full["error"]["code"], SERVER_ERROR);
        assert_eq!(
            full["error"]["data"],
            json!({"active_sessions": 1, "max_sessions": 1})
        );
        assert!(full["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Server at capacity: 1/1"));
        // A known session: the environment still has no tools.
        let r = http(
            json!({"jsonrpc": "2.0", "method": "tools/list", "params": {"session_id": "h-1"}, "id": 2}),
        );
        assert_eq!(r["error"]["message"], "Environment does not support MCP");
        let r = http(
            json!({"jsonrpc": "2.0", "method": "tools/list", "params": {"session_id": "nope"}, "id": 3}),
        );
        assert_eq!(r["error"]["message"], "Unknown session_id: nope");
        let close = json!({"jsonrpc": "2.0", "method": "openenv/session/close", "params": {"session_id": "h-1"}, "id": 4});
        assert_eq!(
            http(close.clone()),
            json!({"jsonrpc": "2.0", "id": 4, "result": {"session_id": "h-1", "closed": true}})
        );
        assert_eq!(http(close)["error"]["message"], "Unknown session_id: h-1");
        let attached = Book {
            attached: vec!["w".into()],
            ..Book::default()
        };
        let r = answer(
            &json!({"jsonrpc": "2.0", "method": "openenv/session/close", "params": {"session_id": "w"}, "id": 5}),
            Origin::HttpSessions(&attached),
        );
        assert_eq!(
            r["result"],
            json!({"session_id": "w", "closed": false, "closing": true})
        );
    }

    #[test]
    fn invalid_requests_carry_pydantic_text() {
        let r = ws(json!({"method": "tools/list", "id": 1}));
        assert_eq!(r["id"], Value::Null);
        assert_eq!(r["error"]["code"], INVALID_REQUEST);
        assert_eq!(
            r["error"]["message"],
            "Invalid request: 1 validation error for JsonRpcRequest\njsonrpc\n  Field required [type=missing, input_value={'method': 'tools/list', 'id': 1}, input_type=dict]\n    For further information visit https://errors.pydantic.dev/2.14/v/missing"
        );
        let r = ws(json!({"jsonrpc": "1.0", "method": "tools/list", "id": 2, "x": 1}));
        assert!(r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request: 2 validation errors for JsonRpcRequest\njsonrpc\n"));
    }
}
