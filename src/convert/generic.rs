//! Generic mappings: any ROS message type installed where the bridge runs, whether or not the
//! build knows it, as JSON with the field names of its .msg definition, in both directions
//! (`crate::dyntype`: the type found through `AMENT_PREFIX_PATH`, its CDR walked to JSON and
//! back). One path for every type: the walker costs no more CPU than r2r's compiled untyped
//! conversion did, and no type needs a rebuild.
//!
//! To MQTT: the message's JSON in the envelope, `timestamp` from its `header.stamp`; arrays of
//! bytes as base64 by default (`byte_arrays`). From MQTT, the payload is the message's JSON
//! (`{"data": "hello"}` for `std_msgs/String`), or the bridge's own envelope around it
//! (`{"timestamp": .., "data": {..}}`), so that a message can make the round trip. Fields left
//! out take their defaults; an unknown field or a value of the wrong JSON type is refused with
//! its path (`dyntype::from_json`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{ByteArrays, ConfigError, ConverterKind, Mapping};
use crate::dyntype::{header_stamp, MsgType, Octets, Registry, TypeError, TypeRef};
use crate::envelope::Stamp;

/// A generic mapping's message type: compiled for the converters, and the library rcl loads.
#[derive(Debug, Clone)]
pub struct GenericType {
    pub msg: Arc<MsgType>,
    pub type_ref: TypeRef,
}

/// The types of every generic mapping, by mapping name.
#[derive(Debug, Clone, Default)]
pub struct Types(HashMap<String, GenericType>);

