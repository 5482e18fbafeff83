//! The ROS side: the node's parameters, a subscription or publisher for every mapping (all
//! made at start, so no first message is lost), and the spin loop on its own thread.
//!
//! r2r takes at most one message per subscription per `spin_once` and hands it over through a
//! channel of 10 that drops silently when full. So the spin thread drains every subscription
//! right after each spin and converts on the spot: nothing waits in r2r's channels, and every
//! drop that remains (rate limit, full queue to MQTT) is ours and counted.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt};
use r2r::qos::{DurabilityPolicy, HistoryPolicy, ReliabilityPolicy};
use r2r::{Node, ParameterValue, QosProfile};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::{ConverterKind, Durability, Reliability, RosQos};
use crate::convert::{self, Converter};
use crate::diagnostics::{Counters, Stats};
use crate::envelope::{self, Envelope, Stamp};
use crate::mapping::Mapping;
use crate::mqtt_link::Outbound;
use crate::policy::{Batcher, RateLimiter};
use crate::state::{self, Telemetry};

#[derive(Debug, thiserror::Error)]
pub enum RosError {
    #[error("ROS: {0}")]
    Rcl(#[from] r2r::Error),
    #[error("mapping `{mapping}`: cannot bridge {topic} ({ros_type}): {source}")]
    Mapping {
        mapping: String,
        topic: String,
        ros_type: String,
        #[source]
        source: Box<r2r::Error>,
    },
    #[error("parameter `{0}`: {1}")]
    Parameter(String, String),
}

impl RosError {
    pub fn mapping(m: &Mapping, source: r2r::Error) -> Self {
        RosError::Mapping {
            mapping: m.name.clone(),
            topic: m.ros_topic.clone(),
            ros_type: m.ros_type.clone(),
            source: Box::new(source),
        }
    }
}

/// The node's own parameters (`--ros-args -p name:=value` or a params file).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Params {
    pub config_file: Option<String>,
    pub robot_id: Option<String>,
    pub broker: Option<String>,
    pub port: Option<u16>,
}

