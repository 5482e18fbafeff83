//! The words of the MQTT topic tree `{root}/{robot_id}/{category}/{action}`: the four
//! categories, QoS levels, the command actions of the safety layer, and what a robot id and a
//! topic may be (`tree` builds one robot's tree from them).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The actions under the command prefix that only the safety layer may take:
/// `<command prefix>/move`, `/stop`, `/emergency`.
pub const COMMAND_ACTIONS: [&str; 3] = ["move", "stop", "emergency"];

/// The four categories of the seed's topic tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Status,
    Command,
    Sensor,
    Alert,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Status => "status",
            Category::Command => "command",
            Category::Sensor => "sensor",
            Category::Alert => "alert",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An MQTT QoS level, 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Qos(pub u8);

impl TryFrom<i64> for Qos {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        match v {
            0..=2 => Ok(Qos(v as u8)),
            _ => Err(format!("MQTT QoS must be 0, 1 or 2, not {v}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("robot id must not be empty")]
    EmptyRobotId,
    #[error("robot id {0:?} must be one topic level: no '/', '+', '#', NUL or control characters")]
    BadRobotId(String),
    #[error("topic {0:?} is not a valid MQTT topic name ({1})")]
    BadTopic(String, &'static str),
}

/// A robot id is one MQTT topic level, printable, of a sane length.
pub fn validate_robot_id(id: &str) -> Result<(), TopicError> {
    if id.is_empty() {
        return Err(TopicError::EmptyRobotId);
    }
    let bad = id.len() > 128
        || id
            .chars()
            .any(|c| matches!(c, '/' | '+' | '#') || c.is_control() || c.is_whitespace());
    if bad {
        return Err(TopicError::BadRobotId(id.to_owned()));
    }
    Ok(())
}

/// A topic the bridge publishes to or subscribes on: no wildcards, no empty text, no NUL.
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    let err = |why| Err(TopicError::BadTopic(topic.to_owned(), why));
    if topic.is_empty() {
        return err("empty");
    }
    if topic.len() > 65535 {
        return err("longer than 65535 bytes");
    }
    if topic.contains(['+', '#']) {
        return err("wildcards are not allowed");
    }
    if topic.chars().any(|c| c == '\0' || c.is_control()) {
        return err("control characters are not allowed");
    }
    Ok(())
}

/// Every category, in the order of the seed's `topics:` block.
pub const ALL: [Category; 4] = [
    Category::Status,
    Category::Command,
    Category::Sensor,
    Category::Alert,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_ids() {
        for ok in ["AMR001", "robot-7", "r.1_x", "로봇1"] {
            assert!(validate_robot_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "+", "#", "a+b", "a\0b", "a\nb", "a b"] {
            assert!(validate_robot_id(bad).is_err(), "{bad:?}");
        }
    }
}
