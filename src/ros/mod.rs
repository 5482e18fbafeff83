//! The ROS side: the node's parameters (`params`), everything the bridge makes on the node
//! before the first spin so that no first message is lost (`side`): a subscription per ROS to
//! MQTT mapping (`to_mqtt`), the publishers into ROS (`to_ros`: `cmd_vel`, generic MQTT to ROS
//! mappings), the e-stop listener (`estop`), the VDA 5050 profile's topics (`vda5050`); the
//! spin thread (`spin`) that drains them (`drain`) and the thread for conversions too heavy
//! for it (`offload`). Generic mappings subscribe and publish through a ROS context of their
//! own (`types`: `crate::dyntype`).

pub mod drain;
pub mod estop;
pub mod offload;
pub mod params;
pub mod side;
pub mod spin;
pub mod to_mqtt;
pub mod to_ros;
pub mod types;
pub mod vda5050;

use r2r::qos::{DurabilityPolicy, HistoryPolicy, ReliabilityPolicy};
use r2r::QosProfile;

use crate::config::{Durability, Mapping, Reliability, RosQos};
use crate::diagnostics::ShowQos;
use crate::dyntype::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum RosError {
    #[error("ROS: {0}")]
    Rcl(#[from] r2r::Error),
    #[error(transparent)]
    Types(#[from] RuntimeError),
    #[error("mapping `{mapping}`: cannot bridge {topic} ({ros_type}): {source}")]
    Mapping {
        mapping: String,
        topic: String,
        ros_type: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RosError {
    pub fn mapping(
        m: &Mapping,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        RosError::Mapping {
            mapping: m.name.clone(),
            topic: m.ros_topic.clone(),
            ros_type: m.ros_type.clone(),
            source: source.into(),
        }
    }
}

/// How `status/bridge` tells a fixed profile.
pub fn fixed_qos(q: RosQos) -> ShowQos {
    let text = q.to_string();
    Box::new(move || text.clone())
}

pub fn qos_profile(q: RosQos) -> QosProfile {
    let mut p = QosProfile::default();
    p.history = HistoryPolicy::KeepLast;
    p.depth = q.depth;
    p.reliability = match q.reliability {
        Reliability::Reliable => ReliabilityPolicy::Reliable,
        Reliability::BestEffort => ReliabilityPolicy::BestEffort,
    };
    p.durability = match q.durability {
        Durability::Volatile => DurabilityPolicy::Volatile,
        Durability::TransientLocal => DurabilityPolicy::TransientLocal,
    };
    p
}
