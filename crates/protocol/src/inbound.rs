//! What a server reads: WebSocket client messages and `POST /reset` / `POST /step` bodies,
//! validated the way openenv-core 0.3.0 (pydantic 2 + FastAPI) validates them, with errors in the
//! same shapes (`{"type","loc","msg","input","ctx"?,"url"?}`).
//!
//! Where the reference accepts nonsense (a negative, NaN or astronomically large `wait_seconds`)
//! this answers with a `VALIDATION_ERROR` / 422 instead, in the same shapes.

use crate::pyjson::{self, echo, non_finite, py_str};
use crate::{ErrorCode, ErrorData, ServerMessage};
use serde_json::{Map, Value};

/// Prefix of the `url` pydantic puts in each error of a WS `VALIDATION_ERROR`.
pub const PYDANTIC_ERRORS_URL: &str = "https://errors.pydantic.dev/2.14/v/";

/// The default largest `wait_seconds` a server accepts (the reference has no bound).
pub const MAX_WAIT_SECONDS: f64 = 3600.0;

/// Bounds a server enforces on requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest accepted `wait_seconds` (default [`MAX_WAIT_SECONDS`]).
    pub max_wait_seconds: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_wait_seconds: MAX_WAIT_SECONDS,
        }
    }
}

/// A valid WebSocket request.
#[derive(Debug, Clone, PartialEq)]
pub enum WsRequest {
    /// `reset`; `episode_id` if the client gave a string one.
    Reset {
        episode_id: Option<String>,
    },
    /// `step` with a validated wait (finite, `0 <= w <= max_wait_seconds`).
    Step {
        wait_seconds: f64,
    },
    State,
    Close,
    /// `mcp` (JSON-RPC over the session): `data`, the JSON-RPC request, answered by
    /// [`crate::mcp::answer`] (the benchmark environment has no MCP tools).
    Mcp {
        request: Value,
    },
}

/// A request the server answers with an `error` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    /// pydantic-shaped errors, for `VALIDATION_ERROR`.
    pub errors: Option<Vec<Value>>,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
            errors: None,
        }
    }

    fn validation(errors: Vec<Value>) -> Self {
        Rejection {
            code: ErrorCode::ValidationError,
            message: "Invalid message".into(),
            errors: Some(errors),
        }
    }

    pub fn to_error_data(&self) -> ErrorData {
        let mut extra = Map::new();
        if let Some(errors) = &self.errors {
            extra.insert("errors".into(), Value::Array(errors.clone()));
        }
        ErrorData {
            message: self.message.clone(),
            code: self.code,
            extra,
        }
    }

    /// The whole `{"type":"error","data":{...}}` text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&ServerMessage::Error(self.to_error_data()))
            .expect("error messages serialize")
    }
}

/// One pydantic error: keys in pydantic's order (`type, loc, msg, input, ctx, url`).
pub fn error_item(
    kind: &str,
    loc: &[Value],
    msg: &str,
    input: &Value,
    ctx: Option<Value>,
    with_url: bool,
) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::String(kind.into()));
    m.insert("loc".into(), Value::Array(loc.to_vec()));
    m.insert("msg".into(), Value::String(msg.into()));
    m.insert("input".into(), echo(input));
    if let Some(ctx) = ctx {
        m.insert("ctx".into(), ctx);
    }
    if with_url {
        m.insert(
            "url".into(),
            Value::String(format!("{PYDANTIC_ERRORS_URL}{kind}")),
        );
    }
    Value::Object(m)
}

fn loc1(key: &str) -> [Value; 1] {
    [Value::String(key.into())]
}

fn loc_body(key: &str) -> [Value; 2] {
    [Value::String("body".into()), Value::String(key.into())]
}

/// pydantic's error for a value that should be a dict.
fn dict_type(loc: &[Value], input: &Value, with_url: bool) -> Value {
    error_item(
        "dict_type",
        loc,
        "Input should be a valid dictionary",
        input,
        None,
        with_url,
    )
}

/// pydantic's error for a key a model with `extra="forbid"` does not have.
fn extra_forbidden(key: &str, input: &Value) -> Value {
    error_item(
        "extra_forbidden",
        &loc1(key),
        "Extra inputs are not permitted",
        input,
        None,
        true,
    )
}

fn ctx1(key: &str, v: Value) -> Option<Value> {
    let mut m = Map::new();
    m.insert(key.into(), v);
    Some(Value::Object(m))
}

