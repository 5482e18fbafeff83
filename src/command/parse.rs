//! Fleet command payloads: bytes -> a typed, validated request in SI units, or a `Refusal`
//! that names the offending field.
//!
//! Checks run cheapest and most dangerous first: size before anything, UTF-8, nesting depth
//! (a byte scan, so `[[[[...` cannot reach a recursive parser), JSON, shape, then the fields.
//! Every object is closed: an unknown key is refused, so a typo such as `distanse` can never
//! fall back to a default; a repeated key is refused, so no message means two things.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::motion::{estimate_seconds, Axis};
use super::Twist2;
use crate::config::{AngularUnit, CommandConfig, LinearUnit};
use crate::envelope::parse_rfc3339;

/// Deepest nesting of arrays/objects accepted. A command needs 2.
pub const MAX_DEPTH: usize = 16;
/// Longest `id`, in characters.
pub const MAX_ID_LEN: usize = 128;
/// Longest motion accepted, seconds (estimated: cruise + one ramp). Keeps a speed of 1e-300
/// from parking the robot in `Moving` forever; not configurable because no real move is near.
pub const MAX_MOTION_SECONDS: f64 = 3600.0;
/// Longest text of a received value quoted back in a reason.
const QUOTE_LEN: usize = 48;

/// Why a command was refused. The `Display` text is the outcome's `reason`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("payload is {size} bytes, more than the limit of {max} (commands.max_payload)")]
    TooLarge { size: usize, max: usize },
    #[error("payload is not valid UTF-8 (bad byte at offset {at})")]
    NotUtf8 { at: usize },
    #[error("payload nests deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("payload is not valid JSON: {0}")]
    NotJson(String),
    #[error("payload must be a JSON object, got {0}")]
    NotObject(&'static str),
    #[error("unknown command topic `{0}`: expected move, stop or emergency")]
    UnknownTopic(String),
    #[error("retained messages are not obeyed as commands")]
    Retained,
    #[error("unknown field `{0}`")]
    UnknownField(String),
    #[error("{field} is missing{why}")]
    Missing { field: String, why: &'static str },
    #[error("{field} must be {expected}, got {got}")]
    Invalid {
        field: String,
        expected: &'static str,
        got: String,
    },
    #[error("unknown command {got} on `{topic}`: expected {expected}")]
    UnknownCommand {
        topic: &'static str,
        got: String,
        expected: &'static str,
    },
    #[error("timestamp is {age:.3} s old, more than max_age {max} s")]
    Stale { age: f64, max: f64 },
    #[error("timestamp is {ahead:.3} s in the future, more than max_future {max} s")]
    Future { ahead: f64, max: f64 },
    #[error("{field} {value} {unit} is more than {limit} {max} {unit}")]
    TooFar {
        field: &'static str,
        value: f64,
        unit: &'static str,
        limit: &'static str,
        max: f64,
    },
    #[error("parameters.speed is too low: the motion would take about {seconds:.0} s, more than {max} s")]
    TooSlow { seconds: f64, max: f64 },
    #[error("duplicate id `{0}`: a command with this id was already executed")]
    DuplicateId(String),
    #[error("emergency stop engaged")]
    EmergencyEngaged,
    #[error("commands are disabled (commands.enabled is false)")]
    Disabled,
}

/// A command that passed every check of its own; the core still applies its state (e-stop,
/// duplicate ids).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<R> {
    pub id: Option<String>,
    /// The command name, as given or implied by the topic (`stop`, `engage`).
    pub name: String,
    pub request: R,
    /// Said in the accepted outcome: clamped speeds.
    pub notes: Vec<String>,
}

/// A refused command, with whatever could be read of it to echo in the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub id: Option<String>,
    pub name: Option<String>,
    pub refusal: Refusal,
}

impl Rejected {
    fn bare(refusal: Refusal) -> Rejected {
        Rejected {
            id: None,
            name: None,
            refusal,
        }
    }
}

/// What the `move` topic asks for, in SI units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MoveRequest {
    /// Cover `extent` (m or rad, signed: negative = backward / clockwise) at `speed` (> 0,
    /// already clamped).
    Motion { axis: Axis, extent: f64, speed: f64 },
    /// Hold this velocity (already clamped) while commands keep coming.
    Velocity(Twist2),
}

/// What the `emergency` topic asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstopRequest {
    Engage,
    Release,
}

