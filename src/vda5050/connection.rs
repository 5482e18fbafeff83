//! The MQTT connection that carries the profile: a second `mqtt::link` beside the seed's.
//!
//! MQTT gives a connection one Last Will, and both presences must be told by the broker when
//! the process dies without a word (SIGKILL, power loss): the seed's `status/connection`
//! (`offline`) and VDA 5050's `connection` (`CONNECTIONBROKEN`). So the profile connects on
//! its own, with the client id `<mqtt client id>_vda5050` and its own Will, to the same broker
//! with the same credentials, TLS and reconnect rules, subscribed to master control's `order`
//! and `instantActions` of this vehicle only. The cost: one more TCP (TLS) connection and
//! session per robot (2N broker clients for N robots, a broker ACL that lets the second
//! client use `<interface>/<major>/<manufacturer>/<serial>/#`), one more event-loop task, and
//! its keep-alive pings.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use rumqttc::{LastWill, QoS};
use tokio::sync::mpsc;

use super::presence::Presence;
use super::topics::{Incoming, Publish, Topics};
use crate::config::{Qos, Settings};
use crate::diagnostics::VdaStats;
use crate::logging::Throttle;
use crate::mqtt::options::LinkSettings;
use crate::mqtt::{self, Dispatch, Inbound, Outbound};

/// What the profile's client id adds to the seed's.
pub const CLIENT_ID_SUFFIX: &str = "_vda5050";

/// The profile's connection: the seed's broker settings with a client id, subscriptions and
/// presence of its own.
pub fn link_settings(settings: &Settings, topics: &Topics, presence: Presence) -> LinkSettings {
    let seed = LinkSettings::new(settings);
    let mut options = seed.options;
    options.set_client_id(format!("{}{CLIENT_ID_SUFFIX}", settings.broker.client_id));
    let subscriptions = Incoming::ALL
        .iter()
        .map(|t| (topics.incoming(*t), mqtt::qos(Qos(t.subscribe_qos()))))
        .collect();
    LinkSettings {
        options,
        subscriptions,
        presence: Box::new(LinkPresence(presence)),
        reconnect: seed.reconnect,
        offline_queue: seed.offline_queue,
        // The same cluster, reached the same ways.
        failover: seed.failover,
        // VDA 5050's messages are the state of the moment: none waits on disk (and the
        // seed's store is the seed connection's alone).
        store: None,
    }
}

/// The profile's `connection` topic as the link's presence, stamped when asked.
struct LinkPresence(Presence);

fn outbound(p: Publish) -> Outbound {
    Outbound::new(Arc::from(p.topic), Qos(p.qos), p.retain, p.payload)
}

impl mqtt::presence::Presence for LinkPresence {
    fn will(&mut self) -> LastWill {
        let p = self.0.will(Utc::now());
        LastWill::new(p.topic, p.payload, QoS::AtLeastOnce, p.retain)
    }

    fn online(&mut self) -> Outbound {
        outbound(self.0.online(Utc::now()))
    }

    fn offline(&mut self) -> Outbound {
        outbound(self.0.offline(Utc::now()))
    }
}

/// A message of master control. Over `vda5050.limits.max_payload` only its `size` travels on
/// (`payload` empty): it is refused by its size alone.
#[derive(Debug)]
pub struct Message {
    pub topic: Incoming,
    pub payload: Bytes,
    pub size: usize,
    pub retained: bool,
}

/// Master control's messages from the link to the profile's task; a full queue is a counted
/// drop (the link never waits).
pub struct Inbox {
    topics: Topics,
    to: mpsc::Sender<Message>,
    max_payload: usize,
    stats: Arc<VdaStats>,
    log: Throttle,
}

impl Inbox {
    /// At most `depth` messages wait (`bridge.inbound_queue`).
    pub fn new(
        topics: Topics,
        depth: usize,
        max_payload: usize,
        stats: Arc<VdaStats>,
    ) -> (Inbox, mpsc::Receiver<Message>) {
        let (to, from) = mpsc::channel(depth);
        let inbox = Inbox {
            topics,
            to,
            max_payload,
            stats,
            log: Throttle::new("dropped VDA 5050 messages", 1),
        };
        (inbox, from)
    }
}

impl Dispatch for Inbox {
    fn dispatch(&mut self, m: Inbound) -> Option<Outbound> {
        let Some(topic) = self.topics.classify(&m.topic) else {
            log::debug!("VDA 5050: a message on {} is not for the profile", m.topic);
            return None;
        };
        let payload = if m.size > self.max_payload {
            Bytes::new()
        } else {
            m.payload
        };
        let message = Message {
            topic,
            payload,
            size: m.size,
            retained: m.retain,
        };
        if self.to.try_send(message).is_err() {
            self.stats.dropped.fetch_add(1, Relaxed);
            if self.log.allow(std::time::Instant::now()) {
                log::warn!("VDA 5050: master control's messages queue up: one dropped");
            }
        }
        None
    }
}