/// How pydantic prints a bound in a message: `3600` for an integral float, else Python's repr.
fn bound_str(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{}", f as i64)
    } else {
        pyjson::py_float(f)
    }
}

/// pydantic's lax float: numbers, bools, numeric strings. `Err((type, msg))`.
fn lax_float(v: &Value) -> Result<f64, (&'static str, &'static str)> {
    if let Some(f) = non_finite(v) {
        return Ok(f);
    }
    match v {
        Value::Number(n) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => {
            let t = s.trim();
            let t = if t.contains('_') {
                std::borrow::Cow::Owned(t.replace('_', ""))
            } else {
                std::borrow::Cow::Borrowed(t)
            };
            t.parse::<f64>().map_err(|_| {
                (
                    "float_parsing",
                    "Input should be a valid number, unable to parse string as a number",
                )
            })
        }
        _ => Err(("float_type", "Input should be a valid number")),
    }
}

/// pydantic's lax int.
fn lax_int(v: &Value) -> Result<i128, (&'static str, &'static str)> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i as i128)
            } else if let Some(u) = n.as_u64() {
                Ok(u as i128)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38 {
                    Ok(f as i128)
                } else {
                    Err((
                        "int_from_float",
                        "Input should be a valid integer, got a number with a fractional part",
                    ))
                }
            }
        }
        Value::Bool(b) => Ok(*b as i128),
        Value::String(s) if non_finite(v).is_none() => s.trim().parse::<i128>().map_err(|_| {
            (
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )
        }),
        _ => Err(("int_type", "Input should be a valid integer")),
    }
}

/// Validate a `BenchmarkAction` (`{"wait_seconds": float = 0, "metadata": dict = {}}`, extra
/// keys forbidden) and return the wait. Errors carry `url` (as the reference's do, WS and HTTP).
pub fn validate_action(data: &Map<String, Value>, limits: &Limits) -> Result<f64, Vec<Value>> {
    let mut errors = Vec::new();
    // Field order of the model: metadata, wait_seconds; then extra keys in input order.
    if let Some(md) = data.get("metadata") {
        if !md.is_object() {
            errors.push(dict_type(&loc1("metadata"), md, true));
        }
    }
    let mut wait = 0.0;
    if let Some(w) = data.get("wait_seconds") {
        let loc = loc1("wait_seconds");
        match lax_float(w) {
            Err((kind, msg)) => errors.push(error_item(kind, &loc, msg, w, None, true)),
            Ok(f) if !f.is_finite() => errors.push(error_item(
                "finite_number",
                &loc,
                "Input should be a finite number",
                w,
                None,
                true,
            )),
            Ok(f) if f < 0.0 => errors.push(error_item(
                "greater_than_equal",
                &loc,
                "Input should be greater than or equal to 0",
                w,
                ctx1("ge", Value::from(0.0)),
                true,
            )),
            Ok(f) if f > limits.max_wait_seconds => errors.push(error_item(
                "less_than_equal",
                &loc,
                &format!(
                    "Input should be less than or equal to {}",
                    bound_str(limits.max_wait_seconds)
                ),
                w,
                ctx1("le", Value::from(limits.max_wait_seconds)),
                true,
            )),
            Ok(f) => wait = f,
        }
    }
    for (k, v) in data {
        if k != "metadata" && k != "wait_seconds" {
            errors.push(extra_forbidden(k, v));
        }
    }
    if errors.is_empty() {
        Ok(wait)
    } else {
        Err(errors)
    }
}

/// Parse and validate one WebSocket text frame, as openenv-core's `/ws` loop does.
pub fn parse_ws_request(text: &str, limits: &Limits) -> Result<WsRequest, Rejection> {
    let value = pyjson::parse(text)
        .map_err(|e| Rejection::new(ErrorCode::InvalidJson, format!("Invalid JSON: {e}")))?;
    let Value::Object(obj) = &value else {
        // The reference dies here with SESSION_ERROR ('list' object has no attribute 'get');
        // this keeps the session and says what is wrong.
        return Err(Rejection::validation(vec![dict_type(&[], &value, true)]));
    };
    let kind = match obj.get("type") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => py_str(other),
    };
    // (allowed keys besides "type", whether `data` is required)
    let (allowed_data, data_required) = match kind.as_str() {
        "reset" => (true, false),
        "step" | "mcp" => (true, true),
        "state" | "close" => (false, false),
        _ => {
            return Err(Rejection::new(
                ErrorCode::UnknownType,
                format!("Unknown message type: {kind}"),
            ))
        }
    };
    let mut errors = Vec::new();
    let empty = Map::new();
    let mut data = &empty;
    if allowed_data {
        match obj.get("data") {
            None if data_required => errors.push(error_item(
                "missing",
                &loc1("data"),
                "Field required",
                &value,
                None,
                true,
            )),
            None => {}
            Some(Value::Object(d)) => data = d,
            Some(other) => errors.push(dict_type(&loc1("data"), other, true)),
        }
    }
    for (k, v) in obj {
        if k == "type" || (allowed_data && k == "data") {
            continue;
        }
        errors.push(extra_forbidden(k, v));
    }
    if !errors.is_empty() {
        return Err(Rejection::validation(errors));
    }
    Ok(match kind.as_str() {
        "reset" => WsRequest::Reset {
            episode_id: data
                .get("episode_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        "step" => WsRequest::Step {
            wait_seconds: validate_action(data, limits).map_err(Rejection::validation)?,
        },
        "state" => WsRequest::State,
        "close" => WsRequest::Close,
        _ => WsRequest::Mcp {
            request: Value::Object(data.clone()),
        },
    })
}