const ENVELOPE_KEYS: [&str; 4] = ["timestamp", "command", "parameters", "id"];

/// Parses a message on `<prefix>/move`.
pub fn parse_move(
    payload: &[u8],
    wall: DateTime<Utc>,
    cfg: &CommandConfig,
) -> Result<Parsed<MoveRequest>, Rejected> {
    let msg = Message::decode(payload, cfg)?;
    let (id, name) = msg.header(|name| match name {
        Some(n) => Ok(n.to_owned()),
        None => Err(Refusal::Missing {
            field: "command".into(),
            why: "",
        }),
    })?;
    let known = [
        "move_forward",
        "move_backward",
        "rotate_left",
        "rotate_right",
        "velocity",
    ];
    if !known.contains(&name.as_str()) {
        return Err(msg.reject(Refusal::UnknownCommand {
            topic: "move",
            got: quote(&Value::String(name)),
            expected: "move_forward, move_backward, rotate_left, rotate_right or velocity",
        }));
    }
    msg.timestamp(wall, cfg, cfg.require_timestamp)?;
    let mut notes = Vec::new();
    let request = move_request(&msg.map, &name, cfg, &mut notes).map_err(|r| msg.reject(r))?;
    Ok(Parsed {
        id,
        name,
        request,
        notes,
    })
}

/// Parses a message on `<prefix>/stop`: `command` optional, and `stop` if present.
pub fn parse_stop(
    payload: &[u8],
    wall: DateTime<Utc>,
    cfg: &CommandConfig,
) -> Result<Parsed<()>, Rejected> {
    let msg = Message::decode(payload, cfg)?;
    let (id, name) = msg.header(|name| match name {
        None | Some("stop") => Ok("stop".to_owned()),
        Some(other) => Err(Refusal::UnknownCommand {
            topic: "stop",
            got: quote(&Value::String(other.to_owned())),
            expected: "stop (or no command field)",
        }),
    })?;
    msg.timestamp(wall, cfg, cfg.require_timestamp)?;
    no_parameters(&msg.map).map_err(|r| msg.reject(r))?;
    Ok(Parsed {
        id,
        name,
        request: (),
        notes: Vec::new(),
    })
}

/// Parses a message on `<prefix>/emergency`: `engage`, `emergency_stop` or no command engage;
/// `release` releases and always needs a fresh timestamp, whatever `require_timestamp` says.
pub fn parse_emergency(
    payload: &[u8],
    wall: DateTime<Utc>,
    cfg: &CommandConfig,
) -> Result<Parsed<EstopRequest>, Rejected> {
    let msg = Message::decode(payload, cfg)?;
    let (id, name) = msg.header(|name| match name {
        None => Ok("engage".to_owned()),
        Some(n @ ("engage" | "emergency_stop" | "release")) => Ok(n.to_owned()),
        Some(other) => Err(Refusal::UnknownCommand {
            topic: "emergency",
            got: quote(&Value::String(other.to_owned())),
            expected: "engage, emergency_stop or release",
        }),
    })?;
    let request = if name == "release" {
        EstopRequest::Release
    } else {
        EstopRequest::Engage
    };
    let required = request == EstopRequest::Release || cfg.require_timestamp;
    msg.timestamp(wall, cfg, required)?;
    no_parameters(&msg.map).map_err(|r| msg.reject(r))?;
    Ok(Parsed {
        id,
        name,
        request,
        notes: Vec::new(),
    })
}

/// The `id` and `command` of a payload when they are readable, for the outcome of a message
/// refused before its fields are checked (e.g. on an unknown topic).
pub fn id_and_name(payload: &[u8], cfg: &CommandConfig) -> (Option<String>, Option<String>) {
    match Message::decode(payload, cfg) {
        Ok(m) => (m.echo_id, m.echo_name),
        Err(_) => (None, None),
    }
}

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

/// A decoded JSON object plus what can be echoed of it.
struct Message {
    map: Map<String, Value>,
    echo_id: Option<String>,
    echo_name: Option<String>,
}

impl Message {
    fn decode(payload: &[u8], cfg: &CommandConfig) -> Result<Message, Rejected> {
        let map = decode(payload, cfg.max_payload).map_err(Rejected::bare)?;
        let echo_id = map.get("id").and_then(|v| valid_id(v).ok()).flatten();
        let echo_name = map
            .get("command")
            .and_then(Value::as_str)
            .map(|s| s.chars().take(QUOTE_LEN).collect());
        Ok(Message {
            map,
            echo_id,
            echo_name,
        })
    }

