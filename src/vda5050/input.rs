//! Bytes from master control (and from the robot's navigation) to typed messages, or an error
//! for `state.errors` that says why and names the field.
//!
//! The first checks are the bridge's strict JSON reader, shared with the fleet commands
//! (`command::json::decode`): size before anything, UTF-8, nesting depth by a byte scan (so
//! `[[[[...` never reaches a recursive parser), a repeated key refused, an object at the top.
//! Then the message's type, every object closed, with the failing field's path
//! (`nodes[2].sequenceId`). Then the header: for this vehicle, a version it understands, a
//! timestamp that is a date-time, and (a separate verdict, [`freshness`]) not too old.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::errors::{ActiveError, ErrorKind, Scope};
use super::msg::HeaderIn;
use super::topics::Incoming;
use super::version::Version;
use crate::command::json::decode;
use crate::command::refusal::Refusal;
use crate::envelope::parse_rfc3339;

/// Where a message came from, for its error's scope and references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Order,
    InstantActions,
    /// The robot's navigation (`navigation.progress_topic`).
    Navigation,
}

impl Source {
    pub fn of(topic: Incoming) -> Source {
        match topic {
            Incoming::Order => Source::Order,
            Incoming::InstantActions => Source::InstantActions,
        }
    }

    fn scope(self) -> Scope {
        match self {
            Source::InstantActions => Scope::InstantActions,
            Source::Order | Source::Navigation => Scope::Order,
        }
    }

    fn topic(self) -> &'static str {
        match self {
            Source::Order => "order",
            Source::InstantActions => "instantActions",
            Source::Navigation => "navigation progress",
        }
    }

    fn kind(self) -> ErrorKind {
        match self {
            Source::Navigation => ErrorKind::Navigation,
            _ => ErrorKind::Validation,
        }
    }
}

/// A refusal of `source`'s message (`validationError`, or `navigationError` for the robot's
/// navigation), referring to the topic.
pub fn refusal(source: Source, description: impl AsRef<str>) -> ActiveError {
    ActiveError::new(source.kind(), source.scope(), description).with("topic", source.topic())
}

/// A message of `size` bytes, over the limit of `max`: refused by its size alone.
pub fn too_large(source: Source, size: usize, max: usize) -> ActiveError {
    refusal(
        source,
        format!(
            "message is {size} bytes, more than the limit of {max} \
             (vda5050.limits.max_payload); the message was not obeyed"
        ),
    )
}

/// Reads a `T` from `payload` (at most `max_payload` bytes).
pub fn read<T: DeserializeOwned>(
    payload: &[u8],
    source: Source,
    max_payload: usize,
) -> Result<T, ActiveError> {
    let map = decode(payload, max_payload).map_err(|r| match r {
        Refusal::TooLarge { size, max } => too_large(source, size, max),
        other => refusal(source, format!("{other}; the message was not obeyed")),
    })?;
    let refs = readable(&map);
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("`{path}`: ")
        };
        let mut err = refusal(
            source,
            format!("{at}{}; the message was not obeyed", e.inner()),
        );
        for (key, value) in refs {
            err = err.with(key, value);
        }
        err
    })
}

/// What a malformed message still says of itself, for the error's references: `headerId`,
/// `orderId`, `orderUpdateId` when they have their types.
fn readable(map: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let mut refs = Vec::new();
    for key in ["headerId", "orderId", "orderUpdateId"] {
        let value = match map.get(key) {
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(Value::String(s)) if key == "orderId" => s.clone(),
            _ => continue,
        };
        refs.push((key, value));
    }
    refs
}

/// This vehicle's identity, as the header of a message for it must carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub version: Version,
    pub manufacturer: String,
    pub serial_number: String,
}

/// The header is for this vehicle, in a version it understands, stamped with a date-time.
pub fn check_header(
    h: HeaderIn<'_>,
    me: &Identity,
    source: Source,
) -> Result<DateTime<Utc>, ActiveError> {
    let refuse = |why: String| {
        refusal(source, format!("{why}; the message was not obeyed"))
            .with("headerId", h.header_id.to_string())
    };
    if h.manufacturer != me.manufacturer || h.serial_number != me.serial_number {
        return Err(refuse(format!(
            "the message is for manufacturer `{}` serial number `{}`, this vehicle is `{}` `{}`",
            h.manufacturer, h.serial_number, me.manufacturer, me.serial_number
        )));
    }
    if !me.version.understands(h.version) {
        return Err(refuse(format!(
            "version `{}` is not understood: this vehicle speaks {}",
            h.version,
            me.version.full()
        )));
    }
    parse_rfc3339(h.timestamp).ok_or_else(|| {
        refuse(format!(
            "timestamp `{}` is not an ISO 8601 date-time",
            h.timestamp
        ))
    })
}

