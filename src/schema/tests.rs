use super::*;
use crate::command::parse::{parse_emergency, parse_move, parse_stop};
use crate::config::CommandConfig;
use crate::envelope::parse_rfc3339;

/// The schema of `name`, compiled, with `format` asserted (`date-time`).
fn validator(name: &str) -> jsonschema::Validator {
    let p = all()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no schema {name}"));
    jsonschema::options()
        .should_validate_formats(true)
        .build(&p.schema)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn checked_in_schemas_are_what_the_code_generates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let diff = differences(&dir);
    assert!(
        diff.is_empty(),
        "schemas/ is not what the code generates:\n  {}\nregenerate them: source scripts/env.sh && \
         cargo run -- --write-schemas schemas",
        diff.join("\n  ")
    );
}

#[test]
fn every_schema_is_valid_draft_2020_12() {
    for p in all() {
        assert_eq!(
            p.schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{}",
            p.name
        );
        if let Err(e) = jsonschema::meta::validate(&p.schema) {
            panic!("{}: {e}", p.name);
        }
    }
}

#[test]
fn published_floats_may_be_null_and_command_numbers_may_not() {
    let odom = crate::convert::odometry::Odometry;
    let mut msg = r2r::nav_msgs::msg::Odometry::default();
    msg.pose.pose.position.x = f64::NAN;
    msg.twist.twist.linear.x = f64::INFINITY;
    let payload = serde_json::from_slice::<Value>(&crate::envelope::to_json(&Envelope {
        timestamp: "2024-01-01T12:00:00Z".into(),
        robot_id: "AMR001",
        category: Category::Status,
        data: odom.data(&msg),
    }))
    .expect("json");
    assert!(payload["data"]["position"]["x"].is_null());
    let position = validator("status_position");
    assert!(position.is_valid(&payload));
    let mut wrong = payload.clone();
    wrong["data"]["position"]["x"] = json!("10.5");
    assert!(!position.is_valid(&wrong), "a string is not a number");
    wrong = payload.clone();
    wrong["type"] = json!("sensor");
    assert!(
        !position.is_valid(&wrong),
        "status/position is of type status"
    );

    let alert = |e: &crate::envelope::AlertEvent| {
        serde_json::from_slice::<Value>(&crate::envelope::alert("AMR001", e)).expect("json")
    };
    let low = alert(&crate::envelope::AlertEvent::BatteryLow(
        crate::envelope::BatteryLevel {
            battery_level: 15.0,
        },
    ));
    assert_eq!(low["message"], "Battery level low");
    assert_eq!(low["level"], "warning");
    assert_eq!(low["data"], json!({"battery_level": 15.0}));
    let alerts = validator("alert");
    assert!(alerts.is_valid(&low), "{low}");
    let mut wrong = low.clone();
    wrong["data"] = json!({"mapping": "odom"});
    assert!(!alerts.is_valid(&wrong), "a message's data has its shape");

    let mv = validator("command_move");
    let cmd = |speed: Value| {
        json!({"timestamp": "2024-01-01T12:00:00Z", "command": "move_forward",
               "parameters": {"speed": speed, "distance": 100}})
    };
    assert!(mv.is_valid(&cmd(json!(50))));
    assert!(!mv.is_valid(&cmd(Value::Null)));
}

/// Whether `parse` accepts `payload` on `action` with the default configuration at noon.
fn parse_accepts(action: &str, payload: &str) -> bool {
    let wall = parse_rfc3339("2024-01-01T12:00:00Z").expect("wall");
    let cfg = CommandConfig::default();
    let bytes = payload.as_bytes();
    match action {
        "move" => parse_move(bytes, wall, &cfg).is_ok(),
        "stop" => parse_stop(bytes, wall, &cfg).is_ok(),
        _ => parse_emergency(bytes, wall, &cfg).is_ok(),
    }
}

const TS: &str = r#""timestamp":"2024-01-01T12:00:00Z""#;

/// `{TS, <rest>}` (or `{TS}`).
fn with_ts(rest: &str) -> String {
    if rest.is_empty() {
        format!("{{{TS}}}")
    } else {
        format!("{{{TS},{rest}}}")
    }
}

