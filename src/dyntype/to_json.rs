//! CDR to JSON, walked straight from the bytes by a `Serialize` view: serde_json writes the
//! text as the walk goes, with no `serde_json::Value` tree in between (one allocation per
//! message instead of one per field; the view also serializes into a `Value` when one is
//! wanted, through the same code).
//!
//! The JSON: an object per message keyed by the `.msg` field names (an empty message is `{}`),
//! fixed arrays and sequences as arrays, 64-bit integers exact, float32 widened to float64
//! (`0.1f32` is `0.10000000149011612`), NaN and infinities as `null` (what the bridge writes
//! for every float), strings as UTF-8 (bytes that are not UTF-8 become U+FFFD, as a lone
//! surrogate of a wstring does).
//!
//! `uint8[]`, `byte[]` and `char[]` (fixed or not) are written as one base64 string by default
//! ([`Octets::Base64`]), as rosbridge and foxglove_bridge do: such arrays are images, point
//! clouds, maps and blobs, and as numbers they cost about 3.6 bytes of JSON per byte (a
//! 640x480 rgb8 frame: ~3.3 MB instead of 1.2 MB) and a parse of every number on the fleet
//! side. [`Octets::Numbers`] writes them as arrays of numbers like the compiled generic path
//! (r2r's JSON) does. Single `uint8`/`byte`/`char` fields are numbers either way.

use std::cell::RefCell;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::cdr::{CdrError, Reader};
use super::msg::{Prim, Shape};
use super::types::{Field, Kind, MsgType};

/// How arrays of octets (`uint8`, `byte`, `char`) are written; input accepts both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Octets {
    #[default]
    Base64,
    Numbers,
}

/// Bytes that are not a message of the type, with the field where the walk stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ty}: {}{source}", if path.is_empty() { String::new() } else { format!("at `{path}`: ") })]
pub struct DecodeError {
    pub ty: String,
    pub path: String,
    #[source]
    pub source: CdrError,
}

/// Writes the JSON of the message in `cdr` to `out`.
pub fn write_json(
    ty: &MsgType,
    cdr: &[u8],
    octets: Octets,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let view = JsonView::new(ty, cdr, octets)?;
    let written = serde_json::to_writer(&mut *out, &view);
    view.result()?;
    written.map_err(|e| view.error(CdrError::Json(e.to_string())))
}

/// The message in `cdr` as a `serde_json::Value`.
pub fn to_value(
    ty: &MsgType,
    cdr: &[u8],
    octets: Octets,
) -> Result<serde_json::Value, DecodeError> {
    let view = JsonView::new(ty, cdr, octets)?;
    let value = serde_json::to_value(&view);
    view.result()?;
    value.map_err(|e| view.error(CdrError::Json(e.to_string())))
}

/// The message's `header.stamp` (`sec`, `nanosec`) when its first field is a `std_msgs/Header`.
pub fn header_stamp(ty: &MsgType, cdr: &[u8]) -> Option<(i32, u32)> {
    if !ty.has_header() {
        return None;
    }
    let mut r = Reader::new(cdr).ok()?;
    Some((r.i32().ok()?, r.u32().ok()?))
}

/// A message to serialize: the type and its CDR. Serialize it once; a failed walk leaves its
/// reason for [`JsonView::result`].
pub struct JsonView<'a> {
    ty: &'a MsgType,
    walk: Walk<'a>,
}

impl<'a> JsonView<'a> {
    pub fn new(ty: &'a MsgType, cdr: &'a [u8], octets: Octets) -> Result<Self, DecodeError> {
        let reader = Reader::new(cdr).map_err(|source| DecodeError {
            ty: ty.name.to_string(),
            path: String::new(),
            source,
        })?;
        Ok(JsonView {
            ty,
            walk: Walk {
                r: RefCell::new(reader),
                octets,
                err: RefCell::new(None),
            },
        })
    }

    /// After serializing: the walk's error, if the bytes were not a message of the type.
    pub fn result(&self) -> Result<(), DecodeError> {
        match self.walk.err.borrow().as_ref() {
            Some((path, e)) => Err(DecodeError {
                ty: self.ty.name.to_string(),
                path: render(path),
                source: e.clone(),
            }),
            None => Ok(()),
        }
    }