/// Why a message stamped `stamp` must not move the robot at `wall`: older than `max_age`
/// seconds (0: no limit) or more than `max_future` ahead. `None`: fresh.
pub fn freshness(
    stamp: DateTime<Utc>,
    wall: DateTime<Utc>,
    max_age: f64,
    max_future: f64,
) -> Option<String> {
    if max_age == 0.0 {
        return None;
    }
    // Milliseconds overflow only ~290 million years apart: stale or future anyway.
    let age = wall.signed_duration_since(stamp).num_milliseconds() as f64 / 1000.0;
    if age > max_age {
        Some(format!(
            "timestamp is {age:.3} s old, more than vda5050.max_age {max_age} s"
        ))
    } else if -age > max_future {
        Some(format!(
            "timestamp is {:.3} s ahead of the vehicle's clock, more than vda5050.max_future \
             {max_future} s",
            -age
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vda5050::msg::instant_actions::InstantActions;
    use crate::vda5050::msg::Headed;

    fn me() -> Identity {
        Identity {
            version: Version::V2_1,
            manufacturer: "KIT".into(),
            serial_number: "0001".into(),
        }
    }

    fn ia(text: &str) -> Result<InstantActions, ActiveError> {
        read(text.as_bytes(), Source::InstantActions, 4096)
    }

    const GOOD: &str = r#"{"headerId":3,"timestamp":"2024-05-01T12:00:00.00Z","version":"2.1.0","manufacturer":"KIT","serialNumber":"0001","actions":[{"actionType":"stateRequest","actionId":"a1","blockingType":"NONE"}]}"#;

    #[test]
    fn a_good_message_reads_and_its_header_checks() {
        let m = ia(GOOD).expect("valid");
        assert_eq!(m.actions[0].action_type, "stateRequest");
        let at = check_header(m.header(), &me(), Source::InstantActions).expect("header");
        assert_eq!(at.to_rfc3339(), "2024-05-01T12:00:00+00:00");
    }

    #[test]
    fn malformed_messages_say_why_and_where() {
        let cases = [
            ("[1]", "must be a JSON object"),
            ("{\"a\":", "not valid JSON"),
            (
                &GOOD.replace("\"NONE\"", "\"SOMETIMES\""),
                "`actions[0].blockingType`: unknown variant",
            ),
            (
                &GOOD.replace("\"headerId\":3", "\"headerId\":-3"),
                "`headerId`: invalid value",
            ),
            (
                &GOOD.replace("\"headerId\":3", "\"headerId\":3,\"headerID\":3"),
                "unknown field `headerID`",
            ),
            (
                &GOOD.replace(
                    "\"blockingType\":\"NONE\"",
                    "\"blockingType\":\"NONE\",\"actionDescription\":null",
                ),
                "`actions[0].actionDescription`: invalid type: null",
            ),
            (
                &GOOD.replace(",\"actions\":[", ",\"actions\":[],\"x\":["),
                "unknown field `x`",
            ),
            (
                &GOOD.replace("\"version\":\"2.1.0\",", ""),
                "missing field `version`",
            ),
        ];
        for (text, want) in cases {
            let e = ia(text).expect_err(text);
            assert!(e.description.contains(want), "{text}: {}", e.description);
            assert_eq!(
                (e.kind, e.scope),
                (ErrorKind::Validation, Scope::InstantActions)
            );
            assert_eq!(e.references[0], ("topic", "instantActions".to_owned()));
        }
        let e = ia(&GOOD.replace("\"NONE\"", "1")).expect_err("refs");
        assert!(
            e.references.contains(&("headerId", "3".to_owned())),
            "{e:?}"
        );
    }

    #[test]
    fn hostile_bytes_are_refused_before_parsing() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(5000));
        let e = ia(&big).expect_err("big");
        assert!(
            e.description.contains("vda5050.limits.max_payload"),
            "{}",
            e.description
        );
        let e = read::<InstantActions>(b"{\"a\":\"\xff\"}", Source::InstantActions, 99)
            .expect_err("utf8");
        assert!(e.description.contains("UTF-8"), "{}", e.description);
        let deep = "[".repeat(100_000);
        let e = read::<InstantActions>(deep.as_bytes(), Source::Order, 1 << 20).expect_err("deep");
        assert!(e.description.contains("nests deeper"), "{}", e.description);
        let e =
            ia(&GOOD.replace("\"headerId\":3", "\"headerId\":3,\"headerId\":4")).expect_err("dup");
        assert!(e.description.contains("duplicate key"), "{}", e.description);
        let e = ia(&GOOD.replace("\"headerId\":3", "\"headerId\":1e999")).expect_err("inf");
        assert!(
            e.description.contains("not valid JSON"),
            "{}",
            e.description
        );
    }

    #[test]
    fn headers_for_other_vehicles_or_versions_are_refused() {
        for (from, to, want) in [
            (
                "\"serialNumber\":\"0001\"",
                "\"serialNumber\":\"0002\"",
                "serial number `0002`",
            ),
            (
                "\"manufacturer\":\"KIT\"",
                "\"manufacturer\":\"kit\"",
                "manufacturer `kit`",
            ),
            (
                "\"version\":\"2.1.0\"",
                "\"version\":\"3.0.0\"",
                "version `3.0.0`",
            ),
            (
                "\"timestamp\":\"2024-05-01T12:00:00.00Z\"",
                "\"timestamp\":\"yesterday\"",
                "timestamp `yesterday`",
            ),
        ] {
            let m = ia(&GOOD.replace(from, to)).expect("reads");
            let e = check_header(m.header(), &me(), Source::InstantActions).expect_err(to);
            assert!(e.description.contains(want), "{}", e.description);
        }
    }

    #[test]
    fn freshness_window() {
        let at = |s: &str| parse_rfc3339(s).expect("time");
        let wall = at("2024-05-01T12:00:30Z");
        assert_eq!(
            freshness(at("2024-05-01T12:00:00Z"), wall, 30.0, 30.0),
            None
        );
        let old = freshness(at("2024-05-01T11:59:59Z"), wall, 30.0, 30.0).expect("stale");
        assert!(old.contains("31.000 s old"), "{old}");
        assert!(freshness(at("2024-05-01T12:01:01Z"), wall, 30.0, 30.0).is_some());
        assert_eq!(
            freshness(at("1970-01-01T00:00:00Z"), wall, 0.0, 0.0),
            None,
            "0: off"
        );
        assert!(freshness(at("0001-01-01T00:00:00Z"), wall, 30.0, 30.0).is_some());
    }
}
