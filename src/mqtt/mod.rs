//! The MQTT side: one rumqttc connection per bridge.
//!
//! - `options`: rumqttc options from the settings (session, auth, TLS, Last Will, limits).
//! - `session`: the link's state without I/O: connected or not, what was handed to rumqttc
//!   and is not acknowledged yet, the offline queue, backoff with jitter.
//! - `offline_queue`: what waits for the broker.
//! - `link`: the event loop that drives rumqttc and the session.
//!
//! Delivery: QoS 1/2 messages are delivered at least once. The link keeps every such message
//! until the broker acknowledges it (PUBACK, PUBCOMP); when the connection dies, everything
//! not acknowledged goes back to the front of the offline queue and is sent again after the
//! reconnect, whether or not the broker kept the session. QoS 0 sensor streams keep their
//! latest value per topic while the broker is away. Drops happen only at the documented
//! bounds (`bridge.queue_size`, `mqtt.offline_queue`) and are counted.

pub mod link;
pub mod offline_queue;
pub mod options;
pub mod session;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::Qos;
use crate::diagnostics::Stats;

pub use link::run;

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

/// The way to the MQTT link, for everything that publishes. `try_send`: the ROS side and
/// the tasks never wait on the network; a full queue (in messages or in bytes) is a drop,
/// counted.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outbound>,
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    stats: Arc<Stats>,
}

/// The link's end of the [`Outbox`].
pub struct OutboxRx {
    rx: mpsc::Receiver<Outbound>,
    bytes: Arc<AtomicUsize>,
}

impl Outbox {
    /// The outbox and the link's end of it, `capacity` messages and `max_bytes` deep.
    pub fn channel(capacity: usize, max_bytes: usize, stats: Arc<Stats>) -> (Outbox, OutboxRx) {
        let (tx, rx) = mpsc::channel(capacity);
        let bytes = Arc::new(AtomicUsize::new(0));
        let outbox = Outbox {
            tx,
            bytes: bytes.clone(),
            max_bytes,
            stats,
        };
        (outbox, OutboxRx { rx, bytes })
    }

    /// Queues `m` for the link; false when the queue was full and `m` was dropped (counted).
    pub fn send(&self, m: Outbound) -> bool {
        let size = m.payload.len();
        let before = self.bytes.fetch_add(size, Relaxed);
        // One message bigger than the bound may go when nothing else waits.
        let fits = before == 0 || before + size <= self.max_bytes;
        if fits && self.tx.try_send(m).is_ok() {
            return true;
        }
        self.bytes.fetch_sub(size, Relaxed);
        self.stats.outbound_dropped.fetch_add(1, Relaxed);
        false
    }
}

impl OutboxRx {
    /// The next message; None once every [`Outbox`] is gone.
    pub async fn recv(&mut self) -> Option<Outbound> {
        let m = self.rx.recv().await?;
        self.bytes.fetch_sub(m.payload.len(), Relaxed);
        Some(m)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn msg(body: &str) -> Outbound {
        Outbound::new(Arc::from("t"), Qos(1), false, body.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn the_outbox_is_bounded_in_messages_and_in_bytes() {
        let stats = Arc::new(Stats::default());
        let (outbox, mut rx) = Outbox::channel(3, 8, stats.clone());
        assert!(
            outbox.send(msg("0123456789")),
            "alone, one bigger message may go"
        );
        assert!(!outbox.send(msg("x")), "over the byte bound");
        assert_eq!(rx.recv().await.map(|m| m.payload.len()), Some(10));
        assert!(outbox.send(msg("aaaa")) && outbox.send(msg("bbbb")));
        assert!(!outbox.send(msg("c")), "8 bytes wait: full");
        rx.recv().await;
        assert!(outbox.send(msg("cc")));
        assert_eq!(
            stats.outbound_dropped.load(Relaxed),
            2,
            "every drop counted"
        );
    }
}
