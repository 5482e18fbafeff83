//! What the bridge tells about itself: counters per mapping (in, out, dropped, skipped,
//! refused), queue depths, connection state and reconnects. Published on `status/bridge` (JSON) and on
//! ROS `/diagnostics` (`diagnostic_msgs/DiagnosticArray`) every `bridge.diagnostics_period`.

use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Counters of one mapping (or of the command path).
#[derive(Debug, Default)]
pub struct Counters {
    /// The mapping's ROS QoS as text (`reliable, transient_local, depth 10`), read at each
    /// report: a profile matched to the publishers changes as they come and go.
    ros_qos: OnceLock<QosText>,
    /// Messages that came in (from ROS, or from MQTT).
    pub received: AtomicU64,
    /// Messages that went out (MQTT publishes, or ROS publishes / Twists).
    pub published: AtomicU64,
    /// Messages lost on the way: a queue was full (to the MQTT link, to the converter thread).
    pub dropped: AtomicU64,
    /// Messages the mapping's policy left out on purpose: a rate limit that keeps the latest
    /// value replaced them with a newer one. Not a loss.
    pub skipped: AtomicU64,
    /// Messages refused as invalid.
    pub refused: AtomicU64,
    /// When the last message came in: milliseconds since `epoch()` plus one (0: never).
    last_seen: AtomicU64,
}

/// Says a mapping's ROS QoS, when asked.
pub type ShowQos = Box<dyn Fn() -> String + Send + Sync>;

struct QosText(ShowQos);

impl std::fmt::Debug for QosText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&(self.0)())
    }
}

/// The process's reference instant, for times kept in atomics.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Counters {
    pub fn add(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    /// Notes that messages came in at `now`.
    pub fn seen(&self, now: Instant) {
        let ms = now.saturating_duration_since(epoch()).as_millis() as u64;
        self.last_seen.store(ms + 1, Relaxed);
    }

    /// How the reports tell the mapping's ROS QoS (the first one given stays).
    pub fn show_ros_qos(&self, show: ShowQos) {
        let _ = self.ros_qos.set(QosText(show));
    }

    /// When the last message came in, if one ever did.
    pub fn last_seen(&self) -> Option<Instant> {
        match self.last_seen.load(Relaxed) {
            0 => None,
            ms => Some(epoch() + Duration::from_millis(ms - 1)),
        }
    }
}

/// Counts of one mapping (or of the command path) since the bridge started.
#[derive(Debug, Serialize, PartialEq, Eq, Clone, JsonSchema)]
pub struct CountersSnapshot {
    pub received: u64,
    pub published: u64,
    /// Lost on the way: a queue was full.
    pub dropped: u64,
    /// Left out on purpose by the mapping's rate limit (a newer value replaced them).
    pub skipped: u64,
    pub refused: u64,
    /// The ROS QoS of the mapping's subscription or publisher
    /// (`best_effort, volatile, depth 100`); `auto (...)`: a generic mapping's, matched to the
    /// publishers found on its topic. Not on the command path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ros_qos: Option<String>,
}

impl Counters {
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            received: self.received.load(Relaxed),
            published: self.published.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            refused: self.refused.load(Relaxed),
            ros_qos: self.ros_qos.get().map(|q| (q.0)()),
        }
    }
}

/// The bridge's counters, shared by both flows.
#[derive(Debug, Default)]
pub struct Stats {
    routes: Mutex<Vec<(String, Arc<Counters>)>>,
    pub connected: AtomicBool,
    pub reconnects: AtomicU64,
    /// Messages waiting in the offline queue.
    pub mqtt_queue: AtomicUsize,
    pub offline_dropped: AtomicU64,
    pub offline_replaced: AtomicU64,
    /// Outbound messages dropped because the MQTT link lagged behind the ROS side.
    pub outbound_dropped: AtomicU64,
    pub inbound_dropped: AtomicU64,
    /// Writes to the broker's connection (`mqtt::link`: a batch of packets, one flush).
    pub writes: AtomicU64,
    /// QoS 1/2 messages not acknowledged by the broker when a stop could wait no longer.
    pub undelivered: AtomicU64,
    /// The durable offline store, kept current by the link and the store's thread.
    pub offline_store: Arc<StoreGauge>,
    /// Microseconds from a message's conversion to its hand-over to the MQTT client.
    latency_last_us: AtomicU64,
    latency_max_us: AtomicU64,
    /// The VDA 5050 profile's, made when it starts ([`Stats::vda5050`]).
    vda5050: OnceLock<Arc<VdaStats>>,
}

