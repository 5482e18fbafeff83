//! The configuration: the YAML file's schema (this file), the topic tree (`topics`), the
//! mappings (`mappings`) and the one validated value that the bridge runs on (`settings`).
//!
//! The seed's `config/mqtt_config.yaml` (a single `mqtt:` block) loads as it is; the bridge's
//! own keys (robot id, mappings, commands, alerts, state, limits) sit beside it. Every struct
//! denies unknown keys, and every error names the file and the key path (`mqtt.qos.status`).
//! Every number that later becomes a period, a rate or a size is range-checked here, so that
//! nothing can panic or spin once the bridge runs. This module imports nothing else of the
//! crate: everything else depends on it, never the reverse.

pub mod failover;
pub mod mappings;
pub mod offline_store;
pub mod settings;
pub mod topics;

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

pub use mappings::Mapping;
pub use settings::{Overrides, Settings};
pub use topics::{Category, TopicError, TopicTree};

/// A configuration that cannot be used, with the file and the key that make it so.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the configuration: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("parameter `{name}`: {message}")]
    Parameter { name: String, message: String },
    #[error("robot id from {source_name}: {error}")]
    RobotId {
        source_name: &'static str,
        error: TopicError,
    },
    #[error("no robot id: set the parameter robot_id (-p robot_id:=AMR001), the key robot_id in the configuration, or start the node in a namespace")]
    NoRobotId,
}

impl ConfigError {
    pub fn invalid(file: &str, key: impl Into<String>, message: impl fmt::Display) -> Self {
        ConfigError::Invalid {
            file: file.to_owned(),
            key: key.into(),
            message: message.to_string(),
        }
    }
}

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
}

fn yes() -> bool {
    true
}

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
fn default_queue_bytes() -> usize {
    64 * 1024 * 1024
}

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

/// An MQTT QoS level, 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Qos(pub u8);

impl TryFrom<i64> for Qos {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        match v {
            0..=2 => Ok(Qos(v as u8)),
            _ => Err(format!("MQTT QoS must be 0, 1 or 2, not {v}")),
        }
    }
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

/// ROS QoS of a mapping's subscription or publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosQos {
    #[serde(default = "best_effort")]
    pub reliability: Reliability,
    #[serde(default = "volatile")]
    pub durability: Durability,
    #[serde(default = "default_depth")]
    pub depth: usize,
}

fn best_effort() -> Reliability {
    Reliability::BestEffort
}
fn volatile() -> Durability {
    Durability::Volatile
}
fn default_depth() -> usize {
    RosQos::SENSOR.depth
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reliability {
    Reliable,
    BestEffort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    Volatile,
    TransientLocal,
}

impl RosQos {
    /// The sensor-data profile drivers use; a best-effort reader matches reliable writers too.
    /// Deeper than rclcpp's 5: r2r takes one message per subscription per spin, so a short
    /// scheduling hiccup at hundreds of messages per second must fit in the DDS history
    /// (BENCHMARKS.md: depth 10 lost up to 10 % at 20k msg/s, depth 100 none up to 10k msg/s).
    pub const SENSOR: RosQos = RosQos {
        reliability: Reliability::BestEffort,
        durability: Durability::Volatile,
        depth: 100,
    };
    /// The built-in odometry, IMU and joint-state mappings: small messages at up to hundreds
    /// of Hz. Their history holds a stall of the spin thread of about a second at 1 kHz (a
    /// loaded robot computer); DDS only fills it while the bridge is behind, and it is freed
    /// as the bridge catches up.
    pub const SENSOR_HIGH_RATE: RosQos = RosQos {
        depth: 1000,
        ..RosQos::SENSOR
    };
    /// For what the bridge publishes into ROS: reliable, as `rclpy`/`rclcpp` default readers are.
    pub const RELIABLE: RosQos = RosQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        depth: 10,
    };
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
    #[serde(default)]
    pub ros_qos: Option<RosQos>,
    /// Messages per second at most; the latest value wins.
    #[serde(default)]
    pub rate_limit_hz: Option<f64>,
    #[serde(default)]
    pub batch: Option<BatchConfig>,
    /// Battery mappings only.
    #[serde(default)]
    pub percentage_scale: Option<PercentageScale>,
    /// MQTT to ROS only: publish retained messages too (default: refused, like commands).
    #[serde(default)]
    pub obey_retained: Option<bool>,
    /// MQTT to ROS only: publish messages whose envelope `timestamp` is older than
    /// `commands.max_age` too (default: refused, like commands).
    #[serde(default)]
    pub obey_stale: Option<bool>,
}