/// A validated `POST /reset` body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpReset {
    pub seed: Option<i128>,
    pub episode_id: Option<String>,
}

/// A validated `POST /step` body.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpStep {
    pub wait_seconds: f64,
    pub timeout_s: Option<f64>,
    pub request_id: Option<String>,
}

/// What FastAPI makes of a request body before validating it.
enum Body {
    Absent,
    Json(Value),
    Raw(String),
}

fn is_json_content_type(ct: &str) -> bool {
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.split_once('/') {
        Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
        _ => false,
    }
}

/// FastAPI's body handling: empty -> absent; JSON (no content type, or application/json,
/// application/*+json) -> parsed (422 `json_invalid` if it isn't); anything else -> raw text.
fn read_body(content_type: Option<&str>, body: &[u8]) -> Result<Body, Vec<Value>> {
    if body.is_empty() {
        return Ok(Body::Absent);
    }
    let json = match content_type {
        None => true,
        Some(ct) => is_json_content_type(ct),
    };
    if !json {
        return Ok(Body::Raw(String::from_utf8_lossy(body).into_owned()));
    }
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            return Err(vec![error_item(
                "json_invalid",
                &[Value::from("body"), Value::from(e.valid_up_to())],
                "JSON decode error",
                &Value::Object(Map::new()),
                ctx1("error", Value::from("Invalid UTF-8")),
                false,
            )])
        }
    };
    match pyjson::parse(text) {
        Ok(Value::Null) => Ok(Body::Absent),
        Ok(v) => Ok(Body::Json(v)),
        Err(e) => Err(vec![error_item(
            "json_invalid",
            &[Value::from("body"), Value::from(e.pos)],
            "JSON decode error",
            &Value::Object(Map::new()),
            ctx1("error", Value::from(e.msg)),
            false,
        )]),
    }
}

fn not_a_dict(input: Value) -> Vec<Value> {
    vec![error_item(
        "model_attributes_type",
        &[Value::from("body")],
        "Input should be a valid dictionary or object to extract fields from",
        &input,
        None,
        false,
    )]
}

/// The request body as a JSON object, `None` when there is none; any other body is refused as
/// pydantic refuses a model's input that is not a dict.
fn read_object(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Option<Map<String, Value>>, Vec<Value>> {
    match read_body(content_type, body)? {
        Body::Absent => Ok(None),
        Body::Raw(s) => Err(not_a_dict(Value::String(s))),
        Body::Json(Value::Object(o)) => Ok(Some(o)),
        Body::Json(other) => Err(not_a_dict(other)),
    }
}

/// An optional number of a request body: absent or null is `None`. A value `lax` cannot read is
/// an error item of its own; one `in_range` refuses is the error item `bound` (type, message,
/// ctx) says.
fn optional_number<T>(
    obj: &Map<String, Value>,
    key: &str,
    lax: fn(&Value) -> Result<T, (&'static str, &'static str)>,
    in_range: fn(&T) -> bool,
    bound: (&str, &str, Option<Value>),
    errors: &mut Vec<Value>,
) -> Option<T> {
    let v = obj.get(key).filter(|v| !v.is_null())?;
    match lax(v) {
        Err((kind, msg)) => {
            errors.push(error_item(kind, &loc_body(key), msg, v, None, false));
            None
        }
        Ok(x) if !in_range(&x) => {
            let (kind, msg, ctx) = bound;
            errors.push(error_item(kind, &loc_body(key), msg, v, ctx, false));
            None
        }
        Ok(x) => Some(x),
    }
}

fn optional_str(obj: &Map<String, Value>, key: &str, errors: &mut Vec<Value>) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(v @ Value::String(s)) if non_finite(v).is_none() => {
            if s.chars().count() > 255 {
                errors.push(error_item(
                    "string_too_long",
                    &loc_body(key),
                    "String should have at most 255 characters",
                    v,
                    ctx1("max_length", Value::from(255)),
                    false,
                ));
                None
            } else {
                Some(s.clone())
            }
        }
        Some(v) => {
            errors.push(error_item(
                "string_type",
                &loc_body(key),
                "Input should be a valid string",
                v,
                None,
                false,
            ));
            None
        }
    }
}