/// The VDA 5050 profile's counters and its own connection (`vda5050.enabled`).
#[derive(Debug, Default)]
pub struct VdaStats {
    /// The profile's MQTT connection: its link, outbox and offline queue.
    pub link: Arc<Stats>,
    /// Messages from master control (`order`, `instantActions`), as the profile counts them.
    pub received: AtomicU64,
    /// Of them (or of their actions) refused; each is in `state.errors` too.
    pub refused: AtomicU64,
    /// Progress messages of the robot's navigation refused.
    pub progress_refused: AtomicU64,
    /// Messages handed to the profile's connection.
    pub published: AtomicU64,
    /// Messages from master control or the navigation lost: a queue was full.
    pub dropped: AtomicU64,
}

/// The durable offline store's state, as the link and the store's thread see it.
#[derive(Debug, Default)]
pub struct StoreGauge {
    state: AtomicU8,
    /// Messages on disk not acknowledged by the broker yet.
    pub pending: AtomicU64,
    /// Bytes of the store's files.
    pub bytes: AtomicU64,
    /// Damaged records or ranges skipped (each told in the log).
    pub damaged: AtomicU64,
}

/// What becomes of QoS 1/2 messages while the broker is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreState {
    /// No store configured: they wait in memory.
    Off = 0,
    /// They wait on disk.
    Ok = 1,
    /// The store failed (full or read-only disk, an I/O error): they wait in memory.
    Failed = 2,
}

impl StoreGauge {
    pub fn set_state(&self, s: StoreState) {
        self.state.store(s as u8, Relaxed);
    }

    pub fn state(&self) -> StoreState {
        match self.state.load(Relaxed) {
            1 => StoreState::Ok,
            2 => StoreState::Failed,
            _ => StoreState::Off,
        }
    }

    pub fn report(&self) -> StoreReport {
        StoreReport {
            state: self.state(),
            pending: self.pending.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            damaged: self.damaged.load(Relaxed),
        }
    }
}

/// The durable offline store in `status/bridge`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StoreReport {
    pub state: StoreState,
    /// Messages on disk not acknowledged by the broker yet (sent first once it is back).
    pub pending: u64,
    /// Bytes of the store's files (at most `mqtt.offline_store.max_bytes`).
    pub bytes: u64,
    /// Damaged records or ranges skipped since the start (each told in the log).
    pub damaged: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Latency {
    pub last: f64,
    pub max: f64,
}

/// `vda5050` of `status/bridge`: the VDA 5050 profile's connection and messages.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VdaReport {
    /// The profile's own MQTT connection (a client id and a Will of its own).
    pub connected: bool,
    pub reconnects: u64,
    /// Messages from master control (`order`, `instantActions`).
    pub received: u64,
    /// Messages from master control refused whole, or actions of them refused.
    pub refused: u64,
    /// Progress messages of the robot's navigation refused.
    pub progress_refused: u64,
    /// Messages handed to the profile's connection.
    pub published: u64,
    /// Lost because a queue was full: from master control or the navigation, to the
    /// connection, or in its offline queue.
    pub dropped: u64,
    /// QoS 1 messages (`connection`) that a stop left unacknowledged.
    pub undelivered: u64,
}

impl VdaStats {
    pub fn report(&self) -> VdaReport {
        let l = &self.link;
        VdaReport {
            connected: l.connected.load(Relaxed),
            reconnects: l.reconnects.load(Relaxed),
            received: self.received.load(Relaxed),
            refused: self.refused.load(Relaxed),
            progress_refused: self.progress_refused.load(Relaxed),
            published: self.published.load(Relaxed),
            dropped: self.dropped.load(Relaxed)
                + l.outbound_dropped.load(Relaxed)
                + l.offline_dropped.load(Relaxed),
            undelivered: l.undelivered.load(Relaxed),
        }
    }
}

/// `data` of `status/bridge`: the bridge's counters and link state.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Report {
    pub connected: bool,
    pub reconnects: u64,
    pub offline_queue: usize,
    pub offline_dropped: u64,
    pub offline_replaced: u64,
    pub outbound_dropped: u64,
    pub inbound_dropped: u64,
    /// Writes to the broker's connection: each a batch of messages with one flush (the
    /// messages published, summed over the mappings, divided by this: messages per write).
    pub writes: u64,
    /// QoS 1/2 messages that a stop left unacknowledged by the broker (not delivered, as far
    /// as the bridge can know); 0 but in a last report.
    pub undelivered: u64,
    /// The durable offline store (`mqtt.offline_store`).
    pub offline_store: StoreReport,
    /// Bridge latency (conversion to MQTT client), milliseconds: the last one and the
    /// largest since the previous report.
    pub latency_ms: Latency,
    pub mappings: BTreeMap<String, CountersSnapshot>,
    /// Only while the VDA 5050 profile is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vda5050: Option<VdaReport>,
}

impl Stats {
    /// The counters of a mapping (or of the command path): made once, at start, and handed to
    /// whoever counts; the report lists them by name.
    pub fn register(&self, name: &str) -> Arc<Counters> {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = routes.iter().find(|(n, _)| n == name) {
            return c.clone();
        }
        let c = Arc::new(Counters::default());
        routes.push((name.to_owned(), c.clone()));
        c
    }

