//! The `bridge:` block: the bridge itself, its reports and its queues.

use serde::Deserialize;

use super::error::{check_numbers, check_sizes, ConfigError, Range};
use super::mqtt::default_queue_bytes;

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
pub const DEFAULT_LINGER: f64 = 0.02;

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

impl BridgeConfig {
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        #[rustfmt::skip]
        let numbers = [
            ("bridge.diagnostics_period", self.diagnostics_period, Range::ZeroOr(0.1, 86_400.0)),
            ("bridge.linger", self.linger, Range::Between(0.0, 0.1)),
        ];
        check_numbers(file, &numbers)?;
        #[rustfmt::skip]
        let sizes = [
            ("bridge.queue_bytes", self.queue_bytes, 1 << 34),
            ("bridge.queue_size", self.queue_size, 10_000_000),
            ("bridge.inbound_queue", self.inbound_queue, 1_000_000),
        ];
        check_sizes(file, &sizes)
    }
}
