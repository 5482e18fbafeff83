//! The `alerts:` block: battery thresholds with hysteresis, stale sensor streams.

use serde::Deserialize;

use super::error::{check_numbers, ConfigError, Range};

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

impl AlertConfig {
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        #[rustfmt::skip]
        let numbers = [
            ("alerts.stale_after", self.stale_after, Range::ZeroOr(0.1, 86_400.0)),
            ("alerts.battery_low", self.battery_low, Range::Between(0.0, 100.0)),
            ("alerts.battery_hysteresis", self.battery_hysteresis, Range::Between(0.0, 100.0)),
        ];
        check_numbers(file, &numbers)?;
        if !(self.battery_critical.is_finite() && self.battery_critical <= self.battery_low) {
            return Err(ConfigError::invalid(
                file,
                "alerts.battery_critical",
                "must be a number not above battery_low",
            ));
        }
        Ok(())
    }
}
