//! The `mappings:` block: which ROS topic goes to which MQTT topic, how, at what QoS and rate;
//! each entry as written (`MappingSpec`), and resolved with the built-in ones (`Mapping`).
//!
//! The built-in table reproduces SPEC section 3. A `mappings:` entry whose `name` matches a
//! built-in one changes only the keys it sets (or disables it with `enabled: false`); any other
//! name adds a mapping, its unset keys taken from its converter's defaults.

use serde::Deserialize;

use super::error::{ConfigError, Range};
use super::ros_qos::{RosQos, RosQosSpec};
use super::topics::{validate_topic, Category, Qos};
use super::tree::TopicTree;
use super::Config;

/// Which way a mapping carries messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    RosToMqtt,
    MqttToRos,
}

/// How a ROS message becomes JSON (and back, for `generic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConverterKind {
    Odometry,
    Imu,
    Battery,
    JointStates,
    LaserScan,
    Generic,
}

/// Scale of `sensor_msgs/BatteryState.percentage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PercentageScale {
    /// 0-1, as the message definition says.
    #[default]
    Fraction,
    /// 0-100, as many drivers publish.
    Percent,
    /// Values up to 1.0 are fractions, larger ones percents (1.0 means 100 %).
    Auto,
}

/// How a generic mapping writes arrays of bytes (`uint8[]`, `byte[]`, `char[]`) in JSON; what
/// it reads from MQTT may be either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ByteArrays {
    /// One base64 string: a third of the size of numbers, and one string to decode.
    #[default]
    Base64,
    /// An array of numbers, 0-255.
    Numbers,
}

/// Up to `max_messages` messages or `max_interval` seconds per MQTT publish.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    pub max_messages: usize,
    /// Seconds.
    pub max_interval: f64,
}

/// One mapping as written in the file. Unset keys come from the built-in mapping of the same
/// name, or else from the converter's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    pub name: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub direction: Option<Direction>,
    #[serde(default)]
    pub ros_topic: Option<String>,
    #[serde(default)]
    pub ros_type: Option<String>,
    #[serde(default)]
    pub converter: Option<ConverterKind>,
    #[serde(default)]
    pub mqtt_category: Option<Category>,
    #[serde(default)]
    pub mqtt_action: Option<String>,
    /// A full topic instead of category + action; `{robot_id}` is replaced.
    #[serde(default)]
    pub mqtt_topic: Option<String>,
    #[serde(default)]
    pub qos: Option<Qos>,
    #[serde(default)]
    pub retain: Option<bool>,
    /// Unset on a generic ROS to MQTT mapping: matched to the publishers found.
    #[serde(default)]
    pub ros_qos: Option<RosQosSpec>,
    /// Messages per second at most; the latest value wins.
    #[serde(default)]
    pub rate_limit_hz: Option<f64>,
    #[serde(default)]
    pub batch: Option<BatchConfig>,
    /// Battery mappings only.
    #[serde(default)]
    pub percentage_scale: Option<PercentageScale>,
    /// Generic ROS to MQTT mappings only.
    #[serde(default)]
    pub byte_arrays: Option<ByteArrays>,
    /// MQTT to ROS only: publish retained messages too (default: refused, like commands).
    #[serde(default)]
    pub obey_retained: Option<bool>,
    /// MQTT to ROS only: publish messages whose envelope `timestamp` is older than
    /// `commands.max_age` too (default: refused, like commands).
    #[serde(default)]
    pub obey_stale: Option<bool>,
}

impl MappingSpec {
    pub(super) fn validate(&self, file: &str, i: usize) -> Result<(), ConfigError> {
        let key = |k: &str| format!("mappings[{i}].{k}");
        let bad = |k: &str, why: String| Err(ConfigError::invalid(file, key(k), why));
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty".into());
        }
        if let Some(hz) = self.rate_limit_hz {
            Range::Positive(100_000.0)
                .check(hz)
                .or_else(|why| bad("rate_limit_hz", why))?;
        }
        if let Some(b) = self.batch {
            if b.max_messages == 0 || b.max_messages > 100_000 {
                return bad("batch.max_messages", "must be 1-100000".into());
            }
            Range::Positive(3600.0)
                .check(b.max_interval)
                .or_else(|why| bad("batch.max_interval", why))?;
        }
        if let Some(depth) = self.ros_qos.and_then(|q| q.depth) {
            if depth == 0 || depth > 100_000 {
                return bad("ros_qos.depth", "must be 1-100000".into());
            }
        }
        Ok(())
    }
}