    fn error(&self, source: CdrError) -> DecodeError {
        DecodeError {
            ty: self.ty.name.to_string(),
            path: String::new(),
            source,
        }
    }
}

impl Serialize for JsonView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Msg(&self.walk, self.ty).serialize(s)
    }
}

enum Seg<'a> {
    Field(&'a str),
    Index(usize),
}

fn render(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path.iter().rev() {
        match seg {
            Seg::Field(f) if out.is_empty() => out.push_str(f),
            Seg::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The reader shared by every level of the walk, and the first error with its path (pushed
/// innermost first, as the error travels out).
struct Walk<'a> {
    r: RefCell<Reader<'a>>,
    octets: Octets,
    err: RefCell<Option<(Vec<Seg<'a>>, CdrError)>>,
}

impl<'a> Walk<'a> {
    fn read<T, E: serde::ser::Error>(
        &self,
        f: impl FnOnce(&mut Reader<'a>) -> Result<T, CdrError>,
    ) -> Result<T, E> {
        f(&mut self.r.borrow_mut()).map_err(|e| {
            *self.err.borrow_mut() = Some((Vec::new(), e));
            E::custom("not a message of its type")
        })
    }

    fn at<T, E>(&self, seg: Seg<'a>, r: Result<T, E>) -> Result<T, E> {
        if r.is_err() {
            if let Some((path, _)) = self.err.borrow_mut().as_mut() {
                path.push(seg);
            }
        }
        r
    }
}

struct Msg<'w, 'a>(&'w Walk<'a>, &'a MsgType);

impl Serialize for Msg<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Msg(w, ty) = *self;
        if ty.fields.is_empty() {
            w.read(|r| r.u8())?; // structure_needs_at_least_one_member
            return s.serialize_map(Some(0))?.end();
        }
        let mut map = s.serialize_map(Some(ty.fields.len()))?;
        for f in &ty.fields {
            let r = map.serialize_entry(&f.name, &FieldValue(w, f));
            w.at(Seg::Field(&f.name), r)?;
        }
        map.end()
    }
}

struct FieldValue<'w, 'a>(&'w Walk<'a>, &'a Field);

impl Serialize for FieldValue<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let FieldValue(w, f) = *self;
        let n = match f.shape {
            Shape::One => return One(w, &f.kind).serialize(s),
            Shape::Array(n) => {
                let min = n.saturating_mul(f.kind.min_size());
                w.read(|r| r.ensure(min).map(|()| n))?
            }
            Shape::Bounded(b) => w.read(|r| r.count(Some(b), f.kind.min_size()))?,
            Shape::Unbounded => w.read(|r| r.count(None, f.kind.min_size()))?,
        };
        if f.kind.is_octet() {
            let bytes = w.read(|r| r.take(n))?;
            return match w.octets {
                Octets::Base64 => s.collect_str(&Base64Display::new(bytes, &STANDARD)),
                Octets::Numbers => s.collect_seq(bytes),
            };
        }
        let mut seq = s.serialize_seq(Some(n))?;
        for i in 0..n {
            let r = seq.serialize_element(&One(w, &f.kind));
            w.at(Seg::Index(i), r)?;
        }
        seq.end()
    }
}

/// One value of a kind.
struct One<'w, 'a>(&'w Walk<'a>, &'a Kind);

impl Serialize for One<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use Prim::*;
        let One(w, kind) = *self;
        let p = match kind {
            Kind::Msg(t) => return Msg(w, t).serialize(s),
            Kind::Prim(p) => *p,
        };
        match p {
            Bool => s.serialize_bool(w.read(|r| r.u8())? != 0),
            Byte | Char | UInt8 => s.serialize_u8(w.read(|r| r.u8())?),
            Int8 => s.serialize_i8(w.read(|r| r.u8())? as i8),
            Int16 => s.serialize_i16(w.read(|r| r.i16())?),
            UInt16 => s.serialize_u16(w.read(|r| r.u16())?),
            Int32 => s.serialize_i32(w.read(|r| r.i32())?),
            UInt32 => s.serialize_u32(w.read(|r| r.u32())?),
            Int64 => s.serialize_i64(w.read(|r| r.i64())?),
            UInt64 => s.serialize_u64(w.read(|r| r.u64())?),
            // serde_json writes non-finite floats as null.
            Float32 => s.serialize_f64(f64::from(w.read(|r| r.f32())?)),
            Float64 => s.serialize_f64(w.read(|r| r.f64())?),
            String(bound) => {
                let bytes = w.read(|r| r.string(bound))?;
                match std::str::from_utf8(bytes) {
                    Ok(text) => s.serialize_str(text),
                    Err(_) => s.serialize_str(&std::string::String::from_utf8_lossy(bytes)),
                }
            }
            WString(bound) => {
                let units = w.read(|r| r.wstring(bound))?;
                s.serialize_str(&std::string::String::from_utf16_lossy(&units))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dyntype::types::Registry;
    use serde_json::json;

    fn ty(def: &str) -> std::sync::Arc<MsgType> {
        Registry::from_texts([
            ("t/msg/T", def),
            ("t/msg/E", ""),
            ("t/msg/P", "float64 x\nint8 y"),
        ])
        .expect("names")
        .load("t/T")
        .expect("loads")
    }

    fn json_of(def: &str, cdr: &[u8], octets: Octets) -> serde_json::Value {
        let t = ty(def);
        let mut out = Vec::new();
        write_json(&t, cdr, octets, &mut out).expect("decodes");
        let text: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(
            to_value(&t, cdr, octets).expect("decodes"),
            text,
            "both outputs agree"
        );
        text
    }

    #[test]
    fn floats_widened_and_non_finite_as_null() {
        let mut cdr = vec![0, 1, 0, 0];
        for v in [0.1f32, f32::NAN, f32::INFINITY] {
            cdr.extend(v.to_le_bytes());
        }
        let v = json_of("float32[3] f", &cdr, Octets::Base64);
        assert_eq!(v, json!({"f": [0.10000000149011612, null, null]}));
    }

    #[test]
    fn octets_as_base64_or_numbers() {
        let cdr = [0, 1, 0, 0, 3, 0, 0, 0, 0, 1, 255, 0, 7];
        let def = "uint8[] data\nbyte b";
        assert_eq!(
            json_of(def, &cdr, Octets::Base64),
            json!({"data": "AAH/", "b": 0})
        );
        assert_eq!(
            json_of(def, &cdr, Octets::Numbers),
            json!({"data": [0, 1, 255], "b": 0})
        );
    }

    #[test]
    fn empty_and_nested_messages() {
        let mut cdr = vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        cdr.extend(1.5f64.to_le_bytes());
        cdr.push(0xff);
        let v = json_of("E e\nP p", &cdr, Octets::Base64);
        assert_eq!(v, json!({"e": {}, "p": {"x": 1.5, "y": -1}}));
    }

    #[test]
    fn errors_name_the_field_path() {
        let cdr = [0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let t = ty("P[] ps");
        let e = to_value(&t, &cdr, Octets::Base64).expect_err("short");
        assert_eq!(e.path, "ps", "{e}");
        let mut cdr = cdr.to_vec();
        cdr.extend([0; 16]);
        let e = to_value(&t, &cdr, Octets::Base64).expect_err("short");
        assert_eq!(e.path, "ps[1].y", "{e}");
        assert!(e.to_string().contains("t/msg/T: at `ps[1].y`"), "{e}");
    }

    #[test]
    fn a_huge_fixed_array_in_a_short_message_allocates_nothing() {
        let e = to_value(
            &ty("float64[100000000] big"),
            &[0, 1, 0, 0, 1],
            Octets::Base64,
        );
        assert!(e.is_err());
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let cdr = [0, 1, 0, 0, 3, 0, 0, 0, 0xff, b'a', 0];
        assert_eq!(
            json_of("string s", &cdr, Octets::Base64),
            json!({"s": "\u{fffd}a"})
        );
    }

    #[test]
    fn header_stamp_when_the_first_field_is_a_header() {
        let t = Registry::from_texts([
            ("t/msg/S", "std_msgs/Header header\nint8 x"),
            (
                "std_msgs/msg/Header",
                "builtin_interfaces/Time stamp\nstring frame_id",
            ),
            ("builtin_interfaces/msg/Time", "int32 sec\nuint32 nanosec"),
        ])
        .expect("names")
        .load("t/S")
        .expect("loads");
        let cdr = [0, 1, 0, 0, 5, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 9];
        assert_eq!(header_stamp(&t, &cdr), Some((5, 7)));
        assert_eq!(header_stamp(&ty("int32 a"), &cdr), None);
    }
}
