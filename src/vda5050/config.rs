//! The `vda5050:` block of the configuration file: off by default. A plain serde struct;
//! [`VdaConfig::validate`] checks every value on its own (ranges, topic levels, what an enabled
//! profile needs) and names the key, for the bridge's `Config::parse` to report with the file:
//! `ConfigError::invalid(file, e.key, e.message)`. It sits with the bridge's `config` at the
//! bottom: it imports nothing of the crate but the profile's `version` and `words` (which
//! import nothing) and the ranges of `config::error` (which imports nothing of this).
//!
//! ```yaml
//! vda5050:
//!   enabled: true
//!   manufacturer: Acme
//!   serial_number: "{robot_id}"      # replaced by the robot id
//!   map_id: shop_floor
//!   navigation:                       # without it every order is refused (orderError)
//!     order_topic: vda5050/order      # std_msgs/String: the order's JSON, as received
//!     progress_topic: vda5050/order_progress
//!     control_topic: vda5050/order_control
//!   factsheet:
//!     type_specification: {series_name: AMR-1, agv_kinematic: DIFF, agv_class: CARRIER,
//!       max_load_mass: 50, localization_types: [NATURAL], navigation_types: [AUTONOMOUS]}
//!     physical_parameters: {speed_min: 0.05, speed_max: 1.0, acceleration_max: 0.5,
//!       deceleration_max: 1.0, height_max: 0.4, width: 0.6, length: 0.8}
//! ```

use serde::{Deserialize, Serialize};

use super::version::Version;
use super::words::{
    AgvClass, AgvKinematic, EstopType, LocalizationType, NavigationType, OperatingMode,
    ORDER_OPTIONAL_PARAMETERS,
};
use crate::config::error::Range;

/// The placeholder of `serial_number` that the robot id replaces.
pub const ROBOT_ID: &str = "{robot_id}";

/// Instant actions: never part of an order (`navigation.actions`).
pub const INSTANT_ONLY: [&str; 5] = [
    "startPause",
    "stopPause",
    "cancelOrder",
    "stateRequest",
    "factsheetRequest",
];

/// A value that cannot be used, with its key (`vda5050.state_period`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("key `{key}`: {message}")]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

