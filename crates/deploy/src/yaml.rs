//! A tiny YAML value, emitter and parser for the block-style subset this crate writes (Envoy
//! configs). Strings are always double-quoted with JSON escapes (valid YAML), keys are bare when
//! they are plain identifiers, so no YAML type guessing ("on", "1s", "@type") can bite. The parser
//! reads back exactly what the emitter writes; the tests use it to check generated configs.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Map(Vec<(String, Value)>),
    List(Vec<Value>),
    Str(String),
    Int(i64),
    Bool(bool),
}

impl Value {
    /// Map lookup by key (first match).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follow a path of map keys and list indices ("0", "1", ...).
    pub fn at(&self, path: &[&str]) -> Option<&Value> {
        let mut cur = self;
        for p in path {
            cur = match cur {
                Value::Map(_) => cur.get(p)?,
                Value::List(l) => l.get(p.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

/// Shorthand constructors used by the config builders.
pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}
pub fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}
pub fn i(v: impl Into<i64>) -> Value {
    Value::Int(v.into())
}

fn is_plain_key(k: &str) -> bool {
    let mut c = k.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn quote(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn key(out: &mut String, k: &str) {
    if is_plain_key(k) {
        out.push_str(k);
    } else {
        quote(out, k);
    }
}

/// A scalar, or an empty collection written inline; `None` for a non-empty collection.
fn inline(v: &Value) -> Option<String> {
    let mut out = String::new();
    match v {
        Value::Str(st) => quote(&mut out, st),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Map(m) if m.is_empty() => out.push_str("{}"),
        Value::List(l) if l.is_empty() => out.push_str("[]"),
        _ => return None,
    }
    Some(out)
}

/// YAML text of `v` (a document whose root is normally a map).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match inline(v) {
        Some(sc) => {
            out.push_str(&sc);
            out.push('\n');
        }
        None => emit_block(&mut out, v, 0),
    }
    out
}

fn emit_block(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Map(m) => {
            for (k, val) in m {
                out.push_str(&pad);
                key(out, k);
                out.push(':');
                match inline(val) {
                    Some(sc) => {
                        out.push(' ');
                        out.push_str(&sc);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        emit_block(out, val, indent + 2);
                    }
                }
            }
        }
        Value::List(l) => {
            for item in l {
                out.push_str(&pad);
                out.push('-');
                match inline(item) {
                    Some(sc) => {
                        out.push(' ');
                        out.push_str(&sc);
                        out.push('\n');
                    }
                    None => {
                        // "- " then the item's block, its first line sharing the dash's line.
                        let mut sub = String::new();
                        emit_block(&mut sub, item, indent + 2);
                        out.push(' ');
                        out.push_str(&sub[indent + 2..]);
                    }
                }
            }
        }
        _ => unreachable!("scalars are written inline"),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("yaml line {line}: {msg}")]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

struct Line {
    no: usize,
    indent: usize,
    text: String,
}

/// Parse the subset `to_yaml` writes (plus `#` comment lines and blank lines).
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let mut lines = Vec::new();
    for (no, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.contains('\t') {
            return Err(ParseError {
                line: no + 1,
                msg: "tab in indentation".into(),
            });
        }
        let mut indent = raw.len() - trimmed.len();
        let mut t = trimmed;
        // "- a: 1" becomes "-" at indent and "a: 1" at indent + 2 (nested dashes too).
        while let Some(rest) = t
            .strip_prefix("- ")
            .or(if t == "-" { Some("") } else { None })
        {
            lines.push(Line {
                no: no + 1,
                indent,
                text: "-".into(),
            });
            indent += 2;
            t = rest.trim_start();
            if t.is_empty() {
                break;
            }
        }
        if !t.is_empty() {
            lines.push(Line {
                no: no + 1,
                indent,
                text: t.to_string(),
            });
        }
    }
    if lines.is_empty() {
        return Ok(Value::Map(Vec::new()));
    }
    let mut pos = 0;
    let v = parse_block(&lines, &mut pos, lines[0].indent)?;
    if pos != lines.len() {
        return Err(ParseError {
            line: lines[pos].no,
            msg: "unexpected indentation".into(),
        });
    }
    Ok(v)
}

fn parse_block(lines: &[Line], pos: &mut usize, indent: usize) -> Result<Value, ParseError> {
    let first = &lines[*pos];
    if first.text == "-" {
        let mut items = Vec::new();
        while *pos < lines.len() && lines[*pos].indent == indent && lines[*pos].text == "-" {
            let dash = &lines[*pos];
            *pos += 1;
            if *pos < lines.len() && lines[*pos].indent > indent {
                let child = lines[*pos].indent;
                items.push(parse_block(lines, pos, child)?);
            } else {
                return Err(ParseError {
                    line: dash.no,
                    msg: "empty list item".into(),
                });
            }
        }
        return Ok(Value::List(items));
    }
    if split_key(&first.text, first.no).is_err() {
        let v = try_scalar(&first.text, first.no)?.ok_or_else(|| ParseError {
            line: first.no,
            msg: format!("unsupported line {:?}", first.text),
        })?;
        *pos += 1;
        return Ok(v);
    }
    let mut entries: Vec<(String, Value)> = Vec::new();
    while *pos < lines.len() && lines[*pos].indent == indent {
        let l = &lines[*pos];
        if l.text == "-" {
            return Err(ParseError {
                line: l.no,
                msg: "list item inside a map".into(),
            });
        }
        let (k, rest) = split_key(&l.text, l.no)?;
        if entries.iter().any(|(e, _)| *e == k) {
            return Err(ParseError {
                line: l.no,
                msg: format!("duplicate key {k:?}"),
            });
        }
        *pos += 1;
        let v = if rest.is_empty() {
            if *pos < lines.len() && lines[*pos].indent > indent {
                let child = lines[*pos].indent;
                parse_block(lines, pos, child)?
            } else {
                return Err(ParseError {
                    line: l.no,
                    msg: format!("key {k:?} has no value"),
                });
            }
        } else {
            try_scalar(rest, l.no)?.ok_or_else(|| ParseError {
                line: l.no,
                msg: format!("unsupported value {rest:?}"),
            })?
        };
        entries.push((k, v));
    }
    if *pos < lines.len() && lines[*pos].indent > indent {
        return Err(ParseError {
            line: lines[*pos].no,
            msg: "unexpected indentation".into(),
        });
    }
    Ok(Value::Map(entries))
}

fn split_key(text: &str, no: usize) -> Result<(String, &str), ParseError> {
    let err = |m: &str| ParseError {
        line: no,
        msg: m.to_string(),
    };
    if text.starts_with('"') {
        let (k, used) = unquote(text, no)?;
        let rest = text[used..]
            .strip_prefix(':')
            .ok_or_else(|| err("expected ':' after key"))?;
        Ok((k, rest.trim()))
    } else {
        let (k, rest) = text
            .split_once(':')
            .ok_or_else(|| err("expected 'key: value'"))?;
        if !is_plain_key(k) {
            return Err(err("bad key"));
        }
        if !rest.is_empty() && !rest.starts_with(' ') {
            return Err(err("expected a space after ':'"));
        }
        Ok((k.to_string(), rest.trim()))
    }
}

/// Parse a JSON-style double-quoted string at the start of `t`; returns it and bytes consumed.
fn unquote(t: &str, no: usize) -> Result<(String, usize), ParseError> {
    let err = |m: &str| ParseError {
        line: no,
        msg: m.to_string(),
    };
    let mut out = String::new();
    let mut chars = t.char_indices().skip(1);
    while let Some((idx, ch)) = chars.next() {
        match ch {
            '"' => return Ok((out, idx + 1)),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = (0..4)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    let cp = u32::from_str_radix(&hex, 16).map_err(|_| err("bad \\u escape"))?;
                    out.push(char::from_u32(cp).ok_or_else(|| err("bad \\u escape"))?);
                }
                _ => return Err(err("bad escape")),
            },
            c => out.push(c),
        }
    }
    Err(err("unterminated string"))
}

