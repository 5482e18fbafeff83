//! Every JSON payload the bridge writes, in one place: the seed's envelope
//! `{timestamp, robot_id, type, data}` (status and sensor messages, command outcomes,
//! presence) and the alert format `{timestamp, robot_id, level, message, data}`.
//!
//! `timestamp` is RFC 3339 UTC (`Z`) from the ROS header stamp when the message has one (a zero
//! stamp means "not stamped"), else the bridge's clock. NaN and infinities never reach the
//! wire: serde_json writes every non-finite float as `null`, which is the documented encoding.
//! The JSON Schemas of `schemas/` are generated from these types (`crate::schema`): a field's
//! type and doc comment are its contract.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::config::Category;

/// A ROS time stamp (`builtin_interfaces/Time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sec: i32,
    pub nanosec: u32,
}

impl Stamp {
    pub fn from_ros(t: &r2r::builtin_interfaces::msg::Time) -> Option<Stamp> {
        Stamp::new(t.sec, t.nanosec)
    }

    /// A stamp, unless it is zero ("not stamped").
    pub fn new(sec: i32, nanosec: u32) -> Option<Stamp> {
        (sec != 0 || nanosec != 0).then_some(Stamp { sec, nanosec })
    }

    pub fn to_rfc3339(self) -> Option<String> {
        // Some drivers publish nanosec >= 1e9; carry it (chrono would read it as a leap second).
        let sec = i64::from(self.sec) + i64::from(self.nanosec / 1_000_000_000);
        DateTime::<Utc>::from_timestamp(sec, self.nanosec % 1_000_000_000)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// The bridge's clock as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The stamp when there is a valid one, else now.
pub fn timestamp(stamp: Option<Stamp>) -> String {
    stamp
        .and_then(Stamp::to_rfc3339)
        .unwrap_or_else(now_rfc3339)
}

/// Parses an RFC 3339 timestamp, as commands carry.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An alert's level: also the last level of its topic (`alert/warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    Info,
    Warning,
    Error,
}

impl AlertLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Info => "info",
            AlertLevel::Warning => "warning",
            AlertLevel::Error => "error",
        }
    }
}

/// The robot's presence on `status/connection` (retained; `offline` is also the Last Will).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Online,
    Offline,
}

/// `data` of `status/connection`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PresenceData {
    /// `offline` is also the Last Will, published by the broker when the bridge vanishes.
    pub state: Presence,
}

/// The `status/connection` payload, stamped now.
pub fn presence(robot_id: &str, p: Presence) -> Vec<u8> {
    status(robot_id, &PresenceData { state: p })
}

/// A status message the bridge originates (outcomes, state, its own report), stamped now.
pub fn status<D: Serialize>(robot_id: &str, data: &D) -> Vec<u8> {
    to_json(&Envelope {
        timestamp: now_rfc3339(),
        robot_id,
        category: Category::Status,
        data,
    })
}

/// An alert, stamped now; its level is the event's.
pub fn alert(robot_id: &str, event: &AlertEvent) -> Vec<u8> {
    to_json(&Alert {
        timestamp: now_rfc3339(),
        robot_id,
        level: event.level(),
        event,
    })
}

/// The status/sensor envelope.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Envelope<'a, D> {
    /// RFC 3339 UTC: the ROS message's header stamp when it has one, else the bridge's clock.
    #[schemars(extend("format" = "date-time"))]
    pub timestamp: String,
    /// The robot: one MQTT topic level (no `/`, `+`, `#`, whitespace or control characters).
    #[schemars(extend("minLength" = 1, "pattern" = "^[^/+#\\s]+$"))]
    pub robot_id: &'a str,
    /// The MQTT category of the topic (`status`, `sensor`).
    #[serde(rename = "type")]
    pub category: Category,
    pub data: D,
}

/// The alert message (no envelope in the seed): `{timestamp, robot_id, level, message, data}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Alert<'a> {
    /// RFC 3339 UTC, the bridge's clock when it raised the alert.
    #[schemars(extend("format" = "date-time"))]
    pub timestamp: String,
    #[schemars(extend("minLength" = 1, "pattern" = "^[^/+#\\s]+$"))]
    pub robot_id: &'a str,
    /// Also the last level of the topic (`alert/warning`).
    pub level: AlertLevel,
    #[serde(flatten)]
    pub event: &'a AlertEvent,
}