impl Types {
    pub fn of(&self, m: &Mapping) -> Option<&GenericType> {
        self.0.get(&m.name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Finds every generic mapping's type in the environment (`AMENT_PREFIX_PATH`,
/// `LD_LIBRARY_PATH`), as a start does and `--check-config` too: files only, no ROS graph. A
/// type that cannot be used is a configuration error naming the mapping, the type and where
/// it was looked for.
pub fn resolve(mappings: &[Mapping], file: &str) -> Result<Types, ConfigError> {
    resolve_in(&mut Registry::from_env(), mappings, file)
}

/// [`resolve`] with the types of `registry`.
pub fn resolve_in(
    registry: &mut Registry,
    mappings: &[Mapping],
    file: &str,
) -> Result<Types, ConfigError> {
    let mut types = HashMap::new();
    for m in mappings
        .iter()
        .filter(|m| m.converter == ConverterKind::Generic)
    {
        let found = registry.load(&m.ros_type).and_then(|msg| {
            let type_ref = TypeRef::find(registry, &m.ros_type)?;
            Ok(GenericType { msg, type_ref })
        });
        let t = found.map_err(|e| not_usable(m, file, &e))?;
        types.insert(m.name.clone(), t);
    }
    Ok(Types(types))
}

fn not_usable(m: &Mapping, file: &str, e: &TypeError) -> ConfigError {
    ConfigError::invalid(
        file,
        format!("{}.ros_type", m.origin),
        format!("mapping `{}`: {e}", m.name),
    )
}

/// How the mapping writes arrays of bytes.
pub fn octets(b: ByteArrays) -> Octets {
    match b {
        ByteArrays::Base64 => Octets::Base64,
        ByteArrays::Numbers => Octets::Numbers,
    }
}

/// The envelope's time of a message: its `header.stamp`, when its first field is a header
/// with a stamp that is not zero.
pub fn stamp(ty: &MsgType, cdr: &[u8]) -> Option<Stamp> {
    header_stamp(ty, cdr).and_then(|(sec, nanosec)| Stamp::new(sec, nanosec))
}

/// Takes the message out of the bridge's envelope, when the payload is one: (the envelope's
/// `timestamp`, the message).
pub fn unwrap_envelope(v: Value) -> (Option<Value>, Value) {
    match v {
        Value::Object(mut map)
            if map.contains_key("timestamp")
                && map.contains_key("data")
                && map
                    .keys()
                    .all(|k| matches!(k.as_str(), "timestamp" | "robot_id" | "type" | "data")) =>
        {
            let data = map.remove("data").unwrap_or(Value::Null);
            (map.remove("timestamp"), data)
        }
        other => (None, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, TopicTree};
    use crate::dyntype::Prefixes;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn envelope_is_unwrapped_but_plain_messages_are_not() {
        let plain = json!({"data": "hello"});
        assert_eq!(unwrap_envelope(plain.clone()), (None, plain));
        let env = json!({"timestamp": "t", "robot_id": "R", "type": "status", "data": {"x": 1}});
        assert_eq!(unwrap_envelope(env), (Some(json!("t")), json!({"x": 1})));
    }

    fn mappings(yaml: &str) -> Vec<Mapping> {
        let c = Config::parse(yaml, "g.yaml").expect("parses");
        let tree = TopicTree::new(&c, "R1").expect("tree");
        crate::config::mappings::resolve(&c, &tree, "g.yaml").expect("resolves")
    }

    /// A prefix with package `pkg` and its `.msg` files, as colcon installs one.
    fn prefix(root: &Path, pkg: &str, msgs: &[(&str, &str)]) -> std::path::PathBuf {
        let p = root.join(pkg);
        let index = p.join("share/ament_index/resource_index/packages");
        std::fs::create_dir_all(&index).expect("mkdir");
        std::fs::write(index.join(pkg), "").expect("marker");
        let dir = p.join("share").join(pkg).join("msg");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, text) in msgs {
            std::fs::write(dir.join(format!("{name}.msg")), text).expect("msg");
        }
        p
    }

    #[test]
    fn a_type_that_is_not_installed_names_the_mapping_the_type_and_the_prefixes() {
        let dir = tempfile::tempdir().expect("dir");
        let p = prefix(dir.path(), "dock_msgs", &[("Dock", "int32 state")]);
        let mut registry = Registry::installed(Prefixes(vec![p.clone()]));
        let yaml = "mqtt: {}\nmappings:\n  - {name: odom, rate_limit_hz: 5}\n  - {name: mystery, ros_topic: x, ros_type: no_such_msgs/msg/Thing, mqtt_action: x}\n";
        let e = resolve_in(&mut registry, &mappings(yaml), "g.yaml")
            .expect_err("not installed")
            .to_string();
        for want in [
            "g.yaml: key `mappings[1].ros_type`",
            "mapping `mystery`",
            "no_such_msgs/msg/Thing",
            &p.display().to_string(),
        ] {
            assert!(e.contains(want), "{want}: {e}");
        }
        let yaml = "mqtt: {}\ndefault_mappings: false\nmappings:\n  - {name: d, ros_topic: x, ros_type: dock_msgs/Nope, mqtt_action: x}\n";
        let e = resolve_in(&mut registry, &mappings(yaml), "g.yaml")
            .expect_err("no such message")
            .to_string();
        assert!(e.contains("Nope.msg") && e.contains("mapping `d`"), "{e}");
        let yaml = "mqtt: {}\ndefault_mappings: false\nmappings:\n  - {name: d, ros_topic: x, ros_type: dock_msgs/Dock, mqtt_action: x}\n";
        let e = resolve_in(&mut registry, &mappings(yaml), "g.yaml")
            .expect_err("the .msg is there, its library is not in LD_LIBRARY_PATH")
            .to_string();
        assert!(e.contains("LD_LIBRARY_PATH"), "{e}");
    }

    #[test]
    fn built_in_converters_need_no_type_lookup() {
        let mut empty = Registry::installed(Prefixes(Vec::new()));
        let types = resolve_in(&mut empty, &mappings("mqtt: {}\n"), "g.yaml").expect("built-ins");
        assert!(types.is_empty());
    }

    #[test]
    fn the_environments_own_types_resolve() {
        // The ROS environment of the tests (scripts/env.sh) has std_msgs installed.
        let yaml = "mqtt: {}\ndefault_mappings: false\nmappings:\n  - {name: s, ros_topic: s, ros_type: std_msgs/msg/String, mqtt_action: s}\n";
        let m = mappings(yaml);
        let types = resolve(&m, "g.yaml").expect("std_msgs is installed");
        let t = types.of(&m[0]).expect("resolved");
        assert_eq!(t.msg.name.to_string(), "std_msgs/msg/String");
        assert!(t.type_ref.library.is_file(), "{:?}", t.type_ref.library);
    }
}