/// Validate a `POST /reset` body (`ResetRequest`: optional; `seed` int >= 0, `episode_id` str
/// <= 255 chars, extra keys allowed). `Err` is the `detail` list of a 422.
pub fn parse_http_reset(content_type: Option<&str>, body: &[u8]) -> Result<HttpReset, Vec<Value>> {
    let Some(obj) = read_object(content_type, body)? else {
        return Ok(HttpReset::default());
    };
    let mut errors = Vec::new();
    let seed = optional_number(
        &obj,
        "seed",
        lax_int,
        |i| *i >= 0,
        (
            "greater_than_equal",
            "Input should be greater than or equal to 0",
            ctx1("ge", Value::from(0)),
        ),
        &mut errors,
    );
    let episode_id = optional_str(&obj, "episode_id", &mut errors);
    if errors.is_empty() {
        Ok(HttpReset { seed, episode_id })
    } else {
        Err(errors)
    }
}

/// Validate a `POST /step` body (`StepRequest`: `action` dict required, `timeout_s` > 0,
/// `request_id` str <= 255, extra keys allowed), then its action. `Err` is a 422 `detail` list:
/// body errors are located under `"body"` (no `url`), action errors are not (with `url`), as the
/// reference reports them.
pub fn parse_http_step(
    content_type: Option<&str>,
    body: &[u8],
    limits: &Limits,
) -> Result<HttpStep, Vec<Value>> {
    let Some(obj) = read_object(content_type, body)? else {
        return Err(vec![error_item(
            "missing",
            &[Value::from("body")],
            "Field required",
            &Value::Null,
            None,
            false,
        )]);
    };
    let mut errors = Vec::new();
    let action = match obj.get("action") {
        None => {
            errors.push(error_item(
                "missing",
                &loc_body("action"),
                "Field required",
                &Value::Object(obj.clone()),
                None,
                false,
            ));
            None
        }
        Some(Value::Object(a)) => Some(a),
        Some(other) => {
            errors.push(dict_type(&loc_body("action"), other, false));
            None
        }
    };
    let timeout_s = optional_number(
        &obj,
        "timeout_s",
        lax_float,
        |f| *f > 0.0, // false for NaN too
        (
            "greater_than",
            "Input should be greater than 0",
            ctx1("gt", Value::from(0.0)),
        ),
        &mut errors,
    );
    let request_id = optional_str(&obj, "request_id", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let wait_seconds = validate_action(action.expect("checked above"), limits)?;
    Ok(HttpStep {
        wait_seconds,
        timeout_s,
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(text: &str) -> Result<WsRequest, Rejection> {
        parse_ws_request(text, &Limits::default())
    }

    fn ws_err(text: &str) -> String {
        ws(text).unwrap_err().to_json()
    }

    #[test]
    fn valid_requests() {
        assert_eq!(
            ws(r#"{"type": "reset", "data": {}}"#).unwrap(),
            WsRequest::Reset { episode_id: None }
        );
        assert_eq!(
            ws(r#"{"type": "reset"}"#).unwrap(),
            WsRequest::Reset { episode_id: None }
        );
        assert_eq!(
            ws(r#"{"type": "reset", "data": {"seed": 42, "episode_id": "ep-1"}}"#).unwrap(),
            WsRequest::Reset {
                episode_id: Some("ep-1".into())
            }
        );
        assert_eq!(
            ws(r#"{"type": "step", "data": {"wait_seconds": 0.05}}"#).unwrap(),
            WsRequest::Step { wait_seconds: 0.05 }
        );
        assert_eq!(
            ws(r#"{"type": "step", "data": {}}"#).unwrap(),
            WsRequest::Step { wait_seconds: 0.0 }
        );
        assert_eq!(ws(r#"{"type": "state"}"#).unwrap(), WsRequest::State);
        assert_eq!(ws(r#"{"type": "close"}"#).unwrap(), WsRequest::Close);
    }

    #[test]
    fn errors_match_the_captures() {
        // Every line below is verbatim from ws_capture.txt (Session C).
        assert_eq!(
            ws_err("{not json"),
            r#"{"type":"error","data":{"message":"Invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)","code":"INVALID_JSON"}}"#
        );
        assert_eq!(
            ws_err(r#"{"type": "bogus"}"#),
            r#"{"type":"error","data":{"message":"Unknown message type: bogus","code":"UNKNOWN_TYPE"}}"#
        );
        assert_eq!(
            ws_err(r#"{"foo": 1}"#),
            r#"{"type":"error","data":{"message":"Unknown message type: ","code":"UNKNOWN_TYPE"}}"#
        );
        assert_eq!(
            ws_err(r#"{"type": "step"}"#),
            r#"{"type":"error","data":{"message":"Invalid message","code":"VALIDATION_ERROR","errors":[{"type":"missing","loc":["data"],"msg":"Field required","input":{"type":"step"},"url":"https://errors.pydantic.dev/2.14/v/missing"}]}}"#
        );
        assert_eq!(
            ws_err(r#"{"type": "step", "data": {"wait_seconds": "abc"}}"#),
            r#"{"type":"error","data":{"message":"Invalid message","code":"VALIDATION_ERROR","errors":[{"type":"float_parsing","loc":["wait_seconds"],"msg":"Input should be a valid number, unable to parse string as a number","input":"abc","url":"https://errors.pydantic.dev/2.14/v/float_parsing"}]}}"#
        );
        assert_eq!(
            ws_err(r#"{"type": "step", "data": {"bogus": 1}}"#),
            r#"{"type":"error","data":{"message":"Invalid message","code":"VALIDATION_ERROR","errors":[{"type":"extra_forbidden","loc":["bogus"],"msg":"Extra inputs are not permitted","input":1,"url":"https://errors.pydantic.dev/2.14/v/extra_forbidden"}]}}"#
        );
        assert_eq!(
            ws_err(r#"{"type": "step", "data": {"wait_seconds": 0}, "extra": 1}"#),
            r#"{"type":"error","data":{"message":"Invalid message","code":"VALIDATION_ERROR","errors":[{"type":"extra_forbidden","loc":["extra"],"msg":"Extra inputs are not permitted","input":1,"url":"https://errors.pydantic.dev/2.14/v/extra_forbidden"}]}}"#
        );
        assert_eq!(
            ws_err(r#"{"type": "state", "data": {}}"#),
            r#"{"type":"error","data":{"message":"Invalid message","code":"VALIDATION_ERROR","errors":[{"type":"extra_forbidden","loc":["data"],"msg":"Extra inputs are not permitted","input":{},"url":"https://errors.pydantic.dev/2.14/v/extra_forbidden"}]}}"#
        );
        assert_eq!(
            ws_err(r#"{"type": "close", "data": {}}"#),
            r#"{"type":"error","data":{"message":"Invalid message","code":"VALIDATION_ERROR","errors":[{"type":"extra_forbidden","loc":["data"],"msg":"Extra inputs are not permitted","input":{},"url":"https://errors.pydantic.dev/2.14/v/extra_forbidden"}]}}"#
        );
    }

    #[test]
    fn bad_waits_are_validation_errors() {
        let e = ws(r#"{"type": "step", "data": {"wait_seconds": 1e+300}}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationError);
        assert_eq!(
            e.to_json(),
            r#"{"type":"error","data":{"message":"Invalid message","code":"VALIDATION_ERROR","errors":[{"type":"less_than_equal","loc":["wait_seconds"],"msg":"Input should be less than or equal to 3600","input":1e+300,"ctx":{"le":3600.0},"url":"https://errors.pydantic.dev/2.14/v/less_than_equal"}]}}"#
        );
        let e = ws(r#"{"type": "step", "data": {"wait_seconds": -1}}"#).unwrap_err();
        assert!(e.to_json().contains(r#""type":"greater_than_equal""#));
        let e = ws(r#"{"type": "step", "data": {"wait_seconds": NaN}}"#).unwrap_err();
        assert!(e.to_json().contains(r#""type":"finite_number","loc":["wait_seconds"],"msg":"Input should be a finite number","input":null"#), "{}", e.to_json());
        let e = ws(r#"{"type": "step", "data": {"wait_seconds": Infinity}}"#).unwrap_err();
        assert!(e.to_json().contains("finite_number"));
        let lim = Limits {
            max_wait_seconds: 0.5,
        };
        let e = parse_ws_request(r#"{"type":"step","data":{"wait_seconds":1}}"#, &lim).unwrap_err();
        assert!(
            e.message == "Invalid message" && e.to_json().contains("less than or equal to 0.5")
        );
        // lax numbers as pydantic: numeric strings and bools
        assert_eq!(
            ws(r#"{"type":"step","data":{"wait_seconds":" 1.5 "}}"#).unwrap(),
            WsRequest::Step { wait_seconds: 1.5 }
        );
    }

    #[test]
    fn odd_frames_keep_the_session() {
        assert_eq!(ws("[1, 2]").unwrap_err().code, ErrorCode::ValidationError);
        assert_eq!(
            ws(r#"{"type": 5}"#).unwrap_err().message,
            "Unknown message type: 5"
        );
        assert_eq!(
            ws(r#"{"type": null}"#).unwrap_err().message,
            "Unknown message type: None"
        );
        assert_eq!(ws("").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(
            ws(r#"{"type":"mcp","data":{"jsonrpc":"2.0","method":"tools/list","params":{},"id":1}}"#)
                .unwrap(),
            WsRequest::Mcp {
                request: serde_json::json!({"jsonrpc":"2.0","method":"tools/list","params":{},"id":1})
            }
        );
    }

    fn detail(r: Result<impl std::fmt::Debug, Vec<Value>>) -> String {
        serde_json::to_string(&serde_json::json!({ "detail": r.unwrap_err() })).unwrap()
    }

    #[test]
    fn http_bodies_match_the_captures() {
        let lim = Limits::default();
        let j = Some("application/json");
        assert_eq!(
            detail(parse_http_step(
                j,
                br#"{"action":{"wait_seconds":"abc"}}"#,
                &lim
            )),
            r#"{"detail":[{"type":"float_parsing","loc":["wait_seconds"],"msg":"Input should be a valid number, unable to parse string as a number","input":"abc","url":"https://errors.pydantic.dev/2.14/v/float_parsing"}]}"#
        );
        assert_eq!(
            detail(parse_http_step(j, br#"{"action":{"bogus":1}}"#, &lim)),
            r#"{"detail":[{"type":"extra_forbidden","loc":["bogus"],"msg":"Extra inputs are not permitted","input":1,"url":"https://errors.pydantic.dev/2.14/v/extra_forbidden"}]}"#
        );
        assert_eq!(
            detail(parse_http_step(j, b"{}", &lim)),
            r#"{"detail":[{"type":"missing","loc":["body","action"],"msg":"Field required","input":{}}]}"#
        );
        assert_eq!(
            detail(parse_http_step(j, b"", &lim)),
            r#"{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}"#
        );
        assert_eq!(
            detail(parse_http_step(
                j,
                br#"{"action":{"wait_seconds":0.0},"timeout_s":0}"#,
                &lim
            )),
            r#"{"detail":[{"type":"greater_than","loc":["body","timeout_s"],"msg":"Input should be greater than 0","input":0,"ctx":{"gt":0.0}}]}"#
        );
        assert_eq!(
            detail(parse_http_reset(j, br#"{"seed":-1}"#)),
            r#"{"detail":[{"type":"greater_than_equal","loc":["body","seed"],"msg":"Input should be greater than or equal to 0","input":-1,"ctx":{"ge":0}}]}"#
        );
        assert_eq!(
            detail(parse_http_reset(j, b"{bad")),
            r#"{"detail":[{"type":"json_invalid","loc":["body",1],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting property name enclosed in double quotes"}}]}"#
        );
        assert_eq!(
            detail(parse_http_step(
                Some("text/plain"),
                br#"{"action":{}}"#,
                &lim
            )),
            r#"{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":"{\"action\":{}}"}]}"#
        );
        let ok = parse_http_step(
            j,
            br#"{"action":{"wait_seconds":0.0},"timeout_s":5,"request_id":"r1","extra":1}"#,
            &lim,
        )
        .unwrap();
        assert_eq!(ok.request_id.as_deref(), Some("r1"));
        assert_eq!(parse_http_reset(None, b"").unwrap(), HttpReset::default());
        assert_eq!(
            parse_http_reset(j, br#"{"seed":42,"episode_id":"ep-1"}"#).unwrap(),
            HttpReset {
                seed: Some(42),
                episode_id: Some("ep-1".into())
            }
        );
    }
}