/// Units of command parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearUnit {
    M,
    Cm,
    Mm,
}

impl LinearUnit {
    pub fn to_meters(self) -> f64 {
        match self {
            LinearUnit::M => 1.0,
            LinearUnit::Cm => 0.01,
            LinearUnit::Mm => 0.001,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AngularUnit {
    Deg,
    Rad,
}

impl AngularUnit {
    pub fn to_radians(self) -> f64 {
        match self {
            AngularUnit::Deg => std::f64::consts::PI / 180.0,
            AngularUnit::Rad => 1.0,
        }
    }
}

/// Fleet commands to `cmd_vel`. Limits are SI (m/s, rad/s, m/s², rad/s²), as `cmd_vel` is;
/// command parameters are in `linear_unit` and `angular_unit`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandConfig {
    pub enabled: bool,
    pub cmd_vel_topic: String,
    /// A `std_msgs/Bool` topic: true engages the e-stop latch, false releases it.
    pub estop_topic: String,
    /// Twists per second while a motion runs (and while the e-stop holds).
    pub rate_hz: f64,
    pub linear_unit: LinearUnit,
    pub angular_unit: AngularUnit,
    pub max_linear_speed: f64,
    pub max_angular_speed: f64,
    pub max_linear_accel: f64,
    pub max_angular_accel: f64,
    /// Largest `distance` / `angle` of one motion, in the command units.
    pub max_distance: f64,
    pub max_angle: f64,
    /// Seconds without a velocity command before the watchdog sends zero.
    pub watchdog_timeout: f64,
    /// Seconds: older commands are refused.
    pub max_age: f64,
    /// Seconds: commands stamped further ahead than this are refused.
    pub max_future: f64,
    /// Commands without a `timestamp` are refused unless this is true.
    pub require_timestamp: bool,
    /// Bytes.
    pub max_payload: usize,
    /// Seconds: odometry older than this is not used to end a motion.
    pub odom_timeout: f64,
    /// Command ids remembered to refuse repeats.
    pub id_memory: usize,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            enabled: true,
            cmd_vel_topic: "cmd_vel".into(),
            estop_topic: "emergency_stop".into(),
            rate_hz: 20.0,
            linear_unit: LinearUnit::Cm,
            angular_unit: AngularUnit::Deg,
            max_linear_speed: 1.0,
            max_angular_speed: 1.5,
            max_linear_accel: 1.0,
            max_angular_accel: 3.0,
            max_distance: 10_000.0,
            max_angle: 3600.0,
            watchdog_timeout: 0.5,
            max_age: 2.0,
            max_future: 2.0,
            require_timestamp: true,
            max_payload: 16 * 1024,
            odom_timeout: 0.5,
            id_memory: 256,
        }
    }
}

/// The derived `status/state` message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub enabled: bool,
    pub rate_hz: f64,
    pub action: String,
    /// Below this speed (m/s, rad/s) the robot is `idle`, above `running`.
    pub moving_threshold: f64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            enabled: true,
            rate_hz: 1.0,
            action: "state".into(),
            moving_threshold: 0.01,
        }
    }
}

/// Alerts raised by the bridge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    pub enabled: bool,
    /// Percent: below it a warning, below `battery_critical` an error.
    pub battery_low: f64,
    pub battery_critical: f64,
    /// Percent the battery must climb above a threshold before it clears.
    pub battery_hysteresis: f64,
    /// Seconds without a message before a sensor stream is reported stale (0: never).
    pub stale_after: f64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            enabled: true,
            battery_low: 20.0,
            battery_critical: 10.0,
            battery_hysteresis: 2.0,
            stale_after: 5.0,
        }
    }
}