fn invalid(key: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        key: format!("vda5050.{key}"),
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VdaConfig {
    #[serde(default)]
    pub enabled: bool,
    /// First topic level.
    #[serde(default = "d_interface")]
    pub interface_name: String,
    /// Second topic level; `v2` (VDA 5050 2.1) is the only one spoken.
    #[serde(default = "d_major")]
    pub major_version: String,
    /// Required when enabled.
    #[serde(default)]
    pub manufacturer: String,
    /// `A-Z a-z 0-9 _ . : -` only; `{robot_id}` is replaced by the robot id.
    #[serde(default = "d_serial")]
    pub serial_number: String,
    /// `agvPosition.mapId`: the map odometry's frame stands for. Orders on other maps are
    /// refused.
    #[serde(default = "d_map")]
    pub map_id: String,
    /// Seconds: `state` goes out at least this often (the text: at most 30).
    #[serde(default = "d_state_period")]
    pub state_period: f64,
    /// Seconds: events closer than this share one `state` (a flood of input cannot make a
    /// flood of state messages). The factsheet's `minStateInterval`.
    #[serde(default = "d_min_state_interval")]
    pub min_state_interval: f64,
    /// `visualization` messages per second; 0: none.
    #[serde(default = "d_visualization")]
    pub visualization_rate_hz: f64,
    /// Seconds: older odometry is stale (`positionInitialized: false`, no velocity).
    #[serde(default = "d_odom_timeout")]
    pub odom_timeout: f64,
    /// m/s and rad/s: fresh odometry faster than this is `driving`.
    #[serde(default = "d_moving_threshold")]
    pub moving_threshold: f64,
    /// Percent: a `state` goes out when the charge moved this much since the last one.
    #[serde(default = "d_battery_step")]
    pub battery_step: f64,
    /// `safetyState.eStop` while the robot's own (ROS) e-stop holds the latch; an e-stop from
    /// the fleet is `REMOTE`.
    #[serde(default = "d_estop_type")]
    pub estop_type: EstopType,
    /// The operating mode until `operating_mode_topic` says otherwise.
    #[serde(default)]
    pub operating_mode: OperatingMode,
    /// ROS `std_msgs/String` with an `operatingMode` word; unset: `operating_mode` holds.
    #[serde(default)]
    pub operating_mode_topic: Option<String>,
    /// ROS `std_msgs/Bool`: the protective field is violated; unset: never reported violated.
    #[serde(default)]
    pub field_violation_topic: Option<String>,
    /// Seconds: an order or `stopPause` stamped older than this is refused (a replay after
    /// a reconnect must not move the robot); 0: no check.
    #[serde(default = "d_max_age")]
    pub max_age: f64,
    /// Seconds: the same, for timestamps ahead of the bridge's clock.
    #[serde(default = "d_max_age")]
    pub max_future: f64,
    #[serde(default)]
    pub limits: Limits,
    /// The robot's own navigation, which executes orders. Unset: orders are refused.
    #[serde(default)]
    pub navigation: Option<NavigationConfig>,
    /// Required when enabled: the factsheet's type and physical parameters have no default.
    #[serde(default)]
    pub factsheet: Option<FactsheetConfig>,
}

fn d_interface() -> String {
    Version::V2_1.default_interface().into()
}
fn d_major() -> String {
    Version::V2_1.major().into()
}
fn d_serial() -> String {
    ROBOT_ID.into()
}
fn d_map() -> String {
    "map".into()
}
fn d_state_period() -> f64 {
    30.0
}
fn d_min_state_interval() -> f64 {
    0.1
}
fn d_visualization() -> f64 {
    1.0
}
fn d_odom_timeout() -> f64 {
    1.0
}
fn d_moving_threshold() -> f64 {
    0.01
}
fn d_battery_step() -> f64 {
    5.0
}
fn d_estop_type() -> EstopType {
    EstopType::Manual
}
fn d_max_age() -> f64 {
    30.0
}

impl Default for VdaConfig {
    fn default() -> Self {
        VdaConfig {
            enabled: false,
            interface_name: d_interface(),
            major_version: d_major(),
            manufacturer: String::new(),
            serial_number: d_serial(),
            map_id: d_map(),
            state_period: d_state_period(),
            min_state_interval: d_min_state_interval(),
            visualization_rate_hz: d_visualization(),
            odom_timeout: d_odom_timeout(),
            moving_threshold: d_moving_threshold(),
            battery_step: d_battery_step(),
            estop_type: d_estop_type(),
            operating_mode: OperatingMode::default(),
            operating_mode_topic: None,
            field_violation_topic: None,
            max_age: d_max_age(),
            max_future: d_max_age(),
            limits: Limits::default(),
            navigation: None,
            factsheet: None,
        }
    }
}

/// What the bridge accepts from master control; the factsheet's `protocolLimits`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Bytes of an `order` or `instantActions` message (`msgLen`).
    #[serde(default = "d_max_payload")]
    pub max_payload: usize,
    /// Characters of an id (`idLen`: orderId, nodeId, edgeId, actionId, mapId, zoneSetId).
    #[serde(default = "d_max_id_len")]
    pub max_id_len: usize,
    /// Nodes of an order (`order.nodes`; edges: one less).
    #[serde(default = "d_max_nodes")]
    pub max_nodes: usize,
    /// Actions of a node or an edge.
    #[serde(default = "d_max_actions")]
    pub max_actions: usize,
    /// Parameters of an action.
    #[serde(default = "d_max_actions")]
    pub max_action_parameters: usize,
    /// Actions of one `instantActions` message.
    #[serde(default = "d_max_actions")]
    pub max_instant_actions: usize,
    /// Knots and control points of a trajectory.
    #[serde(default = "d_max_nodes")]
    pub max_trajectory_points: usize,
    /// `actionStates` kept: the oldest finished instant actions go first.
    #[serde(default = "d_max_action_states")]
    pub max_action_states: usize,
    /// `errors` kept: the oldest go first.
    #[serde(default = "d_max_errors")]
    pub max_errors: usize,
    /// Seconds between orders that master control should keep (`minOrderInterval`): told,
    /// not enforced.
    #[serde(default = "d_min_order_interval")]
    pub min_order_interval: f64,
}

