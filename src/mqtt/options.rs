//! rumqttc's options from the settings: client id, session, credentials, TLS, the Last Will,
//! limits, and what to subscribe to.
//!
//! Session model: a persistent session (`clean_session: false`, the client id unique per
//! robot). The broker keeps the robot's subscriptions and queues its QoS 1/2 commands across
//! short outages; what arrives late is judged like any command (a stale `move` is refused, a
//! `stop` stops, an `emergency` engages). Delivery of the bridge's own messages does not rely
//! on the session: the link sends again whatever was not acknowledged.

use std::path::PathBuf;

use rumqttc::{MqttOptions, QoS, TlsConfiguration, Transport};

use super::failover::Address;
use super::presence::{Presence, SeedPresence};
use super::qos;
use super::store::{Durability, Options as StoreOptions};
use crate::config::{Category, Direction, Mapping, Settings};

/// Largest packet read or written: the protocol's own limit. A smaller read limit would make
/// rumqttc drop the connection on a big message, and a retained one would come back at every
/// reconnect; instead it is read and refused above `commands.max_payload`, counted.
pub const MAX_PACKET: usize = crate::config::MAX_PAYLOAD;

/// QoS 1/2 publishes written and not yet acknowledged, at most: rumqttc's in-flight window,
/// which the link never writes beyond.
pub const INFLIGHT: u16 = 100;

/// Bytes of QoS 1/2 messages written and not acknowledged yet, at most (one bigger message
/// may go alone); beyond it messages wait in the offline queue, which is bounded in bytes.
pub const MAX_IN_FLIGHT_BYTES: usize = 16 * 1024 * 1024;

/// Everything the link needs, decided once at start.
pub struct LinkSettings {
    pub options: MqttOptions,
    pub subscriptions: Vec<(String, QoS)>,
    /// The connection's Will and its online/offline messages.
    pub presence: Box<dyn Presence>,
    pub reconnect: crate::config::ReconnectConfig,
    /// The offline queue's bounds: messages, bytes.
    pub offline_queue: (usize, usize),
    /// More addresses of the broker, tried in turn after the one of `options`
    /// (`mqtt::failover`); each gets the same options but the address.
    pub failover: Vec<Address>,
    /// The durable offline store, for a link that has one.
    pub store: Option<StoreSettings>,
}

/// Where and how the link keeps QoS 1/2 messages on disk while the broker is away.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub dir: PathBuf,
    pub options: StoreOptions,
}

impl LinkSettings {
    pub fn new(s: &Settings) -> LinkSettings {
        let b = &s.broker;
        let tree = &s.tree;
        let mut options = MqttOptions::new(b.client_id.clone(), b.host.clone(), b.port);
        options
            .set_keep_alive(b.keepalive)
            .set_clean_session(false)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_inflight(INFLIGHT);
        if let Some((user, password)) = &b.credentials {
            options.set_credentials(user.clone(), password.clone());
        }
        if let Some(tls) = &b.tls {
            options.set_transport(Transport::Tls(TlsConfiguration::Rustls(tls.clone())));
        }
        let presence_topic = tree.topic(Category::Status, "connection");
        LinkSettings {
            options,
            subscriptions: subscriptions(s),
            presence: Box::new(SeedPresence::new(&presence_topic, tree.robot_id())),
            reconnect: b.reconnect.clone(),
            offline_queue: b.offline_queue,
            failover: b
                .failover
                .iter()
                .map(|(host, port)| Address {
                    host: host.clone(),
                    port: *port,
                })
                .collect(),
            store: b.offline_store.as_ref().map(|s| StoreSettings {
                dir: s.dir.clone(),
                options: StoreOptions {
                    owner: tree.robot_id().to_owned(),
                    max_bytes: s.max_bytes,
                    durability: Durability::Fsync,
                },
            }),
        }
    }
}

/// `o` for another address of the broker. rumqttc's options have no setter for the address:
/// made anew, with everything else of `o` (client id, session, keepalive, credentials, TLS,
/// the Will, limits). The packet limits are set equal both ways, as `LinkSettings::new` does.
pub fn with_address(o: &MqttOptions, a: &Address) -> MqttOptions {
    let mut n = MqttOptions::new(o.client_id(), a.host.clone(), a.port);
    n.set_keep_alive(o.keep_alive())
        .set_clean_session(o.clean_session())
        .set_max_packet_size(o.max_packet_size(), o.max_packet_size())
        .set_inflight(o.inflight())
        .set_request_channel_capacity(o.request_channel_capacity())
        .set_pending_throttle(o.pending_throttle())
        .set_manual_acks(o.manual_acks())
        .set_transport(o.transport());
    if let Some(login) = o.credentials() {
        n.set_credentials(login.username, login.password);
    }
    if let Some(will) = o.last_will() {
        n.set_last_will(will);
    }
    n
}

/// The robot's own command subtree, and the MQTT to ROS mappings' topics outside it.
fn subscriptions(s: &Settings) -> Vec<(String, QoS)> {
    let tree = &s.tree;
    let mut out = vec![(tree.command_filter(), qos(tree.qos(Category::Command)))];
    let prefix = format!("{}/", tree.prefix(Category::Command));
    let outside =
        |m: &&Mapping| m.direction == Direction::MqttToRos && !m.mqtt_topic.starts_with(&prefix);
    for m in s.mappings.iter().filter(outside) {
        out.push((m.mqtt_topic.clone(), qos(m.qos)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::LastWill;
    use std::time::Duration;

    #[test]
    fn another_address_keeps_everything_but_the_address() {
        let mut o = MqttOptions::new("amr_bridge_R1", "a", 11883);
        o.set_keep_alive(Duration::from_secs(7))
            .set_clean_session(false)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_inflight(INFLIGHT)
            .set_credentials("robot", "secret")
            .set_transport(Transport::tls_with_default_config())
            .set_last_will(LastWill::new("w", "offline", QoS::AtLeastOnce, true));
        let b = Address {
            host: "b".into(),
            port: 8883,
        };
        let n = with_address(&o, &b);
        assert_eq!(n.broker_address(), ("b".to_owned(), 8883));
        assert_eq!(n.client_id(), o.client_id());
        assert_eq!(n.keep_alive(), Duration::from_secs(7));
        assert!(!n.clean_session());
        assert_eq!(n.max_packet_size(), MAX_PACKET);
        assert_eq!(n.inflight(), INFLIGHT);
        assert_eq!(n.credentials(), o.credentials());
        assert!(matches!(n.transport(), Transport::Tls(_)));
        assert_eq!(n.last_will(), o.last_will());
    }
}