/// The bridge itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeConfig {
    /// Seconds between `status/bridge` and `/diagnostics` reports (0: off).
    pub diagnostics_period: f64,
    /// Messages waiting between the ROS side and the MQTT link (a burst of a few seconds of
    /// the typical sensor load); a full queue is a counted drop, never a wait on the spin thread.
    pub queue_size: usize,
    /// The same queue's bound in bytes: a burst of big generic messages cannot fill memory.
    pub queue_bytes: usize,
    /// Fleet messages waiting for the command runner; beyond it they are dropped and counted.
    /// Stops and e-stops never wait behind them (a channel of their own).
    pub inbound_queue: usize,
    /// Seconds that telemetry from ROS (the ROS to MQTT mappings) may wait for the next
    /// write to the broker, so that several messages share one (0: each spin's messages go
    /// at once). Outcomes, alerts, state and stops never wait, and take what lingers along.
    pub linger: f64,
}

/// Measured on the typical mix over TLS (BENCHMARKS.md): what it saves, and the latency it adds.
pub const DEFAULT_LINGER: f64 = 0.01;

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            diagnostics_period: 5.0,
            queue_size: 4096,
            queue_bytes: default_queue_bytes(),
            inbound_queue: 256,
            linger: DEFAULT_LINGER,
        }
    }
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

    /// Checks every value on its own: ranges, sizes, periods. What depends on several keys
    /// (topics, mappings, safety rules) is checked by `settings`.
    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| Err(ConfigError::invalid(file, key, msg));
        let m = &self.mqtt;
        if m.broker.trim().is_empty() {
            return bad("mqtt.broker", "must not be empty");
        }
        if m.port == Some(0) {
            return bad("mqtt.port", "must be 1-65535");
        }
        if m.keepalive == 0 || m.keepalive > 65535 {
            return bad("mqtt.keepalive", "must be 1-65535 seconds");
        }
        if m.client_id.trim().is_empty() {
            return bad("mqtt.client_id", "must not be empty");
        }
        if let Some(id) = &self.robot_id {
            if let Err(e) = topics::validate_robot_id(id) {
                return bad("robot_id", &e.to_string());
            }
        }
        for (key, get, range) in NUMBERS {
            range
                .check(get(self))
                .map_err(|why| ConfigError::invalid(file, *key, why))?;
        }
        let (c, r, a) = (&self.commands, &m.reconnect, &self.alerts);
        if r.max_delay < r.delay {
            return bad("mqtt.reconnect.max_delay", "must be at least `delay`");
        }
        if c.watchdog_timeout * c.rate_hz < 1.0 {
            return bad(
                "commands.watchdog_timeout",
                "must be at least one tick (1 / commands.rate_hz)",
            );
        }
        if !(a.battery_critical.is_finite() && a.battery_critical <= a.battery_low) {
            return bad(
                "alerts.battery_critical",
                "must be a number not above battery_low",
            );
        }
        let sizes: [(&str, usize, usize); 7] = [
            ("mqtt.offline_queue", m.offline_queue, 10_000_000),
            ("mqtt.offline_queue_bytes", m.offline_queue_bytes, 1 << 34),
            ("bridge.queue_bytes", self.bridge.queue_bytes, 1 << 34),
            ("commands.max_payload", c.max_payload, MAX_PAYLOAD),
            ("commands.id_memory", c.id_memory, 10_000_000),
            ("bridge.queue_size", self.bridge.queue_size, 10_000_000),
            ("bridge.inbound_queue", self.bridge.inbound_queue, 1_000_000),
        ];
        for (key, v, max) in sizes {
            if v == 0 || v > max {
                return Err(ConfigError::invalid(file, key, format!("must be 1-{max}")));
            }
        }
        for (i, spec) in self.mappings.iter().enumerate() {
            spec.validate(file, i)?;
        }
        Ok(())
    }
}