/// Every alert the bridge raises: its `message` and the shape of its `data`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "message", content = "data")]
pub enum AlertEvent {
    /// Warning: the battery fell below `alerts.battery_low`.
    #[serde(rename = "Battery level low")]
    BatteryLow(BatteryLevel),
    /// Error: the battery fell below `alerts.battery_critical`.
    #[serde(rename = "Battery level critical")]
    BatteryCritical(BatteryLevel),
    /// Info: the battery climbed `alerts.battery_hysteresis` above the threshold it was under.
    #[serde(rename = "Battery level recovered")]
    BatteryRecovered(BatteryLevel),
    /// Warning: a ROS to MQTT stream that delivered before is silent for `alerts.stale_after`.
    #[serde(rename = "Sensor stream stale")]
    StreamStale(StreamSilence),
    /// Info: a stale stream delivers again.
    #[serde(rename = "Sensor stream resumed")]
    StreamResumed(StreamSilence),
    /// Error: a source newly holds the e-stop latch.
    #[serde(rename = "Emergency stop engaged")]
    EstopEngaged(EstopEngaged),
    /// Info: the last source let go of the e-stop latch.
    #[serde(rename = "Emergency stop released")]
    EstopReleased(EstopReleased),
    /// Warning, told after the reconnect: the broker connection was lost.
    #[serde(rename = "Broker connection lost")]
    BrokerLost(Outage),
    /// Info: the broker connection is back.
    #[serde(rename = "Broker connection restored")]
    BrokerRestored(Outage),
    /// Warning: a generic MQTT to ROS message does not fit its type.
    #[serde(rename = "MQTT message refused")]
    MessageRefused(Refused),
    /// Warning: the durable offline store cannot be written (a full or read-only disk, an
    /// I/O error): QoS 1/2 messages wait in memory from now on.
    #[serde(rename = "Offline store failed")]
    StoreFailed(StoreFailure),
}

impl AlertEvent {
    pub fn level(&self) -> AlertLevel {
        use AlertEvent::*;
        match self {
            BatteryCritical(_) | EstopEngaged(_) => AlertLevel::Error,
            BatteryLow(_) | StreamStale(_) | BrokerLost(_) | MessageRefused(_) | StoreFailed(_) => {
                AlertLevel::Warning
            }
            BatteryRecovered(_) | StreamResumed(_) | EstopReleased(_) | BrokerRestored(_) => {
                AlertLevel::Info
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct BatteryLevel {
    /// Percent, 0-100.
    pub battery_level: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StreamSilence {
    /// The mapping's name.
    pub mapping: String,
    pub ros_topic: String,
    /// Seconds since the stream last delivered, to 0.1 s.
    pub silent_seconds: f64,
}

/// Who engaged the e-stop. Each source releases only its own engagement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The fleet, on `<command prefix>/emergency`.
    Mqtt,
    /// The local `std_msgs/Bool` e-stop topic.
    Ros,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Mqtt => "mqtt",
            Source::Ros => "ros",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct EstopEngaged {
    pub source: Source,
    /// The `id` of the fleet message that engaged it, if it had one.
    pub id: Option<String>,
    /// Every source that holds the latch now.
    pub engaged_by: Vec<Source>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct EstopReleased {
    pub source: Source,
    /// The `id` of the fleet message that released it, if it had one.
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Outage {
    /// RFC 3339 UTC, when the connection was lost.
    #[schemars(extend("format" = "date-time"))]
    pub lost_at: String,
    pub down_seconds: f64,
    /// Why it was lost, as the MQTT client said.
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StoreFailure {
    /// The store's directory (`mqtt.offline_store.path`).
    pub path: String,
    /// What failed, as the system said.
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Refused {
    /// The mapping's name.
    pub mapping: String,
    /// Why, naming the field (`pose.position.x must be a number`).
    pub reason: String,
}

/// Serializes to JSON bytes. Only maps with non-string keys can fail, and none are used.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    to_json_sized(value, 128)
}

/// [`to_json`] into a buffer of `capacity` bytes: a stream's payloads have about the same
/// size each time, and growing the buffer (128, 256, 512 ...) cost more than writing it.
pub fn to_json_sized<T: Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    try_to_json_sized(value, capacity).unwrap_or_else(|e| {
        log::error!("cannot serialize a message: {e}");
        b"null".to_vec()
    })
}

/// [`to_json_sized`] for a value whose serialization may fail (a generic message's bytes that
/// are not a message of its type).
pub fn try_to_json_sized<T: Serialize>(value: &T, capacity: usize) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_rfc3339_utc() {
        let s = Stamp {
            sec: 1_704_110_400,
            nanosec: 0,
        };
        assert_eq!(s.to_rfc3339().as_deref(), Some("2024-01-01T12:00:00Z"));
        let s = Stamp {
            sec: 1_704_110_400,
            nanosec: 250_000_000,
        };
        assert_eq!(s.to_rfc3339().as_deref(), Some("2024-01-01T12:00:00.250Z"));
        // Not normalised by the driver: 1.5 s written as (0, 1_500_000_000).
        let s = Stamp {
            sec: 1_704_110_399,
            nanosec: 1_500_000_000,
        };
        assert_eq!(s.to_rfc3339().as_deref(), Some("2024-01-01T12:00:00.500Z"));
        let t = timestamp(None);
        assert!(t.ends_with('Z') && parse_rfc3339(&t).is_some(), "{t}");
    }

    #[test]
    fn non_finite_floats_become_null() {
        let e = Envelope {
            timestamp: "t".into(),
            robot_id: "R",
            category: Category::Status,
            data: [f64::NAN, f64::INFINITY, 1.5],
        };
        let text = String::from_utf8(to_json(&e)).expect("utf8");
        assert!(text.contains("[null,null,1.5]"), "{text}");
    }

    #[test]
    fn a_zero_stamp_is_no_stamp() {
        assert_eq!(Stamp::new(5, 7), Some(Stamp { sec: 5, nanosec: 7 }));
        assert_eq!(Stamp::new(0, 0), None);
    }
}
