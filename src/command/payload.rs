//! The command payloads as types, for their JSON Schemas (`schemas/command_*.schema.json`).
//!
//! `parse` stays the one parser the bridge runs: it also refuses what no schema can say
//! (repeated keys, nesting depth, payload size, stale or future timestamps, the configured
//! limits, duplicate ids). These types say the rest exactly as `parse` does: closed objects
//! (`additionalProperties: false`), required keys, JSON types, the command names of each
//! topic, `timestamp` an RFC 3339 date-time, `id` a string of 1 to 128 characters, extents and
//! speeds above zero. A present key is never `null`: `parse` refuses `"id": null` like any
//! other wrong type, so an optional key here is one that may be absent, not one that may be
//! null. The tests below check that the schemas and `parse` agree on examples.
//!
//! `timestamp` is required as with the default `commands.require_timestamp: true`; a robot
//! configured otherwise also takes `move`, `stop` and an engaging `emergency` without one.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

use super::json::MAX_ID_LEN;

/// `command/move`: one object per command name, each with its own parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum MoveCommand {
    /// Forward `distance` (cm by default) at `speed` (cm/s).
    #[serde(rename = "move_forward")]
    MoveForward(Motion<Linear>),
    /// Backward `distance` at `speed`.
    #[serde(rename = "move_backward")]
    MoveBackward(Motion<Linear>),
    /// Counter-clockwise `angle` (deg by default) at `speed` (deg/s).
    #[serde(rename = "rotate_left")]
    RotateLeft(Motion<Angular>),
    /// Clockwise `angle` at `speed`.
    #[serde(rename = "rotate_right")]
    RotateRight(Motion<Angular>),
    /// Hold this velocity while commands keep coming (`commands.watchdog_timeout`).
    #[serde(rename = "velocity")]
    Velocity(VelocityCommand),
}

/// A bounded motion: `parameters` required.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Motion<P> {
    pub timestamp: Timestamp,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "CommandId")]
    pub id: Option<CommandId>,
    pub parameters: P,
}

/// `velocity`: `parameters` may be absent (both axes 0).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VelocityCommand {
    pub timestamp: Timestamp,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "CommandId")]
    pub id: Option<CommandId>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "VelocityParameters")]
    pub parameters: Option<VelocityParameters>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    /// `commands.linear_unit` per second (cm/s by default); above the limit it is clamped.
    pub speed: Positive,
    /// `commands.linear_unit` (cm by default), at most `commands.max_distance`.
    pub distance: Positive,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Angular {
    /// `commands.angular_unit` per second (deg/s by default); above the limit it is clamped.
    pub speed: Positive,
    /// `commands.angular_unit` (deg by default), at most `commands.max_angle`.
    pub angle: Positive,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VelocityParameters {
    /// `commands.linear_unit` per second, any sign (absent: 0); clamped to the limit.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "f64")]
    pub linear: Option<f64>,
    /// `commands.angular_unit` per second, any sign, counter-clockwise positive (absent: 0).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "f64")]
    pub angular: Option<f64>,
}

/// `command/stop`: any message on this topic stops the robot; this is the one that is
/// also reported `completed` rather than `rejected`.
pub type StopCommand = Bare<StopName>;

/// `command/emergency`: `release` releases the e-stop latch (with a fresh timestamp); any
/// other message on this topic engages it, and this is the one reported `completed`.
pub type EmergencyCommand = Bare<EmergencyName>;

/// A command without parameters: `command` optional, `parameters` absent or `{}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, bound(deserialize = "N: Deserialize<'de>"))]
pub struct Bare<N> {
    pub timestamp: Timestamp,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "CommandId")]
    pub id: Option<CommandId>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "N")]
    pub command: Option<N>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "NoParameters")]
    pub parameters: Option<NoParameters>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopName {
    Stop,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmergencyName {
    Engage,
    EmergencyStop,
    Release,
}

/// `{}`: the command takes no parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParameters {}

/// A key that is present holds a value of its type, never `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A newtype over `$inner` whose schema is `$schema` and that deserializes only what `$valid`
/// accepts, as the schema says.
macro_rules! checked {
    ($(#[$doc:meta])* $name:ident($inner:ty), $schema:tt, $valid:expr, $why:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(pub $inner);

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                schemars::json_schema!($schema)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = <$inner>::deserialize(d)?;
                let valid: fn(&$inner) -> bool = $valid;
                match valid(&v) {
                    true => Ok($name(v)),
                    false => Err(serde::de::Error::custom($why)),
                }
            }
        }
    };
}

checked!(
    /// An RFC 3339 date-time (`2024-01-01T12:00:00Z`): the command is refused when it is older
    /// than `commands.max_age` or further ahead than `commands.max_future`.
    Timestamp(String),
    {"type": "string", "format": "date-time"},
    |s| crate::envelope::parse_rfc3339(s).is_some(),
    "not an RFC 3339 date-time"
);

checked!(
    /// Echoed in every outcome of the command; a command with the id of one already executed
    /// is refused ("duplicate id").
    CommandId(String),
    {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN},
    |s| (1..=MAX_ID_LEN).contains(&s.chars().count()),
    "not 1 to 128 characters"
);

checked!(
    /// A number above zero.
    Positive(f64),
    {"type": "number", "exclusiveMinimum": 0},
    |x| *x > 0.0,
    "not above zero"
);
