//! The first vertical slice end to end: odometry to `status/position`, a move command to
//! `cmd_vel`, and the configuration checks at start. Real Mosquitto, real DDS, rclpy peer.

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

#[test]
fn odometry_reaches_status_position_in_the_seed_envelope() {
    let h = 45f64.to_radians() / 2.0;
    let odom = json!({
        "header": {"stamp": {"sec": 1704110400, "nanosec": 0}, "frame_id": "odom"},
        "child_frame_id": "base_link",
        "pose": {"pose": {"position": {"x": 10.5, "y": 20.3, "z": 0.0},
                          "orientation": {"x": 0.0, "y": 0.0, "z": h.sin(), "w": h.cos()}}},
        "twist": {"twist": {"linear": {"x": 0.25}, "angular": {"z": 0.1}}}
    });
    let mut rig = Rig::start("AMR001", "");
    let ros_odom = rig.ros(ros_type::ODOMETRY, "/odom");
    let _p = ros_odom.publish(&odom, 5.0, 10, "reliable");
    let m = rig.expect(
        "status/position",
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
    let mut rig = Rig::start("AMR002", "");
    let ros_odom = rig.ros(ros_type::ODOMETRY, "/odom");
    let before = now_rfc3339();
    let _p = ros_odom.publish(&json!({}), 5.0, 10, "best_effort");
    let m = rig.expect(
        "status/position",
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
    let rig = Rig::start("AMR003", "");
    let ros_cmd_vel = rig.ros(ros_type::TWIST, "/cmd_vel");
    let mut twists = ros_cmd_vel.subscribe("reliable");
    std::thread::sleep(Duration::from_secs(1));
    let cmd = json!({"timestamp": now_rfc3339(), "command": "move_forward",
                     "parameters": {"speed": 20, "distance": 10}});
    rig.send("move", &cmd.to_string());
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

/// `--ros-args -p config_file:=<file> [-p robot_id:=<robot>]`.
fn config_args(file: &Path, robot: Option<&str>) -> Vec<String> {
    let mut params = vec![("config_file", file.display().to_string())];
    params.extend(robot.map(|r| ("robot_id", r.to_owned())));
    ros_args(&params)
}

/// Starts the bridge with `args`, which must make it fail: its exit code and its log.
fn start_expecting_failure(args: &[String]) -> (i32, String) {
    let domain = Domain::new();
    let mut b = Bridge::spawn_raw(domain.id(), tempfile::tempdir().expect("dir"), args);
    let status = b
        .wait_exit(Duration::from_secs(20))
        .expect("the bridge must exit on a bad start");
    (status.code().unwrap_or(-1), b.log_text())
}

#[test]
fn seed_config_loads_unchanged_and_runs() {
    let site = Site::start();
    let seed = repo().join("config/mqtt_config.yaml");
    let mut args = config_args(&seed, Some("AMR009"));
    args.extend(["-p".into(), format!("port:={}", site.port())]);
    let topic = "amr/AMR009/status/connection";
    let mut sub = site.mqtt_sub(topic);
    let dir = tempfile::tempdir().expect("dir");
    let b = Bridge::spawn_raw(site.domain.id(), dir, &args);
    b.wait_log("connected to", Duration::from_secs(20));
    sub.expect(topic, Duration::from_secs(10), "online", |m| {
        m.payload.contains("online")
    });
    // A subscriber that comes later gets it too: it is retained.
    let mut late = site.mqtt_sub(topic);
    let m = late.expect(topic, Duration::from_secs(5), "retained online", |m| {
        m.payload.contains("online")
    });
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
        let (code, log) = start_expecting_failure(&config_args(&f, Some("R1")));
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
        let (code, log) = start_expecting_failure(&config_args(&f, None));
        assert_eq!(code, 2, "robot id {id:?}:\n{log}");
        assert!(log.contains("robot_id"), "{log}");
    }
    // As a ROS parameter too; an empty one with no namespace leaves the bridge without an id.
    for arg in ["robot_id:='a/b'", "robot_id:='+'", "robot_id:=''"] {
        let args: Vec<String> = vec!["--ros-args".into(), "-p".into(), arg.into()];
        let (code, log) = start_expecting_failure(&args);
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
    let (code, log) = start_expecting_failure(&config_args(&f, Some("R1")));
    assert_eq!(code, 2, "{log}");
    assert!(
        log.contains("mystery") && log.contains("no_such_msgs/msg/Thing"),
        "{log}"
    );
}