/// Reads the parameters; empty strings count as unset, so that a launch file can pass every
/// argument and leave the file's value in force.
pub fn read_params(node: &Node) -> Result<Params, RosError> {
    let params = node.params.lock().unwrap_or_else(|p| p.into_inner());
    let text = |name: &str| -> Result<Option<String>, RosError> {
        match params.get(name).map(|p| &p.value) {
            None | Some(ParameterValue::NotSet) => Ok(None),
            Some(ParameterValue::String(s)) if s.trim().is_empty() => Ok(None),
            Some(ParameterValue::String(s)) => Ok(Some(s.clone())),
            // `-p robot_id:=7` arrives as an integer; an id is text.
            Some(ParameterValue::Integer(i)) if name == "robot_id" => Ok(Some(i.to_string())),
            Some(other) => Err(RosError::Parameter(
                name.into(),
                format!("must be a string, got {other:?}"),
            )),
        }
    };
    let port =
        match params.get("port").map(|p| &p.value) {
            None | Some(ParameterValue::NotSet) => None,
            Some(ParameterValue::Integer(0)) => None,
            Some(ParameterValue::Integer(i)) => Some(u16::try_from(*i).map_err(|_| {
                RosError::Parameter("port".into(), format!("{i} is not a TCP port"))
            })?),
            Some(ParameterValue::String(s)) if s.trim().is_empty() => None,
            Some(ParameterValue::String(s)) => Some(s.trim().parse().map_err(|_| {
                RosError::Parameter("port".into(), format!("{s:?} is not a TCP port"))
            })?),
            Some(other) => {
                return Err(RosError::Parameter(
                    "port".into(),
                    format!("must be an integer, got {other:?}"),
                ))
            }
        };
    Ok(Params {
        config_file: text("config_file")?,
        robot_id: text("robot_id")?,
        broker: text("broker")?,
        port,
    })
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

/// One thing the spin thread services after every spin.
pub trait Pump: Send {
    fn pump(&mut self, now: Instant);
}

/// The way to the MQTT link. `try_send`: the spin thread never waits on the network.
#[derive(Clone)]
pub struct Outbox {
    pub tx: mpsc::Sender<Outbound>,
    pub stats: Arc<Stats>,
}

impl Outbox {
    pub fn send(&self, m: Outbound, counters: &Counters) {
        match self.tx.try_send(m) {
            Ok(()) => Counters::add(&counters.published),
            Err(_) => {
                Counters::add(&counters.dropped);
                Counters::add(&self.stats.outbound_dropped);
            }
        }
    }
}

/// Envelope fields shared by every message of a mapping.
#[derive(Clone)]
pub struct Head {
    pub robot_id: Arc<str>,
    pub kind: &'static str,
}

impl Head {
    pub fn envelope<D: Serialize>(&self, stamp: Option<Stamp>, data: &D) -> Vec<u8> {
        envelope::to_json(&Envelope {
            timestamp: envelope::timestamp(stamp),
            robot_id: &self.robot_id,
            kind: self.kind,
            data,
        })
    }
}

type BoxStream<M> = Box<dyn Stream<Item = M> + Unpin + Send>;
/// Message to the JSON payload of its mapping.
type Encode<M> = Box<dyn Fn(&M) -> Vec<u8> + Send>;
/// What else a message feeds (telemetry).
type Tap<M> = Box<dyn FnMut(&M) + Send>;

/// A ROS to MQTT mapping: subscription, conversion, rate limit, batch, publish.
struct Route<M> {
    stream: BoxStream<M>,
    encode: Encode<M>,
    tap: Option<Tap<M>>,
    topic: Arc<str>,
    qos: crate::config::Qos,
    retain: bool,
    limiter: Option<RateLimiter<M>>,
    batcher: Option<Batcher>,
    counters: Arc<Counters>,
    outbox: Outbox,
}

impl<M: Send> Route<M> {
    fn emit(&mut self, msg: &M, now: Instant) {
        let json = (self.encode)(msg);
        match &mut self.batcher {
            Some(b) => {
                if let Some(batch) = b.push(json, now) {
                    self.send(batch);
                }
            }
            None => self.send(json),
        }
    }

    fn send(&self, payload: Vec<u8>) {
        let m = Outbound::new(self.topic.clone(), self.qos, self.retain, payload);
        self.outbox.send(m, &self.counters);
    }
}

impl<M: Send> Pump for Route<M> {
    fn pump(&mut self, now: Instant) {
        let mut any = false;
        while let Some(Some(msg)) = self.stream.next().now_or_never() {
            any = true;
            Counters::add(&self.counters.received);
            if let Some(tap) = &mut self.tap {
                tap(&msg);
            }
            match &mut self.limiter {
                Some(l) => {
                    let (out, replaced) = l.offer(msg, now);
                    if replaced {
                        Counters::add(&self.counters.dropped);
                    }
                    if let Some(m) = out {
                        self.emit(&m, now);
                    }
                }
                None => self.emit(&msg, now),
            }
        }
        if any {
            self.counters.seen(now);
        }
        if let Some(m) = self.limiter.as_mut().and_then(|l| l.poll(now)) {
            self.emit(&m, now);
        }
        if let Some(batch) = self.batcher.as_mut().and_then(|b| b.poll(now)) {
            self.send(batch);
        }
    }
}

/// Forwards a subscription to a closure (the ROS e-stop topic to the command side).
pub struct Forward<M> {
    stream: BoxStream<M>,
    to: Box<dyn FnMut(M) + Send>,
}

impl<M: Send> Pump for Forward<M> {
    fn pump(&mut self, _now: Instant) {
        while let Some(Some(msg)) = self.stream.next().now_or_never() {
            (self.to)(msg);
        }
    }
}

pub fn forward<M>(
    node: &mut Node,
    topic: &str,
    qos: RosQos,
    to: impl FnMut(M) + Send + 'static,
) -> Result<Box<dyn Pump>, r2r::Error>
where
    M: r2r::WrappedTypesupport + Send + 'static,
{
    let stream = node.subscribe::<M>(topic, qos_profile(qos))?;
    Ok(Box::new(Forward {
        stream: Box::new(stream),
        to: Box::new(to),
    }))
}

/// What a mapping feeds besides MQTT: the telemetry the state message and motions use.
fn tap_for(kind: ConverterKind, telemetry: &Arc<Telemetry>, m: &Mapping) -> Taps {
    let t = telemetry.clone();
    match kind {
        ConverterKind::Odometry => {
            Taps::Odom(Box::new(move |msg: &r2r::nav_msgs::msg::Odometry| {
                let (x, y, yaw) = convert::odometry::pose2d(msg);
                let tw = &msg.twist.twist;
                let pose = state::Pose {
                    x,
                    y,
                    yaw,
                    linear: tw.linear.x.hypot(tw.linear.y),
                    angular: tw.angular.z,
                    at: Instant::now(),
                };
                t.update(|s| s.pose = Some(pose));
            }))
        }
        ConverterKind::Battery => {
            let scale = m.percentage_scale;
            Taps::Battery(Box::new(
                move |msg: &r2r::sensor_msgs::msg::BatteryState| {
                    let b = state::Battery {
                        percent: convert::battery::percent(msg.percentage, scale),
                        charging: msg.power_supply_status == 1,
                        at: Instant::now(),
                    };
                    t.update(|s| s.battery = Some(b));
                },
            ))
        }
        _ => Taps::None,
    }
}

enum Taps {
    None,
    Odom(Box<dyn FnMut(&r2r::nav_msgs::msg::Odometry) + Send>),
    Battery(Box<dyn FnMut(&r2r::sensor_msgs::msg::BatteryState) + Send>),
}

/// A subscription for one ROS to MQTT mapping.
pub fn route(
    node: &mut Node,
    m: &Mapping,
    robot_id: &Arc<str>,
    outbox: &Outbox,
    telemetry: &Arc<Telemetry>,
) -> Result<Box<dyn Pump>, RosError> {
    let head = Head {
        robot_id: robot_id.clone(),
        kind: m.kind.as_str(),
    };
    let wrap = |source| RosError::mapping(m, source);
    let counters = outbox.stats.route(&m.name);
    use ConverterKind as K;
    let pump = match (m.converter, tap_for(m.converter, telemetry, m)) {
        (K::Odometry, Taps::Odom(tap)) => typed(
            node,
            m,
            convert::odometry::Odometry,
            head,
            Some(tap),
            outbox,
            counters,
        ),
        (K::Battery, Taps::Battery(tap)) => typed(
            node,
            m,
            convert::battery::Battery {
                scale: m.percentage_scale,
            },
            head,
            Some(tap),
            outbox,
            counters,
        ),
        (K::Imu, _) => typed(node, m, convert::imu::Imu, head, None, outbox, counters),
        (K::JointStates, _) => typed(
            node,
            m,
            convert::joints::Joints,
            head,
            None,
            outbox,
            counters,
        ),
        (K::LaserScan, _) => typed(node, m, convert::scan::Scan, head, None, outbox, counters),
        _ => generic(node, m, head, outbox, counters),
    };
    pump.map_err(wrap)
}

fn build<M: Send + 'static>(
    m: &Mapping,
    stream: BoxStream<M>,
    encode: Encode<M>,
    tap: Option<Tap<M>>,
    outbox: &Outbox,
    counters: Arc<Counters>,
) -> Box<dyn Pump> {
    Box::new(Route {
        stream,
        encode,
        tap,
        topic: Arc::from(m.mqtt_topic.as_str()),
        qos: m.qos,
        retain: m.retain,
        limiter: m.rate_limit_hz.map(RateLimiter::new),
        batcher: m
            .batch
            .map(|b| Batcher::new(b.max_messages, b.max_interval)),
        counters,
        outbox: outbox.clone(),
    })
}

