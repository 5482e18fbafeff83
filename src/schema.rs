//! The fleet side's contract: a JSON Schema (draft 2020-12) for every payload the bridge
//! publishes and accepts, generated from the types that write them (published payloads) and
//! from the types that describe what `command::parse` accepts (commands), so that code and
//! contract cannot drift. `schemas/<payload>.schema.json` in the repository holds them (installed
//! to `share/amr_mqtt_bridge/schemas/`); `amr_mqtt_bridge --write-schemas DIR` writes them, and a
//! test fails when a checked-in file differs from what the code generates.
//!
//! Non-finite numbers: serde_json writes NaN and ±infinity as `null`, so every float the bridge
//! publishes may be `null`. That is a property of the encoding, not of a field, so one transform
//! over the published schemas says it for every `f32`/`f64` (`"type": ["number", "null"]` and a
//! note in the description); a new float field cannot forget it. The command schemas keep plain
//! numbers: the bridge refuses `null` there.

use std::path::Path;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema};
use serde_json::{json, Value};

use crate::command::payload::{EmergencyCommand, MoveCommand, StopCommand};
use crate::command::Outcome;
use crate::config::mappings::builtins;
use crate::config::{Category, ConverterKind, Direction, Mapping, QosTable, StateConfig};
use crate::convert::generic::{self, Types};
use crate::convert::{battery, imu, joints, odometry, scan, Converter};
use crate::diagnostics::Report;
use crate::dyntype::{in_envelope, message_schema, MsgType, Octets, Side};
use crate::envelope::{Alert, Envelope, PresenceData};
use crate::state::StateData;

/// What every float of a published payload's schema says.
const NON_FINITE: &str =
    "Null when the value is not finite (NaN, ±infinity): JSON has no such numbers.";

/// The keys that open a schema file, in this order; `$defs` closes it.
const OPENING: [&str; 3] = ["$schema", "title", "description"];

/// One payload's schema, named like its file (`status_position`).
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub name: String,
    pub schema: Value,
}

impl Payload {
    pub fn file_name(&self) -> String {
        format!("{}.schema.json", self.name)
    }