/// A mapping with every key decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub name: String,
    /// Where it is written in the configuration (`mappings[2]`, or `mappings.odom` for a
    /// built-in one), so that later checks can name the key.
    pub origin: String,
    pub direction: Direction,
    pub ros_topic: String,
    pub ros_type: String,
    pub converter: ConverterKind,
    pub mqtt_topic: String,
    /// The key that decided `mqtt_topic` (`mqtt_topic`, or `mqtt_action` with the category).
    pub topic_key: &'static str,
    /// The MQTT category; also the envelope's `type` (`status`, `sensor`, ...).
    pub category: Category,
    pub qos: Qos,
    pub retain: bool,
    /// With `auto_qos`, what the subscription uses until publishers are found (its depth
    /// stays).
    pub ros_qos: RosQos,
    /// A generic ROS to MQTT mapping without `ros_qos`: its QoS is matched to the publishers
    /// found on its topic, and follows them as they come and go.
    pub auto_qos: bool,
    pub rate_limit_hz: Option<f64>,
    pub batch: Option<BatchConfig>,
    pub percentage_scale: PercentageScale,
    pub byte_arrays: ByteArrays,
    /// MQTT to ROS: retained messages are published too.
    pub obey_retained: bool,
    /// MQTT to ROS: messages with a stale envelope timestamp are published too.
    pub obey_stale: bool,
}

impl ConverterKind {
    /// The ROS type a built-in converter reads; `None` for generic (any type).
    pub fn ros_type(self) -> Option<&'static str> {
        match self {
            ConverterKind::Odometry => Some("nav_msgs/msg/Odometry"),
            ConverterKind::Imu => Some("sensor_msgs/msg/Imu"),
            ConverterKind::Battery => Some("sensor_msgs/msg/BatteryState"),
            ConverterKind::JointStates => Some("sensor_msgs/msg/JointState"),
            ConverterKind::LaserScan => Some("sensor_msgs/msg/LaserScan"),
            ConverterKind::Generic => None,
        }
    }
}

fn builtin(
    name: &str,
    conv: ConverterKind,
    cat: Category,
    action: &str,
    retain: bool,
    rate: Option<f64>,
) -> MappingSpec {
    MappingSpec {
        name: name.into(),
        direction: Some(Direction::RosToMqtt),
        ros_topic: Some(name.into()),
        converter: Some(conv),
        mqtt_category: Some(cat),
        mqtt_action: Some(action.into()),
        retain: Some(retain),
        rate_limit_hz: rate,
        ..Default::default()
    }
}

/// A deeper DDS history ([`RosQos::SENSOR_HIGH_RATE`]): r2r takes one message per
/// subscription per spin, so whatever comes while the spin thread is held up waits there.
fn high_rate(spec: MappingSpec) -> MappingSpec {
    MappingSpec {
        ros_qos: Some(RosQos::SENSOR_HIGH_RATE.into()),
        ..spec
    }
}

/// SPEC section 3, ROS names relative so that namespaces and remapping apply.
pub fn builtins() -> Vec<MappingSpec> {
    use Category::*;
    use ConverterKind::*;
    vec![
        high_rate(builtin("odom", Odometry, Status, "position", false, None)),
        high_rate(builtin("imu", Imu, Sensor, "imu", false, None)),
        builtin("battery_state", Battery, Status, "battery", true, None),
        high_rate(builtin(
            "joint_states",
            JointStates,
            Status,
            "motor",
            false,
            None,
        )),
        builtin("scan", LaserScan, Sensor, "lidar", false, Some(2.0)),
    ]
}

/// Merges `over` onto `base`: keys set in `over` win, inside `ros_qos` too (a built-in's
/// deep history stays when an entry only makes it reliable).
fn merge(base: &MappingSpec, over: &MappingSpec) -> MappingSpec {
    macro_rules! pick {
        ($($f:ident),*) => { MappingSpec {
            name: over.name.clone(),
            ros_qos: match (over.ros_qos, base.ros_qos) {
                (Some(o), Some(b)) => Some(o.or(b)),
                (o, b) => o.or(b),
            },
            $($f: over.$f.clone().or_else(|| base.$f.clone()),)*
        } };
    }
    pick!(
        enabled,
        direction,
        ros_topic,
        ros_type,
        converter,
        mqtt_category,
        mqtt_action,
        mqtt_topic,
        qos,
        retain,
        rate_limit_hz,
        batch,
        percentage_scale,
        byte_arrays,
        obey_retained,
        obey_stale
    )
}

