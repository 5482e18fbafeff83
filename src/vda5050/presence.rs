//! `connection`: the vehicle's presence, which belongs to the MQTT connection that carries the
//! profile (as `status/connection` belongs to the seed's): the Will set at each CONNECT says
//! CONNECTIONBROKEN, the first message after CONNACK says ONLINE, and a graceful stop says
//! OFFLINE just before DISCONNECT, so the broker drops the Will. All retained, QoS 1.
//!
//! `headerId`s on the topic never go back, whichever message master control sees last: the
//! Will takes the id after the ONLINE that follows its CONNECT (the Will is made first, but
//! can only be published after). Its timestamp is the CONNECT's, stale by nature (the text
//! says so).

use chrono::{DateTime, Utc};

use super::header::Stamper;
use super::msg::connection::Connection;
use super::topics::{Outgoing, Publish, Topics};
use super::version::{ConnectionState, Version};
use crate::envelope::to_json;

#[derive(Debug, Clone)]
pub struct Presence {
    version: Version,
    topic: String,
    stamper: Stamper,
}

impl Presence {
    pub fn new(version: Version, topics: &Topics, manufacturer: &str, serial: &str) -> Presence {
        Presence {
            version,
            topic: topics.outgoing(Outgoing::Connection),
            stamper: Stamper::new(version, manufacturer, serial),
        }
    }

    /// The Last Will for the next CONNECT (the same until `online` is taken).
    pub fn will(&self, wall: DateTime<Utc>) -> Publish {
        self.message(
            self.stamper.ahead(Outgoing::Connection, 1, wall),
            ConnectionState::Broken,
        )
    }

    /// After CONNACK, before anything else.
    pub fn online(&mut self, wall: DateTime<Utc>) -> Publish {
        let header = self.stamper.next(Outgoing::Connection, wall);
        // The Will of this connection took the next id.
        self.stamper.skip(Outgoing::Connection, 1);
        self.message(header, ConnectionState::Online)
    }

    /// The last message before DISCONNECT.
    pub fn offline(&mut self, wall: DateTime<Utc>) -> Publish {
        let header = self.stamper.next(Outgoing::Connection, wall);
        self.message(header, ConnectionState::Offline)
    }

    fn message(&self, header: super::header::Header, state: ConnectionState) -> Publish {
        let kind = Outgoing::Connection;
        Publish {
            kind,
            topic: self.topic.clone(),
            qos: kind.qos(),
            retain: kind.retained(),
            payload: to_json(&Connection {
                header,
                connection_state: self.version.connection_word(state),
            }),
        }
    }
}
