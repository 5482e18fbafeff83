//! Whether a fleet message is fresh enough to act on: its `timestamp` within `max_age` and
//! `max_future` of the bridge's clock (commands), and the retained/stale rule of the generic
//! MQTT to ROS mappings, which follow the commands unless a mapping opts out. A fleet must never
//! have a stale message replayed into the robot after a reconnect.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::json::quote;
use super::refusal::Refusal;
use crate::config::CommandConfig;
use crate::envelope::parse_rfc3339;

/// The rule for any other fleet message that reaches ROS (generic MQTT to ROS mappings), as
/// for commands: a retained message is refused, and so is one whose `timestamp` (when it has
/// one) is older than `max_age` or further ahead than `max_future`, unless the mapping opts
/// out (`obey_retained`, `obey_stale`).
pub fn admit(
    timestamp: Option<&Value>,
    retained: bool,
    obey_retained: bool,
    obey_stale: bool,
    wall: DateTime<Utc>,
    cfg: &CommandConfig,
) -> Result<(), Refusal> {
    if retained && !obey_retained {
        return Err(Refusal::Retained);
    }
    if obey_stale {
        return Ok(());
    }
    check_timestamp(timestamp, wall, cfg, false)
}

/// A command's `timestamp`: refused when it is missing but `required`, not an RFC 3339
/// date-time, older than `max_age` or further ahead than `max_future`.
pub(crate) fn check_timestamp(
    v: Option<&Value>,
    wall: DateTime<Utc>,
    cfg: &CommandConfig,
    required: bool,
) -> Result<(), Refusal> {
    let bad = |got: &Value| Refusal::Invalid {
        field: "timestamp".into(),
        expected: "an RFC 3339 date-time string",
        got: quote(got),
    };
    let stamp = match v {
        None if required => {
            return Err(Refusal::Missing {
                field: "timestamp".into(),
                why: " (required: commands.require_timestamp, and always for release)",
            })
        }
        None => return Ok(()),
        Some(Value::String(s)) => parse_rfc3339(s).ok_or_else(|| bad(&Value::String(s.clone())))?,
        Some(other) => return Err(bad(other)),
    };
    // Microseconds overflow only for differences of ~290,000 years: stale or future anyway.
    let age = wall
        .signed_duration_since(stamp)
        .num_microseconds()
        .map(|us| us as f64 / 1e6)
        .unwrap_or(if stamp < wall {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        });
    if age > cfg.max_age {
        return Err(Refusal::Stale {
            age,
            max: cfg.max_age,
        });
    }
    if -age > cfg.max_future {
        return Err(Refusal::Future {
            ahead: -age,
            max: cfg.max_future,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall() -> DateTime<Utc> {
        parse_rfc3339("2024-01-01T12:00:00Z").expect("wall")
    }

    #[test]
    fn generic_messages_follow_the_command_rules_unless_opted_out() {
        let cfg = CommandConfig::default();
        let stale = Value::String("2024-01-01T11:59:50Z".into());
        let fresh = Value::String("2024-01-01T12:00:00Z".into());
        assert_eq!(admit(None, false, false, false, wall(), &cfg), Ok(()));
        assert_eq!(
            admit(Some(&fresh), false, false, false, wall(), &cfg),
            Ok(())
        );
        assert_eq!(
            admit(None, true, false, false, wall(), &cfg),
            Err(Refusal::Retained)
        );
        assert!(matches!(
            admit(Some(&stale), false, false, false, wall(), &cfg),
            Err(Refusal::Stale { .. })
        ));
        assert_eq!(admit(None, true, true, false, wall(), &cfg), Ok(()));
        assert_eq!(
            admit(Some(&stale), false, false, true, wall(), &cfg),
            Ok(())
        );
    }
}
