//! The first vertical slice end to end: odometry to `status/position`, a move command to
//! `cmd_vel`, and the configuration checks at start. Real Mosquitto, real DDS, rclpy peer.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn odometry_reaches_status_position_in_the_seed_envelope() {
    require_env();
    let domain = 11;
    let broker = Broker::start();
    let _bridge = Bridge::start(domain, broker.port, "AMR001", &config(""), &[]);
    let mut sub = MqttSub::start(broker.port, "amr/AMR001/status/position");
    let h = 45f64.to_radians() / 2.0;
    let odom = json!({
        "header": {"stamp": {"sec": 1704110400, "nanosec": 0}, "frame_id": "odom"},
        "child_frame_id": "base_link",
        "pose": {"pose": {"position": {"x": 10.5, "y": 20.3, "z": 0.0},
                          "orientation": {"x": 0.0, "y": 0.0, "z": h.sin(), "w": h.cos()}}},
        "twist": {"twist": {"linear": {"x": 0.25}, "angular": {"z": 0.1}}}
    });
    let _p = ros_pub(
        domain,
        "nav_msgs/msg/Odometry",
        "/odom",
        &odom,
        5.0,
        10,
        "reliable",
    );
    let m = sub.expect(
        "amr/AMR001/status/position",
        Duration::from_secs(15),
        "odometry",
        |_| true,
    );
    let v = m.json();
    assert_eq!(m.qos, 1, "status category QoS");
    assert_eq!(v["robot_id"], "AMR001");
    assert_eq!(v["type"], "status");
    assert_eq!(
        v["timestamp"], "2024-01-01T12:00:00Z",
        "from the header stamp"
    );
    let pos = &v["data"]["position"];
    assert_eq!(pos["x"].as_f64(), Some(10.5));
    assert_eq!(pos["y"].as_f64(), Some(20.3));
    let angle = pos["angle"].as_f64().expect("angle");
    assert!((angle - 45.0).abs() < 1e-6, "angle {angle}");
    assert_eq!(v["data"]["velocity"]["linear"]["x"].as_f64(), Some(0.25));
}

#[test]
fn unstamped_odometry_gets_the_bridge_clock() {
    require_env();
    let domain = 12;
    let broker = Broker::start();
    let _bridge = Bridge::start(domain, broker.port, "AMR002", &config(""), &[]);
    let mut sub = MqttSub::start(broker.port, "amr/AMR002/status/position");
    let before = now_rfc3339();
    let _p = ros_pub(
        domain,
        "nav_msgs/msg/Odometry",
        "/odom",
        &json!({}),
        5.0,
        10,
        "best_effort",
    );
    let m = sub.expect(
        "amr/AMR002/status/position",
        Duration::from_secs(15),
        "odometry",
        |_| true,
    );
    let ts = m.json()["timestamp"]
        .as_str()
        .expect("timestamp")
        .to_owned();
    let after = now_rfc3339();
    // Same format, so the strings order like the times (to the second).
    assert!(ts.ends_with('Z') && ts.len() >= 20, "{ts}");
    assert!(
        ts[..19] >= before[..19] && ts[..19] <= after[..19],
        "{before} <= {ts} <= {after}"
    );
}

#[test]
fn move_command_drives_cmd_vel() {
    require_env();
    let domain = 13;
    let broker = Broker::start();
    let _bridge = Bridge::start(domain, broker.port, "AMR003", &config(""), &[]);
    let mut twists = RosSub::start(domain, "geometry_msgs/msg/Twist", "/cmd_vel", "reliable");
    std::thread::sleep(Duration::from_secs(1));
    let cmd = json!({"timestamp": now_rfc3339(), "command": "move_forward",
                     "parameters": {"speed": 20, "distance": 10}});
    mqtt_pub(
        broker.port,
        "amr/AMR003/command/move",
        &cmd.to_string(),
        2,
        false,
    );
    let (_, first) = twists
        .recv(Duration::from_secs(10))
        .expect("a Twist on cmd_vel");
    let lx = first["linear"]["x"].as_f64().expect("linear.x");
    assert!(
        lx > 0.0 && lx <= 0.2 + 1e-9,
        "forward at most 20 cm/s: {lx}"
    );
    // The motion ends with a zero Twist.
    let mut last = first;
    while let Some((_, t)) = twists.recv(Duration::from_secs(3)) {
        last = t;
    }
    assert_eq!(last["linear"]["x"].as_f64(), Some(0.0));
    assert_eq!(last["angular"]["z"].as_f64(), Some(0.0));
}

/// `--ros-args -p name:=value ...` from pairs.
fn ros_args(params: &[(&str, String)]) -> Vec<String> {
    let mut out = vec!["--ros-args".to_owned()];
    for (k, v) in params {
        out.push("-p".into());
        out.push(format!("{k}:={v}"));
    }
    out
}

