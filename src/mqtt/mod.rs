//! The MQTT side: one rumqttc connection per bridge.
//!
//! - `options`: rumqttc options from the settings (session, auth, TLS, Last Will, limits).
//! - `session`: the link's state without I/O: connected or not, what was handed to rumqttc
//!   and is not acknowledged yet, the offline queue, backoff with jitter.
//! - `offline_queue`: what waits for the broker.
//! - `outbox`: the bounded queue from everything that publishes to the link.
//! - `link`: the event loop that drives rumqttc and the session.
//!
//! Delivery: QoS 1/2 messages are delivered at least once. The link keeps every such message
//! until the broker acknowledges it (PUBACK, PUBCOMP); when the connection dies, everything
//! not acknowledged goes back to the front of the offline queue and is sent again after the
//! reconnect, whether or not the broker kept the session. QoS 0 sensor streams keep their
//! latest value per topic while the broker is away. Drops happen only at the documented
//! bounds (`bridge.queue_size`, `mqtt.offline_queue`) and are counted.

pub mod acks;
pub mod link;
pub mod offline_queue;
pub mod options;
pub mod outbox;
pub mod session;
pub mod wire;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::config::Qos;

pub use link::run;
pub use outbox::{Outbox, OutboxRx};

/// A message for the fleet.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub topic: Arc<str>,
    pub qos: Qos,
    pub retain: bool,
    pub payload: Bytes,
    /// When the message was made: the bridge's own latency is measured from here.
    pub since: Instant,
}

impl Outbound {
    pub fn new(topic: Arc<str>, qos: Qos, retain: bool, payload: impl Into<Bytes>) -> Self {
        Outbound {
            topic,
            qos,
            retain,
            payload: payload.into(),
            since: Instant::now(),
        }
    }
}

/// A message from the fleet on one of the bridge's subscriptions.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub topic: String,
    pub payload: Bytes,
    /// The payload's size as received (the payload may be dropped later, the size is kept).
    pub size: usize,
    pub retain: bool,
}

/// Where the link hands fleet messages. It must not wait: a full queue is a counted drop.
pub trait Dispatch: Send + 'static {
    fn dispatch(&mut self, m: Inbound);
}

/// What the link tells the rest of the bridge about the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// The connection is back after an outage: told after the fact, as alerts.
    Restored {
        /// RFC 3339, when the connection was lost.
        lost_at: String,
        down_seconds: f64,
        error: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("connection to the broker lost and mqtt.reconnect.enabled is false: {0}")]
    GaveUp(String),
}

pub fn qos(q: Qos) -> rumqttc::QoS {
    match q.0 {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}
