//! The ROS side of a bridge, built on the node before the first spin so that no first
//! message is lost: a route per ROS to MQTT mapping (the spin thread's part and, for generic
//! mappings, the `ros-convert` thread's), the generic MQTT to ROS publishers, `cmd_vel` and the
//! e-stop listener when commands are on, the VDA 5050 profile's topics, and `/diagnostics`.

use std::sync::mpsc::channel;
use std::sync::Arc;

use r2r::Node;
use tokio::sync::watch;

use super::drain::Drain;
use super::{estop, qos_profile, to_mqtt, to_ros, vda5050, RosError};
use crate::alerts::{self, StaleWatch};
use crate::command::runner::RosEstop;
use crate::config::{Direction, RosQos, Settings};
use crate::diagnostics::Stats;
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
}

/// The routes of the `ros-convert` thread (see `offload`), and its doorbell.
pub struct Offloaded {
    pub routes: Vec<Box<dyn Drain>>,
    pub ring: std::sync::mpsc::Receiver<()>,
}

/// Makes every subscription and publisher of `settings` on `node`.
pub fn build(
    node: &mut Node,
    settings: &Settings,
    stats: &Stats,
    outbox: &Outbox,
    feeds: &Feeds,
    herald: &Herald,
) -> Result<(RosSide, Offloaded), RosError> {
    let (mut drains, offloaded, streams) = routes(node, settings, stats, outbox, feeds)?;
    let commands = &settings.config.commands;
    let sinks =
        to_ros::GenericSinks::new(node, &settings.mappings, stats, herald.clone(), commands)?;
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
    let vda5050 = vda5050::build(node, &settings.config.vda5050, stats, &mut drains)?;
    let diagnostics = node.create_publisher("/diagnostics", qos_profile(RosQos::RELIABLE))?;
    let ros = RosSide {
        drains,
        streams,
        sinks,
        cmd_vel,
        estop,
        vda5050,
        diagnostics,
    };
    Ok((ros, offloaded))
}

type Routes = (Vec<Box<dyn Drain>>, Offloaded, Vec<alerts::Stream>);

/// The ROS to MQTT mappings: what the spin thread drains, what the `ros-convert` thread
/// runs, and the streams the stale-stream alerts watch.
fn routes(
    node: &mut Node,
    settings: &Settings,
    stats: &Stats,
    outbox: &Outbox,
    feeds: &Feeds,
) -> Result<Routes, RosError> {
    let robot_id: Arc<str> = Arc::from(settings.tree.robot_id());
    let (doorbell, ring) = channel();
    let cx = to_mqtt::RouteContext {
        robot_id: &robot_id,
        outbox,
        feeds,
        doorbell: &doorbell,
        queue_bytes: settings.config.bridge.queue_bytes,
    };
    let (mut drains, mut offloaded, mut streams) = (Vec::new(), Vec::new(), Vec::new());
    let ros_to_mqtt = settings
        .mappings
        .iter()
        .filter(|m| m.direction == Direction::RosToMqtt);
    for m in ros_to_mqtt {
        let counters = stats.register(&m.name);
        let routed = to_mqtt::route(node, m, &cx, counters.clone())?;
        drains.push(routed.spin);
        offloaded.extend(routed.offloaded);
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
    };
    Ok((drains, offloaded, streams))
}
