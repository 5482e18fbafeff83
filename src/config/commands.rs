//! The `commands:` block: fleet commands to `cmd_vel`, their units, limits and safety windows.

use serde::Deserialize;

use super::error::{check_numbers, check_sizes, ConfigError, Range};
use super::mqtt::MAX_PAYLOAD;

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

impl CommandConfig {
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        #[rustfmt::skip]
        let numbers = [
            ("commands.rate_hz", self.rate_hz, Range::Between(1.0, 1000.0)),
            ("commands.max_linear_speed", self.max_linear_speed, Range::Positive(100.0)),
            ("commands.max_angular_speed", self.max_angular_speed, Range::Positive(100.0)),
            ("commands.max_linear_accel", self.max_linear_accel, Range::Positive(1000.0)),
            ("commands.max_angular_accel", self.max_angular_accel, Range::Positive(1000.0)),
            ("commands.max_distance", self.max_distance, Range::Positive(1e9)),
            ("commands.max_angle", self.max_angle, Range::Positive(1e9)),
            ("commands.watchdog_timeout", self.watchdog_timeout, Range::Positive(60.0)),
            ("commands.max_age", self.max_age, Range::Positive(86_400.0)),
            ("commands.max_future", self.max_future, Range::Between(0.0, 86_400.0)),
            ("commands.odom_timeout", self.odom_timeout, Range::Positive(3600.0)),
        ];
        check_numbers(file, &numbers)?;
        if self.watchdog_timeout * self.rate_hz < 1.0 {
            return Err(ConfigError::invalid(
                file,
                "commands.watchdog_timeout",
                "must be at least one tick (1 / commands.rate_hz)",
            ));
        }
        #[rustfmt::skip]
        let sizes = [
            ("commands.max_payload", self.max_payload, MAX_PAYLOAD),
            ("commands.id_memory", self.id_memory, 10_000_000),
        ];
        check_sizes(file, &sizes)
    }
}
