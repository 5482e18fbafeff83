//! The `state:` block: the derived `status/state` message.

use serde::Deserialize;

use super::error::{check_numbers, ConfigError, Range};

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

impl StateConfig {
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        #[rustfmt::skip]
        let numbers = [
            ("state.rate_hz", self.rate_hz, Range::Between(0.001, 100.0)),
            ("state.moving_threshold", self.moving_threshold, Range::Between(0.0, 100.0)),
        ];
        check_numbers(file, &numbers)
    }
}
