//! The fleet side's contract end to end: every kind of payload of a live run is valid under its
//! JSON Schema in schemas/ (checked by Python jsonschema, independent of the Rust that generated
//! the schemas), and the same payload with a field of the wrong type is not. The command
//! schemas against what the bridge refuses: tests/commands.rs.

mod common;
use common::*;
use std::time::Duration;
use Wrong::*;

const T: Duration = Duration::from_secs(15);

/// Batched IMU, a generic mapping (the plain envelope), a report every second, stale alerts.
const EXTRA: &str = "bridge: {diagnostics_period: 1.0}
alerts: {stale_after: 1.0}
mappings:
  - {name: imu, batch: {max_messages: 3, max_interval: 0.5}}
  - {name: note, converter: generic, ros_topic: note, ros_type: std_msgs/msg/String, mqtt_category: status, mqtt_action: note}
";

/// Every kind of payload: its topic under `amr/<robot>/` (which gives its schema) and a field
/// (a JSON pointer) given a value of the wrong type.
const KINDS: &[(&str, &str, Wrong)] = &[
    ("status/position", "/data/position/x", Text),
    ("status/battery", "/data/charging", Text),
    ("status/motor", "/data/motors/0/name", Number),
    ("status/state", "/data/status", Number),
    ("status/connection", "/data/state", Bool),
    ("status/command", "/data/id", Number),
    ("status/bridge", "/data/reconnects", Text),
    ("status/note", "/robot_id", Number),
    ("sensor/imu", "/0/robot_id", Number),
    ("sensor/lidar", "/data/ranges/0", Text),
    ("alert/warning", "/data/battery_level", Text),
    ("alert/error", "/data/source", Number),
    ("alert/info", "/data/id", Bool),
];

/// A value of another JSON type than the field's.
#[derive(Clone, Copy)]
enum Wrong {
    Text,
    Number,
    Bool,
}

impl Wrong {
    fn value(self) -> Value {
        match self {
            Text => json!("12.5"),
            Number => json!(7),
            Bool => json!(true),
        }
    }
}

/// `v` with the field at `pointer` replaced by `value` (which must exist).
fn with(v: &Value, pointer: &str, value: Value) -> Value {
    let mut out = v.clone();
    *out.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in {v}")) = value;
    out
}

/// Publishes a bit of everything the built-in mappings read, once.
fn feed_ros(rig: &Rig) -> Vec<Proc> {
    let odom = json!({"header": {"stamp": {"sec": 1704110400, "nanosec": 0}, "frame_id": "odom"},
                      "pose": {"pose": {"position": {"x": 1.5, "y": -2.0}, "orientation": {"w": 1.0}}},
                      "twist": {"twist": {"linear": {"x": 0.2, "y": "nan"}}}});
    let imu = json!({"header": {"frame_id": "imu"}, "orientation": {"w": 1.0},
                     "angular_velocity": {"z": 0.1}, "linear_acceleration": {"z": 9.8}});
    let battery =
        json!({"voltage": "nan", "percentage": 0.15, "power_supply_status": 2, "present": true});
    let joints = json!({"name": ["left", "right"], "position": [1.0], "velocity": [0.5, "inf"]});
    let scan = json!({"header": {"frame_id": "laser"}, "angle_min": -1.5, "angle_max": 1.5,
                      "angle_increment": 1.5, "range_min": 0.1, "range_max": 30.0,
                      "ranges": [1.25, "inf", "-inf", "nan"], "intensities": [1.0, 0.0, 0.0, 0.0]});
    let note = json!({"data": "hello fleet"});
    [
        (ros_type::ODOMETRY, "/odom", odom),
        (ros_type::IMU, "/imu", imu),
        (ros_type::BATTERY, "/battery_state", battery),
        (ros_type::JOINTS, "/joint_states", joints),
        (ros_type::SCAN, "/scan", scan),
        (ros_type::STRING, "/note", note),
    ]
    .into_iter()
    .map(|(ty, topic, data)| rig.ros(ty, topic).publish(&data, 10.0, 20, "reliable"))
    .collect()
}

