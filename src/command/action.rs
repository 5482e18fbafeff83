//! The action of a fleet message: the topic level under the robot's command prefix
//! (`amr/AMR001/command/<action>`), parsed once into what the safety rules are about.

use crate::config::topics::COMMAND_ACTIONS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Move,
    Stop,
    Emergency,
    /// Anything else under the command prefix: refused (unless a mapping owns the topic).
    Other(String),
}

impl Action {
    pub fn parse(level: &str) -> Action {
        match level {
            "move" => Action::Move,
            "stop" => Action::Stop,
            "emergency" => Action::Emergency,
            other => Action::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Action::Move => COMMAND_ACTIONS[0],
            Action::Stop => COMMAND_ACTIONS[1],
            Action::Emergency => COMMAND_ACTIONS[2],
            Action::Other(s) => s,
        }
    }

    /// Stops and e-stops are served before any other fleet message: a flood on `move`
    /// must never delay them.
    pub fn is_priority(&self) -> bool {
        matches!(self, Action::Stop | Action::Emergency)
    }

    /// A retained message is an old message. Only the actions that make the robot safer act
    /// on one (a retained `emergency` engages at every connect); nothing that moves it does.
    pub fn obeys_retained(&self) -> bool {
        matches!(self, Action::Stop | Action::Emergency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_safe_actions_are_special() {
        for name in COMMAND_ACTIONS {
            assert_eq!(Action::parse(name).as_str(), name);
        }
        assert_eq!(Action::parse("junk"), Action::Other("junk".into()));
        assert!(Action::Stop.is_priority() && Action::Emergency.is_priority());
        assert!(!Action::Move.is_priority() && !Action::parse("x").is_priority());
        assert!(!Action::Move.obeys_retained());
        assert!(!Action::parse("goal").obeys_retained());
        assert!(Action::Emergency.obeys_retained() && Action::Stop.obeys_retained());
    }
}
