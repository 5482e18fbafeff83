//! ROS to MQTT: one route per mapping. A route drains its subscription after every spin,
//! converts each message (a typed converter or generic JSON), feeds what the rest of the
//! bridge needs (the pose, the battery), applies the rate limit and the batch, and hands the
//! payload to the MQTT link.
//!
//! r2r takes at most one message per subscription per `spin_once` and hands it over through a
//! channel of 10 that drops silently when full. So routes are drained on the spin thread right
//! after each spin: nothing waits in r2r's channels, and every message left out is ours and
//! counted: `skipped` by the rate limit (a newer value replaced it), `dropped` by a full queue
//! to MQTT. Generic mappings are converted on a thread of
//! their own (`offload`): only their serialized bytes are taken on the spin thread.

use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt, StreamExt};
use r2r::Node;
use serde::Serialize;

use super::drain::Drain;
use super::offload::{Handoff, Queue};
use super::{qos_profile, RosError};
use crate::config::{Category, ConverterKind, Mapping, Qos};
use crate::convert::{self, Converter, Stamped};
use crate::diagnostics::Counters;
use crate::envelope::{self, Envelope, Stamp};
use crate::logging::{printable, Throttle};
use crate::mqtt::{Outbound, Outbox};
use crate::policy::{Batcher, RateLimiter};
use crate::state::{self, Feeds};

/// Wraps `data` into the envelope of a mapping: its robot id and its category as `type`.
#[derive(Clone)]
struct Encoder {
    robot_id: Arc<str>,
    category: Category,
    /// The size of the last payload: the next one gets a buffer that fits at once.
    last_size: usize,
}

impl Encoder {
    fn encode<D: Serialize>(&mut self, stamp: Option<Stamp>, data: &D) -> Vec<u8> {
        let envelope = Envelope {
            timestamp: envelope::timestamp(stamp),
            robot_id: &self.robot_id,
            category: self.category,
            data,
        };
        let json = envelope::to_json_sized(&envelope, self.last_size + self.last_size / 8 + 32);
        self.last_size = json.len();
        json
    }
}

/// The next message of a route, if one is there (never waits).
type Take<M> = Box<dyn FnMut() -> Option<M> + Send>;
/// Message to the JSON payload of its mapping.
type Encode<M> = Box<dyn FnMut(&M) -> Vec<u8> + Send>;
/// What else a message feeds: the pose or the battery the rest of the bridge reads.
type Feed<M> = Box<dyn FnMut(&M, Instant) + Send>;

/// A ROS to MQTT mapping: subscription, conversion, rate limit, batch, publish.
struct Route<M> {
    take: Take<M>,
    /// Whether this route counts what comes in (not when a handoff already did).
    counts_in: bool,
    encode: Encode<M>,
    feed: Option<Feed<M>>,
    topic: Arc<str>,
    qos: Qos,
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
        if self.outbox.send(m) {
            Counters::add(&self.counters.published);
        } else {
            Counters::add(&self.counters.dropped);
        }
    }
}

impl<M: Send> Drain for Route<M> {
    fn drain(&mut self, now: Instant) {
        let mut any = false;
        while let Some(msg) = (self.take)() {
            any = true;
            if self.counts_in {
                Counters::add(&self.counters.received);
            }
            if let Some(feed) = &mut self.feed {
                feed(&msg, now);
            }
            match &mut self.limiter {
                Some(l) => {
                    let (out, replaced) = l.offer(msg, now);
                    if replaced {
                        Counters::add(&self.counters.skipped);
                    }
                    if let Some(m) = out {
                        self.emit(&m, now);
                    }
                }
                None => self.emit(&msg, now),
            }
        }
        if any && self.counts_in {
            self.counters.seen(now);
        }
        if let Some(m) = self.limiter.as_mut().and_then(|l| l.poll(now)) {
            self.emit(&m, now);
        }
        if let Some(batch) = self.batcher.as_mut().and_then(|b| b.poll(now)) {
            self.send(batch);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let held = self.limiter.as_ref().and_then(RateLimiter::due);
        let batch = self.batcher.as_ref().and_then(Batcher::due);
        held.into_iter().chain(batch).min()
    }
}

/// What a route needs besides its mapping.
pub struct RouteContext<'a> {
    pub robot_id: &'a Arc<str>,
    pub outbox: &'a Outbox,
    pub feeds: &'a Feeds,
    /// Rings the `ros-convert` thread (see `offload`).
    pub doorbell: &'a Sender<()>,
    /// The byte bound of an offloaded mapping's queue (`bridge.queue_bytes`).
    pub queue_bytes: usize,
}

/// A mapping's part on the spin thread, and its part on the `ros-convert` thread if any.
pub struct Routed {
    pub spin: Box<dyn Drain>,
    pub offloaded: Option<Box<dyn Drain>>,
}