fn d_max_payload() -> usize {
    512 * 1024
}
fn d_max_id_len() -> usize {
    128
}
fn d_max_nodes() -> usize {
    1000
}
fn d_max_actions() -> usize {
    32
}
fn d_max_action_states() -> usize {
    256
}
fn d_max_errors() -> usize {
    32
}
fn d_min_order_interval() -> f64 {
    1.0
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload: d_max_payload(),
            max_id_len: d_max_id_len(),
            max_nodes: d_max_nodes(),
            max_actions: d_max_actions(),
            max_action_parameters: d_max_actions(),
            max_instant_actions: d_max_actions(),
            max_trajectory_points: d_max_nodes(),
            max_action_states: d_max_action_states(),
            max_errors: d_max_errors(),
            min_order_interval: d_min_order_interval(),
        }
    }
}

/// The robot's navigation: it gets each accepted order's JSON and says how far it got.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NavigationConfig {
    /// ROS `std_msgs/String`: each accepted order or order update, as master control sent it.
    #[serde(default = "d_order_topic")]
    pub order_topic: String,
    /// ROS `std_msgs/String` from the navigation: `{orderId, lastNodeId, lastNodeSequenceId,
    /// driving, actionStates}` (see `msg::navigation`).
    #[serde(default = "d_progress_topic")]
    pub progress_topic: String,
    /// ROS `std_msgs/String` to the navigation: `{"command": "cancel"|"pause"|"resume", ...}`.
    #[serde(default = "d_control_topic")]
    pub control_topic: String,
    /// Node and edge `actionType`s the navigation executes; an order with another is refused.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Optional order fields the navigation uses (factsheet names, e.g.
    /// `order.nodes.nodePosition`); an order with another is refused.
    #[serde(default = "d_optional_parameters")]
    pub optional_parameters: Vec<String>,
}

fn d_order_topic() -> String {
    "vda5050/order".into()
}
fn d_progress_topic() -> String {
    "vda5050/order_progress".into()
}
fn d_control_topic() -> String {
    "vda5050/order_control".into()
}
/// What a free-navigating ROS robot (Nav2 and the like) uses: where the nodes are.
fn d_optional_parameters() -> Vec<String> {
    [
        "order.nodes.nodePosition",
        "order.nodes.nodePosition.theta",
        "order.nodes.nodePosition.allowedDeviationXY",
        "order.nodes.nodePosition.allowedDeviationTheta",
    ]
    .map(String::from)
    .to_vec()
}

/// The factsheet's fixed parts; the rest (protocol limits and features) comes from the code
/// and the other keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsheetConfig {
    pub type_specification: TypeSpecification,
    pub physical_parameters: PhysicalParameters,
}

/// Serialized as the factsheet's `typeSpecification` (camelCase).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct TypeSpecification {
    pub series_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_description: Option<String>,
    pub agv_kinematic: AgvKinematic,
    pub agv_class: AgvClass,
    /// kg.
    pub max_load_mass: f64,
    pub localization_types: Vec<LocalizationType>,
    pub navigation_types: Vec<NavigationType>,
}

/// SI units: m/s, rad/s, m/s², m. Serialized as the factsheet's `physicalParameters`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all(serialize = "camelCase"))]
pub struct PhysicalParameters {
    pub speed_min: f64,
    pub speed_max: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub angular_speed_min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub angular_speed_max: Option<f64>,
    pub acceleration_max: f64,
    pub deceleration_max: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_min: Option<f64>,
    pub height_max: f64,
    pub width: f64,
    pub length: f64,
}

