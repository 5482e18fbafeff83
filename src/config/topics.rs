//! The MQTT topic tree: `{root}/{robot_id}/{category}/{action}`.
//!
//! Prefixes per category come from the seed's `topics:` block with `{robot_id}` replaced;
//! everything here is checked once at start, so a bad id or template never becomes a topic.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::Config;

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

/// The topic tree of one robot.
#[derive(Debug, Clone)]
pub struct TopicTree {
    robot_id: String,
    prefixes: [String; 4],
    qos: [Qos; 4],
}

fn index(c: Category) -> usize {
    c as usize
}

/// Every category, in the order of the seed's `topics:` block.
pub const ALL: [Category; 4] = [
    Category::Status,
    Category::Command,
    Category::Sensor,
    Category::Alert,
];

impl TopicTree {
    pub fn new(config: &Config, robot_id: &str) -> Result<TopicTree, TopicError> {
        validate_robot_id(robot_id)?;
        let prefixes = ALL.map(|c| {
            expand(config.mqtt.topics.get(c), robot_id)
                .trim_end_matches('/')
                .to_owned()
        });
        for p in &prefixes {
            validate_topic(p)?;
        }
        Ok(TopicTree {
            robot_id: robot_id.to_owned(),
            prefixes,
            qos: ALL.map(|c| config.mqtt.qos.get(c)),
        })
    }

    pub fn robot_id(&self) -> &str {
        &self.robot_id
    }

    /// `amr/AMR001/status/position` for (Status, "position").
    pub fn topic(&self, c: Category, action: &str) -> String {
        format!("{}/{}", self.prefixes[index(c)], action)
    }

    /// The prefix of a category, without a trailing slash.
    pub fn prefix(&self, c: Category) -> &str {
        &self.prefixes[index(c)]
    }

    /// The seed's QoS of a category.
    pub fn qos(&self, c: Category) -> Qos {
        self.qos[index(c)]
    }

    /// The subscription filter of the robot's own command subtree.
    pub fn command_filter(&self) -> String {
        format!("{}/#", self.prefixes[index(Category::Command)])
    }

    /// The action of a command topic (`move` for `amr/AMR001/command/move`), if it is one.
    pub fn command_action<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic
            .strip_prefix(self.prefixes[index(Category::Command)].as_str())?
            .strip_prefix('/')
    }

    /// A topic a mapping writes in full, with `{robot_id}` replaced, checked.
    pub fn custom_topic(&self, template: &str) -> Result<String, TopicError> {
        let t = expand(template, &self.robot_id);
        validate_topic(&t)?;
        Ok(t)
    }
}

fn expand(template: &str, robot_id: &str) -> String {
    template.replace("{robot_id}", robot_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(id: &str) -> TopicTree {
        let c = Config::parse("mqtt: {}\n", "t.yaml").expect("config");
        TopicTree::new(&c, id).expect("tree")
    }

    #[test]
    fn seed_topics() {
        let t = tree("AMR001");
        assert_eq!(
            t.topic(Category::Status, "position"),
            "amr/AMR001/status/position"
        );
        assert_eq!(
            t.topic(Category::Alert, "warning"),
            "amr/AMR001/alert/warning"
        );
        assert_eq!(t.command_filter(), "amr/AMR001/command/#");
        assert_eq!(t.qos(Category::Command), Qos(2));
        assert_eq!(t.command_action("amr/AMR001/command/move"), Some("move"));
        assert_eq!(t.command_action("amr/AMR002/command/move"), None);
        assert_eq!(t.command_action("amr/AMR001/commandx/move"), None);
    }

    #[test]
    fn robot_ids() {
        for ok in ["AMR001", "robot-7", "r.1_x", "로봇1"] {
            assert!(validate_robot_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "+", "#", "a+b", "a\0b", "a\nb", "a b"] {
            assert!(validate_robot_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn full_topics_refuse_wildcards() {
        let t = tree("R1");
        assert_eq!(
            t.custom_topic("fleet/{robot_id}/x").expect("ok"),
            "fleet/R1/x"
        );
        assert!(t.custom_topic("fleet/+/x").is_err());
        assert!(t.custom_topic("").is_err());
    }
}
