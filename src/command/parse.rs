//! The grammar of the command topics: a payload read by the strict reader (`json`) becomes a
//! typed, validated request in SI units, or a `Refusal` that names the offending field.
//!
//! After the reader, checks run cheapest first: the closed envelope, `id`, the command name
//! the topic allows, the timestamp window (`freshness`), then the parameters, each one closed
//! too (a typo such as `distanse` never falls back to a default).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::freshness::check_timestamp;
use super::json::{closed, decode, quote, valid_id, QUOTE_LEN};
use super::motion::{estimate_seconds, Axis};
use super::refusal::Refusal;
use super::Twist2;
use crate::config::{AngularUnit, CommandConfig, LinearUnit};

/// Longest motion accepted, seconds (estimated: cruise + one ramp). Keeps a speed of 1e-300
/// from parking the robot in `Moving` forever; not configurable because no real move is near.
pub const MAX_MOTION_SECONDS: f64 = 3600.0;

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
    use crate::envelope::parse_rfc3339;

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
