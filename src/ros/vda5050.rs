//! The VDA 5050 profile's own ROS topics, made on the node before the first spin: the
//! operating mode (`std_msgs/String`) and the protective field (`std_msgs/Bool`), each heard
//! best effort so that any publisher matches; the navigation's progress (`std_msgs/String`,
//! reliable, every message in order to the profile's task, a full queue a counted drop); and
//! the publishers of orders and control to the navigation (`std_msgs/String`, reliable).
//! Odometry, battery and the e-stop come from the bridge's shared readings.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use futures::{FutureExt, Stream, StreamExt};
use r2r::std_msgs::msg::{Bool, String as Text};
use r2r::Node;
use tokio::sync::{mpsc, watch};

use super::drain::Drain;
use super::qos_profile;
use crate::config::{Durability, Reliability, RosQos};
use crate::diagnostics::Stats;
use crate::vda5050::config::{NavigationConfig, VdaConfig};
use crate::vda5050::runner::{NavSink, RosInputs};
use crate::vda5050::NavTopic;

/// Progress messages that may wait for the profile's task.
const PROGRESS_QUEUE: usize = 256;

/// What matches every publisher: best effort, volatile.
const ANY: RosQos = RosQos {
    reliability: Reliability::BestEffort,
    durability: Durability::Volatile,
    depth: 10,
};

/// The profile's subscriptions (their drains added to `drains`) and publishers; `None` while
/// the profile is off.
pub fn build(
    node: &mut Node,
    cfg: &VdaConfig,
    stats: &Stats,
    drains: &mut Vec<Box<dyn Drain>>,
) -> Result<Option<RosInputs>, r2r::Error> {
    if !cfg.enabled {
        return Ok(None);
    }
    let stats = stats.vda5050();
    let (mode_tx, operating_mode) = watch::channel(None);
    if let Some(topic) = &cfg.operating_mode_topic {
        let stream = node.subscribe::<Text>(topic, qos_profile(ANY))?;
        drains.push(forward(stream, move |m: Text| {
            mode_tx.send_replace(Some(m.data));
        }));
    }
    let (field_tx, field_violation) = watch::channel(None);
    if let Some(topic) = &cfg.field_violation_topic {
        let stream = node.subscribe::<Bool>(topic, qos_profile(ANY))?;
        drains.push(forward(stream, move |m: Bool| {
            field_tx.send_if_modified(|v| v.replace(m.data) != Some(m.data));
        }));
    }
    let (progress_tx, progress) = mpsc::channel(PROGRESS_QUEUE);
    let navigation = match &cfg.navigation {
        Some(nav) => {
            let stream = node.subscribe::<Text>(&nav.progress_topic, progress_qos())?;
            drains.push(forward(stream, move |m: Text| {
                if progress_tx.try_send(m.data).is_err() {
                    stats.dropped.fetch_add(1, Relaxed);
                }
            }));
            Some(Box::new(Navigation::new(node, nav)?) as Box<dyn NavSink>)
        }
        None => None,
    };
    Ok(Some(RosInputs {
        operating_mode,
        field_violation,
        progress,
        navigation,
    }))
}

fn progress_qos() -> r2r::QosProfile {
    qos_profile(RosQos {
        depth: 100,
        ..RosQos::RELIABLE
    })
}

/// A subscription whose every message goes to `take`, on the spin thread.
struct Forward<T, F> {
    stream: Box<dyn Stream<Item = T> + Unpin + Send>,
    take: F,
}

fn forward<T, F>(stream: impl Stream<Item = T> + Unpin + Send + 'static, take: F) -> Box<dyn Drain>
where
    T: Send + 'static,
    F: FnMut(T) + Send + 'static,
{
    Box::new(Forward {
        stream: Box::new(stream),
        take,
    })
}

impl<T: Send, F: FnMut(T) + Send> Drain for Forward<T, F> {
    fn drain(&mut self, _now: Instant) {
        while let Some(Some(m)) = self.stream.next().now_or_never() {
            (self.take)(m);
        }
    }
}

/// The navigation's order and control topics.
struct Navigation {
    order: r2r::Publisher<Text>,
    control: r2r::Publisher<Text>,
}

impl Navigation {
    fn new(node: &mut Node, nav: &NavigationConfig) -> Result<Navigation, r2r::Error> {
        let reliable = || qos_profile(RosQos::RELIABLE);
        Ok(Navigation {
            order: node.create_publisher(&nav.order_topic, reliable())?,
            control: node.create_publisher(&nav.control_topic, reliable())?,
        })
    }
}

impl NavSink for Navigation {
    fn publish(&self, topic: NavTopic, data: &str) -> Result<(), String> {
        let to = match topic {
            NavTopic::Order => &self.order,
            NavTopic::Control => &self.control,
        };
        to.publish(&Text {
            data: data.to_owned(),
        })
        .map_err(|e| e.to_string())
    }
}