/// Every enabled mapping of a configuration, resolved and checked.
pub fn resolve(config: &Config, tree: &TopicTree, file: &str) -> Result<Vec<Mapping>, ConfigError> {
    let mut specs: Vec<(Option<usize>, MappingSpec)> = if config.default_mappings {
        builtins().into_iter().map(|m| (None, m)).collect()
    } else {
        Vec::new()
    };
    for (i, user) in config.mappings.iter().enumerate() {
        if config.mappings[..i].iter().any(|m| m.name == user.name) {
            return Err(ConfigError::invalid(
                file,
                format!("mappings[{i}].name"),
                format!("`{}` is used twice", user.name),
            ));
        }
        match specs.iter_mut().find(|(_, s)| s.name == user.name) {
            Some(slot) => *slot = (Some(i), merge(&slot.1, user)),
            None => specs.push((Some(i), user.clone())),
        }
    }
    let mut out = Vec::new();
    for (index, spec) in specs {
        if spec.enabled == Some(false) {
            continue;
        }
        let origin = match index {
            Some(i) => format!("mappings[{i}]"),
            None => format!("mappings.{}", spec.name),
        };
        out.push(resolve_one(config, tree, &spec, origin, file)?);
    }
    let mut seen = std::collections::HashSet::new();
    for m in &out {
        if m.direction == Direction::MqttToRos && !seen.insert(m.mqtt_topic.as_str()) {
            return Err(ConfigError::invalid(
                file,
                format!("{}.mqtt_topic", m.origin),
                format!(
                    "`{}` is already taken by another MQTT to ROS mapping",
                    m.mqtt_topic
                ),
            ));
        }
    }
    Ok(out)
}

fn resolve_one(
    config: &Config,
    tree: &TopicTree,
    s: &MappingSpec,
    origin: String,
    file: &str,
) -> Result<Mapping, ConfigError> {
    let bad = |k: &str, msg: String| ConfigError::invalid(file, format!("{origin}.{k}"), msg);
    let direction = s.direction.unwrap_or(Direction::RosToMqtt);
    let converter = s.converter.unwrap_or(ConverterKind::Generic);
    let ros_type = ros_type(s, converter).map_err(|why| bad("ros_type", why))?;
    check_direction_keys(s, direction, converter).map_err(|(k, why)| bad(k, why.into()))?;
    let ros_topic = s
        .ros_topic
        .clone()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad("ros_topic", "is required".into()))?;
    let category = s.mqtt_category.unwrap_or(match direction {
        Direction::RosToMqtt => Category::Status,
        Direction::MqttToRos => Category::Command,
    });
    let (mqtt_topic, topic_key) = match (&s.mqtt_topic, &s.mqtt_action) {
        (Some(full), _) => (tree.custom_topic(full), "mqtt_topic"),
        (None, Some(action)) => {
            let t = tree.topic(category, action.trim_matches('/'));
            (validate_topic(&t).map(|()| t), "mqtt_action")
        }
        (None, None) => {
            let why = "is required (or `mqtt_topic` for a full topic)";
            return Err(bad("mqtt_action", why.into()));
        }
    };
    let mqtt_topic = mqtt_topic.map_err(|e| bad(topic_key, e.to_string()))?;
    let default_ros_qos = match direction {
        Direction::RosToMqtt => RosQos::SENSOR,
        Direction::MqttToRos => RosQos::RELIABLE,
    };
    Ok(Mapping {
        name: s.name.clone(),
        origin,
        direction,
        ros_topic,
        ros_type,
        converter,
        mqtt_topic,
        topic_key,
        category,
        qos: s.qos.unwrap_or_else(|| config.mqtt.qos.get(category)),
        retain: s.retain.unwrap_or(false),
        ros_qos: s
            .ros_qos
            .map_or(default_ros_qos, |q| q.over(default_ros_qos)),
        auto_qos: direction == Direction::RosToMqtt
            && converter == ConverterKind::Generic
            && s.ros_qos.is_none(),
        rate_limit_hz: s.rate_limit_hz,
        batch: s.batch,
        percentage_scale: s.percentage_scale.unwrap_or_default(),
        byte_arrays: s.byte_arrays.unwrap_or_default(),
        obey_retained: s.obey_retained.unwrap_or(false),
        obey_stale: s.obey_stale.unwrap_or(false),
    })
}

