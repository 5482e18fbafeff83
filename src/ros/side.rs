//! The ROS side of a bridge, built on the node before the first spin so that no first
//! message is lost: a route per ROS to MQTT mapping (on the spin thread or, for generic
//! mappings, on the `ros-convert` thread), the generic MQTT to ROS publishers, `cmd_vel` and the
//! e-stop listener when commands are on, the VDA 5050 profile's topics, and `/diagnostics`.
//! Generic mappings subscribe and publish on the run-time types' context (`types`), made here
//! when one exists.

use std::sync::mpsc::channel;
use std::sync::Arc;

use r2r::Node;
use tokio::sync::watch;

use super::drain::Drain;
use super::to_mqtt::Routed;
use super::{estop, qos_profile, to_mqtt, to_ros, types, vda5050, RosError};
use crate::alerts::{self, StaleWatch};
use crate::command::runner::RosEstop;
use crate::config::{Direction, RosQos, Settings};
use crate::convert::generic::Types;
use crate::diagnostics::Stats;
use crate::dyntype::Runtime;
use crate::herald::Herald;
use crate::mqtt::Outbox;
use crate::state::Feeds;
use crate::vda5050::runner::RosInputs;

/// Every subscription and publisher of the bridge.
pub struct RosSide {
    /// What the spin thread drains after every spin.
    pub drains: Vec<Box<dyn Drain>>,
    /// The ROS to MQTT streams, for the stale-stream alerts.
    pub streams: Vec<alerts::Stream>,
    pub sinks: to_ros::GenericSinks,
    pub cmd_vel: Option<to_ros::CmdVel>,
    pub estop: watch::Receiver<RosEstop>,
    /// The VDA 5050 profile's own topics, when it is on.
    pub vda5050: Option<RosInputs>,
    pub diagnostics: r2r::Publisher<r2r::diagnostic_msgs::msg::DiagnosticArray>,
    /// The generic mappings' ROS context: to be dropped after everything that uses it (the
    /// routes, the sinks), and its end ends the `ros-convert` thread.
    pub runtime: Option<Runtime>,
}

/// The routes of the `ros-convert` thread (see `offload`), its doorbell, and its bell for the
/// MQTT link.
pub struct Offloaded {
    pub routes: Vec<Box<dyn Drain>>,
    pub ring: std::sync::mpsc::Receiver<()>,
    pub bell: Outbox,
}

/// What the routes and sinks are made with, besides the node.
pub struct With<'a> {
    pub settings: &'a Settings,
    /// The generic mappings' types (`convert::generic::resolve`).
    pub types: &'a Types,
    pub stats: &'a Stats,
    pub outbox: &'a Outbox,
    pub feeds: &'a Feeds,
    pub herald: &'a Herald,
}

/// Makes every subscription and publisher of `settings` on `node` (and on the run-time types'
/// context when a generic mapping needs it).
pub fn build(node: &mut Node, w: With<'_>) -> Result<(RosSide, Offloaded), RosError> {
    let settings = w.settings;
    let runtime = types::start(node, &settings.mappings)?;
    let (mut drains, offloaded, streams) = routes(node, &w, runtime.as_ref())?;
    let commands = &settings.config.commands;
    let generic = (settings.mappings.as_slice(), w.types);
    let sinks = to_ros::GenericSinks::new(
        runtime.as_ref(),
        generic,
        w.stats,
        w.herald.clone(),
        commands,
    )?;
    let (estop_tx, estop) = watch::channel(RosEstop::default());
    let cmd_vel = if commands.enabled {
        drains.push(estop::listen(node, &commands.estop_topic, estop_tx)?);
        log::info!(
            "commands: MQTT {} -> ROS {} (e-stop latch also on ROS {})",
            settings.tree.command_filter(),
            commands.cmd_vel_topic,
            commands.estop_topic
        );
        Some(to_ros::CmdVel::new(node, &commands.cmd_vel_topic)?)
    } else {
        None
    };
    let vda5050 = vda5050::build(node, &settings.config.vda5050, w.stats, &mut drains)?;
    let diagnostics = node.create_publisher("/diagnostics", qos_profile(RosQos::RELIABLE))?;
    let ros = RosSide {
        drains,
        streams,
        sinks,
        cmd_vel,
        estop,
        vda5050,
        diagnostics,
        runtime,
    };
    Ok((ros, offloaded))
}

type Routes = (Vec<Box<dyn Drain>>, Offloaded, Vec<alerts::Stream>);

/// The ROS to MQTT mappings: what the spin thread drains, what the `ros-convert` thread
/// runs, and the streams the stale-stream alerts watch.
fn routes(node: &mut Node, w: &With<'_>, runtime: Option<&Runtime>) -> Result<Routes, RosError> {
    let settings = w.settings;
    let robot_id: Arc<str> = Arc::from(settings.tree.robot_id());
    let (doorbell, ring) = channel();
    let cx = to_mqtt::RouteContext {
        robot_id: &robot_id,
        outbox: w.outbox,
        feeds: w.feeds,
        doorbell: &doorbell,
        queue_bytes: settings.config.bridge.queue_bytes,
        types: w.types,
        runtime,
    };
    let (mut drains, mut offloaded, mut streams) = (Vec::new(), Vec::new(), Vec::new());
    let ros_to_mqtt = settings
        .mappings
        .iter()
        .filter(|m| m.direction == Direction::RosToMqtt);
    for m in ros_to_mqtt {
        let counters = w.stats.register(&m.name);
        match to_mqtt::route(node, m, &cx, counters.clone())? {
            Routed::Spin(d) => drains.push(d),
            Routed::Offloaded(d) => offloaded.push(d),
        }
        streams.push(alerts::Stream {
            mapping: m.name.clone(),
            ros_topic: m.ros_topic.clone(),
            counters,
            watch: StaleWatch::new(settings.config.alerts.stale_after),
        });
        log::info!(
            "mapping `{}`: ROS {} ({}) -> MQTT {}",
            m.name,
            m.ros_topic,
            m.ros_type,
            m.mqtt_topic
        );
    }
    let offloaded = Offloaded {
        routes: offloaded,
        ring,
        bell: w.outbox.deferred(),
    };
    Ok((drains, offloaded, streams))
}