/// The largest message the bridge reads: MQTT's own limit.
const MQTT_MAX_PAYLOAD: usize = 268_435_455;

impl VdaConfig {
    /// The protocol version `major_version` names (valid after [`VdaConfig::validate`]).
    pub fn version(&self) -> Option<Version> {
        Version::from_major(&self.major_version)
    }

    /// The serial number with `{robot_id}` replaced; refused when the result is not a valid
    /// VDA 5050 serial number (`A-Z a-z 0-9 _ . : -`).
    pub fn serial_number(&self, robot_id: &str) -> Result<String, Invalid> {
        let serial = self.serial_number.replace(ROBOT_ID, robot_id);
        serial_chars(&serial).map_err(|why| {
            let from = if self.serial_number.contains(ROBOT_ID) {
                format!(" (robot id `{}`)", printable(robot_id))
            } else {
                String::new()
            };
            invalid("serial_number", format!("{why}{from}"))
        })?;
        Ok(serial)
    }

    /// Checks every value on its own; the error names the key.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.version().is_none() {
            return Err(invalid(
                "major_version",
                format!(
                    "`{}` is not spoken: the bridge speaks VDA 5050 2.1 (`v2`)",
                    printable(&self.major_version)
                ),
            ));
        }
        topic_level(&self.interface_name).map_err(|why| invalid("interface_name", why))?;
        if self.enabled || !self.manufacturer.is_empty() {
            topic_level(&self.manufacturer).map_err(|why| invalid("manufacturer", why))?;
        }
        // The template with a serial-valid stand-in for the robot id.
        serial_chars(&self.serial_number.replace(ROBOT_ID, "R"))
            .map_err(|why| invalid("serial_number", why))?;
        if self.map_id.is_empty() || !self.map_id.chars().all(|c| !c.is_control()) {
            return Err(invalid(
                "map_id",
                "must be a non-empty string without control characters",
            ));
        }
        self.check_numbers()?;
        for (key, topic) in [
            ("operating_mode_topic", &self.operating_mode_topic),
            ("field_violation_topic", &self.field_violation_topic),
        ] {
            if let Some(t) = topic {
                ros_name(t).map_err(|why| invalid(key, why))?;
            }
        }
        if let Some(nav) = &self.navigation {
            nav.validate()?;
        }
        match &self.factsheet {
            Some(f) => f.validate()?,
            None if self.enabled => {
                return Err(invalid(
                    "factsheet",
                    "required when vda5050.enabled is true: type_specification and \
                     physical_parameters have no default",
                ))
            }
            None => {}
        }
        Ok(())
    }

    fn check_numbers(&self) -> Result<(), Invalid> {
        let l = &self.limits;
        #[rustfmt::skip]
        let numbers = [
            ("state_period", self.state_period, Range::Between(0.1, 30.0)),
            ("min_state_interval", self.min_state_interval, Range::Between(0.01, self.state_period)),
            ("visualization_rate_hz", self.visualization_rate_hz, Range::ZeroOr(0.01, 50.0)),
            ("odom_timeout", self.odom_timeout, Range::Between(0.01, 3600.0)),
            ("moving_threshold", self.moving_threshold, Range::Between(0.0, 100.0)),
            ("battery_step", self.battery_step, Range::Between(0.1, 100.0)),
            ("max_age", self.max_age, Range::ZeroOr(0.1, 86_400.0)),
            ("max_future", self.max_future, Range::Between(0.0, 86_400.0)),
            ("limits.min_order_interval", l.min_order_interval, Range::Between(0.0, 3600.0)),
        ];
        for (key, v, range) in numbers {
            range.check(v).map_err(|why| invalid(key, why))?;
        }
        #[rustfmt::skip]
        let sizes = [
            ("limits.max_payload", l.max_payload, 1024, MQTT_MAX_PAYLOAD),
            ("limits.max_id_len", l.max_id_len, 1, 4096),
            ("limits.max_nodes", l.max_nodes, 1, 100_000),
            ("limits.max_actions", l.max_actions, 0, 1000),
            ("limits.max_action_parameters", l.max_action_parameters, 0, 1000),
            ("limits.max_instant_actions", l.max_instant_actions, 1, 1000),
            ("limits.max_trajectory_points", l.max_trajectory_points, 2, 100_000),
            ("limits.max_action_states", l.max_action_states, 16, 100_000),
            ("limits.max_errors", l.max_errors, 4, 1000),
        ];
        for (key, v, min, max) in sizes {
            if !(min..=max).contains(&v) {
                return Err(invalid(key, format!("must be {min}-{max}, not {v}")));
            }
        }
        Ok(())
    }
}

