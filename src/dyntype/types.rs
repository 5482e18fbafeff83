//! Message types compiled once from their `.msg` files: every nested type loaded and resolved,
//! so that converting a message only walks a tree of fields.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::find::{FindError, Prefixes};
use super::msg::{self, Base, Literal, ParseError, Prim, Shape, TypeName};

/// Deepest nesting of message types accepted. Real messages stay under 10; the bound keeps
/// the converters' recursion (which follows the type, never the input) small.
pub const MAX_NESTING: usize = 32;

/// A message type, ready for the converters.
#[derive(Debug, PartialEq)]
pub struct MsgType {
    pub name: TypeName,
    /// Empty for an empty `.msg`: its one hidden `uint8` is on the wire but not in JSON.
    pub fields: Vec<Field>,
    /// Levels of message types, this one included (1 without nested messages).
    pub depth: usize,
    /// The fewest bytes a message of this type takes in CDR (padding not counted): what a
    /// count of them must leave in the buffer.
    pub min_size: usize,
}

#[derive(Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub kind: Kind,
    pub shape: Shape,
    /// From the `.msg`; else the field's zero.
    pub default: Option<Literal>,
}

#[derive(Debug, PartialEq)]
pub enum Kind {
    Prim(Prim),
    Msg(Arc<MsgType>),
}

impl Kind {
    /// The fewest bytes one value takes in CDR: a string or sequence at least its count.
    pub fn min_size(&self) -> usize {
        use Prim::*;
        match self {
            Kind::Msg(t) => t.min_size,
            Kind::Prim(Bool | Byte | Char | Int8 | UInt8) => 1,
            Kind::Prim(Int16 | UInt16) => 2,
            Kind::Prim(Float32 | Int32 | UInt32 | String(_) | WString(_)) => 4,
            Kind::Prim(Float64 | Int64 | UInt64) => 8,
        }
    }

    /// `uint8`, `byte` and `char`: arrays of them are raw bytes (base64 in JSON).
    pub fn is_octet(&self) -> bool {
        matches!(self, Kind::Prim(Prim::UInt8 | Prim::Byte | Prim::Char))
    }
}

impl MsgType {
    /// Whether the first field is a `std_msgs/Header`: its stamp is then the first 8 bytes of
    /// the payload (`sec`, `nanosec`), the message's time for the envelope.
    pub fn has_header(&self) -> bool {
        self.fields.first().is_some_and(|f| {
            f.name == "header"
                && f.shape == Shape::One
                && matches!(&f.kind, Kind::Msg(t) if t.name.package == "std_msgs" && t.name.name == "Header")
        })
    }
}

/// Why a type cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TypeError {
    #[error("{0}")]
    Name(String),
    #[error(transparent)]
    Find(#[from] FindError),
    #[error("message type {ty}: {file}, {source}")]
    Parse {
        ty: String,
        file: String,
        #[source]
        source: ParseError,
    },
    #[error("message type {ty} contains itself: {}", chain.join(" -> "))]
    Cycle { ty: String, chain: Vec<String> },
    #[error("message type {ty} nests more than {MAX_NESTING} message types deep")]
    TooDeep { ty: String },
}

/// Where `.msg` texts come from.
#[derive(Debug, Clone)]
enum Source {
    Installed(Prefixes),
    Texts(HashMap<TypeName, String>),
}

/// Loads and compiles message types, each once.
#[derive(Debug, Clone)]
pub struct Registry {
    source: Source,
    cache: HashMap<TypeName, Arc<MsgType>>,
}

impl Registry {
    /// Types installed under `AMENT_PREFIX_PATH`.
    pub fn from_env() -> Registry {
        Registry::installed(Prefixes::from_env())
    }

    /// Types installed under these prefixes, searched in order.
    pub fn installed(prefixes: Prefixes) -> Registry {
        Registry {
            source: Source::Installed(prefixes),
            cache: HashMap::new(),
        }
    }

    /// Types given as `.msg` texts by name (`pkg/msg/Type`); for tests and tools.
    pub fn from_texts<'a>(
        texts: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Registry, TypeError> {
        let mut map = HashMap::new();
        for (name, text) in texts {
            map.insert(
                TypeName::parse(name).map_err(TypeError::Name)?,
                text.to_owned(),
            );
        }
        Ok(Registry {
            source: Source::Texts(map),
            cache: HashMap::new(),
        })
    }

    /// The prefixes searched, when the types are installed ones.
    pub fn prefixes(&self) -> Option<&Prefixes> {
        match &self.source {
            Source::Installed(p) => Some(p),
            Source::Texts(_) => None,
        }
    }

    /// The library to load the type's C type support from (see `Prefixes::typesupport_library`).
    pub fn typesupport_library(&self, ty: &TypeName) -> Result<PathBuf, TypeError> {
        match &self.source {
            Source::Installed(p) => Ok(p.typesupport_library(ty)?),
            Source::Texts(_) => Err(TypeError::Name(format!(
                "{ty}: types given as text have no type support library"
            ))),
        }
    }

    /// The compiled type `name` (`pkg/msg/Type` or `pkg/Type`) with every type it contains.
    pub fn load(&mut self, name: &str) -> Result<Arc<MsgType>, TypeError> {
        let ty = TypeName::parse(name).map_err(TypeError::Name)?;
        self.load_name(&ty, &mut Vec::new())
    }