    /// The VDA 5050 profile's counters: made by the first to ask, then listed in the report.
    pub fn vda5050(&self) -> Arc<VdaStats> {
        self.vda5050.get_or_init(Default::default).clone()
    }

    pub fn latency(&self, d: Duration) {
        let us = d.as_micros() as u64;
        self.latency_last_us.store(us, Relaxed);
        self.latency_max_us.fetch_max(us, Relaxed);
    }

    pub fn report(&self) -> Report {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        Report {
            connected: self.connected.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            offline_queue: self.mqtt_queue.load(Relaxed),
            offline_dropped: self.offline_dropped.load(Relaxed),
            offline_replaced: self.offline_replaced.load(Relaxed),
            outbound_dropped: self.outbound_dropped.load(Relaxed),
            inbound_dropped: self.inbound_dropped.load(Relaxed),
            writes: self.writes.load(Relaxed),
            undelivered: self.undelivered.load(Relaxed),
            offline_store: self.offline_store.report(),
            latency_ms: Latency {
                last: self.latency_last_us.load(Relaxed) as f64 / 1000.0,
                max: self.latency_max_us.swap(0, Relaxed) as f64 / 1000.0,
            },
            mappings: routes
                .iter()
                .map(|(n, c)| (n.clone(), c.snapshot()))
                .collect(),
            vda5050: self.vda5050.get().map(|v| v.report()),
        }
    }
}

/// The report as a ROS `DiagnosticArray`: one status for the link, one for the VDA 5050
/// profile's when it is on, one per mapping.
pub fn to_ros(report: &Report, robot_id: &str) -> r2r::diagnostic_msgs::msg::DiagnosticArray {
    use r2r::diagnostic_msgs::msg::{DiagnosticArray, DiagnosticStatus, KeyValue};
    // `connected`: a connection's status (ERROR while it is down); None: a mapping's.
    let entry = |name: &str, connected: Option<bool>, values: Vec<(&str, String)>| {
        let (level, message) = match connected {
            Some(false) => (DiagnosticStatus::ERROR as u8, "broker not connected"),
            Some(true) => (DiagnosticStatus::OK as u8, "connected"),
            None => (DiagnosticStatus::OK as u8, ""),
        };
        DiagnosticStatus {
            level,
            name: format!("amr_mqtt_bridge: {name}"),
            message: message.into(),
            hardware_id: robot_id.to_owned(),
            values: (values.into_iter())
                .map(|(key, value)| KeyValue {
                    key: key.to_owned(),
                    value,
                })
                .collect(),
        }
    };
    let r = report;
    let mut status = vec![entry(
        "mqtt link",
        Some(r.connected),
        vec![
            ("reconnects", r.reconnects.to_string()),
            ("offline_queue", r.offline_queue.to_string()),
            ("offline_dropped", r.offline_dropped.to_string()),
            ("outbound_dropped", r.outbound_dropped.to_string()),
            ("inbound_dropped", r.inbound_dropped.to_string()),
            ("writes", r.writes.to_string()),
            ("undelivered", r.undelivered.to_string()),
            (
                "offline_store",
                format!("{:?}", r.offline_store.state).to_lowercase(),
            ),
            ("offline_store_pending", r.offline_store.pending.to_string()),
            ("latency_ms_last", r.latency_ms.last.to_string()),
            ("latency_ms_max", r.latency_ms.max.to_string()),
        ],
    )];
    if let Some(v) = &r.vda5050 {
        status.push(entry(
            "vda5050",
            Some(v.connected),
            vec![
                ("reconnects", v.reconnects.to_string()),
                ("received", v.received.to_string()),
                ("refused", v.refused.to_string()),
                ("progress_refused", v.progress_refused.to_string()),
                ("published", v.published.to_string()),
                ("dropped", v.dropped.to_string()),
            ],
        ));
    }
    for (name, c) in &r.mappings {
        let mut values = vec![
            ("received", c.received.to_string()),
            ("published", c.published.to_string()),
            ("dropped", c.dropped.to_string()),
            ("skipped", c.skipped.to_string()),
            ("refused", c.refused.to_string()),
        ];
        values.extend(c.ros_qos.clone().map(|q| ("ros_qos", q)));
        status.push(entry(name, None, values));
    }
    let mut array = DiagnosticArray::default();
    array.header.stamp = now_stamp();
    array.status = status;
    array
}

fn now_stamp() -> r2r::builtin_interfaces::msg::Time {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    r2r::builtin_interfaces::msg::Time {
        sec: i32::try_from(d.as_secs()).unwrap_or(i32::MAX),
        nanosec: d.subsec_nanos(),
    }
}
