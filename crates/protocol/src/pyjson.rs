//! JSON the way Python's `json` module reads it, for the parts a client can see:
//! error messages (`Expecting value: line 1 column 1 (char 0)`), the bare `NaN` / `Infinity` /
//! `-Infinity` literals that `json.dumps(float("nan"))` produces, and `str()` of a value.

use serde_json::Value;

/// Strings that stand for the non-finite literals after [`parse`]; only produced by the
/// fallback path, so they never collide with a real client string in practice (they start with NUL).
pub const NAN_SENTINEL: &str = "\u{0}NaN";
pub const INF_SENTINEL: &str = "\u{0}Infinity";
pub const NEG_INF_SENTINEL: &str = "\u{0}-Infinity";

/// A JSON decode error, as Python reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PyJsonError {
    /// Python's message without the position, e.g. `Expecting value`.
    pub msg: String,
    /// Character offset (Python's `e.pos`).
    pub pos: usize,
    pub lineno: usize,
    pub colno: usize,
}

impl std::fmt::Display for PyJsonError {
    /// `Expecting value: line 1 column 1 (char 0)`, like `str(json.JSONDecodeError)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: line {} column {} (char {})",
            self.msg, self.lineno, self.colno, self.pos
        )
    }
}

/// Parse like `json.loads`: standard JSON, plus bare `NaN`, `Infinity`, `-Infinity`, which come
/// back as the sentinel strings above (see [`non_finite`]).
pub fn parse(text: &str) -> Result<Value, PyJsonError> {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(e) => {
            let overflow = e.to_string().starts_with("number out of range");
            if overflow || text.contains("NaN") || text.contains("Infinity") {
                if let Some(rewritten) = replace_non_finite(text) {
                    if let Ok(v) = serde_json::from_str::<Value>(&rewritten) {
                        return Ok(v);
                    }
                }
            }
            Err(python_error(text, &e))
        }
    }
}

/// If `v` is one of the non-finite sentinels, its float value.
pub fn non_finite(v: &Value) -> Option<f64> {
    match v.as_str()? {
        NAN_SENTINEL => Some(f64::NAN),
        INF_SENTINEL => Some(f64::INFINITY),
        NEG_INF_SENTINEL => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A copy of `v` fit to echo back to a client: sentinels become `null` (how pydantic serializes
/// non-finite floats in JSON).
pub fn echo(v: &Value) -> Value {
    match v {
        Value::String(_) if non_finite(v).is_some() => Value::Null,
        Value::Array(a) => Value::Array(a.iter().map(echo).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), echo(v))).collect()),
        other => other.clone(),
    }
}

/// Rewrite bare `NaN`, `Infinity`, `-Infinity` tokens (outside strings) into sentinel strings.
///
/// Scans bytes, not `str` slices: text outside strings may hold any UTF-8 (it is invalid JSON
/// then, but must not split a character), and every token matched here is ASCII.
fn replace_non_finite(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    let mut last = 0;
    let mut in_str = false;
    let mut changed = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    in_str = false;
                    i += 1
                }
                _ => i += 1,
            }
            continue;
        }
        let rest = &bytes[i..];
        let hit: Option<(usize, &str)> = if b == b'"' {
            in_str = true;
            None
        } else if b == b'-' || b.is_ascii_digit() {
            // A number too large for f64 (1e999) is infinity to Python.
            let len = rest
                .iter()
                .take_while(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                .count();
            // ASCII by construction, so this never fails.
            let tok = std::str::from_utf8(&rest[..len]).unwrap_or("");
            match tok.parse::<f64>() {
                Ok(f) if f.is_infinite() && len > 0 => Some((
                    len,
                    if f > 0.0 {
                        INF_SENTINEL
                    } else {
                        NEG_INF_SENTINEL
                    },
                )),
                _ if rest.starts_with(b"-Infinity") => Some(("-Infinity".len(), NEG_INF_SENTINEL)),
                _ => {
                    i += len.max(1);
                    continue;
                }
            }
        } else if rest.starts_with(b"NaN") {
            Some(("NaN".len(), NAN_SENTINEL))
        } else if rest.starts_with(b"Infinity") {
            Some(("Infinity".len(), INF_SENTINEL))
        } else {
            None
        };
        if let Some((len, sentinel)) = hit {
            // `i` and `last` sit on ASCII bytes (token starts / ends), so char boundaries.
            out.push_str(text.get(last..i)?);
            out.push_str(&serde_json::to_string(sentinel).ok()?);
            i += len;
            last = i;
            changed = true;
        } else {
            i += 1;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(text.get(last..)?);
    Some(out)
}

/// Map a serde_json error to the message and position Python's `json` would report.
pub fn python_error(text: &str, e: &serde_json::Error) -> PyJsonError {
    let full = e.to_string();
    let raw = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => full.as_str(),
    };
    let eof = e.is_eof();
    // Byte offset of the error: serde_json's column is 1-based on the error line, in bytes.
    let byte_pos = if eof {
        text.len()
    } else {
        let mut off = 0usize;
        for (n, line) in text.split('\n').enumerate() {
            if n + 1 == e.line() {
                off += e.column().saturating_sub(1).min(line.len());
                break;
            }
            off += line.len() + 1;
        }
        off.min(text.len())
    };
    let msg = if raw.starts_with("key must be a string") || raw == "EOF while parsing an object" {
        "Expecting property name enclosed in double quotes"
    } else if raw.starts_with("expected value")
        || raw.starts_with("EOF while parsing a value")
        || raw.starts_with("expected ident")
        || raw.starts_with("EOF while parsing a list")
        || raw.starts_with("invalid number")
    {
        "Expecting value"
    } else if raw.starts_with("expected `:`") {
        "Expecting ':' delimiter"
    } else if raw.starts_with("expected `,`") {
        "Expecting ',' delimiter"
    } else if raw.starts_with("trailing characters") {
        "Extra data"
    } else if raw.starts_with("trailing comma") {
        let (before, after) = text.as_bytes().split_at(byte_pos.min(text.len()));
        if before.trim_ascii_end().ends_with(b"}") || after.trim_ascii_start().starts_with(b"}") {
            "Expecting property name enclosed in double quotes"
        } else {
            "Expecting value"
        }
    } else if raw.starts_with("EOF while parsing a string") {
        "Unterminated string starting at"
    } else if raw.starts_with("control character") {
        "Invalid control character at"
    } else {
        raw
    };
    // Python positions count characters, not bytes.
    let mut cut = byte_pos.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let prefix = &text[..cut];
    let pos = prefix.chars().count();
    let lineno = prefix.matches('\n').count() + 1;
    let colno = match prefix.rfind('\n') {
        Some(nl) => prefix[nl + 1..].chars().count() + 1,
        None => pos + 1,
    };
    PyJsonError {
        msg: msg.to_owned(),
        pos,
        lineno,
        colno,
    }
}