/// The ROS type: the converter's own, or the one given for a generic mapping.
fn ros_type(s: &MappingSpec, converter: ConverterKind) -> Result<String, String> {
    match (converter.ros_type(), &s.ros_type) {
        (Some(t), None) => Ok(t.to_owned()),
        (Some(t), Some(given)) if given == t => Ok(t.to_owned()),
        (Some(t), Some(given)) => Err(format!("converter `{converter:?}` reads {t}, not {given}")),
        (None, Some(given)) => {
            normalize_type(given).ok_or_else(|| format!("`{given}` is not pkg/msg/Type"))
        }
        (None, None) => Err("is required for a generic mapping".into()),
    }
}

/// Keys that only one direction (or one converter) knows: (the key, why) when misplaced.
fn check_direction_keys(
    s: &MappingSpec,
    direction: Direction,
    converter: ConverterKind,
) -> Result<(), (&'static str, &'static str)> {
    let to_ros = direction == Direction::MqttToRos;
    if to_ros && converter != ConverterKind::Generic {
        return Err(("converter", "MQTT to ROS mappings use the `generic` converter (commands to cmd_vel are configured under `commands`)"));
    }
    if s.percentage_scale.is_some() && converter != ConverterKind::Battery {
        return Err((
            "percentage_scale",
            "applies to the `battery` converter only",
        ));
    }
    if s.byte_arrays.is_some() && (to_ros || converter != ConverterKind::Generic) {
        return Err((
            "byte_arrays",
            "applies to generic ROS to MQTT mappings only (MQTT to ROS takes both forms)",
        ));
    }
    if to_ros && (s.rate_limit_hz.is_some() || s.batch.is_some()) {
        return Err((
            "rate_limit_hz",
            "rate limits and batches apply to ROS to MQTT mappings only",
        ));
    }
    if !to_ros && (s.obey_retained.is_some() || s.obey_stale.is_some()) {
        return Err((
            "obey_retained",
            "obey_retained and obey_stale apply to MQTT to ROS mappings only",
        ));
    }
    Ok(())
}

