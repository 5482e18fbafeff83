//! The topic tree of one robot: `{root}/{robot_id}/{category}/{action}`.
//!
//! Prefixes per category come from the seed's `topics:` block with `{robot_id}` replaced;
//! everything here is checked once at start, so a bad id or template never becomes a topic.

use super::topics::{validate_robot_id, validate_topic, Category, Qos, TopicError, ALL};
use super::Config;

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
