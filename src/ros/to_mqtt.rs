//! ROS to MQTT: one route per mapping. A route drains its subscription after every spin,
//! converts each message (a typed converter or generic JSON), feeds what the rest of the
//! bridge needs (the pose, the battery), applies the rate limit and the batch, and hands the
//! payload to the MQTT link.
//!
//! r2r takes at most one message per subscription per `spin_once` and hands it over through a
//! channel of 10 that drops silently when full. So routes are drained on the spin thread right
//! after each spin: nothing waits in r2r's channels, and every message left out is ours and
//! counted: `skipped` by the rate limit (a newer value replaced it), `dropped` by a full queue
//! to MQTT. Generic mappings take no part of the spin thread: the run-time types' thread takes
//! their serialized messages (`types`) and they are converted on a thread of their own
//! (`offload`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt, StreamExt};
use r2r::Node;
use serde::Serialize;

use super::drain::Drain;
use super::{fixed_qos, qos_profile, RosError};
use crate::config::{Category, ConverterKind, Mapping, Qos};
use crate::convert::generic::{self, Types};
use crate::convert::{self, Converter, Stamped};
use crate::diagnostics::Counters;
use crate::dyntype::{JsonView, Runtime, SubQos, SubscribeOptions, Subscription};
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
        self.try_encode(stamp, data).unwrap_or_else(|e| {
            log::error!("cannot serialize a message: {e}");
            b"null".to_vec()
        })
    }

    fn try_encode<D: Serialize>(
        &mut self,
        stamp: Option<Stamp>,
        data: &D,
    ) -> serde_json::Result<Vec<u8>> {
        let envelope = Envelope {
            timestamp: envelope::timestamp(stamp),
            robot_id: &self.robot_id,
            category: self.category,
            data,
        };
        let json =
            envelope::try_to_json_sized(&envelope, self.last_size + self.last_size / 8 + 32)?;
        self.last_size = json.len();
        Ok(json)
    }
}

/// The next message of a route, if one is there (never waits).
type Take<M> = Box<dyn FnMut() -> Option<M> + Send>;
/// Message to the JSON payload of its mapping; `None`: it could not be read (counted).
type Encode<M> = Box<dyn FnMut(&M) -> Option<Vec<u8>> + Send>;
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
        let Some(json) = (self.encode)(msg) else {
            return;
        };
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
    /// The generic mappings' types, and their ROS context (`types`).
    pub types: &'a Types,
    pub runtime: Option<&'a Runtime>,
}

/// A mapping's part on the spin thread or on the `ros-convert` thread.
pub enum Routed {
    Spin(Box<dyn Drain>),
    Offloaded(Box<dyn Drain>),
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
        ConverterKind::Generic => return generic(at, enc).map(Routed::Offloaded),
    };
    drain.map(Routed::Spin).map_err(|e| RosError::mapping(m, e))
}

/// The mapping a route is for, with what it needs.
type At<'a> = (&'a Mapping, &'a RouteContext<'a>, Arc<Counters>);

/// A route; `counts_in`: it counts what it takes (a run-time subscription counts for itself).
/// Its sends leave the link's wake-up to the thread that drains it (`spin::spin`,
/// `offload::run`), once a spin's worth has lingered.
fn assemble<M: Send + 'static>(
    (m, cx, counters): At<'_>,
    take: Take<M>,
    encode: Encode<M>,
    feed: Option<Feed<M>>,
    counts_in: bool,
) -> Route<M> {
    Route {
        take,
        counts_in,
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
        outbox: cx.outbox.deferred(),
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
    at.2.show_ros_qos(fixed_qos(m.ros_qos));
    let take = move || stream.next().now_or_never().flatten();
    let encode = move |msg: &C::Msg| Some(enc.encode(msg.stamp(), &conv.data(msg)));
    let route = assemble(at, Box::new(take), Box::new(encode), feed, true);
    Ok(Box::new(route))
}

/// A generic mapping: the run-time types' thread takes the serialized messages and rings the
/// `ros-convert` thread, whose route writes each one's JSON into its envelope.
fn generic(at: At<'_>, mut enc: Encoder) -> Result<Box<dyn Drain>, RosError> {
    let (m, cx, counters) = (at.0, at.1, at.2.clone());
    let (Some(t), Some(runtime)) = (cx.types.of(m), cx.runtime) else {
        return Err(RosError::mapping(m, "its message type was not resolved"));
    };
    let doorbell = cx.doorbell.clone();
    let qos = if m.auto_qos {
        SubQos::Auto {
            depth: m.ros_qos.depth,
        }
    } else {
        SubQos::Fixed(m.ros_qos)
    };
    let sub = runtime
        .subscribe(SubscribeOptions {
            topic: m.ros_topic.clone(),
            ty: t.type_ref.clone(),
            qos,
            max_messages: m.ros_qos.depth,
            max_bytes: cx.queue_bytes,
            // The converter may be gone only at shutdown, when nothing more matters.
            notify: Some(Box::new(move || {
                let _ = doorbell.send(());
            })),
        })
        .map_err(|e| RosError::mapping(m, e))?;
    counters.show_ros_qos(if m.auto_qos {
        let watch = sub.qos_watch();
        Box::new(move || format!("auto ({})", watch.get()))
    } else {
        fixed_qos(m.ros_qos)
    });
    let mut tally = Tally {
        sub,
        counters: counters.clone(),
        received: 0,
        dropped: 0,
    };
    let (ty, octets) = (t.msg.clone(), generic::octets(m.byte_arrays));
    let name = m.name.clone();
    let mut log = Throttle::new("unreadable ROS messages", 10);
    let encode = move |cdr: &Vec<u8>| {
        let written = JsonView::new(&ty, cdr, octets).and_then(|view| {
            let json = enc.try_encode(generic::stamp(&ty, cdr), &view);
            view.result().map(|()| json)
        });
        let why = match written {
            Ok(Ok(json)) => return Some(json),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        Counters::add(&counters.refused);
        if log.allow(Instant::now()) {
            let why = printable(&why, 512);
            log::warn!("mapping `{name}`: a message could not be read: {why}");
        }
        None
    };
    let take = move || tally.take();
    let route = assemble(at, Box::new(take), Box::new(encode), None, false);
    Ok(Box::new(route))
}

/// A run-time subscription, its counts added to the mapping's as they grow: `received` from
/// DDS, `dropped` by its full queue.
struct Tally {
    sub: Subscription,
    counters: Arc<Counters>,
    received: u64,
    dropped: u64,
}

impl Tally {
    fn take(&mut self) -> Option<Vec<u8>> {
        let (received, dropped) = (self.sub.received(), self.sub.dropped());
        if received > self.received {
            self.counters
                .received
                .fetch_add(received - self.received, Relaxed);
            self.counters.seen(Instant::now());
            self.received = received;
        }
        if dropped > self.dropped {
            let more = dropped - self.dropped;
            self.counters.dropped.fetch_add(more, Relaxed);
            self.dropped = dropped;
        }
        self.sub.try_recv()
    }
}