    /// The file's text: pretty JSON, `$schema`, `title` and `description` first and `$defs`
    /// last, one newline at the end.
    pub fn text(&self) -> String {
        let mut keys: Vec<&str> = OPENING.to_vec();
        if let Some(map) = self.schema.as_object() {
            let rest = map.keys().map(String::as_str);
            keys.extend(rest.filter(|k| !OPENING.contains(k) && *k != "$defs"));
        }
        keys.push("$defs");
        let entries = keys
            .into_iter()
            .filter_map(|k| Some((k, self.schema.get(k)?)))
            .collect();
        let mut text = serde_json::to_string_pretty(&InOrder(entries)).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// A JSON object written with its keys in the order given.
struct InOrder<'a>(Vec<(&'a str, &'a Value)>);

impl serde::Serialize for InOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

/// Every payload: the envelope, the built-in mappings' messages, the bridge's own status
/// messages, alerts, batches and the commands.
pub fn all() -> Vec<Payload> {
    let mut out = vec![named(
        "envelope",
        "Every status and sensor message: `{timestamp, robot_id, type, data}`. `data` is the \
         message's own; a generic mapping's is the ROS message as JSON with the .msg field names.",
        published::<Envelope<Value>>(),
    )];
    out.extend(builtin_payloads());
    let own = |action: &str, what: &str, schema: Value| {
        named(
            &format!("status_{action}"),
            &format!("`amr/{{robot_id}}/status/{action}`: {what}, in the envelope."),
            pin_type(schema, Category::Status),
        )
    };
    let state = StateConfig::default().action;
    out.extend([
        own(
            "connection",
            "the robot's presence, retained; `offline` is also the Last Will",
            published::<Envelope<PresenceData>>(),
        ),
        own(
            "command",
            "an outcome of a fleet command (accepted, rejected, completed, preempted, cancelled)",
            published::<Envelope<Outcome>>(),
        ),
        own(
            &state,
            "the robot's state (`state.rate_hz`, retained)",
            published::<Envelope<StateData>>(),
        ),
        own(
            "bridge",
            "the bridge's counters and link state (`bridge.diagnostics_period`)",
            published::<Envelope<Report>>(),
        ),
        named(
            "alert",
            "`amr/{robot_id}/alert/{info,warning,error}`: the seed's alert format (no envelope); \
             `level` is also the topic's last level.",
            published::<Alert>(),
        ),
        named(
            "batch",
            "A batched mapping's publish (`batch:` of a mapping): a JSON array of its envelopes, \
             oldest first; each item is also valid under the schema of the mapping's topic.",
            batch(),
        ),
    ]);
    out.extend(command_payloads());
    out
}

/// `status_position`, `sensor_imu`, ...: one per built-in mapping, named by its topic.
fn builtin_payloads() -> Vec<Payload> {
    let qos = QosTable::default();
    builtins()
        .into_iter()
        .filter_map(|spec| {
            let converter = spec.converter?;
            let category = spec.mqtt_category?;
            let action = spec.mqtt_action?;
            let schema = converter_schema(converter)?;
            let what =
                format!(
                "`amr/{{robot_id}}/{category}/{action}`: the built-in mapping `{}` ({} from ROS \
                 `{}`), QoS {}{}{}, in the envelope.",
                spec.name,
                converter.ros_type().unwrap_or("any type"),
                spec.ros_topic.unwrap_or_default(),
                qos.get(category).0,
                if spec.retain == Some(true) { ", retained" } else { "" },
                spec.rate_limit_hz
                    .map(|hz| format!(", at most {hz} Hz"))
                    .unwrap_or_default(),
            );
            Some(named(
                &format!("{category}_{action}"),
                &what,
                pin_type(schema, category),
            ))
        })
        .collect()
}

/// The envelope around what a built-in converter writes.
fn converter_schema(kind: ConverterKind) -> Option<Value> {
    use ConverterKind::*;
    fn of<C: Converter>() -> Value {
        published::<Envelope<C::Data<'static>>>()
    }
    Some(match kind {
        Odometry => of::<odometry::Odometry>(),
        Imu => of::<imu::Imu>(),
        Battery => of::<battery::Battery>(),
        JointStates => of::<joints::Joints>(),
        LaserScan => of::<scan::Scan>(),
        Generic => return None,
    })
}

fn command_payloads() -> Vec<Payload> {
    let topic = |action: &str, what: &str| {
        format!(
            "`amr/{{robot_id}}/command/{action}`, QoS 2: {what}. A JSON object with only these \
             keys; the bridge also refuses repeated keys, nesting deeper than 16, payloads over \
             `commands.max_payload`, timestamps older than `commands.max_age` or further ahead \
             than `commands.max_future`, extents over the configured limits and ids already \
             executed."
        )
    };
    vec![
        named(
            "command_move",
            &topic("move", "a motion or a velocity"),
            accepted::<MoveCommand>(),
        ),
        named(
            "command_stop",
            &topic(
                "stop",
                "stops the robot; any message on this topic stops it, this is the one reported \
                 `completed`",
            ),
            accepted::<StopCommand>(),
        ),
        named(
            "command_emergency",
            &topic(
                "emergency",
                "engages (`engage`, `emergency_stop` or no `command`) or releases (`release`) the \
                 e-stop latch; any other message engages it too, but is reported `rejected`",
            ),
            accepted::<EmergencyCommand>(),
        ),
    ]
}

/// The schema of a payload the bridge writes: every float may be null.
fn published<T: JsonSchema>() -> Value {
    let settings = SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(nullable_floats));
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// The schema of a payload the bridge reads: no defaults (an absent key means what the
/// description says; `null` is never one).
fn accepted<T: JsonSchema>() -> Value {
    let settings = SchemaSettings::draft2020_12()
        .for_deserialize()
        .with_transform(RecursiveTransform(|s: &mut Schema| {
            s.remove("default");
        }));
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// A float may be null: serde_json's encoding of NaN and infinities.
fn nullable_floats(schema: &mut Schema) {
    let is_float = matches!(
        schema.get("format").and_then(Value::as_str),
        Some("double" | "float")
    );
    if !is_float {
        return;
    }
    schema.insert("type".into(), json!(["number", "null"]));
    let description = match schema.get("description").and_then(Value::as_str) {
        Some(d) => format!("{d}\n\n{NON_FINITE}"),
        None => NON_FINITE.to_owned(),
    };
    schema.insert("description".into(), description.into());
}

/// An envelope's `type` is its topic's category.
fn pin_type(mut schema: Value, category: Category) -> Value {
    schema["properties"]["type"] = json!({
        "description": "The MQTT category of the topic.",
        "const": category.as_str(),
    });
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.remove("Category");
    }
    schema
}

/// An array of at least one envelope.
fn batch() -> Value {
    let mut schema = published::<Vec<Envelope<Value>>>();
    schema["minItems"] = json!(1);
    schema
}

fn named(name: &str, description: &str, mut schema: Value) -> Payload {
    schema["title"] = json!(name);
    schema["description"] = json!(description);
    Payload {
        name: name.to_owned(),
        schema,
    }
}

/// A generic mapping's payload for messages of type `ty` as the bridge publishes them: the
/// envelope around the message's JSON (`amr_mqtt_bridge --schema-for pkg/msg/Type`).
pub fn for_type(ty: &MsgType, octets: Octets) -> Value {
    let name = ty.name.to_string();
    let message = message_schema(ty, Side::Published(octets));
    let mut schema = in_envelope(published::<Envelope<Value>>(), message, &name);
    schema["description"] = json!(format!(
        "A generic mapping of {name}: the envelope around the message as JSON with its .msg \
         field names; arrays of bytes as {}.",
        match octets {
            Octets::Base64 => "base64 strings",
            Octets::Numbers => "arrays of numbers",
        }
    ));
    schema
}

/// What an MQTT to ROS mapping of `ty` takes: the message's JSON, or the bridge's envelope
/// around it (a `timestamp` then judged like a command's); any field may be left out, none
/// unknown; arrays of bytes as base64 or numbers.
fn accepted_for_type(ty: &MsgType) -> Value {
    let mut message = message_schema(ty, Side::Accepted);
    let defs = message.as_object_mut().and_then(|m| m.remove("$defs"));
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "anyOf": [
            message.clone(),
            {
                "type": "object",
                "description": "The message in the bridge's envelope.",
                "required": ["timestamp", "data"],
                "properties": {
                    "timestamp": {"type": "string", "format": "date-time"},
                    "robot_id": {"type": "string"},
                    "type": {"type": "string"},
                    "data": message,
                },
                "additionalProperties": false,
            },
        ],
        "$defs": defs,
    })
}

