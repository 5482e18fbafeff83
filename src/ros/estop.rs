//! The local e-stop topic (`std_msgs/Bool`: true engages, false releases), heard from any
//! publisher a safety system uses: one subscription best effort and volatile (it matches
//! reliable and best-effort publishers alike), one reliable and transient local (it also
//! receives the value a latched publisher sent before the bridge started). Each keeps its
//! last value in the [`RosEstop`] that the command runner watches.

use std::time::Instant;

use futures::{FutureExt, StreamExt};
use r2r::std_msgs::msg::Bool;
use r2r::Node;
use tokio::sync::watch;

use super::drain::Drain;
use super::qos_profile;
use crate::command::runner::RosEstop;
use crate::config::{Durability, Reliability, RosQos};

type BoolStream = Box<dyn futures::Stream<Item = Bool> + Unpin + Send>;

struct Listener {
    volatile: BoolStream,
    latched: BoolStream,
    out: watch::Sender<RosEstop>,
}

/// The two subscriptions on `topic`, feeding `out`.
pub fn listen(
    node: &mut Node,
    topic: &str,
    out: watch::Sender<RosEstop>,
) -> Result<Box<dyn Drain>, r2r::Error> {
    let volatile = RosQos {
        reliability: Reliability::BestEffort,
        durability: Durability::Volatile,
        depth: 10,
    };
    let latched = RosQos {
        reliability: Reliability::Reliable,
        durability: Durability::TransientLocal,
        depth: 1,
    };
    Ok(Box::new(Listener {
        volatile: Box::new(node.subscribe::<Bool>(topic, qos_profile(volatile))?),
        latched: Box::new(node.subscribe::<Bool>(topic, qos_profile(latched))?),
        out,
    }))
}

impl Drain for Listener {
    fn drain(&mut self, _now: Instant) {
        while let Some(Some(m)) = self.volatile.next().now_or_never() {
            self.out
                .send_if_modified(|e| e.volatile.replace(m.data) != Some(m.data));
        }
        while let Some(Some(m)) = self.latched.next().now_or_never() {
            self.out
                .send_if_modified(|e| e.latched.replace(m.data) != Some(m.data));
        }
    }
}