/// An example: the action, the payload, whether both the parser and the schema accept it.
type Example = (&'static str, String, bool);

/// Examples that a schema says exactly: `move`, then `stop` and `emergency`.
fn expressible() -> Vec<Example> {
    let mut cases = move_examples();
    cases.extend(bare_examples());
    cases
}

/// `move_forward` parameters that the schema (and the parser) refuse.
#[rustfmt::skip]
const BAD_FORWARD_PARAMETERS: &[&str] = &[
    r#"{"speed":10}"#,
    r#"{"distance":10}"#,
    r#"{"speed":"50","distance":100}"#,
    r#"{"speed":true,"distance":100}"#,
    r#"{"speed":null,"distance":100}"#,
    r#"{"speed":[50],"distance":100}"#,
    r#"{"speed":-5,"distance":100}"#,
    r#"{"speed":0,"distance":100}"#,
    r#"{"speed":50,"distance":-100}"#,
    r#"{"speed":50,"distanse":100}"#,
    r#"{"speed":50,"distance":100,"angle":1}"#,
    r#""fast""#,
    r#"[50,100]"#,
    r#"null"#,
];

fn move_examples() -> Vec<Example> {
    let fwd = |params: &str| {
        with_ts(&format!(
            r#""command":"move_forward","parameters":{params}"#
        ))
    };
    let vel = |rest: &str| with_ts(&format!(r#""command":"velocity"{rest}"#));
    let long_id = "x".repeat(128);
    let mut cases = vec![
        ("move", fwd(r#"{"speed":50,"distance":100}"#), true),
        (
            "move",
            with_ts(&format!(
                r#""command":"move_backward","parameters":{{"speed":5,"distance":1.5}},"id":"{long_id}""#
            )),
            true,
        ),
        (
            "move",
            with_ts(r#""command":"rotate_right","parameters":{"speed":720,"angle":90}"#),
            true,
        ),
        (
            "move",
            vel(r#","parameters":{"linear":-10,"angular":5}"#),
            true,
        ),
        ("move", vel(r#","parameters":{"angular":5}"#), true),
        ("move", vel(r#","parameters":{}"#), true),
        ("move", vel(""), true),
        (
            "move",
            r#"{"timestamp":"2024-01-01T13:59:59+02:00","command":"velocity"}"#.into(),
            true,
        ),
        ("move", "[]".into(), false),
        ("move", "42".into(), false),
        ("move", "null".into(), false),
        ("move", r#""move_forward""#.into(), false),
        (
            "move",
            with_ts(r#""parameters":{"speed":10,"distance":10}"#),
            false,
        ),
        ("move", with_ts(r#""command":7,"parameters":{}"#), false),
        ("move", with_ts(r#""command":"fly","parameters":{}"#), false),
        ("move", with_ts(r#""command":"move_forward""#), false),
        (
            "move",
            with_ts(r#""command":"rotate_left","parameters":{"speed":10,"distance":10}"#),
            false,
        ),
        (
            "move",
            r#"{"timestamp":"yesterday","command":"velocity"}"#.into(),
            false,
        ),
        (
            "move",
            r#"{"timestamp":1704110400,"command":"velocity"}"#.into(),
            false,
        ),
        ("move", r#"{"command":"velocity"}"#.into(), false),
        ("move", vel(r#","id":5"#), false),
        ("move", vel(r#","id":"""#), false),
        ("move", vel(r#","id":null"#), false),
        ("move", vel(&format!(r#","id":"{long_id}x""#)), false),
        ("move", vel(r#","parameters":{"linear":"1"}"#), false),
        ("move", vel(r#","parameters":{"linear":null}"#), false),
        ("move", vel(r#","parameters":null"#), false),
        ("move", vel(r#","pad":"x""#), false),
    ];
    cases.extend(
        BAD_FORWARD_PARAMETERS
            .iter()
            .map(|p| ("move", fwd(p), false)),
    );
    cases
}

fn bare_examples() -> Vec<Example> {
    let mut cases = vec![
        ("stop", with_ts(""), true),
        (
            "stop",
            with_ts(r#""command":"stop","parameters":{},"id":"s1""#),
            true,
        ),
        ("stop", with_ts(r#""command":"halt""#), false),
        ("stop", with_ts(r#""command":null"#), false),
        ("stop", with_ts(r#""parameters":{"x":1}"#), false),
        ("stop", with_ts(r#""parameters":null"#), false),
        ("stop", with_ts(r#""extra":true"#), false),
        ("stop", r#"{"command":"stop"}"#.into(), false),
        ("stop", "[]".into(), false),
    ];
    for name in ["engage", "emergency_stop", "release"] {
        cases.push((
            "emergency",
            with_ts(&format!(r#""command":"{name}""#)),
            true,
        ));
    }
    cases.extend([
        ("emergency", with_ts(r#""parameters":{},"id":"e1""#), true),
        ("emergency", with_ts(r#""command":"panic""#), false),
        ("emergency", with_ts(r#""command":1"#), false),
        (
            "emergency",
            with_ts(r#""command":"release","parameters":{"a":1}"#),
            false,
        ),
        ("emergency", r#"{"command":"release"}"#.into(), false),
        ("emergency", "[1]".into(), false),
    ]);
    cases
}

#[test]
fn command_schemas_and_the_parser_agree() {
    let validators: Vec<(&str, jsonschema::Validator)> = ["move", "stop", "emergency"]
        .map(|a| (a, validator(&format!("command_{a}"))))
        .into();
    let schema_accepts = |action: &str, payload: &str| {
        let v: Value = serde_json::from_str(payload).expect("examples are JSON");
        let (_, val) = validators
            .iter()
            .find(|(a, _)| *a == action)
            .expect("action");
        val.is_valid(&v)
    };
    for (action, payload, want) in expressible() {
        assert_eq!(
            parse_accepts(action, &payload),
            want,
            "parse: {action} {payload}"
        );
        assert_eq!(
            schema_accepts(action, &payload),
            want,
            "schema: {action} {payload}"
        );
    }
    // What only the parser can say: time, the configured limits, repeated keys.
    for (action, payload) in [
        (
            "move",
            r#"{"timestamp":"2024-01-01T11:59:00Z","command":"velocity"}"#.to_owned(),
        ),
        (
            "move",
            r#"{"timestamp":"2024-01-01T12:01:00Z","command":"velocity"}"#.to_owned(),
        ),
        (
            "move",
            with_ts(r#""command":"move_forward","parameters":{"speed":50,"distance":1e9}"#),
        ),
        (
            "emergency",
            with_ts(r#""command":"release","command":"engage""#),
        ),
    ] {
        assert!(!parse_accepts(action, &payload), "parse: {payload}");
        assert!(schema_accepts(action, &payload), "schema: {payload}");
    }
}

#[test]
fn a_generic_mappings_schemas_describe_what_it_publishes_and_takes() {
    let yaml = "mqtt: {}\ndefault_mappings: false\nmappings:\n  - {name: pose out, ros_topic: p, ros_type: geometry_msgs/msg/PoseStamped, mqtt_category: sensor, mqtt_action: pose}\n  - {name: blob, ros_topic: b, ros_type: std_msgs/msg/UInt8MultiArray, mqtt_action: blob, byte_arrays: numbers}\n  - {name: goal, direction: mqtt_to_ros, ros_topic: g, ros_type: geometry_msgs/msg/PoseStamped, mqtt_action: goal}\n";
    let config = crate::config::Config::parse(yaml, "g.yaml").expect("parses");
    let tree = crate::config::TopicTree::new(&config, "R1").expect("tree");
    let mappings = crate::config::mappings::resolve(&config, &tree, "g.yaml").expect("resolves");
    // The ROS environment of the tests (scripts/env.sh) has these packages installed.
    let types = generic::resolve(&mappings, "g.yaml").expect("installed types");
    let payloads = mapping_payloads(&mappings, &types);
    let names: Vec<&str> = payloads.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["mapping_pose_out", "mapping_blob", "mapping_goal"]);
    let compile = |p: &Payload| {
        jsonschema::meta::validate(&p.schema).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        jsonschema::options()
            .should_validate_formats(true)
            .build(&p.schema)
            .unwrap_or_else(|e| panic!("{}: {e}", p.name))
    };
    let pose = json!({"header": {"stamp": {"sec": 1, "nanosec": 2}, "frame_id": "map"},
        "pose": {"position": {"x": 1.0, "y": null, "z": 0.0},
                 "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}}});
    let out = compile(&payloads[0]);
    let envelope = |category: &str, data: &Value| json!({"timestamp": "2024-01-01T12:00:00Z", "robot_id": "R1", "type": category, "data": data});
    assert!(out.is_valid(&envelope("sensor", &pose)));
    assert!(
        !out.is_valid(&envelope("status", &pose)),
        "the type is the topic's category"
    );
    let mut no_w = pose.clone();
    no_w["pose"]["orientation"] = json!({"x": 0.0});
    assert!(
        !out.is_valid(&envelope("sensor", &no_w)),
        "every field is written"
    );
    let blob = compile(&payloads[1]);
    let layout = json!({"dim": [], "data_offset": 0});
    let numbers = json!({"layout": layout, "data": [0, 255]});
    assert!(blob.is_valid(&envelope("status", &numbers)));
    let base64 = json!({"layout": layout, "data": "AP8="});
    assert!(
        !blob.is_valid(&envelope("status", &base64)),
        "byte_arrays: numbers"
    );
    let goal = compile(&payloads[2]);
    assert!(goal.is_valid(&json!({"pose": {"position": {"x": 2.5}}})));
    assert!(goal.is_valid(&envelope(
        "command",
        &json!({"header": {"frame_id": "map"}})
    )));
    assert!(!goal.is_valid(&json!({"pose": {"positon": {}}})));
    assert!(!goal.is_valid(&json!({"pose": {"position": {"x": "far"}}})));
}

#[test]
fn the_schema_for_a_type_writes_bytes_as_base64() {
    let ty = crate::dyntype::Registry::from_texts([("t/msg/Blob", "uint8[] data\nstring name")])
        .expect("names")
        .load("t/msg/Blob")
        .expect("loads");
    let schema = for_type(&ty, Octets::Base64);
    jsonschema::meta::validate(&schema).expect("valid draft 2020-12");
    assert_eq!(schema["title"], "t/msg/Blob");
    let v = jsonschema::validator_for(&schema).expect("compiles");
    let env = |data: Value| json!({"timestamp": "2024-01-01T12:00:00Z", "robot_id": "R1", "type": "status", "data": data});
    assert!(v.is_valid(&env(json!({"data": "AAE=", "name": "x"}))));
    assert!(!v.is_valid(&env(json!({"data": [0, 1], "name": "x"}))));
}
