//! The MQTT side: one rumqttc connection, its event loop, presence (Last Will and `online`),
//! the robot's command subscription, reconnects with backoff, and the offline queue.
//!
//! The event loop is polled without pause (rumqttc moves nothing otherwise). Publishes never
//! block the ROS side: they come through a bounded channel and go to rumqttc with
//! `try_publish`; whatever cannot go now (broker away, rumqttc's queue full) waits in the
//! offline queue: QoS 1/2 messages in order up to `mqtt.offline_queue` (the oldest dropped
//! first, counted), QoS 0 sensor streams as their latest value per topic.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ClientError, Event, LastWill, MqttOptions, Packet, QoS, TlsConfiguration,
    Transport,
};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, ConfigError, Qos};
use crate::diagnostics::Stats;
use crate::envelope;
use crate::topic::{Category, TopicTree};

/// A message for the fleet.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub topic: Arc<str>,
    pub qos: Qos,
    pub retain: bool,
    pub payload: Vec<u8>,
    /// When the message was made: the bridge's own latency is measured from here.
    pub since: std::time::Instant,
}

impl Outbound {
    pub fn new(topic: Arc<str>, qos: Qos, retain: bool, payload: Vec<u8>) -> Self {
        Outbound {
            topic,
            qos,
            retain,
            payload,
            since: std::time::Instant::now(),
        }
    }
}

/// A message from the fleet on one of the bridge's subscriptions.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub topic: String,
    pub payload: bytes::Bytes,
    pub retain: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("connection to the broker lost and mqtt.reconnect.enabled is false: {0}")]
    GaveUp(String),
}

/// Everything needed to connect, decided once at start.
pub struct MqttSettings {
    pub options: MqttOptions,
    pub subscriptions: Vec<(String, QoS)>,
    pub presence_topic: String,
    pub robot_id: String,
    pub reconnect: crate::config::ReconnectConfig,
    pub offline_queue: usize,
    /// `<alert prefix>/`; None when alerts are off.
    pub alert_prefix: Option<String>,
    pub alert_qos: Qos,
    /// `command/stop` and `command/emergency`: they go through a channel of their own, so
    /// that a flood of other messages can never crowd out a stop.
    pub priority_topics: Vec<String>,
}

/// Where fleet messages go: safety commands first.
pub struct InboundTx {
    pub normal: mpsc::Sender<Inbound>,
    pub priority: mpsc::Sender<Inbound>,
}

pub fn qos(q: Qos) -> QoS {
    match q.0 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// The `status/connection` payload.
fn presence(robot_id: &str, state: &str) -> Vec<u8> {
    envelope::to_json(&envelope::Envelope {
        timestamp: envelope::now_rfc3339(),
        robot_id,
        kind: "status",
        data: serde_json::json!({ "state": state }),
    })
}

impl MqttSettings {
    /// Options from the configuration; `extra_subscriptions` are the MQTT to ROS mappings'
    /// topics outside the command subtree.
    pub fn new(
        config: &Config,
        tree: &TopicTree,
        password: Option<String>,
        host: &str,
        port: u16,
        extra_subscriptions: &[(String, Qos)],
        file: &str,
    ) -> Result<MqttSettings, ConfigError> {
        let m = &config.mqtt;
        let client_id = if m.client_id.contains("{robot_id}") {
            m.client_id.replace("{robot_id}", tree.robot_id())
        } else {
            format!("{}_{}", m.client_id, tree.robot_id())
        };
        let mut options = MqttOptions::new(client_id, host, port);
        options
            .set_keep_alive(Duration::from_secs(m.keepalive))
            .set_clean_session(true)
            .set_max_packet_size(m.max_packet_size, 64 * 1024 * 1024)
            .set_request_channel_capacity(1024)
            .set_inflight(100);
        if !m.username.is_empty() || password.is_some() {
            options.set_credentials(m.username.clone(), password.unwrap_or_default());
        }
        if m.use_ssl {
            options.set_transport(Transport::Tls(tls(config, file)?));
        }
        let presence_topic = tree.topic(Category::Status, "connection");
        options.set_last_will(LastWill::new(
            &presence_topic,
            presence(tree.robot_id(), "offline"),
            QoS::AtLeastOnce,
            true,
        ));
        let mut subscriptions = vec![(tree.command_filter(), qos(tree.qos(Category::Command)))];
        let prefix = format!("{}/", tree.prefix(Category::Command));
        for (t, q) in extra_subscriptions {
            if !t.starts_with(&prefix) {
                subscriptions.push((t.clone(), qos(*q)));
            }
        }
        Ok(MqttSettings {
            options,
            subscriptions,
            presence_topic,
            robot_id: tree.robot_id().to_owned(),
            reconnect: m.reconnect.clone(),
            offline_queue: m.offline_queue,
            alert_prefix: config
                .alerts
                .enabled
                .then(|| format!("{}/", tree.prefix(Category::Alert))),
            alert_qos: tree.qos(Category::Alert),
            priority_topics: ["stop", "emergency"]
                .iter()
                .map(|a| tree.topic(Category::Command, a))
                .collect(),
        })
    }
}

fn read(file: &str, key: &str, path: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::invalid(file, key, format!("{}: {e}", path.display())))
}