    fn reject(&self, refusal: Refusal) -> Rejected {
        Rejected {
            id: self.echo_id.clone(),
            name: self.echo_name.clone(),
            refusal,
        }
    }

    /// Closed envelope, `id`, and the command name as `name_rule` resolves it.
    fn header(
        &self,
        name_rule: impl Fn(Option<&str>) -> Result<String, Refusal>,
    ) -> Result<(Option<String>, String), Rejected> {
        closed(&self.map, &ENVELOPE_KEYS, "").map_err(|r| self.reject(r))?;
        let id = match self.map.get("id") {
            None => None,
            Some(v) => valid_id(v).map_err(|r| self.reject(r))?,
        };
        let name = match self.map.get("command") {
            None => name_rule(None),
            Some(Value::String(s)) => name_rule(Some(s)),
            Some(other) => Err(Refusal::Invalid {
                field: "command".into(),
                expected: "a string",
                got: quote(other),
            }),
        }
        .map_err(|r| self.reject(r))?;
        Ok((id, name))
    }

    fn timestamp(
        &self,
        wall: DateTime<Utc>,
        cfg: &CommandConfig,
        required: bool,
    ) -> Result<(), Rejected> {
        check_timestamp(self.map.get("timestamp"), wall, cfg, required).map_err(|r| self.reject(r))
    }
}

/// Bytes to a JSON object, refusing oversized, non-UTF-8, too deep, non-JSON, non-object.
pub fn decode(payload: &[u8], max_payload: usize) -> Result<Map<String, Value>, Refusal> {
    if payload.len() > max_payload {
        return Err(Refusal::TooLarge {
            size: payload.len(),
            max: max_payload,
        });
    }
    let text = std::str::from_utf8(payload).map_err(|e| Refusal::NotUtf8 {
        at: e.valid_up_to(),
    })?;
    check_depth(text.as_bytes(), MAX_DEPTH)?;
    match serde_json::from_str::<Strict>(text).map(|s| s.0) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Refusal::NotObject(json_type(&other))),
        Err(e) => Err(Refusal::NotJson(e.to_string())),
    }
}

/// A JSON value whose objects repeat no key. With serde_json's last-one-wins,
/// `{"command": "release", "command": "engage"}` would mean whatever this parser picks, and
/// another reader of the same bytes (a fleet log, a broker rule) might pick the other one.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let shown: String = key.chars().take(QUOTE_LEN).collect();
                return Err(de::Error::custom(format!("duplicate key `{shown}`")));
            }
            let Strict(v) = access.next_value()?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

/// Refuses nesting deeper than `max` before any recursive parser sees the text. Brackets
/// inside strings do not count; multi-byte UTF-8 never contains ASCII bytes, so a byte scan
/// is exact. Unbalanced text is left for the JSON parser to refuse.
fn check_depth(bytes: &[u8], max: usize) -> Result<(), Refusal> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(Refusal::TooDeep { max });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A received value as JSON text, shortened: reasons are published and logged.
fn quote(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > QUOTE_LEN {
        let mut short: String = text.chars().take(QUOTE_LEN).collect();
        short.push_str("...");
        short
    } else {
        text
    }
}

/// Refuses keys outside `allowed`; `prefix` is the path of the object (`parameters.`).
fn closed(map: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Result<(), Refusal> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Refusal::UnknownField(format!(
            "{prefix}{}",
            k.chars().take(QUOTE_LEN).collect::<String>()
        ))),
        None => Ok(()),
    }
}

fn valid_id(v: &Value) -> Result<Option<String>, Refusal> {
    match v {
        Value::String(s)
            if !s.is_empty() && s.chars().count() <= MAX_ID_LEN && s.chars().all(shown_as_is) =>
        {
            Ok(Some(s.clone()))
        }
        other => Err(Refusal::Invalid {
            field: "id".into(),
            expected: "a non-empty string of at most 128 printable characters",
            got: quote(other),
        }),
    }
}

