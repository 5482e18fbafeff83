//! JSON to CDR, by the rules the generic MQTT to ROS mappings already follow: an object per
//! message keyed by the `.msg` field names; a missing field takes its `.msg` default, else its
//! zero (a missing nested message: its own defaults); an unknown field, a value of the wrong
//! JSON type, an integer out of its type's range, a fixed array of the wrong length, a sequence
//! or string over its bound and a string with a NUL are refused with the field's path.
//! `null` for a float is NaN (what the bridge writes for NaN). Arrays of octets (`uint8`,
//! `byte`, `char`) may be a base64 string or an array of numbers.
//!
//! The walk follows the type, never the input: a JSON value nested deeper than the type is
//! refused at the first level that does not fit, so the recursion is bounded by the type's
//! depth ([`super::types::MAX_NESTING`]). The output is bounded by `max_bytes`, which also
//! bounds what defaults can expand to (`[{}, {}, ...]` of a type with big fixed arrays).

use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::Value;

use super::cdr::{TooLong, Writer};
use super::msg::{int_range, Literal, Prim, Shape};
use super::types::{Field, Kind, MsgType};

/// Standard base64, with or without its padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a JSON value is not a message of the type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("unknown field `{path}`; expected one of: {expected}")]
    UnknownField { path: String, expected: String },
    #[error("`{path}` must be {expected}")]
    WrongType { path: String, expected: String },
    #[error("`{path}` must have exactly {want} elements, not {got}")]
    Length {
        path: String,
        want: usize,
        got: usize,
    },
    #[error("`{path}` has {got} elements, more than its bound of {bound}")]
    OverBound {
        path: String,
        bound: usize,
        got: usize,
    },
    #[error("`{path}` is {got} long, more than its bound of {bound} {unit}")]
    StringBound {
        path: String,
        bound: usize,
        got: usize,
        unit: &'static str,
    },
    #[error("`{path}` contains a NUL character, which a ROS string cannot hold")]
    Nul { path: String },
    #[error("`{path}` is not base64: {why}")]
    Base64 { path: String, why: String },
    #[error("the message would be over {max} bytes")]
    TooLong { max: usize },
}

/// The CDR of `value`, a message of type `ty`, at most `max_bytes` long.
pub fn encode(ty: &MsgType, value: &Value, max_bytes: usize) -> Result<Vec<u8>, EncodeError> {
    let mut e = Enc {
        w: Writer::new(max_bytes, 256),
        path: Vec::new(),
    };
    e.msg(ty, Some(value))?;
    Ok(e.w.finish())
}

enum Seg<'a> {
    Field(&'a str),
    Index(usize),
}

/// A value to write: from JSON (checked) or from a default.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

struct Enc<'a> {
    w: Writer,
    path: Vec<Seg<'a>>,
}

impl From<TooLong> for EncodeError {
    fn from(t: TooLong) -> Self {
        EncodeError::TooLong { max: t.0 }
    }
}