/// Python's `str()` of a JSON value (`None`, `True`, `[1, 2]`, `{'a': 1}`, `1.0`).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => match non_finite(v) {
            Some(f) if f.is_nan() => "nan".into(),
            Some(f) if f > 0.0 => "inf".into(),
            Some(_) => "-inf".into(),
            None => s.clone(),
        },
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if n.is_f64() {
                py_float(n.as_f64().unwrap_or(0.0))
            } else {
                n.to_string()
            }
        }
        Value::String(s) => {
            if non_finite(v).is_some() {
                return py_str(v);
            }
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(s.len() + 2);
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c)
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\x{:02x}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(py_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's `repr(float)` (`1.0`, `0.05`, `1e+300`, `1e-07`): the workspace's one implementation,
/// shared with the result files.
pub use openenv_results::py_float;

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn error_messages_match_python() {
        assert_eq!(err(""), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(
            err("{not json"),
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
        );
        assert_eq!(
            err("{"),
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
        );
        assert_eq!(err("[1,"), "Expecting value: line 1 column 4 (char 3)");
        assert_eq!(
            err(r#"{"a" 1}"#),
            "Expecting ':' delimiter: line 1 column 6 (char 5)"
        );
        assert_eq!(err(r#"{"a":1} x"#), "Extra data: line 1 column 9 (char 8)");
    }

    #[test]
    fn non_finite_literals_parse() {
        let v = parse(
            r#"{"wait_seconds": NaN, "s": "NaN", "b": -Infinity, "c": [1e999, -1e999, 1.5]}"#,
        )
        .unwrap();
        assert_eq!(non_finite(&v["c"][0]), Some(f64::INFINITY));
        assert_eq!(non_finite(&v["c"][1]), Some(f64::NEG_INFINITY));
        assert_eq!(v["c"][2], 1.5);
        assert!(non_finite(&v["wait_seconds"]).unwrap().is_nan());
        assert_eq!(v["s"], "NaN");
        assert_eq!(non_finite(&v["b"]), Some(f64::NEG_INFINITY));
        assert_eq!(echo(&v)["wait_seconds"], Value::Null);
    }

    /// Non-ASCII outside a string used to split a char in the non-finite rewrite (a panic any
    /// client could trigger).
    #[test]
    fn non_ascii_outside_strings_is_an_error_not_a_panic() {
        for text in [
            "éNaN",
            "é1e400",
            "[é, Infinity]",
            "{\"a\": NaN}é",
            "ü-Infinity",
            "\"é\" NaN",
            "[1e999, \"ü\", NaN, ☃]",
            "NaNé",
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.pos <= text.chars().count(), "{text}: {e}");
        }
        let v = parse("[\"é\", NaN, 1e999]").unwrap();
        assert_eq!(v[0], "é");
        assert!(non_finite(&v[1]).unwrap().is_nan());
    }

    #[test]
    fn python_str_and_repr() {
        let v: Value =
            serde_json::from_str(r#"[null, true, 1, 1.0, "it's", {"a": [1e300]}]"#).unwrap();
        assert_eq!(
            py_repr(&v),
            r#"[None, True, 1, 1.0, "it's", {'a': [1e+300]}]"#
        );
        assert_eq!(py_str(&Value::String("bogus".into())), "bogus");
        assert_eq!(py_float(1e-7), "1e-07");
    }
}
