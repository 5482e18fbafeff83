//! The strict reader of fleet JSON. Checks run cheapest and most dangerous first: size before
//! anything, UTF-8, nesting depth (a byte scan, so `[[[[...` cannot reach a recursive parser),
//! then JSON whose objects repeat no key, so no message means two things. Also what every
//! reader of fleet text needs: closed objects (an unknown key is refused, so a typo can never
//! fall back to a default), received values quoted short in reasons, and printable ids.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::refusal::Refusal;

/// Deepest nesting of arrays/objects accepted. A command needs 2.
pub const MAX_DEPTH: usize = 16;
/// Longest `id`, in characters.
pub const MAX_ID_LEN: usize = 128;
/// Longest text of a received value quoted back in a reason.
pub(crate) const QUOTE_LEN: usize = 48;

/// Bytes to a JSON object, refusing oversized, non-UTF-8, too deep, non-JSON, non-object.
pub fn decode(payload: &[u8], max_payload: usize) -> Result<Map<String, Value>, Refusal> {
    if payload.len() > max_payload {
        return Err(Refusal::TooLarge {
            size: payload.len(),
            max: max_payload,
        });
    }
    let text = std::str::from_utf8(payload).map_err(|e| Refusal::NotUtf8 {
        at: e.valid_up_to(),
    })?;
    check_depth(text.as_bytes(), MAX_DEPTH)?;
    match serde_json::from_str::<Strict>(text).map(|s| s.0) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Refusal::NotObject(json_type(&other))),
        Err(e) => Err(Refusal::NotJson(e.to_string())),
    }
}

/// A JSON value whose objects repeat no key. With serde_json's last-one-wins,
/// `{"command": "release", "command": "engage"}` would mean whatever this parser picks, and
/// another reader of the same bytes (a fleet log, a broker rule) might pick the other one.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let shown: String = key.chars().take(QUOTE_LEN).collect();
                return Err(de::Error::custom(format!("duplicate key `{shown}`")));
            }
            let Strict(v) = access.next_value()?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

/// Refuses nesting deeper than `max` before any recursive parser sees the text. Brackets
/// inside strings do not count; multi-byte UTF-8 never contains ASCII bytes, so a byte scan
/// is exact. Unbalanced text is left for the JSON parser to refuse.
fn check_depth(bytes: &[u8], max: usize) -> Result<(), Refusal> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(Refusal::TooDeep { max });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A received value as JSON text, shortened: reasons are published and logged.
pub(crate) fn quote(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > QUOTE_LEN {
        let mut short: String = text.chars().take(QUOTE_LEN).collect();
        short.push_str("...");
        short
    } else {
        text
    }
}

/// Refuses keys outside `allowed`; `prefix` is the path of the object (`parameters.`).
pub(crate) fn closed(
    map: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
) -> Result<(), Refusal> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Refusal::UnknownField(format!(
            "{prefix}{}",
            k.chars().take(QUOTE_LEN).collect::<String>()
        ))),
        None => Ok(()),
    }
}

pub(crate) fn valid_id(v: &Value) -> Result<Option<String>, Refusal> {
    match v {
        Value::String(s)
            if !s.is_empty() && s.chars().count() <= MAX_ID_LEN && s.chars().all(shown_as_is) =>
        {
            Ok(Some(s.clone()))
        }
        other => Err(Refusal::Invalid {
            field: "id".into(),
            expected: "a non-empty string of at most 128 printable characters",
            got: quote(other),
        }),
    }
}

/// Whether a character of an `id` means what it shows. An id is echoed in outcomes, alerts
/// and logs that people and fleet software read: control characters (NUL, escape sequences,
/// C1), invisible format characters (direction overrides, zero-width, BOM) and
/// non-characters could make two ids look alike or a log line say something else. Letters of
/// any script, combining marks and emoji are fine.
pub fn shown_as_is(c: char) -> bool {
    let format = matches!(c,
        '\u{ad}' | '\u{600}'..='\u{605}' | '\u{61c}' | '\u{6dd}' | '\u{70f}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0001}' | '\u{e0020}'..='\u{e007f}');
    let noncharacter = matches!(c, '\u{fdd0}'..='\u{fdef}') || (c as u32 & 0xfffe) == 0xfffe;
    !(c.is_control() || format || noncharacter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            decode(deep.as_bytes(), 1 << 20),
            Err(Refusal::TooDeep { max: MAX_DEPTH })
        );
        // serde_json's own recursion limit also refuses it rather than overflowing the stack.
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        assert!(serde_json::from_str::<Strict>(&deep).is_err());
        let deep_obj = format!("{}{}", r#"{"a":"#.repeat(100_000), "1");
        assert!(serde_json::from_str::<Value>(&deep_obj).is_err());
        // Brackets inside strings do not count.
        let ok = format!(r#"{{"a":"{}"}}"#, "[".repeat(100));
        assert!(decode(ok.as_bytes(), 1 << 20).is_ok());
    }
}