#[test]
fn every_payload_kind_of_a_live_run_is_valid_and_a_wrong_type_is_not() {
    let mut rig = Rig::start("SCH01", EXTRA);
    let publishers = feed_ros(&rig);
    let fresh = |command: &str| json!({"timestamp": now_rfc3339(), "command": command});
    let mut mv = fresh("move_forward");
    mv["parameters"] = json!({"speed": 20, "distance": 2});
    mv["id"] = json!("job-1");
    rig.send("move", &mv.to_string());
    rig.expect("status/command", T, "completed", |m| {
        m.payload.contains("completed")
    });
    rig.send("emergency", &fresh("engage").to_string());
    rig.expect("alert/error", T, "e-stop engaged", |_| true);
    let mut release = fresh("release");
    release["id"] = json!("rel-1");
    rig.send("emergency", &release.to_string());
    rig.expect("alert/info", T, "e-stop released", |m| {
        m.payload.contains("released")
    });
    for mut p in publishers {
        let _ = p.child.wait();
    }
    // The streams went quiet: stale after 1 s.
    rig.expect("alert/warning", T, "stream stale", |m| {
        m.payload.contains("stale")
    });
    rig.expect("status/bridge", T, "a report", |_| true);

    for (path, pointer, wrong) in KINDS {
        check_kind(&rig, path, pointer, *wrong);
    }
    // A batch's items are checked under their topic's schema too.
    let imu = last(&rig, "sensor/imu");
    validate_value("sensor_imu", &imu[0]).expect("an IMU envelope");
    let bad = with(&imu[0], "/data/angular_velocity/z", json!("fast"));
    assert!(validate_value("sensor_imu", &bad).is_err(), "{bad}");
    // The non-finite values of the run were written as null, and the schemas allow it.
    let lidar = last(&rig, "sensor/lidar");
    assert_eq!(lidar["data"]["ranges"], json!([1.25, null, null, null]));
    assert!(last(&rig, "status/battery")["data"]["voltage"].is_null());
    let motors = &last(&rig, "status/motor")["data"]["motors"];
    assert_eq!(
        motors[1],
        json!({"name": "right", "position": null, "velocity": null, "effort": null})
    );
}

/// Every payload of the run on `amr/<robot>/<path>` is valid under its schema; one of them with
/// the field at `pointer` (or its timestamp) of the wrong type is not.
fn check_kind(rig: &Rig, path: &str, pointer: &str, wrong: Wrong) {
    let topic = rig.topic(path);
    let seen: Vec<&MqttMsg> = rig.sub.got.iter().filter(|m| m.topic == topic).collect();
    assert!(
        !seen.is_empty(),
        "no {path} in the run:\n{}",
        rig.sub.recent(30)
    );
    for m in &seen {
        m.json(); // valid under the topic's schema, or a panic saying why
    }
    // One with the field to change (a battery alert for alert/warning, a motor entry ...).
    let v = seen
        .iter()
        .map(|m| m.json())
        .find(|v| v.pointer(pointer).is_some())
        .unwrap_or_else(|| panic!("no {path} payload has {pointer}"));
    // The whole payload: a batch (an array) under `batch`, its items under the topic's.
    let schema = match v.is_array() {
        true => "batch",
        false => schema_for_topic(&topic).expect("a published topic"),
    };
    validate_value(schema, &v).unwrap_or_else(|e| panic!("{path}: {e}"));
    let bad = with(&v, pointer, wrong.value());
    assert!(
        validate_value(schema, &bad).is_err(),
        "{path} with {pointer} = {} is valid under {schema}: {bad}",
        wrong.value()
    );
    let stamp = if schema == "batch" {
        "/0/timestamp"
    } else {
        "/timestamp"
    };
    let bad = with(&v, stamp, json!(1704110400));
    assert!(
        validate_value(schema, &bad).is_err(),
        "{path}: a numeric timestamp"
    );
}

/// The last payload seen on `amr/<robot>/<path>`.
fn last(rig: &Rig, path: &str) -> Value {
    let topic = rig.topic(path);
    let m = rig.sub.got.iter().rev().find(|m| m.topic == topic);
    m.unwrap_or_else(|| panic!("nothing on {topic}")).json()
}

#[test]
fn the_schemas_refuse_what_the_bridge_would_not_write() {
    require_env();
    let envelope = json!({"timestamp": "2024-01-01T12:00:00Z", "robot_id": "AMR001",
                          "type": "status", "data": {"state": "online"}});
    validate_value("status_connection", &envelope).expect("valid");
    for (pointer, value) in [
        ("/timestamp", json!("yesterday")),
        ("/type", json!("sensor")),
        ("/robot_id", json!("a/b")),
        ("/robot_id", json!("")),
        ("/data/state", json!("maybe")),
    ] {
        let bad = with(&envelope, pointer, value.clone());
        assert!(
            validate_value("status_connection", &bad).is_err(),
            "{pointer} = {value}"
        );
    }
    let mut missing = envelope.clone();
    missing.as_object_mut().expect("object").remove("data");
    assert!(validate_value("status_connection", &missing).is_err());
    assert!(
        validate_value("batch", &json!([])).is_err(),
        "a batch has a message"
    );
    assert!(validate_value("batch", &json!([envelope])).is_ok());
}
