//! A mapping's `ros_qos:` block: the ROS QoS profile of its subscription or publisher, and
//! the profiles the bridge uses by default.

use serde::Deserialize;

/// ROS QoS of a mapping's subscription or publisher: the profile the run-time types use too,
/// so that the configuration and the ROS side speak of one type.
pub use crate::dyntype::qos::{Durability, Qos as RosQos, Reliability};

/// A `ros_qos:` block as written: the keys it leaves out come from its direction's default
/// ([`RosQosSpec::over`]), so that `{durability: transient_local}` on an MQTT to ROS mapping
/// stays reliable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosQosSpec {
    #[serde(default)]
    pub reliability: Option<Reliability>,
    #[serde(default)]
    pub durability: Option<Durability>,
    #[serde(default)]
    pub depth: Option<usize>,
}

impl RosQosSpec {
    /// The profile with every key this block sets, the others from `base`.
    pub fn over(self, base: RosQos) -> RosQos {
        RosQos {
            reliability: self.reliability.unwrap_or(base.reliability),
            durability: self.durability.unwrap_or(base.durability),
            depth: self.depth.unwrap_or(base.depth),
        }
    }

    /// The keys this block sets, the others from `base`'s block.
    pub fn or(self, base: RosQosSpec) -> RosQosSpec {
        RosQosSpec {
            reliability: self.reliability.or(base.reliability),
            durability: self.durability.or(base.durability),
            depth: self.depth.or(base.depth),
        }
    }
}

impl From<RosQos> for RosQosSpec {
    fn from(q: RosQos) -> Self {
        RosQosSpec {
            reliability: Some(q.reliability),
            durability: Some(q.durability),
            depth: Some(q.depth),
        }
    }
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
}