    fn load_name(
        &mut self,
        ty: &TypeName,
        stack: &mut Vec<TypeName>,
    ) -> Result<Arc<MsgType>, TypeError> {
        if let Some(t) = self.cache.get(ty) {
            return Ok(t.clone());
        }
        if stack.contains(ty) {
            let mut chain: Vec<String> = stack.iter().map(ToString::to_string).collect();
            chain.push(ty.to_string());
            let ty = stack.first().unwrap_or(ty).to_string();
            return Err(TypeError::Cycle { ty, chain });
        }
        if stack.len() >= MAX_NESTING {
            let ty = stack.first().unwrap_or(ty).to_string();
            return Err(TypeError::TooDeep { ty });
        }
        let (text, file) = match &self.source {
            Source::Installed(p) => (p.msg_text(ty)?, format!("{}.msg", ty.name)),
            Source::Texts(map) => match map.get(ty) {
                Some(t) => (t.clone(), format!("{ty} (text)")),
                None => {
                    return Err(FindError::NoPackage {
                        ty: ty.to_string(),
                        package: ty.package.clone(),
                        searched: Vec::new(),
                    }
                    .into())
                }
            },
        };
        let defs = msg::parse(&ty.package, &text).map_err(|source| TypeError::Parse {
            ty: ty.to_string(),
            file,
            source,
        })?;
        stack.push(ty.clone());
        let mut fields = Vec::with_capacity(defs.len());
        for d in defs {
            let kind = match d.base {
                Base::Prim(p) => Kind::Prim(p),
                Base::Msg(inner) => Kind::Msg(self.load_name(&inner, stack)?),
            };
            fields.push(Field {
                name: d.name,
                kind,
                shape: d.shape,
                default: d.default,
            });
        }
        stack.pop();
        let depth = 1 + fields
            .iter()
            .filter_map(|f| match &f.kind {
                Kind::Msg(t) => Some(t.depth),
                Kind::Prim(_) => None,
            })
            .max()
            .unwrap_or(0);
        if depth > MAX_NESTING {
            return Err(TypeError::TooDeep { ty: ty.to_string() });
        }
        let min_size = fields
            .iter()
            .map(|f| match f.shape {
                Shape::One => f.kind.min_size(),
                Shape::Array(n) => n.saturating_mul(f.kind.min_size()),
                Shape::Bounded(_) | Shape::Unbounded => 4,
            })
            .fold(0usize, usize::saturating_add)
            .max(1);
        let compiled = Arc::new(MsgType {
            name: ty.clone(),
            fields,
            depth,
            min_size,
        });
        self.cache.insert(ty.clone(), compiled.clone());
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_types_load_once_and_resolve() {
        let mut r = Registry::from_texts([
            (
                "a/msg/Outer",
                "Inner[2] pair\nb/Leaf leaf\nstd_msgs/Header header",
            ),
            ("a/msg/Inner", "b/Leaf leaf\nfloat64 x 1.5"),
            ("b/msg/Leaf", "int8 v"),
            (
                "std_msgs/msg/Header",
                "builtin_interfaces/Time stamp\nstring frame_id",
            ),
            ("builtin_interfaces/msg/Time", "int32 sec\nuint32 nanosec"),
        ])
        .expect("names");
        let outer = r.load("a/Outer").expect("loads");
        let Kind::Msg(inner) = &outer.fields[0].kind else {
            panic!("nested")
        };
        let (Kind::Msg(leaf1), Kind::Msg(leaf2)) = (&inner.fields[0].kind, &outer.fields[1].kind)
        else {
            panic!("nested")
        };
        assert!(Arc::ptr_eq(leaf1, leaf2), "one compiled type per name");
        assert_eq!(inner.fields[1].default, Some(Literal::Float(1.5)));
        assert!(!outer.has_header(), "header is not the first field");
        assert!(r.load("std_msgs/Header").is_ok());
    }

    #[test]
    fn cycles_and_missing_types_are_errors() {
        let mut r = Registry::from_texts([
            ("a/msg/A", "B b"),
            ("a/msg/B", "A[] back"),
            ("a/msg/C", "Missing m"),
        ])
        .expect("names");
        let e = r.load("a/A").expect_err("cycle").to_string();
        assert!(e.contains("a/msg/A -> a/msg/B -> a/msg/A"), "{e}");
        let e = r.load("a/C").expect_err("missing").to_string();
        assert!(e.contains("a/msg/Missing"), "{e}");
        let e = r.load("not a type").expect_err("bad name").to_string();
        assert!(e.contains("not a message type"), "{e}");
    }

    #[test]
    fn nesting_is_bounded() {
        let texts: Vec<(String, String)> = (0..=MAX_NESTING)
            .map(|i| (format!("d/msg/T{i}"), format!("T{} next", i + 1)))
            .chain([(format!("d/msg/T{}", MAX_NESTING + 1), "int8 end".to_owned())])
            .collect();
        let mut r = Registry::from_texts(texts.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .expect("names");
        assert!(matches!(r.load("d/T0"), Err(TypeError::TooDeep { .. })));
        assert_eq!(
            r.load("d/T2").expect("a shallower start fits").depth,
            MAX_NESTING
        );
        assert!(
            matches!(r.load("d/T0"), Err(TypeError::TooDeep { .. })),
            "also when the deeper part is already compiled"
        );
    }
}