/// The subscription of one ROS to MQTT mapping; `counters` are the mapping's own.
pub fn route(
    node: &mut Node,
    m: &Mapping,
    cx: &RouteContext<'_>,
    counters: Arc<Counters>,
) -> Result<Routed, RosError> {
    let enc = Encoder {
        robot_id: cx.robot_id.clone(),
        category: m.category,
        last_size: 0,
    };
    let at = (m, cx, counters);
    let drain = match m.converter {
        ConverterKind::Odometry => {
            let pose = cx.feeds.pose.clone();
            let feed: Feed<r2r::nav_msgs::msg::Odometry> = Box::new(move |msg, now| {
                pose.send_replace(Some(convert::odometry::pose(msg, now)));
            });
            typed(node, at, convert::odometry::Odometry, enc, Some(feed))
        }
        ConverterKind::Battery => {
            let battery = cx.feeds.battery.clone();
            let scale = m.percentage_scale;
            let feed: Feed<r2r::sensor_msgs::msg::BatteryState> = Box::new(move |msg, now| {
                battery.send_replace(Some(state::Battery {
                    percent: convert::battery::percent(msg.percentage, scale),
                    charging: msg.power_supply_status == 1,
                    at: now,
                }));
            });
            let conv = convert::battery::Battery { scale };
            typed(node, at, conv, enc, Some(feed))
        }
        ConverterKind::Imu => typed(node, at, convert::imu::Imu, enc, None),
        ConverterKind::JointStates => typed(node, at, convert::joints::Joints, enc, None),
        ConverterKind::LaserScan => typed(node, at, convert::scan::Scan, enc, None),
        ConverterKind::Generic => {
            return generic(node, at, enc).map_err(|e| RosError::mapping(m, e));
        }
    };
    drain
        .map(|spin| Routed {
            spin,
            offloaded: None,
        })
        .map_err(|e| RosError::mapping(m, e))
}

/// The mapping a route is for, with what it needs.
type At<'a> = (&'a Mapping, &'a RouteContext<'a>, Arc<Counters>);

/// A route; `on_spin`: it runs on the spin thread, so it counts what comes in and leaves the
/// link's wake-up to the spin (`spin::spin`). Off it (`offload`), the handoff counts and each
/// send wakes the link.
fn assemble<M: Send + 'static>(
    (m, cx, counters): At<'_>,
    take: Take<M>,
    encode: Encode<M>,
    feed: Option<Feed<M>>,
    on_spin: bool,
) -> Route<M> {
    Route {
        take,
        counts_in: on_spin,
        encode,
        feed,
        topic: Arc::from(m.mqtt_topic.as_str()),
        qos: m.qos,
        retain: m.retain,
        limiter: m.rate_limit_hz.map(RateLimiter::new),
        batcher: m
            .batch
            .map(|b| Batcher::new(b.max_messages, b.max_interval)),
        counters,
        outbox: if on_spin {
            cx.outbox.deferred()
        } else {
            cx.outbox.clone()
        },
    }
}

fn typed<C: Converter>(
    node: &mut Node,
    at: At<'_>,
    conv: C,
    mut enc: Encoder,
    feed: Option<Feed<C::Msg>>,
) -> Result<Box<dyn Drain>, r2r::Error>
where
    C::Msg: Send,
{
    let m = at.0;
    let mut stream = node.subscribe::<C::Msg>(&m.ros_topic, qos_profile(m.ros_qos))?;
    let take = move || stream.next().now_or_never().flatten();
    let encode = move |msg: &C::Msg| enc.encode(msg.stamp(), &conv.data(msg));
    let route = assemble(at, Box::new(take), Box::new(encode), feed, true);
    Ok(Box::new(route))
}

/// A generic mapping: the spin thread takes the serialized message and queues it
/// ([`Handoff`]); the route on the `ros-convert` thread decodes it into the message's JSON.
fn generic(node: &mut Node, at: At<'_>, mut enc: Encoder) -> Result<Routed, r2r::Error> {
    let (m, cx, counters) = (at.0, at.1, at.2.clone());
    let stream = node.subscribe_raw(&m.ros_topic, &m.ros_type, qos_profile(m.ros_qos))?;
    let queue = Queue::new(m.ros_qos.depth, cx.queue_bytes);
    let handoff = Handoff {
        stream: Box::new(stream),
        queue: queue.clone(),
        counters: counters.clone(),
        doorbell: cx.doorbell.clone(),
    };
    let (name, ros_type) = (m.name.clone(), m.ros_type.clone());
    let mut log = Throttle::new("unreadable ROS messages", 10);
    let take = move || loop {
        let bytes = queue.pop()?;
        match decode(&ros_type, &bytes) {
            Ok(v) => return Some(v),
            Err(e) => {
                Counters::add(&counters.refused);
                if log.allow(Instant::now()) {
                    let e = printable(&e.to_string(), 512).into_owned();
                    log::warn!("mapping `{name}`: a message could not be read: {e}");
                }
            }
        }
    };
    let encode = move |v: &serde_json::Value| enc.encode(Stamp::from_json(v), v);
    let route = assemble(at, Box::new(take), Box::new(encode), None, false);
    Ok(Routed {
        spin: Box::new(handoff),
        offloaded: Some(Box::new(route)),
    })
}

/// Serialized (CDR) bytes of `ros_type` to the message's JSON, as r2r's untyped
/// subscriptions make it.
fn decode(ros_type: &str, bytes: &[u8]) -> Result<serde_json::Value, r2r::Error> {
    let mut msg = r2r::WrappedNativeMsgUntyped::new_from(ros_type)?;
    msg.from_serialized_bytes(bytes)?;
    msg.to_json()
}
