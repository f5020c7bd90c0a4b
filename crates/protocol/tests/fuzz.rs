//! Property-based fuzzing of the inbound parsers: arbitrary bytes and JSON-shaped mutations of
//! real messages never panic, and always get a defined answer (a request, or an error that
//! serializes to the protocol's error shapes).
//!
//! Bounded here (proptest's 256 cases per property); a long run is one command away:
//! `PROPTEST_CASES=100000 cargo test --release -p openenv-protocol --test fuzz`
//! (or `bench/fuzz.sh`, which also runs the server's frame-path fuzz and prints cases/seconds).

use openenv_protocol::inbound::{parse_http_reset, parse_http_step, parse_ws_request, Limits};
use proptest::prelude::*;
use serde_json::Value;

/// Real messages (what clients send) to mutate.
const SEEDS: &[&str] = &[
    r#"{"type":"reset"}"#,
    r#"{"type":"reset","data":{"episode_id":"e1","seed":3}}"#,
    r#"{"type":"step","data":{"wait_seconds":0.5}}"#,
    r#"{"type":"step","data":{"wait_seconds":"1_0","metadata":{}}}"#,
    r#"{"type":"state"}"#,
    r#"{"type":"close"}"#,
    r#"{"type":"mcp","data":{"jsonrpc":"2.0","id":1,"method":"tools/list"}}"#,
    r#"{"action":{"wait_seconds":1.5},"timeout_s":3,"request_id":"r"}"#,
    r#"{"seed":1,"episode_id":"x"}"#,
];

/// Fragments that stress the Python-compatible JSON reader: non-finite literals, huge numbers,
/// non-ASCII, escapes, structure.
const FRAGMENTS: &[&str] = &[
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e999",
    "é",
    "☃",
    "\u{10FFFF}",
    "\\",
    "\\u",
    "\\ud800",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "-",
    "0",
    "1.",
    ".5",
    "\n",
    "\u{0}",
    "\u{0}NaN",
    "wait_seconds",
    "data",
    "type",
    "_",
    " ",
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Replace(usize, usize, String),
}

fn fragment() -> impl Strategy<Value = String> {
    // Mostly the fragments that matter to the parser; `any::<char>()` is mostly non-ASCII.
    prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        2 => any::<char>().prop_map(|c| c.to_string()),
        1 => "[ -~]{0,6}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), fragment()).prop_map(|(i, f)| Edit::Insert(i, f)),
        (any::<usize>(), 0usize..8).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), 0usize..8, fragment()).prop_map(|(i, n, f)| Edit::Replace(i, n, f)),
    ]
}

/// Byte offset of the `i`-th char boundary (modulo the length): edits stay at char boundaries,
/// so the mutated text is a `str`, as a WS text frame is.
fn boundary(s: &str, i: usize) -> usize {
    let n = s.chars().count();
    let k = i % (n + 1);
    s.char_indices().nth(k).map(|(b, _)| b).unwrap_or(s.len())
}

fn mutate(seed: &str, edits: &[Edit]) -> String {
    let mut s = seed.to_owned();
    for e in edits {
        match e {
            Edit::Insert(i, f) => {
                let b = boundary(&s, *i);
                s.insert_str(b, f);
            }
            Edit::Delete(i, n) | Edit::Replace(i, n, _) => {
                let b = boundary(&s, *i);
                let end = s[b..]
                    .char_indices()
                    .nth(*n)
                    .map(|(k, _)| b + k)
                    .unwrap_or(s.len());
                let with = match e {
                    Edit::Replace(_, _, f) => f.as_str(),
                    _ => "",
                };
                s.replace_range(b..end, with);
            }
        }
    }
    s
}

fn message() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(SEEDS),
        proptest::collection::vec(edit(), 0..8),
    )
        .prop_map(|(seed, edits)| mutate(seed, &edits))
}

const KEYS: &[&str] = &[
    "type",
    "data",
    "wait_seconds",
    "metadata",
    "episode_id",
    "id",
    "action",
    "seed",
    "timeout_s",
    "request_id",
];

/// An arbitrary JSON value whose keys are often the ones the parsers look at.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
        proptest::sample::select(&["reset", "step", "state", "close", "mcp", "NaN"][..])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![
            proptest::sample::select(KEYS).prop_map(str::to_owned),
            ".{0,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The answer to a WS frame is a request, or an error frame that is JSON of the
/// `{"type":"error","data":{"message","code",...}}` shape.
fn check_ws(text: &str) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    if let Err(rejection) = parse_ws_request(text, &limits) {
        let v: Value = serde_json::from_str(&rejection.to_json())
            .map_err(|e| TestCaseError::fail(format!("error frame is not JSON: {e}")))?;
        prop_assert_eq!(&v["type"], "error");
        prop_assert!(v["data"]["message"].is_string(), "{}", v);
        prop_assert!(v["data"]["code"].is_string(), "{}", v);
    }
    Ok(())
}

/// HTTP bodies: a request, or a 422 detail list of pydantic-shaped objects.
fn check_http(content_type: Option<&str>, body: &[u8]) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    let details = [
        parse_http_step(content_type, body, &limits).err(),
        parse_http_reset(content_type, body).err(),
    ];
    for d in details.into_iter().flatten() {
        prop_assert!(!d.is_empty());
        for item in &d {
            prop_assert!(
                item["type"].is_string() && item["loc"].is_array(),
                "{}",
                item
            );
            serde_json::to_string(item).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
    Ok(())
}

proptest! {
    // Cases: PROPTEST_CASES (default 256). Failures are reported with their minimal input,
    // not saved to files in the repository.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_ws(&String::from_utf8_lossy(&bytes))?;
        check_http(None, &bytes)?;
        check_http(Some("application/json"), &bytes)?;
        check_http(Some("text/plain"), &bytes)?;
    }

    #[test]
    fn mutated_messages(text in message()) {
        check_ws(&text)?;
        check_http(Some("application/json"), text.as_bytes())?;
    }

    #[test]
    fn arbitrary_json(v in json_value(), wrap in any::<bool>()) {
        let text = if wrap {
            serde_json::json!({"type": "step", "data": v}).to_string()
        } else {
            v.to_string()
        };
        check_ws(&text)?;
        check_http(None, text.as_bytes())?;
    }
}

/// The mutation strategy reaches the input that used to panic (non-ASCII next to `NaN`).
#[test]
fn mutations_reach_the_old_panic() {
    let text = mutate(
        r#"{"type":"state"}"#,
        &[
            Edit::Replace(0, 100, "NaN".into()),
            Edit::Insert(0, "é".into()),
        ],
    );
    assert_eq!(text, "éNaN");
    check_ws(&text).unwrap();
}
