//! The MQTT side: one rumqttc connection per bridge, rumqttc as published.
//!
//! - `options`: rumqttc options from the settings (session, auth, TLS, limits).
//! - `presence`: what a connection says about the robot: its Last Will, online, offline.
//! - `outbox`: the bounded queue from everything that publishes to the link, and its bell
//!   (telemetry may linger a few milliseconds to share a write).
//! - `link`: the task that owns rumqttc's event loop and writes every packet in batches
//!   through rumqttc's own state (packet ids, the in-flight window), one flush per batch.
//! - `session`: the link's state without I/O: what waits for an acknowledgement, what goes
//!   again after a reconnect, backoff with jitter.
//! - `offline_queue`: what waits for the broker.
//! - `failover`: which of several broker addresses the next attempt goes to.
//! - `store`: the durable offline store (opt-in): QoS 1/2 messages on disk while the broker
//!   is away, so that a crash or reboot of the bridge loses none; its own thread does the I/O.
//! - `spool`: the link's side of the store: what goes to disk, the replay, the answers.
//!
//! Delivery: QoS 1/2 messages are delivered at least once. Every such message handed to the
//! link is acknowledged by the broker (PUBACK, PUBCOMP), or sent again after a reconnect
//! (under its packet id if the broker kept the session, else as a new message), or, at a
//! stop that cannot wait longer, kept in the offline store for the next start (with a
//! store) or counted as not delivered (`status/bridge` `undelivered`). QoS 0 sensor streams
//! keep their latest value per topic while the broker is away. Drops happen only at the
//! documented bounds (`bridge.queue_size`, `mqtt.offline_queue`,
//! `mqtt.offline_store.max_bytes`) and are counted.

pub mod failover;
pub mod link;
pub mod offline_queue;
pub mod options;
pub mod outbox;
pub mod presence;
pub mod session;
pub mod spool;
pub mod store;

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
    /// Its id in the durable offline store, once it is there (`store`): acknowledged there
    /// when the broker acknowledges it.
    pub stored: Option<u64>,
}

impl Outbound {
    pub fn new(topic: Arc<str>, qos: Qos, retain: bool, payload: impl Into<Bytes>) -> Self {
        Outbound {
            topic,
            qos,
            retain,
            payload: payload.into(),
            since: Instant::now(),
            stored: None,
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
    /// `Some`: the link publishes this reply itself (a refusal at the door, when the queue
    /// behind it is full: the link's own queue has room, and needs no producer of its own).
    fn dispatch(&mut self, m: Inbound) -> Option<Outbound>;
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
    /// CONNACK: the connection is up, the presence's online message queued first.
    Connected,
    /// An established connection ended (not told for failed attempts).
    Lost,
    /// The durable offline store cannot be written any more (or could not be opened): QoS
    /// 1/2 messages wait in memory from now on.
    StoreFailed { path: String, error: String },
}

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("connection to the broker lost and mqtt.reconnect.enabled is false: {0}")]
    GaveUp(String),
    /// The durable offline store may not be used by this bridge: another process holds it,
    /// or it holds another robot's messages.
    #[error("{0}")]
    Store(store::StoreError),
}

pub fn qos(q: Qos) -> rumqttc::QoS {
    match q.0 {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}