/// TLS from the configured files; without `ca_file`, the system's CA bundle.
fn tls(config: &Config, file: &str) -> Result<TlsConfiguration, ConfigError> {
    let t = &config.mqtt.tls;
    let system = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    let ca = match &t.ca_file {
        Some(p) => read(file, "mqtt.tls.ca_file", p)?,
        None => read(file, "mqtt.tls.ca_file", system)?,
    };
    let client_auth = match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => Some((
            read(file, "mqtt.tls.cert_file", c)?,
            read(file, "mqtt.tls.key_file", k)?,
        )),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                file,
                "mqtt.tls.key_file",
                "is required with cert_file",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                file,
                "mqtt.tls.cert_file",
                "is required with key_file",
            ))
        }
    };
    Ok(TlsConfiguration::Simple {
        ca,
        alpn: None,
        client_auth,
    })
}

/// Messages that wait for the broker.
struct OfflineQueue {
    ordered: VecDeque<Outbound>,
    latest: HashMap<Arc<str>, Outbound>,
    capacity: usize,
}

impl OfflineQueue {
    fn push(&mut self, m: Outbound, stats: &Stats) {
        if m.qos.0 == 0 {
            if self.latest.insert(m.topic.clone(), m).is_some() {
                stats.offline_replaced.fetch_add(1, Relaxed);
            }
        } else {
            if self.ordered.len() >= self.capacity {
                self.ordered.pop_front();
                stats.offline_dropped.fetch_add(1, Relaxed);
            }
            self.ordered.push_back(m);
        }
    }

    fn len(&self) -> usize {
        self.ordered.len() + self.latest.len()
    }

    /// Hands queued messages to rumqttc until its channel is full.
    fn flush(&mut self, client: &AsyncClient, stats: &Stats) {
        while let Some(m) = self.ordered.pop_front() {
            if let Err(m) = try_send(client, m, stats) {
                self.ordered.push_front(m);
                return;
            }
        }
        let topics: Vec<Arc<str>> = self.latest.keys().cloned().collect();
        for t in topics {
            if let Some(m) = self.latest.remove(&t) {
                if let Err(m) = try_send(client, m, stats) {
                    self.latest.insert(t, m);
                    return;
                }
            }
        }
    }
}

use std::sync::atomic::Ordering::Relaxed;

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Gives a message to rumqttc, or back when its request channel is full.
fn try_send(client: &AsyncClient, m: Outbound, stats: &Stats) -> Result<(), Outbound> {
    match client.try_publish(&*m.topic, qos(m.qos), m.retain, m.payload.clone()) {
        Ok(()) => {
            stats.latency(m.since.elapsed());
            Ok(())
        }
        Err(ClientError::TryRequest(_)) | Err(ClientError::Request(_)) => Err(m),
    }
}

