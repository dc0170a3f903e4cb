//! JSON written byte-for-byte as Go's `encoding/json.Marshal` writes it, so
//! hashes over it (the device-info CheckCode) match the Go components'.
//! Maps are sorted by key; Go structs keep their field order ([`GoObject`]).

use std::collections::BTreeMap;

use serde_json::Value;

/// A value as Go would hold it before `json.Marshal`.
#[derive(Debug, Clone, PartialEq)]
pub enum GoValue {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    String(String),
    Array(Vec<GoValue>),
    /// A Go map with string keys: written with keys sorted byte-wise on their
    /// UTF-8 form (Go sorts map keys with `strings.Compare`, and `String`'s
    /// `Ord` is the same byte order).
    Map(BTreeMap<String, GoValue>),
    /// A Go struct: written in field order.
    Object(GoObject),
}

/// A Go struct value: (JSON field name, value) pairs in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoObject {
    fields: Vec<(String, GoValue)>,
}

impl GoObject {
    pub fn new() -> GoObject {
        GoObject::default()
    }

    /// Appends a field (builder style). Field names are the struct's JSON
    /// names; the caller keeps them unique, as Go's struct tags do.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<GoValue>) -> GoObject {
        self.push(name, value);
        self
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<GoValue>) {
        self.fields.push((name.into(), value.into()));
    }

    pub fn fields(&self) -> &[(String, GoValue)] {
        &self.fields
    }
}

impl From<bool> for GoValue {
    fn from(v: bool) -> Self {
        GoValue::Bool(v)
    }
}
impl From<i64> for GoValue {
    fn from(v: i64) -> Self {
        GoValue::Int(v)
    }
}
impl From<i32> for GoValue {
    fn from(v: i32) -> Self {
        GoValue::Int(i64::from(v))
    }
}
impl From<u64> for GoValue {
    fn from(v: u64) -> Self {
        GoValue::Uint(v)
    }
}
impl From<u32> for GoValue {
    fn from(v: u32) -> Self {
        GoValue::Uint(u64::from(v))
    }
}
impl From<String> for GoValue {
    fn from(v: String) -> Self {
        GoValue::String(v)
    }
}
impl From<&str> for GoValue {
    fn from(v: &str) -> Self {
        GoValue::String(v.to_owned())
    }
}
impl From<GoObject> for GoValue {
    fn from(v: GoObject) -> Self {
        GoValue::Object(v)
    }
}
impl From<Vec<GoValue>> for GoValue {
    fn from(v: Vec<GoValue>) -> Self {
        GoValue::Array(v)
    }
}
impl From<BTreeMap<String, GoValue>> for GoValue {
    fn from(v: BTreeMap<String, GoValue>) -> Self {
        GoValue::Map(v)
    }
}
impl From<&BTreeMap<String, String>> for GoValue {
    fn from(v: &BTreeMap<String, String>) -> Self {
        GoValue::Map(
            v.iter()
                .map(|(k, s)| (k.clone(), GoValue::from(s.as_str())))
                .collect(),
        )
    }
}

/// A JSON value Go's integer-only encoding here cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoJsonError {
    #[error("number {0} is not an integer; only integers are written Go-style here")]
    NotAnInteger(String),
}

impl TryFrom<&Value> for GoValue {
    type Error = GoJsonError;

    /// Objects become Go maps (sorted keys); numbers must be integers.
    fn try_from(v: &Value) -> Result<Self, Self::Error> {
        Ok(match v {
            Value::Null => GoValue::Null,
            Value::Bool(b) => GoValue::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => GoValue::Int(i),
                (None, Some(u)) => GoValue::Uint(u),
                (None, None) => return Err(GoJsonError::NotAnInteger(n.to_string())),
            },
            Value::String(s) => GoValue::String(s.clone()),
            Value::Array(items) => GoValue::Array(
                items
                    .iter()
                    .map(GoValue::try_from)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => GoValue::Map(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), GoValue::try_from(v)?)))
                    .collect::<Result<_, GoJsonError>>()?,
            ),
        })
    }
}

impl GoValue {
    /// The value as a `serde_json::Value` (struct field order is lost).
    pub fn to_serde(&self) -> Value {
        match self {
            GoValue::Null => Value::Null,
            GoValue::Bool(b) => Value::Bool(*b),
            GoValue::Int(i) => Value::from(*i),
            GoValue::Uint(u) => Value::from(*u),
            GoValue::String(s) => Value::String(s.clone()),
            GoValue::Array(items) => Value::Array(items.iter().map(GoValue::to_serde).collect()),
            GoValue::Map(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_serde())).collect())
            }
            GoValue::Object(obj) => Value::Object(
                obj.fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_serde()))
                    .collect(),
            ),
        }
    }
}

/// `json.Marshal(v)` as a string: no whitespace, Go's escaping.
pub fn to_go_json(value: &GoValue) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Appends `value` in Go's encoding.
pub fn write_value(out: &mut String, value: &GoValue) {
    match value {
        GoValue::Null => out.push_str("null"),
        GoValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        GoValue::Int(i) => out.push_str(&i.to_string()),
        GoValue::Uint(u) => out.push_str(&u.to_string()),
        GoValue::String(s) => write_string(out, s),
        GoValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        GoValue::Map(map) => write_members(out, map.iter()),
        GoValue::Object(obj) => write_members(out, obj.fields.iter().map(|(k, v)| (k, v))),
    }
}

fn write_members<'a>(out: &mut String, members: impl Iterator<Item = (&'a String, &'a GoValue)>) {
    out.push('{');
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

/// Appends `s` as a JSON string the way Go 1.22+ `json.Marshal` does (HTML
/// escaping on): `"` and `\` backslash-escaped; `\b \f \n \r \t` as those
/// short escapes (Go before 1.22 wrote `\u0008` and `\u000c` for the first
/// two); other bytes below 0x20, and `<` `>` `&`, as `\u00xx` with lower-case
/// hex; U+2028 and U+2029 as `\u2028` `\u2029`; everything else, DEL and
/// non-ASCII included, as is. (Go replaces invalid UTF-8 with U+FFFD; a Rust
/// `str` cannot hold any.)
pub fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' => {
                let b = c as u32;
                out.push_str("\\u00");
                out.push(char::from(HEX[(b >> 4) as usize]));
                out.push(char::from(HEX[(b & 0xF) as usize]));
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