/// One schema per generic mapping, `mapping_<name>`: what it publishes (ROS to MQTT) or
/// takes (MQTT to ROS), for the type it was resolved to.
pub fn mapping_payloads(mappings: &[Mapping], types: &Types) -> Vec<Payload> {
    mappings
        .iter()
        .filter_map(|m| {
            let ty = &types.of(m)?.msg;
            let (schema, what) = match m.direction {
                Direction::RosToMqtt => (
                    pin_type(for_type(ty, generic::octets(m.byte_arrays)), m.category),
                    "publishes",
                ),
                Direction::MqttToRos => (accepted_for_type(ty), "takes"),
            };
            let file: String = m
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let description = format!(
                "`{}`: what the generic mapping `{}` ({}, ROS `{}`) {what}.",
                m.mqtt_topic, m.name, m.ros_type, m.ros_topic
            );
            Some(named(&format!("mapping_{file}"), &description, schema))
        })
        .collect()
}

/// Writes every schema into `dir` (made if missing); returns the files written.
pub fn write(dir: &Path) -> std::io::Result<Vec<String>> {
    write_all(dir, all())
}

/// Writes `payloads` into `dir` (made if missing); returns the files written.
pub fn write_all(dir: &Path, payloads: Vec<Payload>) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for p in payloads {
        std::fs::write(dir.join(p.file_name()), p.text())?;
        written.push(p.file_name());
    }
    Ok(written)
}

/// How `dir` differs from what the code generates: files missing, different or extra.
pub fn differences(dir: &Path) -> Vec<String> {
    let payloads = all();
    let mut out: Vec<String> = payloads
        .iter()
        .filter_map(|p| match std::fs::read_to_string(dir.join(p.file_name())) {
            Ok(text) if text == p.text() => None,
            Ok(_) => Some(format!("{} differs from the code", p.file_name())),
            Err(e) => Some(format!("{}: {e}", p.file_name())),
        })
        .collect();
    let known: Vec<String> = payloads.iter().map(Payload::file_name).collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".schema.json") && !known.contains(&name) {
                out.push(format!("{name} is not generated by the code any more"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
