//! The configuration: the YAML file's schema, one file per block (`mqtt`, `commands`,
//! `mappings` and their `ros_qos`, `state`, `alerts`, `bridge`) and the whole file here; the
//! topic tree (`topics`); and the one validated value that the bridge runs on (`settings`).
//!
//! The seed's `config/mqtt_config.yaml` (a single `mqtt:` block) loads as it is; the bridge's
//! own keys (robot id, mappings, commands, alerts, state, limits) sit beside it. Every struct
//! denies unknown keys, and every error names the file and the key path (`mqtt.qos.status`).
//! Each block checks its own values as the file is read: every number that later becomes a
//! period, a rate or a size is range-checked (`error::Range`), so that nothing can panic or
//! spin once the bridge runs. What depends on several keys is checked by `settings`. This
//! module imports nothing else of the crate but the `vda5050:` block (`vda5050::config`, which
//! imports only its words and `config::error`): everything else depends on it.

pub mod alerts;
pub mod bridge;
pub mod commands;
pub mod error;
pub mod failover;
pub mod mappings;
pub mod mqtt;
pub mod offline_store;
pub mod ros_names;
pub mod ros_qos;
pub mod settings;
pub mod state;
pub mod topics;
pub mod tree;
pub mod vda5050;

use serde::Deserialize;
use std::path::Path;

pub use alerts::AlertConfig;
pub use bridge::{BridgeConfig, DEFAULT_LINGER};
pub use commands::{AngularUnit, CommandConfig, LinearUnit};
pub use error::ConfigError;
pub use mappings::{
    BatchConfig, ByteArrays, ConverterKind, Direction, Mapping, MappingSpec, PercentageScale,
};
pub use mqtt::{
    MqttConfig, QosTable, ReconnectConfig, TlsConfig, TopicTemplates, DEFAULT_PORT,
    DEFAULT_TLS_PORT, MAX_PAYLOAD,
};
pub use ros_qos::{Durability, Reliability, RosQos, RosQosSpec};
pub use settings::{Overrides, Settings};
pub use state::StateConfig;
pub use topics::{Category, Qos, TopicError};
pub use tree::TopicTree;

use crate::vda5050::VdaConfig;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mqtt: MqttConfig,
    /// Robot id: the `{robot_id}` of every topic. The ROS parameter `robot_id` overrides it;
    /// when both are unset, the last segment of the node namespace is used.
    #[serde(default)]
    pub robot_id: Option<String>,
    /// Keep the built-in mappings (SPEC table); `mappings` then changes, disables or adds to them.
    #[serde(default = "yes")]
    pub default_mappings: bool,
    #[serde(default)]
    pub mappings: Vec<MappingSpec>,
    #[serde(default)]
    pub commands: CommandConfig,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub alerts: AlertConfig,
    #[serde(default)]
    pub bridge: BridgeConfig,
    /// The VDA 5050 profile beside the seed's tree (off by default).
    #[serde(default)]
    pub vda5050: VdaConfig,
}

fn yes() -> bool {
    true
}

impl Config {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Config::parse(&text, &file)
    }

    /// Parses and checks YAML text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." {
                "(top level)".into()
            } else {
                key
            };
            ConfigError::invalid(file, key, e.into_inner())
        })?;
        config.validate(file)?;
        Ok(config)
    }

    /// Checks every value on its own, block by block: ranges, sizes, periods. What depends on
    /// several keys (topics, mappings, safety rules) is checked by `settings`.
    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        self.mqtt.validate(file)?;
        if let Some(id) = &self.robot_id {
            if let Err(e) = topics::validate_robot_id(id) {
                return Err(ConfigError::invalid(file, "robot_id", e));
            }
        }
        self.commands.validate(file)?;
        self.state.validate(file)?;
        self.alerts.validate(file)?;
        self.bridge.validate(file)?;
        for (i, spec) in self.mappings.iter().enumerate() {
            spec.validate(file, i)?;
        }
        self.vda5050
            .validate()
            .map_err(|e| ConfigError::invalid(file, e.key, e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../config/mqtt_config.yaml");

    #[test]
    fn seed_file_loads_with_its_values() {
        let c = Config::parse(SEED, "mqtt_config.yaml").expect("seed loads");
        assert_eq!(c.mqtt.broker, "localhost");
        assert_eq!(c.mqtt.port(), DEFAULT_PORT, "the seed's port");
        assert_eq!(c.mqtt.keepalive, 60);
        assert_eq!(c.mqtt.client_id, "amr_client");
        assert_eq!(c.mqtt.qos.get(Category::Command), Qos(2));
        assert_eq!(c.mqtt.qos.get(Category::Sensor), Qos(0));
        assert_eq!(c.mqtt.topics.alert, "amr/{robot_id}/alert");
        assert_eq!(c.mqtt.reconnect.max_attempts, 5);
        assert!(c.default_mappings);
    }

    #[test]
    fn extended_example_loads() {
        let c =
            Config::parse(include_str!("../../config/bridge.yaml"), "bridge.yaml").expect("loads");
        assert_eq!(c.commands.rate_hz, 20.0);
        assert_eq!(c.mappings.len(), 2);
    }

    #[test]
    fn unknown_key_is_named_with_its_path_and_file() {
        let e = Config::parse("mqtt:\n  broker: x\n  porte: 1\n", "f.yaml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("f.yaml: key `mqtt.porte`"), "{msg}");
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Config::parse("mqtt:\n  port: eighty\n", "g.yaml").unwrap_err();
        assert!(e.to_string().starts_with("g.yaml: key `mqtt.port`"), "{e}");
        let e = Config::parse("mqtt:\n  qos: {status: 3}\n", "g.yaml").unwrap_err();
        assert!(e.to_string().contains("mqtt.qos.status"), "{e}");
    }

    #[test]
    fn invalid_robot_id_is_refused() {
        for id in ["a/b", "+", "#", ""] {
            let text = format!("mqtt: {{}}\nrobot_id: {id:?}\n");
            let e = Config::parse(&text, "r.yaml").unwrap_err();
            assert!(e.to_string().contains("robot_id"), "{id}: {e}");
        }
    }

    #[test]
    fn mapping_keys_are_checked() {
        let e = Config::parse(
            "mqtt: {}\nmappings:\n  - name: odom\n    rate_limit_hz: -1\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("mappings[0].rate_limit_hz"), "{e}");
        let e = Config::parse(
            "mqtt: {}\nmappings:\n  - name: odom\n    colour: red\n",
            "m.yaml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("mappings[0].colour"), "{e}");
    }
}