impl<'a> Enc<'a> {
    fn path(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                Seg::Field(f) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(f);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            out.push_str("(message)");
        }
        out
    }

    fn wrong(&self, expected: impl Into<String>) -> EncodeError {
        EncodeError::WrongType {
            path: self.path(),
            expected: expected.into(),
        }
    }

    fn msg(&mut self, ty: &'a MsgType, v: Option<&'a Value>) -> Result<(), EncodeError> {
        let given = match v {
            None => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(self.wrong("an object")),
        };
        if let Some(map) = given {
            if let Some(k) = map
                .keys()
                .find(|k| !ty.fields.iter().any(|f| f.name == **k))
            {
                self.path.push(Seg::Field(k));
                let names: Vec<&str> = ty.fields.iter().map(|f| f.name.as_str()).collect();
                return Err(EncodeError::UnknownField {
                    path: self.path(),
                    expected: if names.is_empty() {
                        "none (an empty message)".into()
                    } else {
                        names.join(", ")
                    },
                });
            }
        }
        if ty.fields.is_empty() {
            return Ok(self.w.u8(0)?); // structure_needs_at_least_one_member
        }
        for f in &ty.fields {
            self.path.push(Seg::Field(&f.name));
            self.field(f, given.and_then(|m| m.get(&f.name)))?;
            self.path.pop();
        }
        Ok(())
    }

    fn field(&mut self, f: &'a Field, v: Option<&'a Value>) -> Result<(), EncodeError> {
        let defaults = match &f.default {
            Some(Literal::List(items)) => items.as_slice(),
            _ => &[],
        };
        let (n, bound) = match f.shape {
            Shape::One => return self.one(&f.kind, v, f.default.as_ref()),
            Shape::Array(n) => (Some(n), None),
            Shape::Bounded(b) => (None, Some(b)),
            Shape::Unbounded => (None, None),
        };
        let Some(v) = v else {
            let len = n.unwrap_or(defaults.len());
            if n.is_none() {
                self.w.count(len)?;
            }
            for i in 0..len {
                self.one(&f.kind, None, defaults.get(i))?;
            }
            return Ok(());
        };
        let octets = match v {
            Value::String(s) if f.kind.is_octet() => Some(self.base64(s)?),
            _ => None,
        };
        let items = match (v, &octets) {
            (_, Some(bytes)) => bytes.len(),
            (Value::Array(items), None) => items.len(),
            _ if f.kind.is_octet() => return Err(self.wrong("an array or a base64 string")),
            _ => return Err(self.wrong("an array")),
        };
        if let Some(want) = n.filter(|want| *want != items) {
            let path = self.path();
            return Err(EncodeError::Length {
                path,
                want,
                got: items,
            });
        }
        if let Some(bound) = bound.filter(|b| items > *b) {
            let path = self.path();
            return Err(EncodeError::OverBound {
                path,
                bound,
                got: items,
            });
        }
        if n.is_none() {
            self.w.count(items)?;
        }
        match (v, octets) {
            (_, Some(bytes)) => self.w.bytes(&bytes)?,
            (Value::Array(values), None) => {
                for (i, item) in values.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    self.one(&f.kind, Some(item), None)?;
                    self.path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn base64(&self, s: &str) -> Result<Vec<u8>, EncodeError> {
        if s.len() / 4 * 3 > self.w_room() {
            return Err(EncodeError::TooLong { max: self.w_max() });
        }
        BASE64.decode(s).map_err(|e| EncodeError::Base64 {
            path: self.path(),
            why: e.to_string(),
        })
    }

    fn w_max(&self) -> usize {
        self.w.max()
    }

    fn w_room(&self) -> usize {
        self.w.max().saturating_sub(self.w.len())
    }

    /// One value of a kind: from JSON, else from the default, else zero.
    fn one(
        &mut self,
        kind: &'a Kind,
        v: Option<&'a Value>,
        default: Option<&'a Literal>,
    ) -> Result<(), EncodeError> {
        let p = match kind {
            Kind::Msg(t) => return self.msg(t, v),
            Kind::Prim(p) => *p,
        };
        let scalar = match (v, default) {
            (Some(v), _) => self.scalar(p, v)?,
            (None, Some(Literal::Bool(b))) => Scalar::Bool(*b),
            (None, Some(Literal::Int(i))) => Scalar::Int(*i),
            (None, Some(Literal::Float(f))) => Scalar::Float(*f),
            (None, Some(Literal::Str(s))) => Scalar::Str(s),
            (None, _) => match p {
                Prim::Bool => Scalar::Bool(false),
                Prim::Float32 | Prim::Float64 => Scalar::Float(0.0),
                Prim::String(_) | Prim::WString(_) => Scalar::Str(""),
                _ => Scalar::Int(0),
            },
        };
        self.write(p, scalar)
    }

    fn scalar(&self, p: Prim, v: &'a Value) -> Result<Scalar<'a>, EncodeError> {
        use Prim::*;
        Ok(match (p, v) {
            (Bool, Value::Bool(b)) => Scalar::Bool(*b),
            (Bool, _) => return Err(self.wrong("true or false")),
            (Float32 | Float64, Value::Null) => Scalar::Float(f64::NAN),
            (Float32 | Float64, Value::Number(n)) => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
            (Float32 | Float64, _) => return Err(self.wrong("a number (or null for NaN)")),
            (String(_) | WString(_), Value::String(s)) => Scalar::Str(s),
            (String(_) | WString(_), _) => return Err(self.wrong("a string")),
            (_, Value::Number(n)) if n.is_i64() || n.is_u64() => {
                let i = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
                Scalar::Int(i.unwrap_or_default())
            }
            _ => return Err(self.int_range(p)),
        })
    }

    fn int_range(&self, p: Prim) -> EncodeError {
        let (lo, hi) = int_range(p);
        self.wrong(format!("an integer in {lo}..={hi} ({})", p.name()))
    }

    fn write(&mut self, p: Prim, s: Scalar<'_>) -> Result<(), EncodeError> {
        use Prim::*;
        let int = |e: &Self| match s {
            Scalar::Int(i) if (int_range(p).0..=int_range(p).1).contains(&i) => Ok(i),
            _ => Err(e.int_range(p)),
        };
        match (p, s) {
            (Bool, Scalar::Bool(b)) => self.w.u8(u8::from(b))?,
            (Float64, Scalar::Float(f)) => self.w.f64(f)?,
            (Float32, Scalar::Float(f)) => {
                // In range when it rounds to a finite float32 (f32::MAX itself, written with
                // a digit more or less, included).
                if f.is_finite() && !(f as f32).is_finite() {
                    return Err(self.wrong("a number within the range of float32"));
                }
                self.w.f32(f as f32)?
            }
            (String(bound), Scalar::Str(text)) => {
                self.check_string(text, bound, text.len(), "bytes")?;
                self.w.string(text)?
            }
            (WString(bound), Scalar::Str(text)) => {
                self.check_string(text, bound, text.encode_utf16().count(), "UTF-16 units")?;
                self.w.wstring(text)?
            }
            // The range check above makes every cast below exact.
            (Byte | Char | UInt8, _) => self.w.u8(int(self)? as u8)?,
            (Int8, _) => self.w.u8(int(self)? as i8 as u8)?,
            (Int16, _) => self.w.i16(int(self)? as i16)?,
            (UInt16, _) => self.w.u16(int(self)? as u16)?,
            (Int32, _) => self.w.i32(int(self)? as i32)?,
            (UInt32, _) => self.w.u32(int(self)? as u32)?,
            (Int64, _) => self.w.i64(int(self)? as i64)?,
            (UInt64, _) => self.w.u64(int(self)? as u64)?,
            // A default of another kind: the parser checked defaults against their types.
            _ => return Err(self.wrong(p.name())),
        }
        Ok(())
    }

    fn check_string(
        &self,
        text: &str,
        bound: Option<usize>,
        len: usize,
        unit: &'static str,
    ) -> Result<(), EncodeError> {
        if text.contains('\0') {
            return Err(EncodeError::Nul { path: self.path() });
        }
        match bound {
            Some(bound) if len > bound => Err(EncodeError::StringBound {
                path: self.path(),
                bound,
                got: len,
                unit,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dyntype::to_json::{to_value, Octets};
    use crate::dyntype::types::Registry;
    use serde_json::json;
    use std::sync::Arc;

    const MAX: usize = 1 << 20;

    fn ty(def: &str) -> Arc<MsgType> {
        Registry::from_texts([
            ("t/msg/T", def),
            ("t/msg/E", ""),
            ("t/msg/Q", "float64 x\nfloat64 y\nfloat64 z\nfloat64 w 1.0"),
            ("t/msg/Big", "float64[1000] v"),
        ])
        .expect("names")
        .load("t/T")
        .expect("loads")
    }

    fn round_trip(def: &str, v: serde_json::Value) -> serde_json::Value {
        let t = ty(def);
        let cdr = encode(&t, &v, MAX).expect("encodes");
        to_value(&t, &cdr, Octets::Base64).expect("decodes")
    }

    fn refused(def: &str, v: serde_json::Value) -> String {
        encode(&ty(def), &v, MAX).expect_err("refused").to_string()
    }

    #[test]
    fn missing_fields_take_defaults_or_zero() {
        let def = "Q q\nint32[<=3] v [1, 2]\nstring s 'hi'\nbool b\nE e\nuint8[2] o [7, 8]";
        assert_eq!(
            round_trip(def, json!({})),
            json!({"q": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}, "v": [1, 2], "s": "hi", "b": false, "e": {}, "o": "Bwg="})
        );
    }

    #[test]
    fn limits_of_every_integer_width_are_exact() {
        let def = "int8 a\nuint8 b\nint16 c\nuint16 d\nint32 e\nuint32 f\nint64 g\nuint64 h\nbyte i\nchar j";
        let v = json!({"a": -128, "b": 255, "c": -32768, "d": 65535, "e": -2147483648i64,
            "f": 4294967295u64, "g": i64::MIN, "h": u64::MAX, "i": 255, "j": 0});
        assert_eq!(round_trip(def, v.clone()), v);
        for (field, bad) in [
            ("a", json!(128)),
            ("b", json!(-1)),
            ("h", json!(-1)),
            ("g", json!(1.5)),
            ("f", json!("1")),
        ] {
            let e = refused(def, json!({ field: bad }));
            assert!(
                e.contains(&format!("`{field}` must be an integer in")),
                "{e}"
            );
        }
        assert!(refused("uint64 h", json!({"h": 18446744073709551616.0})).contains("integer"));
    }

    #[test]
    fn floats_null_is_nan_and_float32_range() {
        let t = ty("float32 a\nfloat64 b");
        let cdr = encode(&t, &json!({"a": null, "b": null}), MAX).expect("encodes");
        assert!(f32::from_le_bytes(cdr[4..8].try_into().expect("4")).is_nan());
        assert!(f64::from_le_bytes(cdr[12..20].try_into().expect("8")).is_nan());
        assert!(refused("float32 a", json!({"a": 1e39})).contains("float32"));
        // The float32 limit, and a number a little above it that still rounds to it (a
        // limit printed with another digit, or parsed 1 ULP off), are in range.
        let max = f64::from(f32::MAX);
        let above = f64::from_bits(max.to_bits() + 1);
        for v in [max, above, -above] {
            let cdr = encode(&ty("float32 a"), &json!({"a": v}), MAX).expect("in range");
            let got = f32::from_le_bytes(cdr[4..8].try_into().expect("4"));
            assert_eq!(got.abs(), f32::MAX, "{v}");
        }
        assert!(refused("float64 a", json!({"a": "1.0"})).contains("must be a number"));
        assert_eq!(round_trip("float64 a", json!({"a": 3})), json!({"a": 3.0}));
    }

    #[test]
    fn octets_accept_base64_and_numbers() {
        let want = json!({"d": "AAH/", "f": "AQI="});
        assert_eq!(
            round_trip(
                "uint8[] d\nbyte[2] f",
                json!({"d": [0, 1, 255], "f": [1, 2]})
            ),
            want
        );
        assert_eq!(
            round_trip("uint8[] d\nbyte[2] f", json!({"d": "AAH/", "f": "AQI"})),
            want
        );
        assert!(refused("uint8[] d", json!({"d": "!!"})).contains("`d` is not base64"));
        assert!(refused("uint8[] d", json!({"d": [256]}))
            .contains("`d[0]` must be an integer in 0..=255"));
        assert!(refused("char[2] d", json!({"d": "AAAA"})).contains("exactly 2 elements, not 3"));
        assert!(refused("uint8[<=2] d", json!({"d": "AAAA"})).contains("bound of 2"));
    }

    #[test]
    fn shapes_bounds_and_strings_are_checked_with_paths() {
        let def = "Q[2] qs\nstring<=3[<=2] names\nwstring<=2 w\nint8[] v";
        assert!(
            refused(def, json!({"qs": [{}]})).contains("`qs` must have exactly 2 elements, not 1")
        );
        assert!(
            refused(def, json!({"qs": [{}, {"x": "a"}]})).contains("`qs[1].x` must be a number")
        );
        assert!(refused(def, json!({"qs": [{}, {"v": 1}]}))
            .contains("unknown field `qs[1].v`; expected one of: x, y, z, w"));
        assert!(refused(def, json!({"names": ["a", "b", "c"]}))
            .contains("`names` has 3 elements, more than its bound of 2"));
        assert!(refused(def, json!({"names": ["abcd"]}))
            .contains("`names[0]` is 4 long, more than its bound of 3 bytes"));
        assert!(
            refused(def, json!({"names": ["é", "\u{0}"]})).contains("`names[1]` contains a NUL")
        );
        assert!(refused(def, json!({"w": "a😀"}))
            .contains("`w` is 3 long, more than its bound of 2 UTF-16 units"));
        assert!(refused(def, json!({"v": 1})).contains("`v` must be an array"));
        assert!(refused(def, json!([])).contains("`(message)` must be an object"));
        assert!(refused("E e", json!({"e": {"x": 1}})).contains("expected one of: none"));
        let v = json!({"names": ["ab", "é"], "w": "é😀"});
        assert!(
            refused(def, v.clone()).contains("`w` is 3 long"),
            "😀 is two UTF-16 units"
        );
    }

    #[test]
    fn deep_json_is_refused_at_the_first_level_that_does_not_fit() {
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!([deep]);
        }
        assert!(refused("Q q", json!({"q": {"x": deep}})).contains("`q.x` must be a number"));
        // A payload of 1 MB of brackets never becomes a Value: serde_json stops at depth 128.
        let text = "[".repeat(1 << 20);
        let e = serde_json::from_str::<serde_json::Value>(&text).expect_err("too deep");
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }

    #[test]
    fn output_is_bounded_even_when_defaults_expand() {
        let empties = json!({"v": vec![json!({}); 1000]});
        let e = encode(&ty("Big[] v"), &empties, MAX).expect_err("8 MB of defaults");
        assert_eq!(e, EncodeError::TooLong { max: MAX });
        let huge = json!({"d": "A".repeat(4 * MAX)});
        assert!(matches!(
            encode(&ty("uint8[] d"), &huge, MAX),
            Err(EncodeError::TooLong { .. })
        ));
    }
}
