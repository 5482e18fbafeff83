//! The text of a `.msg` file to its fields, by the rules of `rosidl_adapter` (the parser that
//! turns every `.msg` into the `.idl` the generated code comes from), so that a field, a bound
//! or a default means here what it means to rclpy and rclcpp.
//!
//! Kept from rosidl: a comment starts at the first `#` of a line, even inside quotes; tabs are
//! spaces; `TYPE NAME=VALUE` is a constant (not on the wire, skipped); `time` and `duration` are
//! `builtin_interfaces/Time` and `Duration`; an unqualified type belongs to the file's package.

use std::fmt;

/// A message type's name: `pkg/msg/Type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeName {
    pub package: String,
    pub name: String,
}

impl TypeName {
    /// `pkg/msg/Type` or `pkg/Type`. Both parts are checked against rosidl's name rules, which
    /// also keeps them safe as parts of a file path.
    pub fn parse(s: &str) -> Result<TypeName, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let (package, name) = match parts.as_slice() {
            [p, "msg", n] | [p, n] => (*p, *n),
            _ => return Err(format!("`{s}` is not a message type (pkg/msg/Type)")),
        };
        if !valid_package(package) {
            return Err(format!(
                "`{s}`: `{package}` is not a package name (lowercase letters, digits, `_`)"
            ));
        }
        if !valid_type(name) {
            return Err(format!(
                "`{s}`: `{name}` is not a message name (an uppercase letter, then letters and digits)"
            ));
        }
        Ok(TypeName {
            package: package.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/msg/{}", self.package, self.name)
    }
}

fn valid_package(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.contains("__")
        && !s.ends_with('_')
}

fn valid_type(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// The built-in field types; `char` is a `uint8` on the wire and in every language binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prim {
    Bool,
    Byte,
    Char,
    Float32,
    Float64,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    /// `string` or `string<=N` (N bytes).
    String(Option<usize>),
    /// `wstring` or `wstring<=N` (N UTF-16 code units).
    WString(Option<usize>),
}

impl Prim {
    fn parse(s: &str) -> Result<Option<Prim>, String> {
        use Prim::*;
        Ok(Some(match s {
            "bool" => Bool,
            "byte" => Byte,
            "char" => Char,
            "float32" => Float32,
            "float64" => Float64,
            "int8" => Int8,
            "uint8" => UInt8,
            "int16" => Int16,
            "uint16" => UInt16,
            "int32" => Int32,
            "uint32" => UInt32,
            "int64" => Int64,
            "uint64" => UInt64,
            "string" => String(None),
            "wstring" => WString(None),
            _ => {
                if let Some(n) = s.strip_prefix("string<=") {
                    String(Some(positive(n)?))
                } else if let Some(n) = s.strip_prefix("wstring<=") {
                    WString(Some(positive(n)?))
                } else {
                    return Ok(None);
                }
            }
        }))
    }

    pub fn name(self) -> &'static str {
        use Prim::*;
        match self {
            Bool => "bool",
            Byte => "byte",
            Char => "char",
            Float32 => "float32",
            Float64 => "float64",
            Int8 => "int8",
            UInt8 => "uint8",
            Int16 => "int16",
            UInt16 => "uint16",
            Int32 => "int32",
            UInt32 => "uint32",
            Int64 => "int64",
            UInt64 => "uint64",
            String(_) => "string",
            WString(_) => "wstring",
        }
    }
}

/// What a field holds: a built-in value or a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Prim(Prim),
    Msg(TypeName),
}

/// One value, `T[N]` (fixed), `T[<=N]` (bounded) or `T[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    One,
    Array(usize),
    Bounded(usize),
    Unbounded,
}

/// A default value as written in the `.msg`, checked against its field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Literal>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub name: String,
    pub base: Base,
    pub shape: Shape,
    pub default: Option<Literal>,
}

/// A line of a `.msg` file that rosidl would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ParseError {
    pub line: usize,
    pub why: String,
}

