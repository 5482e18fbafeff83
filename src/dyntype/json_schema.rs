//! The JSON Schema (draft 2020-12) of a message type's JSON, as `to_json` writes it
//! ([`Side::Published`]: every field required, objects open to new keys like the bridge's other
//! published schemas) or as `from_json` accepts it ([`Side::Accepted`]: any field may be left
//! out, unknown ones refused). One `$defs` entry per message type (`pkg.msg.Type`), so a type
//! used many times is described once. [`in_envelope`] puts it in the bridge's envelope.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::msg::{int_range, Prim, Shape};
use super::to_json::Octets;
use super::types::{Field, Kind, MsgType};

/// What every float says (the same words as the bridge's other schemas).
const NON_FINITE: &str =
    "Null when the value is not finite (NaN, ±infinity): JSON has no such numbers.";

/// Which side of the conversion the schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Published(Octets),
    Accepted,
}

/// `{"$ref": "#/$defs/<type>", "$defs": {...}}` for a message of type `ty`.
pub fn message_schema(ty: &MsgType, side: Side) -> Value {
    let mut defs = BTreeMap::new();
    define(ty, side, &mut defs);
    json!({"$ref": reference(ty), "$defs": defs})
}

/// The bridge's `envelope` schema with `data` as `message` (from [`message_schema`]).
pub fn in_envelope(mut envelope: Value, message: Value, title: &str) -> Value {
    let Value::Object(mut message) = message else {
        return envelope;
    };
    let defs = message.remove("$defs");
    if let Some(env) = envelope.as_object_mut() {
        env.insert("title".into(), Value::String(title.to_owned()));
        if let Some(Value::Object(props)) = env.get_mut("properties") {
            props.insert("data".into(), Value::Object(message));
        }
        if let Some(Value::Object(new)) = defs {
            let all = env.entry("$defs").or_insert_with(|| json!({}));
            if let Some(all) = all.as_object_mut() {
                all.extend(new);
            }
        }
    }
    envelope
}

fn key(ty: &MsgType) -> String {
    format!("{}.msg.{}", ty.name.package, ty.name.name)
}

fn reference(ty: &MsgType) -> String {
    format!("#/$defs/{}", key(ty))
}

fn define(ty: &MsgType, side: Side, defs: &mut BTreeMap<String, Value>) {
    if defs.contains_key(&key(ty)) {
        return;
    }
    defs.insert(key(ty), Value::Null); // taken, while its fields are defined
    let mut props = Map::new();
    for f in &ty.fields {
        if let Kind::Msg(inner) = &f.kind {
            define(inner, side, defs);
        }
        props.insert(f.name.clone(), field(f, side));
    }
    let mut def = json!({
        "type": "object",
        "description": format!("{} (fields as in its .msg)", ty.name),
        "properties": props,
    });
    match side {
        Side::Published(_) => {
            let names: Vec<&str> = ty.fields.iter().map(|f| f.name.as_str()).collect();
            def["required"] = json!(names);
        }
        Side::Accepted => def["additionalProperties"] = json!(false),
    }
    defs.insert(key(ty), def);
}

fn field(f: &Field, side: Side) -> Value {
    let (min, max) = match f.shape {
        Shape::One => return one(&f.kind, side),
        Shape::Array(n) => (Some(n), Some(n)),
        Shape::Bounded(b) => (None, Some(b)),
        Shape::Unbounded => (None, None),
    };
    let mut numbers = json!({"type": "array", "items": one(&f.kind, side)});
    if let Some(n) = min {
        numbers["minItems"] = json!(n);
    }
    if let Some(n) = max {
        numbers["maxItems"] = json!(n);
    }
    if !f.kind.is_octet() {
        return numbers;
    }
    let base64 = json!({
        "type": "string",
        "contentEncoding": "base64",
        "description": format!("The {} bytes, base64.", bound_words(min, max)),
    });
    match side {
        Side::Published(Octets::Base64) => base64,
        Side::Published(Octets::Numbers) => numbers,
        Side::Accepted => json!({"anyOf": [base64, numbers]}),
    }
}