/// `geometry_msgs/PoseStamped` and `geometry_msgs/msg/PoseStamped` both name the same type.
fn normalize_type(t: &str) -> Option<String> {
    let parts: Vec<&str> = t.trim().split('/').collect();
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match parts.as_slice() {
        [pkg, "msg", name] | [pkg, name] if ok(pkg) && ok(name) => {
            Some(format!("{pkg}/msg/{name}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ros_qos::Reliability;

    fn load(yaml: &str) -> Result<Vec<Mapping>, ConfigError> {
        let c = Config::parse(yaml, "m.yaml")?;
        let tree = TopicTree::new(&c, "AMR001").expect("tree");
        resolve(&c, &tree, "m.yaml")
    }

    /// An entry that only makes a built-in reliable keeps the rest of its profile (the deep
    /// history that holds a stall), not the direction's default depth.
    #[test]
    fn a_partial_ros_qos_on_a_builtin_keeps_its_other_keys() {
        let m = load("mqtt: {}\nmappings:\n  - {name: odom, ros_qos: {reliability: reliable}}\n  - {name: scan, ros_qos: {depth: 5}}\n")
            .expect("config");
        let find = |n: &str| m.iter().find(|x| x.name == n).expect(n);
        let odom = find("odom").ros_qos;
        assert_eq!(odom.reliability, Reliability::Reliable);
        assert_eq!(odom.depth, RosQos::SENSOR_HIGH_RATE.depth);
        assert_eq!(odom.durability, RosQos::SENSOR_HIGH_RATE.durability);
        let scan = find("scan").ros_qos;
        assert_eq!(
            (scan.reliability, scan.depth),
            (RosQos::SENSOR.reliability, 5)
        );
    }

    #[test]
    fn defaults_reproduce_the_spec_table() {
        let m = load("mqtt: {}\n").expect("defaults");
        let find = |n: &str| m.iter().find(|x| x.name == n).expect(n);
        let odom = find("odom");
        assert_eq!(odom.mqtt_topic, "amr/AMR001/status/position");
        assert_eq!(odom.ros_type, "nav_msgs/msg/Odometry");
        assert_eq!(odom.qos, Qos(1));
        assert_eq!(odom.ros_qos, RosQos::SENSOR_HIGH_RATE);
        assert_eq!(find("scan").ros_qos, RosQos::SENSOR);
        assert_eq!(find("imu").qos, Qos(0));
        assert_eq!(find("scan").mqtt_topic, "amr/AMR001/sensor/lidar");
        assert_eq!(find("scan").rate_limit_hz, Some(2.0));
        assert_eq!(find("joint_states").mqtt_topic, "amr/AMR001/status/motor");
        assert_eq!(
            find("battery_state").mqtt_topic,
            "amr/AMR001/status/battery"
        );
    }

    #[test]
    fn override_disable_and_add() {
        let m = load(
            "mqtt: {}\nmappings:\n  - {name: odom, ros_topic: /wheel/odom, rate_limit_hz: 10}\n  - {name: imu, enabled: false}\n  - {name: goal, direction: mqtt_to_ros, ros_topic: goal_pose, ros_type: geometry_msgs/PoseStamped, mqtt_action: goal}\n",
        )
        .expect("loads");
        let odom = m.iter().find(|x| x.name == "odom").expect("odom");
        assert_eq!(odom.ros_topic, "/wheel/odom");
        assert_eq!(odom.rate_limit_hz, Some(10.0));
        assert_eq!(odom.mqtt_topic, "amr/AMR001/status/position");
        assert!(m.iter().all(|x| x.name != "imu"));
        let goal = m.iter().find(|x| x.name == "goal").expect("goal");
        assert_eq!(goal.mqtt_topic, "amr/AMR001/command/goal");
        assert_eq!(goal.ros_type, "geometry_msgs/msg/PoseStamped");
        assert_eq!(goal.qos, Qos(2));
        assert_eq!(goal.ros_qos, RosQos::RELIABLE);
        assert!(!goal.auto_qos && !odom.auto_qos);
    }

    #[test]
    fn generic_ros_qos_is_auto_unless_given_and_partial_blocks_keep_the_directions_default() {
        let m = load(
            "mqtt: {}\ndefault_mappings: false\nmappings:\n  - {name: a, ros_topic: a, ros_type: std_msgs/String, mqtt_action: a}\n  - {name: b, ros_topic: b, ros_type: std_msgs/String, mqtt_action: b, ros_qos: {depth: 7}}\n  - {name: c, direction: mqtt_to_ros, ros_topic: c, ros_type: std_msgs/String, mqtt_action: c, ros_qos: {durability: transient_local, depth: 1}}\n",
        )
        .expect("loads");
        assert!(m[0].auto_qos, "no ros_qos: matched to the publishers");
        assert_eq!(m[0].ros_qos, RosQos::SENSOR, "until publishers are found");
        assert!(!m[1].auto_qos, "an explicit ros_qos wins");
        assert_eq!(
            m[1].ros_qos,
            RosQos {
                depth: 7,
                ..RosQos::SENSOR
            }
        );
        let latched = RosQos {
            durability: super::super::Durability::TransientLocal,
            depth: 1,
            ..RosQos::RELIABLE
        };
        assert_eq!(m[2].ros_qos, latched, "MQTT to ROS stays reliable");
        assert_eq!(m[0].byte_arrays, ByteArrays::Base64);
    }

    #[test]
    fn errors_name_the_mapping_key() {
        let e =
            load("mqtt: {}\nmappings:\n  - {name: x, ros_topic: a, mqtt_action: b}\n").unwrap_err();
        assert!(e.to_string().contains("mappings[0].ros_type"), "{e}");
        let e = load("mqtt: {}\nmappings:\n  - {name: odom, ros_type: sensor_msgs/msg/Imu}\n")
            .unwrap_err();
        assert!(e.to_string().contains("mappings[0].ros_type"), "{e}");
        let e = load("mqtt: {}\nmappings:\n  - {name: odom, mqtt_topic: 'a/#'}\n").unwrap_err();
        assert!(e.to_string().contains("mappings[0].mqtt_topic"), "{e}");
        let e = load("mqtt: {}\nmappings:\n  - {name: odom, byte_arrays: numbers}\n").unwrap_err();
        assert!(e.to_string().contains("mappings[0].byte_arrays"), "{e}");
    }
}
