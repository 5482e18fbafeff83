//! Into ROS: `cmd_vel` (only the command runner publishes there) and the generic MQTT to
//! ROS mappings, whose messages are checked against their type and against the same
//! retained/stale rule as commands before they are published (on the run-time types'
//! context, `types`: reliable unless the mapping's `ros_qos` says otherwise, e.g. latched).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use r2r::Node;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{fixed_qos, qos_profile, RosError};
use crate::command::freshness::admit;
use crate::command::runner::TwistSink;
use crate::command::Twist2;
use crate::config::{CommandConfig, Direction, Mapping, RosQos};
use crate::convert::generic::{self, Types};
use crate::diagnostics::{Counters, Stats};
use crate::dyntype::{self, MsgType, Runtime};
use crate::envelope::{AlertEvent, Refused};
use crate::herald::Herald;
use crate::logging::{printable, Throttle};
use crate::mqtt::Inbound;
use crate::shutdown::Shutdown;

/// `cmd_vel`, reliable as `rclpy`/`rclcpp` default readers are.
#[derive(Clone)]
pub struct CmdVel(r2r::Publisher<r2r::geometry_msgs::msg::Twist>);

impl CmdVel {
    pub fn new(node: &mut Node, topic: &str) -> Result<CmdVel, r2r::Error> {
        Ok(CmdVel(
            node.create_publisher(topic, qos_profile(RosQos::RELIABLE))?,
        ))
    }
}

impl TwistSink for CmdVel {
    fn publish(&self, t: Twist2) -> Result<(), String> {
        let mut msg = r2r::geometry_msgs::msg::Twist::default();
        msg.linear.x = t.linear;
        msg.angular.z = t.angular;
        self.0.publish(&msg).map_err(|e| e.to_string())
    }
}

/// A ROS message may take this many bytes per byte of its JSON: a number of two characters
/// can become an 8-byte float64 (and left-out fields take their defaults, bounded by this).
const CDR_PER_JSON_BYTE: usize = 8;

/// A fleet-to-ROS generic mapping, ready to publish.
struct Sink {
    name: String,
    publisher: dyntype::Publisher,
    ty: Arc<MsgType>,
    counters: Arc<Counters>,
    obey_retained: bool,
    obey_stale: bool,
}

/// Every MQTT to ROS mapping, by MQTT topic.
pub struct GenericSinks {
    sinks: HashMap<String, Sink>,
    herald: Herald,
    cfg: CommandConfig,
    /// A flood of bad messages must not become a flood of log lines or alerts.
    log: Throttle,
}

impl GenericSinks {
    /// A publisher per MQTT to ROS mapping, on `runtime` (there whenever such a mapping is).
    pub fn new(
        runtime: Option<&Runtime>,
        (mappings, types): (&[Mapping], &Types),
        stats: &Stats,
        herald: Herald,
        cfg: &CommandConfig,
    ) -> Result<GenericSinks, RosError> {
        let mut sinks = HashMap::new();
        for m in mappings
            .iter()
            .filter(|m| m.direction == Direction::MqttToRos)
        {
            let (Some(t), Some(runtime)) = (types.of(m), runtime) else {
                return Err(RosError::mapping(m, "its message type was not resolved"));
            };
            let publisher = runtime
                .publisher(&m.ros_topic, t.type_ref.clone(), m.ros_qos)
                .map_err(|e| RosError::mapping(m, e))?;
            let counters = stats.register(&m.name);
            counters.show_ros_qos(fixed_qos(m.ros_qos));
            log::info!(
                "mapping `{}`: MQTT {} -> ROS {} ({})",
                m.name,
                m.mqtt_topic,
                m.ros_topic,
                m.ros_type
            );
            sinks.insert(
                m.mqtt_topic.clone(),
                Sink {
                    name: m.name.clone(),
                    publisher,
                    ty: t.msg.clone(),
                    counters,
                    obey_retained: m.obey_retained,
                    obey_stale: m.obey_stale,
                },
            );
        }
        Ok(GenericSinks {
            sinks,
            herald,
            cfg: cfg.clone(),
            log: Throttle::new("refused MQTT to ROS messages", 10),
        })
    }

    /// The MQTT topics these mappings read.
    pub fn topics(&self) -> impl Iterator<Item = &String> {
        self.sinks.keys()
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Inbound>, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => return,
                Some(m) = rx.recv() => self.on_message(m),
                else => return,
            }
        }
    }

    fn on_message(&mut self, m: Inbound) {
        let Some(sink) = self.sinks.get(&m.topic) else {
            return;
        };
        Counters::add(&sink.counters.received);
        match check(sink, &m, &self.cfg) {
            Ok(cdr) => match sink.publisher.publish(&cdr) {
                Ok(()) => Counters::add(&sink.counters.published),
                Err(e) => self.refuse(&m.topic, format!("cannot be published into ROS: {e}")),
            },
            Err(why) => self.refuse(&m.topic, why),
        }
    }

    /// Counted always; logged and raised as an alert at most ten times a second.
    fn refuse(&mut self, topic: &str, why: String) {
        let Some(sink) = self.sinks.get(topic) else {
            return;
        };
        Counters::add(&sink.counters.refused);
        if !self.log.allow(Instant::now()) {
            return;
        }
        let why = printable(&why, 512);
        log::warn!("mapping `{}`: message refused: {why}", sink.name);
        self.herald.alert(&AlertEvent::MessageRefused(Refused {
            mapping: sink.name.clone(),
            reason: why.into_owned(),
        }));
    }
}

/// The message's CDR, if it may be published: size, JSON, retained/stale rule, its type.
fn check(sink: &Sink, m: &Inbound, cfg: &CommandConfig) -> Result<Vec<u8>, String> {
    if m.size > cfg.max_payload {
        return Err(format!(
            "payload of {} bytes is over the limit of {} (commands.max_payload)",
            m.size, cfg.max_payload
        ));
    }
    let value: Value = serde_json::from_slice(&m.payload).map_err(|e| format!("not JSON: {e}"))?;
    let (timestamp, value) = generic::unwrap_envelope(value);
    admit(
        timestamp.as_ref(),
        m.retain,
        sink.obey_retained,
        sink.obey_stale,
        chrono::Utc::now(),
        cfg,
    )
    .map_err(|r| r.to_string())?;
    let max = cfg.max_payload.saturating_mul(CDR_PER_JSON_BYTE);
    dyntype::encode(&sink.ty, &value, max).map_err(|e| e.to_string())
}