/// Whether a character of an `id` means what it shows. An id is echoed in outcomes, alerts
/// and logs that people and fleet software read: control characters (NUL, escape sequences,
/// C1), invisible format characters (direction overrides, zero-width, BOM) and
/// non-characters could make two ids look alike or a log line say something else. Letters of
/// any script, combining marks and emoji are fine.
pub fn shown_as_is(c: char) -> bool {
    let format = matches!(c,
        '\u{ad}' | '\u{600}'..='\u{605}' | '\u{61c}' | '\u{6dd}' | '\u{70f}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0001}' | '\u{e0020}'..='\u{e007f}');
    let noncharacter = matches!(c, '\u{fdd0}'..='\u{fdef}') || (c as u32 & 0xfffe) == 0xfffe;
    !(c.is_control() || format || noncharacter)
}

fn check_timestamp(
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

/// `parameters` must be absent or `{}` (stop, emergency).
fn no_parameters(map: &Map<String, Value>) -> Result<(), Refusal> {
    params(map, &[], false).map(|_| ())
}

/// The closed `parameters` object; absent means empty unless `required`.
fn params(
    map: &Map<String, Value>,
    allowed: &[&str],
    required: bool,
) -> Result<Map<String, Value>, Refusal> {
    match map.get("parameters") {
        None if required => Err(Refusal::Missing {
            field: "parameters".into(),
            why: "",
        }),
        None => Ok(Map::new()),
        Some(Value::Object(p)) => {
            closed(p, allowed, "parameters.")?;
            Ok(p.clone())
        }
        Some(other) => Err(Refusal::Invalid {
            field: "parameters".into(),
            expected: "an object",
            got: quote(other),
        }),
    }
}

fn number(p: &Map<String, Value>, key: &str) -> Result<Option<f64>, Refusal> {
    match p.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(invalid_number(
                key,
                "a finite number",
                &Value::Number(n.clone()),
            )),
        },
        Some(other) => Err(invalid_number(key, "a number", other)),
    }
}

fn invalid_number(key: &str, expected: &'static str, got: &Value) -> Refusal {
    Refusal::Invalid {
        field: format!("parameters.{key}"),
        expected,
        got: quote(got),
    }
}

fn positive(p: &Map<String, Value>, key: &str) -> Result<f64, Refusal> {
    match p.get(key) {
        None => Err(Refusal::Missing {
            field: format!("parameters.{key}"),
            why: "",
        }),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(invalid_number(key, "a positive number", v)),
        },
    }
}

fn linear_unit(u: LinearUnit) -> &'static str {
    match u {
        LinearUnit::M => "m",
        LinearUnit::Cm => "cm",
        LinearUnit::Mm => "mm",
    }
}

fn angular_unit(u: AngularUnit) -> &'static str {
    match u {
        AngularUnit::Deg => "deg",
        AngularUnit::Rad => "rad",
    }
}

/// Clamps `|v|` to `max`, noting it.
fn clamp_noted(v: f64, max: f64, what: &str, unit: &str, notes: &mut Vec<String>) -> f64 {
    if v.abs() > max {
        let c = max.copysign(v);
        notes.push(format!("{what} clamped to {c:?} {unit}"));
        c
    } else {
        v
    }
}

fn move_request(
    map: &Map<String, Value>,
    name: &str,
    cfg: &CommandConfig,
    notes: &mut Vec<String>,
) -> Result<MoveRequest, Refusal> {
    if name == "velocity" {
        let p = params(map, &["linear", "angular"], false)?;
        let linear = number(&p, "linear")?.unwrap_or(0.0) * cfg.linear_unit.to_meters();
        let angular = number(&p, "angular")?.unwrap_or(0.0) * cfg.angular_unit.to_radians();
        return Ok(MoveRequest::Velocity(Twist2 {
            linear: clamp_noted(linear, cfg.max_linear_speed, "linear", "m/s", notes),
            angular: clamp_noted(angular, cfg.max_angular_speed, "angular", "rad/s", notes),
        }));
    }
    let k = MotionKind::of(name, cfg);
    let p = params(map, &["speed", k.key], true)?;
    let speed = positive(&p, "speed")?;
    let extent = positive(&p, k.key)?;
    if extent > k.max_extent {
        return Err(Refusal::TooFar {
            field: k.field,
            value: extent,
            unit: k.unit,
            limit: k.limit,
            max: k.max_extent,
        });
    }
    let (speed_si, extent_si) = (speed * k.factor, extent * k.factor);
    // Denormal inputs can round to zero in SI; zero speed would never end.
    for (key, v, si_v) in [("speed", speed, speed_si), (k.key, extent, extent_si)] {
        if si_v <= 0.0 {
            return Err(invalid_number(
                key,
                "a positive number that is not vanishingly small",
                &serde_json::json!(v),
            ));
        }
    }
    let speed_si = clamp_noted(speed_si, k.max_speed, "speed", k.si_speed, notes);
    let seconds = estimate_seconds(extent_si, speed_si, k.accel);
    // Written so that a NaN estimate is refused too.
    if seconds.is_nan() || seconds > MAX_MOTION_SECONDS {
        return Err(Refusal::TooSlow {
            seconds,
            max: MAX_MOTION_SECONDS,
        });
    }
    Ok(MoveRequest::Motion {
        axis: k.axis,
        extent: k.sign * extent_si,
        speed: speed_si,
    })
}

