//! Every payload a test reads is also checked against its JSON Schema (`schemas/`) by an
//! independent validator: Python jsonschema (`tests/schema/validate.py`, installed by
//! scripts/env.sh as `AMR_BRIDGE_SCHEMA_PY`). One long-lived process serves the whole test
//! binary, one JSON line per payload; payloads already found valid are not sent again.
//!
//! The schema follows from the topic's last level (`.../status/position` -> `status_position`,
//! `.../alert/warning` -> `alert`, any other status or sensor topic -> `envelope`); a JSON array
//! is a batch: valid under `batch`, and each item under the topic's schema. What travels on the
//! command subtree is what the fleet (the test) sent: the command tests check that themselves.
//!
//! A VDA 5050 topic (`<interface>/v2/<manufacturer>/<serial>/<topic>`) is checked against the
//! official schema the repository ships (`schemas/vda5050/2.1.0/<topic>.schema`), and against
//! the text where the 2.1 schemas are looser: every message carries the whole header
//! (`headerId` a uint32, `timestamp` ISO 8601 UTC, `version`, `manufacturer`,
//! `serialNumber`: the factsheet and visualization schemas require none of it), and
//! `agvPosition.theta` lies within [-pi, pi] (no range in the state schema).

use super::repo;
use serde_json::Value;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

/// The schema of what the bridge publishes on `topic`, by its last level; `None` on the
/// command subtree (what the fleet sends).
pub fn schema_for_topic(topic: &str) -> Option<&'static str> {
    if let Some(vda) = vda_topic(topic) {
        return vda;
    }
    let mut levels = topic.rsplit('/');
    let last = levels.next()?;
    if levels.next() == Some("command") {
        return None;
    }
    Some(match last {
        "position" => "status_position",
        "battery" => "status_battery",
        "motor" => "status_motor",
        "state" => "status_state",
        "connection" => "status_connection",
        "command" => "status_command",
        "bridge" => "status_bridge",
        "imu" => "sensor_imu",
        "lidar" => "sensor_lidar",
        "info" | "warning" | "error" => "alert",
        _ => "envelope",
    })
}

/// VDA 5050 2.1's vehicle topics: `Some(schema)` for what the vehicle writes, `Some(None)` for
/// what master control (the test) sends; `None` for a topic that is not VDA 5050 2.1's.
fn vda_topic(topic: &str) -> Option<Option<&'static str>> {
    let levels: Vec<&str> = topic.split('/').collect();
    if levels.len() != 5 || levels[1] != "v2" {
        return None;
    }
    Some(match levels[4] {
        "connection" => Some("vda5050/2.1.0/connection"),
        "state" => Some("vda5050/2.1.0/state"),
        "visualization" => Some("vda5050/2.1.0/visualization"),
        "factsheet" => Some("vda5050/2.1.0/factsheet"),
        "order" | "instantActions" => None,
        _ => return None,
    })
}

/// What the VDA 5050 text requires where the 2.1 schemas do not.
fn vda_text_rules(v: &Value) -> Result<(), String> {
    let id = v["headerId"].as_u64().ok_or("no headerId")?;
    if id > u64::from(u32::MAX) {
        return Err(format!("headerId {id} is not a uint32"));
    }
    let ts = v["timestamp"].as_str().ok_or("no timestamp")?;
    if !(ts.ends_with('Z') && ts.len() >= 20) {
        return Err(format!("timestamp {ts} is not ISO 8601 UTC"));
    }
    for key in ["version", "manufacturer", "serialNumber"] {
        if v[key].as_str().is_none_or(str::is_empty) {
            return Err(format!("no {key}"));
        }
    }
    if let Some(theta) = v.pointer("/agvPosition/theta") {
        let t = theta.as_f64().ok_or("theta is not a number")?;
        if !(-std::f64::consts::PI..=std::f64::consts::PI).contains(&t) {
            return Err(format!("agvPosition.theta {t} is outside [-pi, pi]"));
        }
    }
    Ok(())
}

/// Checks a payload the bridge published on `topic` against its schema; panics with the
/// validator's message when it is not valid.
pub fn check_published(topic: &str, payload: &str) {
    let Some(schema) = schema_for_topic(topic) else {
        return;
    };
    let verdict = match serde_json::from_str::<Value>(payload) {
        Ok(Value::Array(items)) => validate("batch", payload).and_then(|()| {
            items
                .iter()
                .try_for_each(|item| validate(schema, &item.to_string()))
        }),
        Ok(v) if schema.starts_with("vda5050/") => {
            validate(schema, payload).and_then(|()| vda_text_rules(&v))
        }
        _ => validate(schema, payload),
    };
    if let Err(e) = verdict {
        panic!("payload on {topic} is not valid under schema {schema}: {e}\n{payload}");
    }
}

/// Whether `payload` is valid under `schemas/<schema>.schema.json`: the validator's message
/// when it is not.
pub fn validate(schema: &str, payload: &str) -> Result<(), String> {
    let key = {
        let mut h = DefaultHasher::new();
        (schema, payload).hash(&mut h);
        h.finish()
    };
    let mut guard = VALIDATOR.lock().unwrap_or_else(|p| p.into_inner());
    let v = guard.get_or_insert_with(Validator::start);
    if v.valid.contains(&key) {
        return Ok(());
    }
    let answer = v.ask(&serde_json::json!({"schema": schema, "payload": payload}));
    match answer["ok"].as_bool() {
        Some(true) => {
            v.valid.insert(key);
            Ok(())
        }
        _ => Err(answer["error"].as_str().unwrap_or("no answer").to_owned()),
    }
}

/// `validate` for a JSON value.
pub fn validate_value(schema: &str, value: &Value) -> Result<(), String> {
    validate(schema, &value.to_string())
}

static VALIDATOR: Mutex<Option<Validator>> = Mutex::new(None);

/// `validate.py` over pipes. It ends when the test process does (its stdin closes).
struct Validator {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Hashes of (schema, payload) found valid.
    valid: HashSet<u64>,
}

impl Validator {
    fn start() -> Validator {
        let py = std::env::var("AMR_BRIDGE_SCHEMA_PY").unwrap_or_else(|_| {
            panic!("AMR_BRIDGE_SCHEMA_PY is not set: run the tests through scripts/test (or source scripts/env.sh)")
        });
        let mut child = Command::new(&py)
            .arg(repo().join("tests/schema/validate.py"))
            .arg(repo().join("schemas"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {py} tests/schema/validate.py: {e}"));
        let stdin = child.stdin.take().expect("validator stdin");
        let stdout = BufReader::new(child.stdout.take().expect("validator stdout"));
        let mut v = Validator {
            _child: child,
            stdin,
            stdout,
            valid: HashSet::new(),
        };
        let ready = v.line();
        assert!(
            ready.contains("ready"),
            "validate.py did not start: {ready}"
        );
        v
    }

    fn ask(&mut self, request: &Value) -> Value {
        let sent = writeln!(self.stdin, "{request}").and_then(|()| self.stdin.flush());
        sent.unwrap_or_else(|e| panic!("validate.py is gone: {e}"));
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("validate.py said {line:?}: {e}"))
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => line,
            _ => panic!("validate.py ended (see its error above)"),
        }
    }
}
