//! `mqtt.offline_store: {path, max_bytes}`: the durable offline store (opt-in). While the
//! broker is away, QoS 1/2 messages wait on disk as well as in memory, and after a restart
//! (same configuration and robot id) they are sent first. See `mqtt::store`.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// The smallest bound: sixteen segments of the smallest size.
pub const MIN_STORE_BYTES: u64 = 64 * 1024;
pub const MAX_STORE_BYTES: u64 = 1 << 40;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineStoreConfig {
    /// The store's directory (made if missing), absolute. `{robot_id}` is replaced, so
    /// that one file serves a fleet and bridges on one machine never share a store.
    pub path: String,
    /// The store's files together, at most; over it the oldest messages go, counted in
    /// `offline_dropped`.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

/// The store as the bridge runs it: `{robot_id}` replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineStore {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

fn default_max_bytes() -> u64 {
    256 * 1024 * 1024
}

impl OfflineStoreConfig {
    /// Checks the block on its own; `file` names the configuration in errors.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError::invalid(file, key, why));
        let path = self.path.trim();
        if path.is_empty() || path.contains('\0') {
            return bad("mqtt.offline_store.path", "must name a directory".into());
        }
        // A ROS node's working directory depends on how it was started.
        if !path.starts_with('/') {
            return bad(
                "mqtt.offline_store.path",
                format!("must be an absolute path, not `{path}`"),
            );
        }
        if !(MIN_STORE_BYTES..=MAX_STORE_BYTES).contains(&self.max_bytes) {
            return bad(
                "mqtt.offline_store.max_bytes",
                format!(
                    "must be {MIN_STORE_BYTES}-{MAX_STORE_BYTES} bytes, not {}",
                    self.max_bytes
                ),
            );
        }
        Ok(())
    }

    /// The store of robot `robot_id`, as the bridge runs it.
    pub fn resolve(&self, file: &str, robot_id: &str) -> Result<OfflineStore, ConfigError> {
        Ok(OfflineStore {
            dir: self.dir(file, robot_id)?,
            max_bytes: self.max_bytes,
        })
    }

    /// The directory of robot `robot_id` (a valid topic level already).
    pub fn dir(&self, file: &str, robot_id: &str) -> Result<PathBuf, ConfigError> {
        if self.path.contains("{robot_id}") && matches!(robot_id, "." | "..") {
            return Err(ConfigError::invalid(
                file,
                "mqtt.offline_store.path",
                format!("robot id `{robot_id}` cannot name a directory"),
            ));
        }
        Ok(PathBuf::from(
            self.path.trim().replace("{robot_id}", robot_id),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Mqtt {
        offline_store: OfflineStoreConfig,
    }

    /// The block, or the key path that serde refused.
    fn parse(yaml: &str) -> Result<OfflineStoreConfig, String> {
        let de = serde_yaml_ng::Deserializer::from_str(yaml);
        let m: Result<Mqtt, _> = serde_path_to_error::deserialize(de);
        m.map(|m| m.offline_store).map_err(|e| e.path().to_string())
    }

    fn message(e: ConfigError) -> String {
        e.to_string()
    }

    #[test]
    fn the_block_loads_with_a_default_bound_and_unknown_keys_are_named() {
        // Block style, as in a config file (flow style needs the path quoted: `{` is YAML's).
        let c = parse("offline_store:\n  path: /var/lib/amr/{robot_id}\n").expect("loads");
        assert_eq!(c.max_bytes, 256 * 1024 * 1024);
        assert!(c.validate("f.yaml").is_ok());
        assert_eq!(
            c.dir("f.yaml", "AMR001").expect("dir"),
            PathBuf::from("/var/lib/amr/AMR001")
        );
        assert_eq!(
            parse("offline_store: {path: /s, max_byte: 1}")
                .err()
                .as_deref(),
            Some("offline_store.max_byte")
        );
        assert_eq!(
            parse("offline_store: {max_bytes: 100000}").err().as_deref(),
            Some("offline_store")
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("offline_store: {path: ''}", "mqtt.offline_store.path"),
            (
                "offline_store: {path: relative/dir}",
                "mqtt.offline_store.path",
            ),
            (
                "offline_store: {path: /s, max_bytes: 1000}",
                "mqtt.offline_store.max_bytes",
            ),
        ];
        for (yaml, key) in cases {
            let e = parse(yaml)
                .expect("parses")
                .validate("f.yaml")
                .map_err(message);
            let e = e.expect_err(yaml);
            assert!(e.starts_with(&format!("f.yaml: key `{key}`")), "{e}");
        }
        let c = parse("offline_store: {path: '/s/{robot_id}'}").expect("parses");
        let e = c.dir("f.yaml", "..").map_err(message).expect_err("..");
        assert!(e.contains("mqtt.offline_store.path"), "{e}");
    }
}
