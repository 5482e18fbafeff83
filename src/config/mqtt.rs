//! The seed's `mqtt:` block, loaded as it is, and the bridge's transport keys beside it:
//! broker and its failover addresses, session, credentials, TLS files, QoS and topic prefix
//! per category, reconnect, offline queue and the durable offline store.

use serde::Deserialize;
use std::path::PathBuf;

use super::error::{check_numbers, check_sizes, ConfigError, Range};
use super::failover::{self, BrokerAddress};
use super::offline_store::OfflineStoreConfig;
use super::topics::{Category, Qos};

/// The seed's `mqtt:` block plus the bridge's transport keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    #[serde(default = "default_broker")]
    pub broker: String,
    /// Unset: 8883 with `use_ssl`, else 1883.
    #[serde(default)]
    pub port: Option<u16>,
    /// Seconds.
    #[serde(default = "default_keepalive")]
    pub keepalive: u64,
    /// `{robot_id}` is replaced; an id without it gets `_{robot_id}` appended, so that two
    /// robots started from the same file never take each other's session on the broker.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Read the password from this file (first line) instead of the YAML.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Read the password from this environment variable instead of the YAML.
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub use_ssl: bool,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub qos: QosTable,
    #[serde(default)]
    pub topics: TopicTemplates,
    #[serde(default)]
    pub reconnect: ReconnectConfig,
    /// QoS 1/2 messages kept while the broker is unreachable; the oldest go first when full.
    #[serde(default = "default_offline_queue")]
    pub offline_queue: usize,
    /// The same queue's bound in bytes (QoS 0 latest values included).
    #[serde(default = "default_queue_bytes")]
    pub offline_queue_bytes: usize,
    /// The durable offline store (opt-in): QoS 1/2 messages wait on disk while the broker is
    /// away, and a restart sends them first.
    #[serde(default)]
    pub offline_store: Option<OfflineStoreConfig>,
    /// More addresses of the broker (a cluster's other nodes), tried in order after `broker`.
    #[serde(default)]
    pub failover: Vec<BrokerAddress>,
}

fn default_broker() -> String {
    "localhost".into()
}
fn default_keepalive() -> u64 {
    60
}
fn default_client_id() -> String {
    "amr_bridge_{robot_id}".into()
}
fn default_offline_queue() -> usize {
    1000
}
pub(super) fn default_queue_bytes() -> usize {
    64 * 1024 * 1024
}

/// The largest payload the bridge reads from MQTT: the protocol's own limit (256 MiB).
pub const MAX_PAYLOAD: usize = 268_435_455;

/// MQTT's registered ports, plain and TLS.
pub const DEFAULT_PORT: u16 = 1883;
pub const DEFAULT_TLS_PORT: u16 = 8883;

impl MqttConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.use_ssl {
            DEFAULT_TLS_PORT
        } else {
            DEFAULT_PORT
        })
    }
}

/// TLS files, used when `use_ssl` is true. `cert_file` + `key_file` give mutual TLS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// QoS per category; the defaults are the seed's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QosTable {
    #[serde(default = "qos1")]
    pub status: Qos,
    #[serde(default = "qos2")]
    pub command: Qos,
    #[serde(default = "qos0")]
    pub sensor: Qos,
    #[serde(default = "qos2")]
    pub alert: Qos,
}

fn qos0() -> Qos {
    Qos(0)
}
fn qos1() -> Qos {
    Qos(1)
}
fn qos2() -> Qos {
    Qos(2)
}

impl Default for QosTable {
    fn default() -> Self {
        QosTable {
            status: qos1(),
            command: qos2(),
            sensor: qos0(),
            alert: qos2(),
        }
    }
}

impl QosTable {
    pub fn get(&self, c: Category) -> Qos {
        match c {
            Category::Status => self.status,
            Category::Command => self.command,
            Category::Sensor => self.sensor,
            Category::Alert => self.alert,
        }
    }
}

/// Topic prefix per category, `{robot_id}` replaced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicTemplates {
    #[serde(default = "t_status")]
    pub status: String,
    #[serde(default = "t_command")]
    pub command: String,
    #[serde(default = "t_sensor")]
    pub sensor: String,
    #[serde(default = "t_alert")]
    pub alert: String,
}

fn t_status() -> String {
    "amr/{robot_id}/status".into()
}
fn t_command() -> String {
    "amr/{robot_id}/command".into()
}
fn t_sensor() -> String {
    "amr/{robot_id}/sensor".into()
}
fn t_alert() -> String {
    "amr/{robot_id}/alert".into()
}

impl Default for TopicTemplates {
    fn default() -> Self {
        TopicTemplates {
            status: t_status(),
            command: t_command(),
            sensor: t_sensor(),
            alert: t_alert(),
        }
    }
}

impl TopicTemplates {
    pub fn get(&self, c: Category) -> &str {
        match c {
            Category::Status => &self.status,
            Category::Command => &self.command,
            Category::Sensor => &self.sensor,
            Category::Alert => &self.alert,
        }
    }
}

/// The seed's reconnect block. The bridge never gives up while `enabled`: `max_attempts`
/// quick attempts `delay` seconds apart, then the delay doubles up to `max_delay`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconnectConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Seconds.
    #[serde(default = "default_delay")]
    pub delay: f64,
    /// Seconds.
    #[serde(default = "default_max_delay")]
    pub max_delay: f64,
}

fn yes() -> bool {
    true
}
fn default_attempts() -> u32 {
    5
}
fn default_delay() -> f64 {
    1.0
}
fn default_max_delay() -> f64 {
    30.0
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            enabled: true,
            max_attempts: default_attempts(),
            delay: default_delay(),
            max_delay: default_max_delay(),
        }
    }
}

impl MqttConfig {
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| Err(ConfigError::invalid(file, key, msg));
        if self.broker.trim().is_empty() {
            return bad("mqtt.broker", "must not be empty");
        }
        if self.port == Some(0) {
            return bad("mqtt.port", "must be 1-65535");
        }
        if self.keepalive == 0 || self.keepalive > 65535 {
            return bad("mqtt.keepalive", "must be 1-65535 seconds");
        }
        if self.client_id.trim().is_empty() {
            return bad("mqtt.client_id", "must not be empty");
        }
        let r = &self.reconnect;
        #[rustfmt::skip]
        let numbers = [
            ("mqtt.reconnect.delay", r.delay, Range::Positive(3600.0)),
            ("mqtt.reconnect.max_delay", r.max_delay, Range::Positive(86_400.0)),
        ];
        check_numbers(file, &numbers)?;
        if r.max_delay < r.delay {
            return bad("mqtt.reconnect.max_delay", "must be at least `delay`");
        }
        #[rustfmt::skip]
        let sizes = [
            ("mqtt.offline_queue", self.offline_queue, 10_000_000),
            ("mqtt.offline_queue_bytes", self.offline_queue_bytes, 1 << 34),
        ];
        check_sizes(file, &sizes)?;
        if let Some(store) = &self.offline_store {
            store.validate(file)?;
        }
        failover::validate(&self.failover, file)
    }
}