fn typed<C: Converter>(
    node: &mut Node,
    m: &Mapping,
    conv: C,
    head: Head,
    tap: Option<Tap<C::Msg>>,
    outbox: &Outbox,
    counters: Arc<Counters>,
) -> Result<Box<dyn Pump>, r2r::Error>
where
    C::Msg: Send,
{
    let stream = node.subscribe::<C::Msg>(&m.ros_topic, qos_profile(m.ros_qos))?;
    let encode = move |msg: &C::Msg| head.envelope(C::stamp(msg), &conv.data(msg));
    Ok(build(
        m,
        Box::new(stream),
        Box::new(encode),
        tap,
        outbox,
        counters,
    ))
}

fn generic(
    node: &mut Node,
    m: &Mapping,
    head: Head,
    outbox: &Outbox,
    counters: Arc<Counters>,
) -> Result<Box<dyn Pump>, r2r::Error> {
    let stream = node.subscribe_untyped(&m.ros_topic, &m.ros_type, qos_profile(m.ros_qos))?;
    let name = m.name.clone();
    let c = counters.clone();
    let stream = stream.filter_map(move |r| {
        let out = match r {
            Ok(v) => Some(v),
            Err(e) => {
                Counters::add(&c.refused);
                log::warn!("mapping `{name}`: a message could not be read: {e}");
                None
            }
        };
        futures::future::ready(out)
    });
    let encode = move |v: &serde_json::Value| head.envelope(Stamp::from_json(v), v);
    Ok(build(
        m,
        Box::new(stream),
        Box::new(encode),
        None,
        outbox,
        counters,
    ))
}

/// Spins until `stop`: one `spin_once`, then every pump. Runs on its own thread.
pub fn spin(
    mut node: Node,
    mut pumps: Vec<Box<dyn Pump>>,
    has_waitables: bool,
    stop: Arc<AtomicBool>,
) {
    let period = Duration::from_millis(5);
    while !stop.load(Relaxed) {
        if has_waitables {
            node.spin_once(period);
        } else {
            // r2r issue 93: an empty wait set returns at once; do not burn a core.
            std::thread::sleep(period);
        }
        let now = Instant::now();
        for p in &mut pumps {
            p.pump(now);
        }
    }
}
