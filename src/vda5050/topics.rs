//! The profile's MQTT topics, `<interface>/<major>/<manufacturer>/<serial>/<topic>`, with the
//! QoS and retain flag the text gives each: QoS 0 but `connection` (QoS 1); `connection` and
//! `factsheet` retained.

use super::version::Version;

/// What the vehicle publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outgoing {
    Connection,
    State,
    Visualization,
    Factsheet,
}

/// What master control sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Incoming {
    Order,
    InstantActions,
}

impl Outgoing {
    pub const ALL: [Outgoing; 4] = [
        Outgoing::Connection,
        Outgoing::State,
        Outgoing::Visualization,
        Outgoing::Factsheet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outgoing::Connection => "connection",
            Outgoing::State => "state",
            Outgoing::Visualization => "visualization",
            Outgoing::Factsheet => "factsheet",
        }
    }

    pub fn qos(self) -> u8 {
        match self {
            Outgoing::Connection => 1,
            _ => 0,
        }
    }

    pub fn retained(self) -> bool {
        matches!(self, Outgoing::Connection | Outgoing::Factsheet)
    }

    /// The index of its `headerId` counter.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl Incoming {
    pub const ALL: [Incoming; 2] = [Incoming::Order, Incoming::InstantActions];

    pub fn name(self) -> &'static str {
        match self {
            Incoming::Order => "order",
            Incoming::InstantActions => "instantActions",
        }
    }

    /// The subscription's maximum QoS. Master control publishes with QoS 0 (the text); 1 lets
    /// one that uses 1 have its messages kept by the broker's session across a short outage
    /// (what comes late is judged like anything else: stale orders are refused).
    pub fn subscribe_qos(self) -> u8 {
        1
    }
}

/// The topic prefix of one vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Levels as validated by `VdaConfig::validate` (one topic level each).
    pub fn new(interface: &str, version: Version, manufacturer: &str, serial: &str) -> Topics {
        Topics {
            prefix: format!("{interface}/{}/{manufacturer}/{serial}/", version.major()),
        }
    }

    /// `uagv/v2/KIT/0001`: every topic of the vehicle lies under it.
    pub fn prefix(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    pub fn outgoing(&self, t: Outgoing) -> String {
        format!("{}{}", self.prefix, t.name())
    }

    pub fn incoming(&self, t: Incoming) -> String {
        format!("{}{}", self.prefix, t.name())
    }

    /// Which of master control's topics `topic` is, if any.
    pub fn classify(&self, topic: &str) -> Option<Incoming> {
        let rest = topic.strip_prefix(&self.prefix)?;
        Incoming::ALL.into_iter().find(|t| t.name() == rest)
    }
}

/// An MQTT message, with the topic's QoS and retain flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub kind: Outgoing,
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_qos_and_retain() {
        let t = Topics::new("uagv", Version::V2_1, "KIT", "0001");
        assert_eq!(t.outgoing(Outgoing::State), "uagv/v2/KIT/0001/state");
        assert_eq!(
            t.incoming(Incoming::InstantActions),
            "uagv/v2/KIT/0001/instantActions"
        );
        assert_eq!(t.classify("uagv/v2/KIT/0001/order"), Some(Incoming::Order));
        assert_eq!(t.classify("uagv/v2/KIT/0002/order"), None);
        assert_eq!(t.classify("uagv/v2/KIT/0001/state"), None);
        let qos: Vec<(u8, bool)> = Outgoing::ALL
            .iter()
            .map(|o| (o.qos(), o.retained()))
            .collect();
        assert_eq!(qos, [(1, true), (0, false), (0, false), (0, true)]);
    }
}
