//! Into ROS: `cmd_vel` (only the command runner publishes there) and the generic MQTT to
//! ROS mappings, whose messages are checked against their type and against the same
//! retained/stale rule as commands before they are published.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use r2r::Node;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{qos_profile, RosError};
use crate::command::freshness::admit;
use crate::command::runner::TwistSink;
use crate::command::Twist2;
use crate::config::{CommandConfig, Direction, Mapping, RosQos};
use crate::convert::generic;
use crate::diagnostics::{Counters, Stats};
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

/// A fleet-to-ROS generic mapping, ready to publish.
struct Sink {
    name: String,
    publisher: r2r::PublisherUntyped,
    skeleton: Value,
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
    pub fn new(
        node: &mut Node,
        mappings: &[Mapping],
        stats: &Stats,
        herald: Herald,
        cfg: &CommandConfig,
    ) -> Result<GenericSinks, RosError> {
        let mut sinks = HashMap::new();
        for m in mappings
            .iter()
            .filter(|m| m.direction == Direction::MqttToRos)
        {
            let wrap = |source| RosError::mapping(m, source);
            let publisher = node
                .create_publisher_untyped(&m.ros_topic, &m.ros_type, qos_profile(m.ros_qos))
                .map_err(wrap)?;
            let skeleton = generic::skeleton(&m.ros_type).map_err(wrap)?;
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
                    skeleton,
                    counters: stats.register(&m.name),
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
            Ok(value) => match sink.publisher.publish(value) {
                Ok(()) => Counters::add(&sink.counters.published),
                Err(e) => self.refuse(&m.topic, format!("does not fit the message type: {e}")),
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

/// The message's JSON, if it may be published: size, JSON, retained/stale rule, shape.
fn check(sink: &Sink, m: &Inbound, cfg: &CommandConfig) -> Result<Value, String> {
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
    generic::check(&value, &sink.skeleton)?;
    Ok(value)
}