impl NavigationConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let topics = [
            ("navigation.order_topic", &self.order_topic),
            ("navigation.progress_topic", &self.progress_topic),
            ("navigation.control_topic", &self.control_topic),
        ];
        for (key, t) in topics {
            ros_name(t).map_err(|why| invalid(key, why))?;
        }
        for (i, a) in self.actions.iter().enumerate() {
            let key = format!("navigation.actions[{i}]");
            if a.is_empty() || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(invalid(&key, "must be an actionType: letters, digits, `_`"));
            }
            if INSTANT_ONLY.contains(&a.as_str()) {
                return Err(invalid(
                    &key,
                    format!("`{a}` is an instant action, the bridge's own, never an order's"),
                ));
            }
        }
        for (i, p) in self.optional_parameters.iter().enumerate() {
            if !ORDER_OPTIONAL_PARAMETERS.contains(&p.as_str()) {
                return Err(invalid(
                    &format!("navigation.optional_parameters[{i}]"),
                    format!(
                        "`{}` is not an optional order parameter; known: {}",
                        printable(p),
                        ORDER_OPTIONAL_PARAMETERS.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl FactsheetConfig {
    fn validate(&self) -> Result<(), Invalid> {
        let t = &self.type_specification;
        if t.series_name.trim().is_empty() {
            return Err(invalid(
                "factsheet.type_specification.series_name",
                "must not be empty",
            ));
        }
        for (key, empty) in [
            ("localization_types", t.localization_types.is_empty()),
            ("navigation_types", t.navigation_types.is_empty()),
        ] {
            if empty {
                return Err(invalid(
                    &format!("factsheet.type_specification.{key}"),
                    "must name at least one",
                ));
            }
        }
        let p = &self.physical_parameters;
        #[rustfmt::skip]
        let numbers = [
            ("type_specification.max_load_mass", Some(t.max_load_mass), Range::Between(0.0, 1e6)),
            // Each maximum before the minimum checked against it.
            ("physical_parameters.speed_max", Some(p.speed_max), Range::Positive(100.0)),
            ("physical_parameters.speed_min", Some(p.speed_min), Range::Between(0.0, p.speed_max)),
            ("physical_parameters.angular_speed_max", p.angular_speed_max, Range::Positive(100.0)),
            ("physical_parameters.angular_speed_min", p.angular_speed_min,
                Range::Between(0.0, p.angular_speed_max.unwrap_or(100.0))),
            ("physical_parameters.acceleration_max", Some(p.acceleration_max), Range::Positive(1000.0)),
            ("physical_parameters.deceleration_max", Some(p.deceleration_max), Range::Positive(1000.0)),
            ("physical_parameters.height_max", Some(p.height_max), Range::Positive(100.0)),
            ("physical_parameters.height_min", p.height_min, Range::Between(0.0, p.height_max)),
            ("physical_parameters.width", Some(p.width), Range::Positive(100.0)),
            ("physical_parameters.length", Some(p.length), Range::Positive(100.0)),
        ];
        for (key, v, range) in numbers {
            if let Some(v) = v {
                range
                    .check(v)
                    .map_err(|why| invalid(&format!("factsheet.{key}"), why))?;
            }
        }
        Ok(())
    }
}

/// One MQTT topic level that VDA 5050 allows: not empty, no `/`, `+`, `#`, `$` (the text), no
/// whitespace or control characters.
fn topic_level(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    match s
        .chars()
        .find(|c| matches!(c, '/' | '+' | '#' | '$') || c.is_whitespace() || c.is_control())
    {
        Some(c) => Err(format!(
            "`{}` must be one MQTT topic level: {c:?} is not allowed (no `/`, `+`, `#`, `$`, \
             whitespace or control characters)",
            printable(s)
        )),
        None => Ok(()),
    }
}

/// The text's serial number characters: `A-Z a-z 0-9 _ . : -`.
fn serial_chars(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
    {
        Some(c) => Err(format!(
            "`{}`: {c:?} is not allowed in a VDA 5050 serial number (only A-Z a-z 0-9 _ . : -)",
            printable(s)
        )),
        None => Ok(()),
    }
}

/// A ROS topic name as far as the configuration can tell: not empty, no whitespace or control
/// characters (rcl checks the rest when the topic is made).
fn ros_name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be a ROS topic name (not empty, no whitespace)".into());
    }
    Ok(())
}

/// Fleet text quoted in an error, control characters escaped, cut at 64 characters.
fn printable(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<VdaConfig, String> {
        let de = serde_yaml_ng::Deserializer::from_str(yaml);
        let cfg: VdaConfig = serde_path_to_error::deserialize(de)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    const ENABLED: &str = "enabled: true\nmanufacturer: Acme\nfactsheet:\n  type_specification: {series_name: S, agv_kinematic: DIFF, agv_class: CARRIER, max_load_mass: 50, localization_types: [NATURAL], navigation_types: [AUTONOMOUS]}\n  physical_parameters: {speed_min: 0.05, speed_max: 1.0, acceleration_max: 0.5, deceleration_max: 1.0, height_max: 0.4, width: 0.6, length: 0.8}\n";

    fn err(yaml: &str) -> String {
        parse(yaml).expect_err(yaml)
    }

    #[test]
    fn off_by_default_and_defaults_are_valid() {
        let c = VdaConfig::default();
        assert!(!c.enabled);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(parse("{}").expect("empty block"), c);
        assert_eq!(c.version(), Some(Version::V2_1));
        assert!(
            c.navigation.is_none(),
            "orders are refused unless configured"
        );
    }

    #[test]
    fn an_enabled_profile_needs_manufacturer_and_factsheet() {
        let c = parse(ENABLED).expect("enabled");
        assert_eq!(c.serial_number("AMR001").expect("serial"), "AMR001");
        assert!(err("enabled: true\nmanufacturer: Acme\n").starts_with("key `vda5050.factsheet`"));
        let no_maker = ENABLED.replace("manufacturer: Acme\n", "");
        assert!(err(&no_maker).starts_with("key `vda5050.manufacturer`: must not be empty"));
    }

    #[test]
    fn topic_levels_and_serial_numbers_are_checked() {
        for (yaml, key) in [
            ("interface_name: a/b", "interface_name"),
            ("interface_name: '#'", "interface_name"),
            ("manufacturer: 'Ac+me'", "manufacturer"),
            ("manufacturer: '$SYS'", "manufacturer"),
            ("manufacturer: 'A me'", "manufacturer"),
            ("serial_number: 'a/b'", "serial_number"),
            ("serial_number: 'robot#1'", "serial_number"),
            ("serial_number: 'Robot 1'", "serial_number"),
            ("serial_number: ''", "serial_number"),
            ("serial_number: 'é'", "serial_number"),
            ("major_version: v3", "major_version"),
            ("map_id: ''", "map_id"),
        ] {
            let e = err(yaml);
            assert!(
                e.starts_with(&format!("key `vda5050.{key}`")),
                "{yaml}: {e}"
            );
        }
        let c = parse("serial_number: 'AGV_{robot_id}:01.a-b'").expect("valid template");
        assert_eq!(c.serial_number("7").expect("ok"), "AGV_7:01.a-b");
        let e = c.serial_number("robot/7").expect_err("robot id with /");
        assert!(e.message.contains("robot id `robot/7`"), "{e}");
        assert_eq!(e.key, "vda5050.serial_number");
    }

    #[test]
    fn every_period_rate_and_size_is_range_checked() {
        for (yaml, key) in [
            ("state_period: 31", "state_period"),
            ("state_period: 0", "state_period"),
            ("state_period: .nan", "state_period"),
            ("min_state_interval: 0", "min_state_interval"),
            (
                "{state_period: 5, min_state_interval: 6}",
                "min_state_interval",
            ),
            ("visualization_rate_hz: -1", "visualization_rate_hz"),
            ("visualization_rate_hz: 1000", "visualization_rate_hz"),
            ("visualization_rate_hz: .inf", "visualization_rate_hz"),
            ("odom_timeout: 0", "odom_timeout"),
            ("battery_step: 0", "battery_step"),
            ("max_age: 0.01", "max_age"),
            ("max_future: -1", "max_future"),
            ("limits: {max_payload: 10}", "limits.max_payload"),
            ("limits: {max_payload: 300000000}", "limits.max_payload"),
            ("limits: {max_nodes: 0}", "limits.max_nodes"),
            (
                "limits: {max_instant_actions: 0}",
                "limits.max_instant_actions",
            ),
            ("limits: {max_errors: 1}", "limits.max_errors"),
            (
                "limits: {min_order_interval: -1}",
                "limits.min_order_interval",
            ),
        ] {
            let e = err(yaml);
            assert!(
                e.starts_with(&format!("key `vda5050.{key}`")),
                "{yaml}: {e}"
            );
        }
        assert!(parse("{visualization_rate_hz: 0, max_age: 0}").is_ok());
    }

    #[test]
    fn factsheet_numbers_are_checked() {
        for (from, to, key) in [
            (
                "speed_max: 1.0",
                "speed_max: 0",
                "physical_parameters.speed_max",
            ),
            (
                "speed_min: 0.05",
                "speed_min: 2",
                "physical_parameters.speed_min",
            ),
            ("width: 0.6", "width: .inf", "physical_parameters.width"),
            (
                "max_load_mass: 50",
                "max_load_mass: -1",
                "type_specification.max_load_mass",
            ),
            (
                "localization_types: [NATURAL]",
                "localization_types: []",
                "type_specification.localization_types",
            ),
            (
                "series_name: S",
                "series_name: ' '",
                "type_specification.series_name",
            ),
        ] {
            let e = err(&ENABLED.replace(from, to));
            assert!(
                e.starts_with(&format!("key `vda5050.factsheet.{key}`")),
                "{to}: {e}"
            );
        }
        let e = err(&ENABLED.replace("CARRIER", "SPACESHIP"));
        assert!(
            e.contains("agv_class") && e.contains("unknown variant"),
            "{e}"
        );
    }

    #[test]
    fn navigation_keys_are_checked() {
        let nav = parse("navigation: {}").expect("defaults");
        let n = nav.navigation.expect("navigation");
        assert_eq!(n.order_topic, "vda5050/order");
        assert!(n.actions.is_empty());
        for (yaml, key) in [
            ("navigation: {order_topic: ''}", "navigation.order_topic"),
            (
                "navigation: {progress_topic: 'a b'}",
                "navigation.progress_topic",
            ),
            (
                "navigation: {actions: [pick, startPause]}",
                "navigation.actions[1]",
            ),
            ("navigation: {actions: ['pi ck']}", "navigation.actions[0]"),
            (
                "navigation: {optional_parameters: [order.edges.trajectori]}",
                "navigation.optional_parameters[0]",
            ),
            ("operating_mode_topic: ''", "operating_mode_topic"),
        ] {
            let e = err(yaml);
            assert!(
                e.starts_with(&format!("key `vda5050.{key}`")),
                "{yaml}: {e}"
            );
        }
        let e = err("navigation: {order_topics: x}");
        assert!(
            e.starts_with("navigation.order_topics: ") && e.contains("unknown field"),
            "{e}"
        );
    }
}
