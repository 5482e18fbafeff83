//! What a connection says about the robot being there: the Last Will registered at every
//! CONNECT, the message published after every CONNACK, and the one published at a clean stop.
//! MQTT allows one Will per connection, so each profile that has a presence of its own (the
//! seed's `status/connection`, VDA 5050's `connection`) gets a connection of its own, each
//! with its own [`Presence`].

use std::sync::Arc;

use rumqttc::{LastWill, QoS};

use super::Outbound;
use crate::config::Qos;
use crate::envelope::{self, Presence as State};

/// A connection's presence messages; asked anew each time, so that they can carry the time
/// (and a profile's counters) of the moment they are made.
pub trait Presence: Send + 'static {
    /// The Will for the next CONNECT: what the broker says if the connection vanishes.
    fn will(&mut self) -> LastWill;
    /// Published first after every CONNACK.
    fn online(&mut self) -> Outbound;
    /// Published last at a clean stop, before DISCONNECT (which drops the Will).
    fn offline(&mut self) -> Outbound;
}

/// The seed's presence: `{state: online|offline}` on `status/connection`, retained, QoS 1.
pub struct SeedPresence {
    topic: Arc<str>,
    robot_id: String,
}

impl SeedPresence {
    pub fn new(topic: &str, robot_id: &str) -> Self {
        SeedPresence {
            topic: Arc::from(topic),
            robot_id: robot_id.to_owned(),
        }
    }

    fn message(&self, state: State) -> Outbound {
        let payload = envelope::presence(&self.robot_id, state);
        Outbound::new(self.topic.clone(), Qos(1), true, payload)
    }
}

impl Presence for SeedPresence {
    /// `offline`, stamped now: the Will's timestamp says when the robot was last seen
    /// connecting.
    fn will(&mut self) -> LastWill {
        let m = self.message(State::Offline);
        LastWill::new(&*m.topic, m.payload, QoS::AtLeastOnce, true)
    }

    fn online(&mut self) -> Outbound {
        self.message(State::Online)
    }

    fn offline(&mut self) -> Outbound {
        self.message(State::Offline)
    }
}