/// The fields of `text`, the `.msg` of a type of `package`.
pub fn parse(package: &str, text: &str) -> Result<Vec<FieldDef>, ParseError> {
    let mut fields: Vec<FieldDef> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = |why: String| ParseError { line: i + 1, why };
        let line = raw.replace('\t', " ");
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('@') {
            return Err(at(format!("annotations are not supported: `{line}`")));
        }
        let (ty, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim_start();
        if rest.is_empty() {
            return Err(at(format!("`{line}` has a type but no name")));
        }
        if rest.contains('=') {
            continue; // a constant: not on the wire
        }
        let (name, default) = rest.split_once(' ').unwrap_or((rest, ""));
        if !valid_package(name) {
            return Err(at(format!("`{name}` is not a field name")));
        }
        if fields.iter().any(|f| f.name == name) {
            return Err(at(format!("field `{name}` is declared twice")));
        }
        let (base, shape) = field_type(package, ty).map_err(at)?;
        let default = match default.trim() {
            "" => None,
            d => Some(default_value(&base, shape, d).map_err(at)?),
        };
        fields.push(FieldDef {
            name: name.to_owned(),
            base,
            shape,
            default,
        });
    }
    Ok(fields)
}

fn positive(n: &str) -> Result<usize, String> {
    match n.parse::<usize>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("`{n}` is not a size (an integer above 0)")),
    }
}

fn field_type(package: &str, ty: &str) -> Result<(Base, Shape), String> {
    let (base, shape) = match ty.strip_suffix(']') {
        None => (ty, Shape::One),
        Some(open) => {
            let i = open
                .rfind('[')
                .ok_or_else(|| format!("`{ty}` ends with `]` but has no `[`"))?;
            let size = &open[i + 1..];
            let shape = if size.is_empty() {
                Shape::Unbounded
            } else if let Some(n) = size.strip_prefix("<=") {
                Shape::Bounded(positive(n)?)
            } else {
                Shape::Array(positive(size)?)
            };
            (&open[..i], shape)
        }
    };
    if let Some(p) = Prim::parse(base)? {
        return Ok((Base::Prim(p), shape));
    }
    let name = match base {
        "time" => "builtin_interfaces/Time".to_owned(),
        "duration" => "builtin_interfaces/Duration".to_owned(),
        b if b.contains('/') => b.to_owned(),
        b => format!("{package}/{b}"),
    };
    Ok((Base::Msg(TypeName::parse(&name)?), shape))
}

/// A default: a scalar, or `[a, b, ...]` for an array of built-ins; strings may be quoted.
fn default_value(base: &Base, shape: Shape, text: &str) -> Result<Literal, String> {
    let Base::Prim(prim) = base else {
        return Err(format!(
            "a field of a message type cannot have a default (`{text}`)"
        ));
    };
    if shape == Shape::One {
        return scalar(*prim, text);
    }
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("the default of an array must be `[...]`, not `{text}`"))?;
    let items = match prim {
        Prim::String(_) | Prim::WString(_) => string_items(inner)?,
        _ if inner.trim().is_empty() => Vec::new(),
        _ => inner.split(',').map(str::to_owned).collect(),
    };
    match shape {
        Shape::Array(n) if items.len() != n => {
            return Err(format!(
                "the default must have exactly {n} elements, not {}",
                items.len()
            ))
        }
        Shape::Bounded(n) if items.len() > n => {
            return Err(format!(
                "the default must have at most {n} elements, not {}",
                items.len()
            ))
        }
        _ => {}
    }
    let values = items.iter().map(|s| scalar(*prim, s.trim()));
    Ok(Literal::List(values.collect::<Result<_, _>>()?))
}