fn bound_words(min: Option<usize>, max: Option<usize>) -> String {
    match (min, max) {
        (Some(n), _) => format!("{n}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "array's".into(),
    }
}

fn one(kind: &Kind, side: Side) -> Value {
    use Prim::*;
    let p = match kind {
        Kind::Msg(t) => return json!({"$ref": reference(t)}),
        Kind::Prim(p) => *p,
    };
    match p {
        Bool => json!({"type": "boolean"}),
        Float32 | Float64 => {
            let what = match side {
                Side::Published(_) => NON_FINITE,
                Side::Accepted => "Null is NaN.",
            };
            json!({"type": ["number", "null"], "description": format!("{}. {what}", p.name())})
        }
        String(bound) | WString(bound) => {
            let mut s = json!({"type": "string"});
            if let Some(b) = bound {
                let unit = if matches!(p, String(_)) {
                    "bytes of UTF-8"
                } else {
                    "UTF-16 code units"
                };
                s["description"] = json!(format!("At most {b} {unit}; no NUL."));
            }
            s
        }
        _ => {
            let (lo, hi) = int_range(p);
            let (lo, hi) = (i64::try_from(lo).ok(), u64::try_from(hi).ok());
            json!({"type": "integer", "minimum": lo, "maximum": hi, "description": p.name()})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dyntype::types::Registry;

    fn marker_like() -> std::sync::Arc<MsgType> {
        Registry::from_texts([
            (
                "t/msg/M",
                "P[] points\nP origin\nuint8[] data\nstring<=4 name\nuint64 big\nfloat32 f",
            ),
            ("t/msg/P", "float64 x\nfloat64 y"),
        ])
        .expect("names")
        .load("t/M")
        .expect("loads")
    }

    fn valid(schema: &Value, v: &Value) -> bool {
        jsonschema::draft202012::is_valid(schema, v)
    }

    #[test]
    fn published_schema_takes_what_to_json_writes() {
        let s = message_schema(&marker_like(), Side::Published(Octets::Base64));
        assert!(jsonschema::draft202012::meta::is_valid(&s), "{s}");
        let good = json!({"points": [{"x": 1.0, "y": null}], "origin": {"x": 0, "y": 0}, "data": "AAE=",
            "name": "ab", "big": u64::MAX, "f": 0.5});
        assert!(valid(&s, &good));
        let mut bad = good.clone();
        bad["points"][0]["x"] = json!("1");
        assert!(!valid(&s, &bad), "a wrong-typed nested field");
        let mut missing = good.clone();
        missing["origin"] = json!({"x": 0});
        assert!(!valid(&s, &missing), "every field is written");
        let mut extra = good;
        extra["later"] = json!(1);
        assert!(valid(&s, &extra), "published objects stay open");
        let p = s["$defs"]["t.msg.P"].clone();
        assert_eq!(p["required"], json!(["x", "y"]), "{s}");
    }

    #[test]
    fn accepted_schema_takes_both_octet_forms_and_no_unknown_field() {
        let s = message_schema(&marker_like(), Side::Accepted);
        assert!(valid(&s, &json!({"data": [0, 255]})));
        assert!(valid(&s, &json!({"data": "AAE="})));
        assert!(!valid(&s, &json!({"data": [256]})));
        assert!(!valid(&s, &json!({"dta": []})));
        assert!(valid(&s, &json!({})));
    }

    #[test]
    fn the_envelope_holds_the_message() {
        let envelope: Value =
            serde_json::from_str(include_str!("../../schemas/envelope.schema.json"))
                .expect("envelope schema");
        let s = in_envelope(
            envelope,
            message_schema(&marker_like(), Side::Published(Octets::Base64)),
            "t/msg/M",
        );
        assert!(jsonschema::draft202012::meta::is_valid(&s), "{s}");
        let msg = json!({"points": [], "origin": {"x": 0, "y": 0}, "data": "", "name": "",
            "big": 0, "f": null});
        let env = json!({"timestamp": "2024-01-01T12:00:00Z", "robot_id": "R1", "type": "sensor", "data": msg});
        assert!(valid(&s, &env), "{s}");
        let mut bad = env;
        bad["data"]["big"] = json!(-1);
        assert!(!valid(&s, &bad));
        assert!(s["$defs"]["Category"].is_object() && s["$defs"]["t.msg.P"].is_object());
    }
}