/// Every period, rate and limit that the bridge later turns into a `Duration` or a tick, with
/// its range: no value may panic or spin at run time.
type Number = fn(&Config) -> f64;
#[rustfmt::skip]
const NUMBERS: &[(&str, Number, Range)] = &[
    ("mqtt.reconnect.delay", |c| c.mqtt.reconnect.delay, Range::Positive(3600.0)),
    ("mqtt.reconnect.max_delay", |c| c.mqtt.reconnect.max_delay, Range::Positive(86_400.0)),
    ("commands.rate_hz", |c| c.commands.rate_hz, Range::Between(1.0, 1000.0)),
    ("commands.max_linear_speed", |c| c.commands.max_linear_speed, Range::Positive(100.0)),
    ("commands.max_angular_speed", |c| c.commands.max_angular_speed, Range::Positive(100.0)),
    ("commands.max_linear_accel", |c| c.commands.max_linear_accel, Range::Positive(1000.0)),
    ("commands.max_angular_accel", |c| c.commands.max_angular_accel, Range::Positive(1000.0)),
    ("commands.max_distance", |c| c.commands.max_distance, Range::Positive(1e9)),
    ("commands.max_angle", |c| c.commands.max_angle, Range::Positive(1e9)),
    ("commands.watchdog_timeout", |c| c.commands.watchdog_timeout, Range::Positive(60.0)),
    ("commands.max_age", |c| c.commands.max_age, Range::Positive(86_400.0)),
    ("commands.max_future", |c| c.commands.max_future, Range::Between(0.0, 86_400.0)),
    ("commands.odom_timeout", |c| c.commands.odom_timeout, Range::Positive(3600.0)),
    ("state.rate_hz", |c| c.state.rate_hz, Range::Between(0.001, 100.0)),
    ("state.moving_threshold", |c| c.state.moving_threshold, Range::Between(0.0, 100.0)),
    ("alerts.stale_after", |c| c.alerts.stale_after, Range::ZeroOr(0.1, 86_400.0)),
    ("bridge.linger", |c| c.bridge.linger, Range::Between(0.0, 0.1)),
    ("alerts.battery_low", |c| c.alerts.battery_low, Range::Between(0.0, 100.0)),
    ("alerts.battery_hysteresis", |c| c.alerts.battery_hysteresis, Range::Between(0.0, 100.0)),
    ("bridge.diagnostics_period", |c| c.bridge.diagnostics_period, Range::ZeroOr(0.1, 86_400.0)),
];

/// The largest payload the bridge reads from MQTT: the protocol's own limit (256 MiB).
pub const MAX_PAYLOAD: usize = 268_435_455;

/// The range a number must be in.
#[derive(Debug, Clone, Copy)]
enum Range {
    /// > 0 and <= max.
    Positive(f64),
    /// min <= v <= max.
    Between(f64, f64),
    /// 0 (off), or min <= v <= max.
    ZeroOr(f64, f64),
}

impl Range {
    fn check(self, v: f64) -> Result<(), String> {
        let ok = v.is_finite()
            && match self {
                Range::Positive(max) => v > 0.0 && v <= max,
                Range::Between(min, max) => (min..=max).contains(&v),
                Range::ZeroOr(min, max) => v == 0.0 || (min..=max).contains(&v),
            };
        if ok {
            return Ok(());
        }
        Err(match self {
            Range::Positive(max) => format!("must be a number above 0 and at most {max}, not {v}"),
            Range::Between(min, max) => format!("must be a number from {min} to {max}, not {v}"),
            Range::ZeroOr(min, max) => {
                format!("must be 0 (off) or a number from {min} to {max}, not {v}")
            }
        })
    }
}

impl MappingSpec {
    fn validate(&self, file: &str, i: usize) -> Result<(), ConfigError> {
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
        if let Some(q) = self.ros_qos {
            if q.depth == 0 || q.depth > 100_000 {
                return bad("ros_qos.depth", "must be 1-100000".into());
            }
        }
        Ok(())
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
