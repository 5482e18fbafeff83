//! The rules of the `vda5050:` block that depend on the rest of the settings: the serial
//! number made from the robot id, the profile's topics apart from the seed's tree, and no
//! mapping around the profile (its MQTT topics and the robot's navigation topics are its own).

use super::ros_names::resolve_ros_name;
use super::topics::{self, Category};
use super::tree::TopicTree;
use super::{Config, ConfigError, Direction, Mapping};
use crate::vda5050::config::{Invalid, ROBOT_ID};
use crate::vda5050::{Topics, VdaConfig};

/// Checks the enabled profile against the settings around it (`robot_id` resolved).
pub fn check(
    config: &Config,
    tree: &TopicTree,
    mappings: &[Mapping],
    namespace: &str,
    file: &str,
) -> Result<(), ConfigError> {
    let v = &config.vda5050;
    if !v.enabled {
        return Ok(());
    }
    let bad = |key: &str, why: String| ConfigError::invalid(file, key, why);
    let vda = topics(v, tree.robot_id()).map_err(|e| bad(&e.key, e.message))?;
    let prefix = vda.prefix();
    for c in topics::ALL {
        let seed = tree.prefix(c).trim_end_matches('/');
        if nested(prefix, seed) || nested(seed, prefix) {
            return Err(bad(
                "vda5050.interface_name",
                format!(
                    "the VDA 5050 topics {prefix}/... overlap mqtt.topics.{c} {seed:?}: each \
                     tree must be apart{}",
                    if c == Category::Command {
                        " (the bridge would read one profile's messages as the other's commands)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    let navigation = v.navigation.iter().flat_map(|n| {
        [
            ("order_topic", &n.order_topic),
            ("progress_topic", &n.progress_topic),
            ("control_topic", &n.control_topic),
        ]
    });
    let navigation: Vec<(&str, String)> = navigation
        .map(|(key, t)| (key, resolve_ros_name(t, namespace)))
        .collect();
    let safety = [&config.commands.cmd_vel_topic, &config.commands.estop_topic]
        .map(|t| resolve_ros_name(t, namespace));
    for (key, topic) in &navigation {
        if safety.contains(topic) {
            return Err(bad(
                &format!("vda5050.navigation.{key}"),
                format!("{topic} is the safety layer's topic (commands.cmd_vel_topic / commands.estop_topic)"),
            ));
        }
    }
    for m in mappings {
        if nested(&m.mqtt_topic, prefix) {
            return Err(bad(
                &format!("{}.{}", m.origin, m.topic_key),
                format!(
                    "{} is a VDA 5050 topic of this vehicle: the profile alone reads and writes them",
                    m.mqtt_topic
                ),
            ));
        }
        let ros = resolve_ros_name(&m.ros_topic, namespace);
        let on_navigation = navigation.iter().find(|(_, t)| *t == ros);
        if let (Direction::MqttToRos, Some((key, _))) = (m.direction, on_navigation) {
            return Err(bad(
                &format!("{}.ros_topic", m.origin),
                format!(
                    "`{}` is the robot's navigation topic vda5050.navigation.{key}: only orders \
                     that the VDA 5050 profile checked reach it",
                    m.ros_topic
                ),
            ));
        }
    }
    Ok(())
}

/// The profile's topics for robot `id`. `--check-config` of a fleet-wide file gives the
/// placeholder `{robot_id}` for the id: the serial number's template stays as it is (it was
/// checked with the block).
pub fn topics(v: &VdaConfig, id: &str) -> Result<Topics, Invalid> {
    let serial = if id == ROBOT_ID {
        v.serial_number.clone()
    } else {
        v.serial_number(id)?
    };
    let version = v.version().ok_or_else(|| Invalid {
        key: "vda5050.major_version".into(),
        message: "not spoken".into(),
    })?;
    Ok(Topics::new(
        &v.interface_name,
        version,
        &v.manufacturer,
        &serial,
    ))
}

/// `a` is `b` or lies under it (topic levels).
fn nested(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}/"))
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, Overrides, Settings};

    const PROFILE: &str = "vda5050:\n  enabled: true\n  manufacturer: KIT\n  factsheet:\n    type_specification: {series_name: S, agv_kinematic: DIFF, agv_class: CARRIER, max_load_mass: 50, localization_types: [NATURAL], navigation_types: [AUTONOMOUS]}\n    physical_parameters: {speed_min: 0.05, speed_max: 1.0, acceleration_max: 0.5, deceleration_max: 1.0, height_max: 0.4, width: 0.6, length: 0.8}\n";

    /// The profile (with `vda` more of its keys) beside `mqtt` and `rest`, for robot `id`.
    fn settings(mqtt: &str, vda: &str, rest: &str, id: &str) -> Result<Settings, ConfigError> {
        let yaml = format!("mqtt: {mqtt}\n{PROFILE}{vda}{rest}");
        let c = Config::parse(&yaml, "v.yaml")?;
        let o = Overrides {
            robot_id: Some(id.into()),
            ..Default::default()
        };
        Settings::resolve(c, "v.yaml".into(), &o, "/")
    }

    fn refused(mqtt: &str, vda: &str, rest: &str, key: &str) -> String {
        let e = settings(mqtt, vda, rest, "R1").expect_err(rest).to_string();
        assert!(
            e.starts_with(&format!("v.yaml: key `{key}`")),
            "{vda}{rest}\n -> {e}"
        );
        e
    }

    const NAV: &str = "  navigation: {}\n";

    #[test]
    fn the_profile_resolves_beside_the_seed() {
        assert!(settings("{}", NAV, "", "AMR001").is_ok());
        assert!(
            settings("{}", NAV, "", "{robot_id}").is_ok(),
            "--check-config without an id"
        );
    }

    #[test]
    fn errors_in_the_block_name_the_file_and_the_key() {
        for (yaml, key) in [
            ("vda5050: {state_period: 31}", "vda5050.state_period"),
            (
                "vda5050: {limits: {max_errors: 1}}",
                "vda5050.limits.max_errors",
            ),
            (
                "vda5050: {navigation: {order_topics: x}}",
                "vda5050.navigation.order_topics",
            ),
            (
                "vda5050: {enabled: true, manufacturer: KIT}",
                "vda5050.factsheet",
            ),
        ] {
            let e = Config::parse(&format!("mqtt: {{}}\n{yaml}\n"), "f.yaml")
                .expect_err(yaml)
                .to_string();
            assert!(
                e.starts_with(&format!("f.yaml: key `{key}`")),
                "{yaml}: {e}"
            );
        }
        let off = Config::parse("mqtt: {}\n", "f.yaml").expect("no block");
        assert!(!off.vda5050.enabled, "off by default");
    }

    #[test]
    fn the_serial_number_comes_from_the_robot_id() {
        let e = settings("{}", "", "", "robot@1")
            .expect_err("@")
            .to_string();
        assert!(
            e.starts_with("v.yaml: key `vda5050.serial_number`")
                && e.contains("robot id `robot@1`"),
            "{e}"
        );
    }

    #[test]
    fn the_profile_topics_stay_apart_from_the_seed_tree() {
        for (category, topic) in [
            ("command", "uagv/v2/KIT/{robot_id}"),
            ("status", "uagv/v2/KIT/{robot_id}/state"),
        ] {
            let mqtt = format!("{{topics: {{{category}: '{topic}'}}}}");
            let e = refused(&mqtt, "", "", "vda5050.interface_name");
            assert!(
                e.contains(&format!("overlap mqtt.topics.{category}")),
                "{e}"
            );
        }
    }

    #[test]
    fn no_mapping_reaches_around_the_profile() {
        let generic = |extra: &str| {
            format!("mappings:\n  - {{name: g, ros_type: std_msgs/msg/String, {extra}}}\n")
        };
        for topic in [
            "vda5050/order",
            "/vda5050/order_control",
            "vda5050/order_progress",
        ] {
            let m = generic(&format!(
                "direction: mqtt_to_ros, ros_topic: {topic}, mqtt_action: x"
            ));
            refused("{}", NAV, &m, "mappings[0].ros_topic");
        }
        let m = generic("ros_topic: x, mqtt_topic: uagv/v2/KIT/R1/instantActions");
        refused("{}", NAV, &m, "mappings[0].mqtt_topic");
        refused(
            "{}",
            "  navigation: {order_topic: cmd_vel}\n",
            "",
            "vda5050.navigation.order_topic",
        );
        let reads_progress = generic("ros_topic: vda5050/order_progress, mqtt_action: progress");
        assert!(
            settings("{}", NAV, &reads_progress, "R1").is_ok(),
            "a ROS to MQTT mapping may listen to the navigation"
        );
    }
}