/// What a bounded motion command is about: its axis, direction, extent key, units, limits.
struct MotionKind {
    axis: Axis,
    sign: f64,
    /// `distance` or `angle`.
    key: &'static str,
    field: &'static str,
    /// Command unit to SI.
    factor: f64,
    unit: &'static str,
    limit: &'static str,
    max_extent: f64,
    max_speed: f64,
    si_speed: &'static str,
    accel: f64,
}

impl MotionKind {
    /// For `move_forward`, `move_backward`, `rotate_left` or `rotate_right`.
    fn of(name: &str, cfg: &CommandConfig) -> MotionKind {
        if matches!(name, "move_forward" | "move_backward") {
            MotionKind {
                axis: Axis::Linear,
                sign: if name == "move_forward" { 1.0 } else { -1.0 },
                key: "distance",
                field: "parameters.distance",
                factor: cfg.linear_unit.to_meters(),
                unit: linear_unit(cfg.linear_unit),
                limit: "max_distance",
                max_extent: cfg.max_distance,
                max_speed: cfg.max_linear_speed,
                si_speed: "m/s",
                accel: cfg.max_linear_accel,
            }
        } else {
            MotionKind {
                axis: Axis::Angular,
                sign: if name == "rotate_left" { 1.0 } else { -1.0 },
                key: "angle",
                field: "parameters.angle",
                factor: cfg.angular_unit.to_radians(),
                unit: angular_unit(cfg.angular_unit),
                limit: "max_angle",
                max_extent: cfg.max_angle,
                max_speed: cfg.max_angular_speed,
                si_speed: "rad/s",
                accel: cfg.max_angular_accel,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall() -> DateTime<Utc> {
        parse_rfc3339("2024-01-01T12:00:00Z").expect("wall")
    }

    fn mv(text: &str) -> Result<Parsed<MoveRequest>, Rejected> {
        parse_move(text.as_bytes(), wall(), &CommandConfig::default())
    }

    #[test]
    fn move_forward_in_si() {
        let p = mv(r#"{"timestamp":"2024-01-01T12:00:00Z","command":"move_forward","parameters":{"speed":50,"distance":100},"id":"a1"}"#)
            .expect("valid");
        assert_eq!(p.id.as_deref(), Some("a1"));
        assert_eq!(
            p.request,
            MoveRequest::Motion {
                axis: Axis::Linear,
                extent: 1.0,
                speed: 0.5
            }
        );
        assert!(p.notes.is_empty());
    }

    #[test]
    fn rotate_right_is_negative_and_clamped() {
        let p = mv(r#"{"timestamp":"2024-01-01T12:00:01Z","command":"rotate_right","parameters":{"speed":720,"angle":90}}"#)
            .expect("valid");
        match p.request {
            MoveRequest::Motion {
                axis: Axis::Angular,
                extent,
                speed,
            } => {
                assert!((extent + std::f64::consts::FRAC_PI_2).abs() < 1e-12);
                assert_eq!(speed, 1.5);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.notes, ["speed clamped to 1.5 rad/s"]);
    }

    #[test]
    fn reasons_name_the_field() {
        let e = mv(r#"{"timestamp":"2024-01-01T12:00:00Z","command":"move_forward","parameters":{"speed":-5,"distance":100},"id":"x"}"#)
            .expect_err("negative");
        assert_eq!(
            e.refusal.to_string(),
            "parameters.speed must be a positive number, got -5"
        );
        assert_eq!(e.id.as_deref(), Some("x"));
        assert_eq!(e.name.as_deref(), Some("move_forward"));
        let e = mv(r#"{"timestamp":"2024-01-01T12:00:00Z","command":"move_forward","parameters":{"speed":5,"distanse":100}}"#)
            .expect_err("typo");
        assert_eq!(e.refusal.to_string(), "unknown field `parameters.distanse`");
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            decode(deep.as_bytes(), 1 << 20),
            Err(Refusal::TooDeep { max: MAX_DEPTH })
        );
        // serde_json's own recursion limit also refuses it rather than overflowing the stack.
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        assert!(serde_json::from_str::<Strict>(&deep).is_err());
        let deep_obj = format!("{}{}", r#"{"a":"#.repeat(100_000), "1");
        assert!(serde_json::from_str::<Value>(&deep_obj).is_err());
        // Brackets inside strings do not count.
        let ok = format!(r#"{{"a":"{}"}}"#, "[".repeat(100));
        assert!(decode(ok.as_bytes(), 1 << 20).is_ok());
    }

    #[test]
    fn repeated_keys_are_refused() {
        let e = parse_emergency(
            br#"{"timestamp":"2024-01-01T12:00:00Z","command":"release","command":"engage"}"#,
            wall(),
            &CommandConfig::default(),
        )
        .expect_err("duplicate");
        assert!(
            e.refusal.to_string().contains("duplicate key `command`"),
            "{}",
            e.refusal
        );
        let e = mv(r#"{"timestamp":"2024-01-01T12:00:00Z","command":"velocity","parameters":{"linear":1,"linear":90}}"#)
            .expect_err("nested duplicate");
        assert!(matches!(e.refusal, Refusal::NotJson(_)));
        // Values survive the strict reader unchanged.
        let v = decode(br#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}]}"#, 1024).expect("ok");
        assert_eq!(
            Value::Object(v),
            serde_json::json!({"a":[1,-2,3.5,"x",null,true,{"b":{}}]})
        );
    }

    #[test]
    fn overflowing_numbers_are_not_json() {
        // serde_json refuses floats that overflow f64 instead of making them infinite.
        let e = mv(r#"{"timestamp":"2024-01-01T12:00:00Z","command":"move_forward","parameters":{"speed":1e309,"distance":1}}"#)
            .expect_err("inf");
        assert!(matches!(e.refusal, Refusal::NotJson(_)), "{:?}", e.refusal);
    }

    #[test]
    fn release_needs_a_timestamp_even_when_not_required() {
        let cfg = CommandConfig {
            require_timestamp: false,
            ..CommandConfig::default()
        };
        assert!(parse_emergency(br#"{"command":"engage"}"#, wall(), &cfg).is_ok());
        let e = parse_emergency(br#"{"command":"release"}"#, wall(), &cfg).expect_err("release");
        assert!(matches!(e.refusal, Refusal::Missing { .. }));
        assert_eq!(e.name.as_deref(), Some("release"));
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

    #[test]
    fn ids_are_printable_text_of_any_script() {
        let with_id = |id: &str| {
            let payload = serde_json::json!({"timestamp": "2024-01-01T12:00:00Z",
                "command": "velocity", "id": id});
            mv(&payload.to_string())
        };
        for ok in ["job-17", "작업-1", "🤖-2", "e\u{301}", "a b"] {
            assert!(with_id(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "a\u{0}b",
            "\u{1b}[2J",
            "\u{85}",
            "\u{202e}x",
            "x\u{200b}",
            "\u{feff}",
            "\u{ffff}",
        ] {
            let e = with_id(bad).expect_err(bad);
            assert!(
                e.refusal.to_string().starts_with("id must be"),
                "{bad:?}: {}",
                e.refusal
            );
        }
    }

    #[test]
    fn timestamp_window() {
        let at = |ts: &str| {
            mv(&format!(
                r#"{{"timestamp":"{ts}","command":"velocity","parameters":{{"linear":1}}}}"#
            ))
        };
        assert!(at("2024-01-01T11:59:58.5Z").is_ok());
        assert!(at("2024-01-01T13:59:59+02:00").is_ok());
        assert!(matches!(
            at("2024-01-01T11:59:57Z").map_err(|e| e.refusal),
            Err(Refusal::Stale { .. })
        ));
        assert!(matches!(
            at("2024-01-01T12:00:03Z").map_err(|e| e.refusal),
            Err(Refusal::Future { .. })
        ));
        assert!(matches!(
            at("0001-01-01T00:00:00Z").map_err(|e| e.refusal),
            Err(Refusal::Stale { .. })
        ));
    }
}