/// Runs the connection until `shutdown` turns true; then says `offline` and disconnects.
pub async fn run(
    settings: MqttSettings,
    mut outbound: mpsc::Receiver<Outbound>,
    inbound: InboundTx,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), MqttError> {
    let (client, mut eventloop) = AsyncClient::new(settings.options.clone(), 1024);
    // Small JSON messages at hundreds per second: without TCP_NODELAY, Nagle holds a write
    // back until the broker ACKs the previous one (up to the 40 ms delayed ACK).
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    let mut queue = OfflineQueue {
        ordered: VecDeque::new(),
        latest: HashMap::new(),
        capacity: settings.offline_queue.max(1),
    };
    let mut connected = false;
    let mut failures: u32 = 0;
    let mut ever_connected = false;
    // When and why the connection was lost, told to the fleet once it is back.
    let mut lost_at: Option<(String, std::time::Instant, String)> = None;
    // Set after a failed attempt: the event loop is not polled again before then.
    let mut retry_at: Option<tokio::time::Instant> = None;
    let broker = format!(
        "{}:{}",
        settings.options.broker_address().0,
        settings.options.broker_address().1
    );
    log::info!(
        "mqtt: connecting to {broker} as {}",
        settings.options.client_id()
    );
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            event = eventloop.poll(), if retry_at.is_none() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    failures = 0;
                    if ever_connected {
                        stats.reconnects.fetch_add(1, Relaxed);
                        log::info!("mqtt: connection to {broker} restored");
                        if let Some(lost) = lost_at.take() {
                            outage_alerts(&client, &settings, &lost);
                        }
                    } else {
                        log::info!("mqtt: connected to {broker}");
                    }
                    ever_connected = true;
                    stats.connected.store(true, Relaxed);
                    on_connect(&client, &settings);
                    queue.flush(&client, &stats);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let to = if settings.priority_topics.contains(&p.topic) {
                        &inbound.priority
                    } else {
                        &inbound.normal
                    };
                    let msg = Inbound { topic: p.topic, payload: p.payload, retain: p.retain };
                    if to.try_send(msg).is_err() {
                        stats.inbound_dropped.fetch_add(1, Relaxed);
                        log::warn!("mqtt: fleet messages arrive faster than they are handled; one dropped");
                    }
                }
                Ok(Event::Outgoing(_)) | Ok(Event::Incoming(_)) => {
                    if connected && queue.len() > 0 {
                        queue.flush(&client, &stats);
                    }
                }
                Err(e) => {
                    if connected {
                        log::warn!("mqtt: connection to {broker} lost: {e}");
                        lost_at = Some((envelope::now_rfc3339(), std::time::Instant::now(), e.to_string()));
                    } else if failures == 0 {
                        log::warn!("mqtt: cannot connect to {broker}: {e}");
                    } else {
                        log::debug!("mqtt: cannot connect to {broker}: {e}");
                    }
                    connected = false;
                    stats.connected.store(false, Relaxed);
                    if !settings.reconnect.enabled && ever_connected {
                        return Err(MqttError::GaveUp(e.to_string()));
                    }
                    failures = failures.saturating_add(1);
                    let delay = backoff(&settings.reconnect, failures);
                    // The will's timestamp says when the robot was last seen online.
                    eventloop.mqtt_options.set_last_will(LastWill::new(
                        &settings.presence_topic,
                        presence(&settings.robot_id, "offline"),
                        QoS::AtLeastOnce,
                        true,
                    ));
                    // Wait without blocking: fleet-bound messages keep coming into the queue.
                    retry_at = Some(tokio::time::Instant::now() + delay);
                }
            },
            _ = sleep_until(retry_at), if retry_at.is_some() => retry_at = None,
            Some(m) = outbound.recv() => {
                stats.mqtt_queue.store(queue.len(), Relaxed);
                if connected && queue.len() == 0 {
                    if let Err(m) = try_send(&client, m, &stats) {
                        queue.push(m, &stats);
                    }
                } else {
                    queue.push(m, &stats);
                    if connected {
                        queue.flush(&client, &stats);
                    }
                }
            }
        }
    }
    if connected {
        // A clean stop says so itself; the will is only for the unexpected.
        let _ = client.try_publish(
            &settings.presence_topic,
            QoS::AtLeastOnce,
            true,
            presence(&settings.robot_id, "offline"),
        );
        let _ = client.try_disconnect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, eventloop.poll()).await {
            if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    }
    Ok(())
}

/// After the fact: the connection was lost (warning) and is back (info).
fn outage_alerts(
    client: &AsyncClient,
    s: &MqttSettings,
    lost: &(String, std::time::Instant, String),
) {
    let Some(prefix) = &s.alert_prefix else {
        return;
    };
    let (lost_at, since, why) = lost;
    let down = since.elapsed().as_secs_f64();
    let data = serde_json::json!({"lost_at": lost_at, "down_seconds": (down * 1000.0).round() / 1000.0, "error": why});
    for (level, message) in [
        ("warning", "Broker connection lost"),
        ("info", "Broker connection restored"),
    ] {
        let payload = envelope::to_json(&envelope::Alert {
            timestamp: envelope::now_rfc3339(),
            robot_id: &s.robot_id,
            level,
            message,
            data: &data,
        });
        if let Err(e) =
            client.try_publish(format!("{prefix}{level}"), qos(s.alert_qos), false, payload)
        {
            log::warn!("mqtt: cannot publish the outage alert: {e}");
        }
    }
}

fn on_connect(client: &AsyncClient, s: &MqttSettings) {
    for (topic, q) in &s.subscriptions {
        if let Err(e) = client.try_subscribe(topic, *q) {
            log::error!("mqtt: cannot subscribe to {topic}: {e}");
        }
    }
    if let Err(e) = client.try_publish(
        &s.presence_topic,
        QoS::AtLeastOnce,
        true,
        presence(&s.robot_id, "online"),
    ) {
        log::error!("mqtt: cannot publish presence: {e}");
    }
}

/// `max_attempts` tries at `delay`, then doubling up to `max_delay`.
pub fn backoff(r: &crate::config::ReconnectConfig, failures: u32) -> Duration {
    let extra = failures.saturating_sub(r.max_attempts.max(1)).min(30);
    let secs = (r.delay * f64::from(1u32 << extra.min(20))).min(r.max_delay);
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_after_the_quick_attempts() {
        let r = crate::config::ReconnectConfig::default();
        assert_eq!(backoff(&r, 1), Duration::from_secs(1));
        assert_eq!(backoff(&r, 5), Duration::from_secs(1));
        assert_eq!(backoff(&r, 6), Duration::from_secs(2));
        assert_eq!(backoff(&r, 8), Duration::from_secs(8));
        assert_eq!(backoff(&r, 100), Duration::from_secs(30));
    }
}