fn scalar(prim: Prim, text: &str) -> Result<Literal, String> {
    use Prim::*;
    let bad = |what: &str| format!("`{text}` is not {what} (a default of a {})", prim.name());
    Ok(match prim {
        Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Literal::Bool(true),
            "false" | "0" => Literal::Bool(false),
            _ => return Err(bad("true/false/1/0")),
        },
        Float32 | Float64 => Literal::Float(text.parse().map_err(|_| bad("a number"))?),
        String(bound) | WString(bound) => {
            let s = unquote(text)?;
            let len = match prim {
                WString(_) => s.encode_utf16().count(),
                _ => s.len(),
            };
            if bound.is_some_and(|b| len > b) {
                return Err(bad("within the string's bound"));
            }
            Literal::Str(s)
        }
        _ => {
            let v = integer(text).ok_or_else(|| bad("an integer"))?;
            let (lo, hi) = int_range(prim);
            if v < lo || v > hi {
                return Err(bad(&format!("in {lo}..={hi}")));
            }
            Literal::Int(v)
        }
    })
}

/// An integer as Python's `int(s)` or `int(s, 0)` reads it (`0x1F`, `0o17`, `0b101`, `1_000`).
fn integer(text: &str) -> Option<i128> {
    let t = text.replace('_', "");
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_owned()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_owned()),
    };
    let lower = t.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else {
        lower.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// The range of an integer type (byte and char are uint8).
pub fn int_range(prim: Prim) -> (i128, i128) {
    use Prim::*;
    match prim {
        Int8 => (i8::MIN.into(), i8::MAX.into()),
        Int16 => (i16::MIN.into(), i16::MAX.into()),
        Int32 => (i32::MIN.into(), i32::MAX.into()),
        Int64 => (i64::MIN.into(), i64::MAX.into()),
        UInt16 => (0, u16::MAX.into()),
        UInt32 => (0, u32::MAX.into()),
        UInt64 => (0, u64::MAX.into()),
        _ => (0, u8::MAX.into()),
    }
}

/// A string default: quoted with `"` or `'` (the other quote and `\<quote>` inside), or bare.
fn unquote(text: &str) -> Result<String, String> {
    for q in ['"', '\''] {
        if let Some(inner) = text
            .strip_prefix(q)
            .and_then(|t| t.strip_suffix(q))
            .filter(|_| text.len() >= 2)
        {
            let escaped = format!("\\{q}");
            if inner.replace(&escaped, "").contains(q) {
                return Err(format!("`{text}`: an inner quote is not escaped"));
            }
            return Ok(inner.replace(&escaped, &q.to_string()));
        }
    }
    Ok(text.to_owned())
}

/// The elements of a string array's default (between the brackets): quoted or bare, by commas.
fn string_items(mut rest: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
        let item_end = match quote {
            Some(q) => {
                let bytes = rest.as_bytes();
                let mut i = 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(format!("`{rest}`: a quote is not closed")),
                        Some(b'\\') => i += 2,
                        Some(&b) if b == q as u8 => break i + 1,
                        Some(_) => i += 1,
                    }
                }
            }
            None => rest.find(',').unwrap_or(rest.len()),
        };
        let item = rest[..item_end].trim();
        out.push(match quote {
            Some(_) => unquote(item)?,
            None => item.to_owned(),
        });
        rest = rest[item_end..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r,
            None if rest.is_empty() => return Ok(out),
            None => return Err(format!("`{rest}`: expected `,` between elements")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> FieldDef {
        let mut f = parse("my_pkg", text).expect("parses");
        assert_eq!(f.len(), 1, "{f:?}");
        f.remove(0)
    }

    #[test]
    fn type_names() {
        let t = TypeName::parse("visualization_msgs/msg/Marker").expect("valid");
        assert_eq!(
            (t.package.as_str(), t.name.as_str()),
            ("visualization_msgs", "Marker")
        );
        assert_eq!(
            TypeName::parse("std_msgs/String")
                .expect("valid")
                .to_string(),
            "std_msgs/msg/String"
        );
        for bad in [
            "",
            "Marker",
            "a/b/c/d",
            "pkg/srv/X",
            "../etc/Passwd",
            "pkg/x.msg",
            "Pkg/X",
            "pkg/lower",
            "p__k/X",
            "pkg_/X",
        ] {
            assert!(TypeName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn comments_constants_and_blank_lines_are_skipped() {
        let f = parse(
            "p",
            "# header comment\n\nint32 A=1\nstring S = 'x # y'\n\tfloat64\tx # metres\n  # indented\n",
        )
        .expect("parses");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name, "x");
        assert_eq!(f[0].base, Base::Prim(Prim::Float64));
    }

    #[test]
    fn shapes_bounds_and_names() {
        let f = one("string<=5[<=3] names");
        assert_eq!(f.base, Base::Prim(Prim::String(Some(5))));
        assert_eq!(f.shape, Shape::Bounded(3));
        assert_eq!(one("uint8[4] a").shape, Shape::Array(4));
        assert_eq!(one("uint8[] a").shape, Shape::Unbounded);
        assert_eq!(one("wstring<=7 w").base, Base::Prim(Prim::WString(Some(7))));
        let local = one("UVCoordinate[] uv");
        assert_eq!(
            local.base,
            Base::Msg(TypeName::parse("my_pkg/UVCoordinate").expect("valid"))
        );
        let other = one("std_msgs/Header header");
        assert_eq!(
            other.base,
            Base::Msg(TypeName::parse("std_msgs/Header").expect("valid"))
        );
        let t = one("time stamp");
        assert_eq!(
            t.base,
            Base::Msg(TypeName::parse("builtin_interfaces/Time").expect("valid"))
        );
    }

    #[test]
    fn defaults_as_rosidl_reads_them() {
        assert_eq!(one("bool b True").default, Some(Literal::Bool(true)));
        assert_eq!(one("int8 i -0x80").default, Some(Literal::Int(-128)));
        assert_eq!(
            one("uint64 u 18446744073709551615").default,
            Some(Literal::Int(u64::MAX.into()))
        );
        assert_eq!(one("float32 f 1.125").default, Some(Literal::Float(1.125)));
        assert_eq!(
            one(r#"string s 'Hello\'world!'"#).default,
            Some(Literal::Str("Hello'world!".into()))
        );
        assert_eq!(
            one(r#"string s "Hello'world!""#).default,
            Some(Literal::Str("Hello'world!".into()))
        );
        assert_eq!(
            one("string s bare words").default,
            Some(Literal::Str("bare words".into()))
        );
        assert_eq!(
            one(r#"string[3] s ["", "max, value", 'min']"#).default,
            Some(Literal::List(vec![
                Literal::Str(String::new()),
                Literal::Str("max, value".into()),
                Literal::Str("min".into())
            ]))
        );
        assert_eq!(
            one("int32[<=3] v [1, -2]").default,
            Some(Literal::List(vec![Literal::Int(1), Literal::Int(-2)]))
        );
        assert_eq!(
            one("wstring w \"ハロー\"").default,
            Some(Literal::Str("ハロー".into()))
        );
    }

    #[test]
    fn what_rosidl_refuses_is_refused_with_its_line() {
        for (text, why) in [
            ("int8 i 128", "in -128..=127"),
            ("uint8 u -1", "in 0..=255"),
            ("bool b yes", "true/false"),
            ("int32[3] a [1, 2]", "exactly 3"),
            ("int32[<=1] a [1, 2]", "at most 1"),
            ("string<=2 s 'abc'", "bound"),
            ("uint8[0] a", "size"),
            ("float64", "no name"),
            ("Bad-Type x", "message name"),
            ("int32 x\nint32 x", "twice"),
            ("geometry_msgs/Point p 1", "cannot have a default"),
            ("@optional int32 x", "annotations"),
        ] {
            let e = parse("p", text).expect_err(text);
            assert!(e.why.contains(why), "{text}: {e}");
        }
        assert_eq!(parse("p", "int32 x\nint32 x").map_err(|e| e.line), Err(2));
    }

    #[test]
    fn empty_message_has_no_fields() {
        assert_eq!(parse("p", "# nothing\n"), Ok(Vec::new()));
    }
}