fn start_expecting_failure(domain: u32, args: &[String]) -> (i32, String) {
    let mut b = Bridge::spawn_raw(domain, tempfile::tempdir().expect("dir"), args);
    let status = b
        .wait_exit(Duration::from_secs(20))
        .expect("the bridge must exit on a bad start");
    (status.code().unwrap_or(-1), b.log_text())
}

#[test]
fn seed_config_loads_unchanged_and_runs() {
    require_env();
    let broker = Broker::start();
    let seed = repo().join("config/mqtt_config.yaml");
    let dir = tempfile::tempdir().expect("dir");
    let args = ros_args(&[
        ("config_file", seed.display().to_string()),
        ("robot_id", "AMR009".into()),
        ("port", broker.port.to_string()),
    ]);
    let mut sub = MqttSub::start(broker.port, "amr/AMR009/status/connection");
    let b = Bridge::spawn_raw(14, dir, &args);
    b.wait_log("connected to", Duration::from_secs(20));
    sub.expect(
        "amr/AMR009/status/connection",
        Duration::from_secs(10),
        "online",
        |m| m.payload.contains("online"),
    );
    // A subscriber that comes later gets it too: it is retained.
    let mut late = MqttSub::start(broker.port, "amr/AMR009/status/connection");
    let m = late.expect(
        "amr/AMR009/status/connection",
        Duration::from_secs(5),
        "retained online",
        |m| m.payload.contains("online"),
    );
    assert!(m.retain, "presence is retained");
    assert_eq!(m.json()["data"]["state"], "online");
}

#[test]
fn unknown_key_and_wrong_type_name_the_key_and_the_file() {
    require_env();
    let dir = tempfile::tempdir().expect("dir");
    for (yaml, key) in [
        ("mqtt:\n  broker: localhost\n  brokr: x\n", "mqtt.brokr"),
        ("mqtt:\n  port: \"eighteen\"\n", "mqtt.port"),
        ("mqtt:\n  qos: {status: 7}\n", "mqtt.qos.status"),
        (
            "mqtt: {}\ncommands: {max_linear_speed: fast}\n",
            "commands.max_linear_speed",
        ),
    ] {
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, yaml).expect("write");
        let args = ros_args(&[
            ("config_file", f.display().to_string()),
            ("robot_id", "R1".into()),
        ]);
        let (code, log) = start_expecting_failure(15, &args);
        assert_eq!(code, 2, "config error exit code for {key}:\n{log}");
        assert!(
            log.contains(&f.display().to_string()),
            "names the file: {log}"
        );
        assert!(log.contains(key), "names the key {key}: {log}");
    }
}

#[test]
fn invalid_robot_ids_fail_at_start() {
    require_env();
    let dir = tempfile::tempdir().expect("dir");
    for id in ["a/b", "+", "#", "x y", "bad\\u0001id"] {
        let f = dir.path().join("id.yaml");
        std::fs::write(&f, format!("mqtt: {{}}\nrobot_id: \"{id}\"\n")).expect("write");
        let args = ros_args(&[("config_file", f.display().to_string())]);
        let (code, log) = start_expecting_failure(16, &args);
        assert_eq!(code, 2, "robot id {id:?}:\n{log}");
        assert!(log.contains("robot_id"), "{log}");
    }
    // As a ROS parameter too; an empty one with no namespace leaves the bridge without an id.
    for arg in ["robot_id:='a/b'", "robot_id:='+'", "robot_id:=''"] {
        let args: Vec<String> = vec!["--ros-args".into(), "-p".into(), arg.into()];
        let (code, log) = start_expecting_failure(16, &args);
        assert_eq!(code, 2, "{arg}:\n{log}");
        assert!(
            log.contains("robot id") || log.contains("robot_id"),
            "{log}"
        );
    }
}

#[test]
fn a_mapping_of_an_unknown_type_fails_at_start() {
    require_env();
    let dir = tempfile::tempdir().expect("dir");
    let f = dir.path().join("m.yaml");
    std::fs::write(
        &f,
        "mqtt: {}\nmappings:\n  - {name: mystery, ros_topic: x, ros_type: no_such_msgs/msg/Thing, mqtt_action: x}\n",
    )
    .expect("write");
    let args = ros_args(&[
        ("config_file", f.display().to_string()),
        ("robot_id", "R1".into()),
    ]);
    let (code, log) = start_expecting_failure(15, &args);
    assert_eq!(code, 2, "{log}");
    assert!(
        log.contains("mystery") && log.contains("no_such_msgs/msg/Thing"),
        "{log}"
    );
}
