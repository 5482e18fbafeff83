//! Every JSON payload the bridge writes, in one place: the seed's envelope
//! `{timestamp, robot_id, type, data}` (status and sensor messages, command outcomes,
//! presence) and the alert format `{timestamp, robot_id, level, message, data}`.
//!
//! `timestamp` is RFC 3339 UTC (`Z`) from the ROS header stamp when the message has one (a zero
//! stamp means "not stamped"), else the bridge's clock. NaN and infinities never reach the
//! wire: serde_json writes every non-finite float as `null`, which is the documented encoding.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// A ROS time stamp (`builtin_interfaces/Time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sec: i32,
    pub nanosec: u32,
}

impl Stamp {
    pub fn from_ros(t: &r2r::builtin_interfaces::msg::Time) -> Option<Stamp> {
        (t.sec != 0 || t.nanosec != 0).then_some(Stamp {
            sec: t.sec,
            nanosec: t.nanosec,
        })
    }

    /// From a generic message's JSON (`header.stamp`), when it has one.
    pub fn from_json(msg: &serde_json::Value) -> Option<Stamp> {
        let s = msg.get("header")?.get("stamp")?;
        let sec = i32::try_from(s.get("sec")?.as_i64()?).ok()?;
        let nanosec = u32::try_from(s.get("nanosec")?.as_u64()?).ok()?;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Online,
    Offline,
}

/// The `status/connection` payload, stamped now.
pub fn presence(robot_id: &str, p: Presence) -> Vec<u8> {
    let state = match p {
        Presence::Online => "online",
        Presence::Offline => "offline",
    };
    status(robot_id, &serde_json::json!({ "state": state }))
}

/// A status message the bridge originates (outcomes, state, its own report), stamped now.
pub fn status<D: Serialize>(robot_id: &str, data: &D) -> Vec<u8> {
    to_json(&Envelope {
        timestamp: now_rfc3339(),
        robot_id,
        kind: "status",
        data,
    })
}

/// An alert, stamped now.
pub fn alert<D: Serialize>(robot_id: &str, level: AlertLevel, message: &str, data: &D) -> Vec<u8> {
    to_json(&Alert {
        timestamp: now_rfc3339(),
        robot_id,
        level: level.as_str(),
        message,
        data,
    })
}

/// The status/sensor envelope.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, D: Serialize> {
    pub timestamp: String,
    pub robot_id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub data: D,
}

/// The alert message (no envelope in the seed: `{timestamp, level, message, data}`).
#[derive(Debug, Serialize)]
pub struct Alert<'a, D: Serialize> {
    pub timestamp: String,
    pub robot_id: &'a str,
    pub level: &'a str,
    pub message: &'a str,
    pub data: D,
}

/// Serializes to JSON bytes. Only maps with non-string keys can fail, and none are used.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    to_json_sized(value, 128)
}

/// [`to_json`] into a buffer of `capacity` bytes: a stream's payloads have about the same
/// size each time, and growing the buffer (128, 256, 512 ...) cost more than writing it.
pub fn to_json_sized<T: Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => out,
        Err(e) => {
            log::error!("cannot serialize a message: {e}");
            b"null".to_vec()
        }
    }
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
            kind: "status",
            data: [f64::NAN, f64::INFINITY, 1.5],
        };
        let text = String::from_utf8(to_json(&e)).expect("utf8");
        assert!(text.contains("[null,null,1.5]"), "{text}");
    }

    #[test]
    fn stamp_from_generic_json() {
        let v = serde_json::json!({"header": {"stamp": {"sec": 5, "nanosec": 7}}});
        assert_eq!(Stamp::from_json(&v), Some(Stamp { sec: 5, nanosec: 7 }));
        assert_eq!(Stamp::from_json(&serde_json::json!({"data": 1})), None);
    }
}
