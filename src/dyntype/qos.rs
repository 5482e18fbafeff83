//! The QoS of run-time subscriptions and publishers, and the rule that matches a subscription
//! to the publishers found on its topic (rosbag2's `adapt_request_to_offers`, mqtt_client 2.x):
//! reliable only if every publisher is reliable, transient local only if every one is. A
//! best-effort reader matches any writer and a volatile one any durability, so the result is
//! always compatible; and when every publisher is latched, the latched message arrives.

use std::fmt;

use serde::Deserialize;

/// As written in a `ros_qos:` block too (`reliable`, `best_effort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reliability {
    Reliable,
    BestEffort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    Volatile,
    TransientLocal,
}

/// A profile: keep last `depth`, the rest rmw's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Qos {
    pub reliability: Reliability,
    pub durability: Durability,
    pub depth: usize,
}

impl Qos {
    /// What the bridge publishes into ROS by default: reliable, as rclpy and rclcpp readers are.
    pub const RELIABLE: Qos = Qos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        depth: 10,
    };
    /// A latched publisher: late subscribers that ask for transient local get its last message.
    pub const LATCHED: Qos = Qos {
        reliability: Reliability::Reliable,
        durability: Durability::TransientLocal,
        depth: 1,
    };

    /// What a subscription uses before any publisher is seen: it matches every publisher.
    pub fn any(depth: usize) -> Qos {
        Qos {
            reliability: Reliability::BestEffort,
            durability: Durability::Volatile,
            depth,
        }
    }
}

impl fmt::Display for Qos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = match self.reliability {
            Reliability::Reliable => "reliable",
            Reliability::BestEffort => "best_effort",
        };
        let d = match self.durability {
            Durability::Volatile => "volatile",
            Durability::TransientLocal => "transient_local",
        };
        write!(f, "{r}, {d}, depth {}", self.depth)
    }
}

/// A subscription's QoS: fixed, or matched to the publishers and kept so as they change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubQos {
    Fixed(Qos),
    Auto { depth: usize },
}

/// What a publisher on the topic offers; `None`: a policy rmw did not report (system default,
/// unknown), taken as the weaker one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub ros_type: String,
    pub reliability: Option<Reliability>,
    pub durability: Option<Durability>,
}

/// The profile that matches every publisher in `offers`; `None` without publishers (keep what
/// there is: a topic whose publishers went away gets the same ones back, usually).
pub fn matched(offers: &[Offer], depth: usize) -> Option<Qos> {
    if offers.is_empty() {
        return None;
    }
    let all = |f: &dyn Fn(&Offer) -> bool| offers.iter().all(f);
    Some(Qos {
        reliability: if all(&|o| o.reliability == Some(Reliability::Reliable)) {
            Reliability::Reliable
        } else {
            Reliability::BestEffort
        },
        durability: if all(&|o| o.durability == Some(Durability::TransientLocal)) {
            Durability::TransientLocal
        } else {
            Durability::Volatile
        },
        depth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Durability::*;
    use Reliability::*;

    fn offer(r: Reliability, d: Durability) -> Offer {
        Offer {
            ros_type: "p/msg/T".into(),
            reliability: Some(r),
            durability: Some(d),
        }
    }

    #[test]
    fn every_publisher_must_offer_what_is_asked() {
        let q = |offers: &[Offer]| matched(offers, 7).map(|q| (q.reliability, q.durability));
        assert_eq!(q(&[]), None);
        assert_eq!(
            q(&[offer(Reliable, TransientLocal)]),
            Some((Reliable, TransientLocal))
        );
        assert_eq!(
            q(&[
                offer(Reliable, TransientLocal),
                offer(BestEffort, TransientLocal)
            ]),
            Some((BestEffort, TransientLocal))
        );
        assert_eq!(
            q(&[offer(Reliable, Volatile), offer(Reliable, TransientLocal)]),
            Some((Reliable, Volatile))
        );
        let unknown = Offer {
            reliability: None,
            durability: None,
            ..offer(Reliable, Volatile)
        };
        assert_eq!(q(&[unknown]), Some((BestEffort, Volatile)));
        assert_eq!(
            matched(&[offer(Reliable, Volatile)], 7).map(|q| q.depth),
            Some(7)
        );
    }

    #[test]
    fn shown_as_status_says_it() {
        assert_eq!(
            Qos::LATCHED.to_string(),
            "reliable, transient_local, depth 1"
        );
    }
}