fn try_scalar(t: &str, no: usize) -> Result<Option<Value>, ParseError> {
    Ok(Some(match t {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "[]" => Value::List(Vec::new()),
        "{}" => Value::Map(Vec::new()),
        _ if t.starts_with('"') => {
            let (st, used) = unquote(t, no)?;
            if used != t.len() {
                return Err(ParseError {
                    line: no,
                    msg: "text after a string".into(),
                });
            }
            Value::Str(st)
        }
        _ => match t.parse::<i64>() {
            Ok(n) => Value::Int(n),
            Err(_) => return Ok(None),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_nested() {
        let v = map(vec![
            ("a", i(1)),
            ("@type", s("type.googleapis.com/x")),
            (
                "list",
                Value::List(vec![
                    map(vec![("x", s("1s")), ("y", Value::Bool(true))]),
                    s("on"),
                    Value::List(vec![i(2), i(3)]),
                    map(vec![("deep", map(vec![("e", Value::List(vec![]))]))]),
                ]),
            ),
            ("empty", Value::Map(vec![])),
            ("quote", s("a\"b\\c\n")),
        ]);
        let text = to_yaml(&v);
        assert_eq!(parse(&text).unwrap(), v, "{text}");
        // YAML traps stay strings: "on", "1s" and keys starting with '@' are quoted.
        assert!(text.contains("- \"on\""), "{text}");
        assert!(text.contains("\"@type\": "), "{text}");
    }

    #[test]
    fn parse_rejects_malformed() {
        assert!(parse("a: 1\n  b: 2\n").is_err());
        assert!(parse("a:\n").is_err());
        assert!(parse("a: 1\na: 2\n").is_err());
        assert!(parse("a: \"x\n").is_err());
        assert!(parse("a: bare words\n").is_err());
    }
}
