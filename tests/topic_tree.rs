//! Every default mapping end to end (SPEC sections 1-3, 6, 7): an rclpy publisher sends
//! realistic messages, an independent `mosquitto_sub` checks topic, QoS, retain flag and every
//! JSON field against values computed here from the inputs. Also: rate limits, generic
//! mappings both ways, QoS and topic overrides, namespaces, the derived state, disabling.
//!
//! Real Mosquitto, real DDS; every test has its own broker, bridge and ROS domain (`Rig`).

mod common;
use common::ros_type::{BATTERY, IMU, JOINTS, ODOMETRY, POSE, SCAN, STRING};
use common::*;
use std::time::{Duration, Instant};

const STAMP_SEC: i64 = 1_704_110_400; // 2024-01-01T12:00:00Z

// ---------------------------------------------------------------------------------------------
// Expected values, computed here without the bridge's code.

/// The unit quaternion of roll, pitch, yaw (radians), ZYX convention as REP 103 / tf2.
fn quat_from_rpy(roll: f64, pitch: f64, yaw: f64) -> [f64; 4] {
    let (sr, cr) = (roll / 2.0).sin_cos();
    let (sp, cp) = (pitch / 2.0).sin_cos();
    let (sy, cy) = (yaw / 2.0).sin_cos();
    [
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    ]
}

/// An f32 field: the bridge keeps f32 precision, so compare with 1e-6 relative.
fn close32(v: &Value, want: f32, what: &str) {
    let got = number(v, what);
    let want = f64::from(want);
    let tol = 1e-6 * want.abs().max(1e-30);
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

/// The envelope every status/sensor message has, stamped `timestamp` when given.
fn check_envelope(v: &Value, robot: &str, kind: &str, timestamp: Option<&str>) {
    let ts = common::check_envelope(v, robot, kind, "envelope");
    assert!(ts.ends_with('Z'), "UTC timestamp: {ts}");
    if let Some(want) = timestamp {
        assert_eq!(ts, want, "timestamp from the header stamp");
    }
}

const T: Duration = Duration::from_secs(15);

/// MQTT (3.1.1, as mosquitto_sub speaks) sets the retain flag only on what a broker delivers at
/// subscribe time; so a topic was never published retained when a late subscriber gets nothing
/// flagged retained on it.
fn assert_not_retained(port: u16, topic: &str) {
    let mut late = MqttSub::start(port, topic);
    let flagged: Vec<MqttMsg> = late
        .collect(topic, Duration::from_millis(700))
        .into_iter()
        .filter(|m| m.retain)
        .collect();
    assert!(
        flagged.is_empty(),
        "{topic} must not be retained: {flagged:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. imu -> sensor/imu

fn imu_msg(frame: &str, rpy_deg: [f64; 3], gyro: [f64; 3], acc: [f64; 3], nanosec: u32) -> Value {
    let [x, y, z, w] = quat_from_rpy(
        rpy_deg[0].to_radians(),
        rpy_deg[1].to_radians(),
        rpy_deg[2].to_radians(),
    );
    json!({
        "header": {"stamp": {"sec": STAMP_SEC, "nanosec": nanosec}, "frame_id": frame},
        "orientation": {"x": x, "y": y, "z": z, "w": w},
        "orientation_covariance": [0.01, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.01],
        "angular_velocity": {"x": gyro[0], "y": gyro[1], "z": gyro[2]},
        "linear_acceleration": {"x": acc[0], "y": acc[1], "z": acc[2]}
    })
}

fn check_imu(m: &MqttMsg, robot: &str, input: &Value, rpy_deg: [f64; 3], nanosec: u32) {
    assert_eq!(m.qos, 0, "sensor category QoS");
    let v = m.json();
    check_envelope(&v, robot, "sensor", Some(&rfc3339(STAMP_SEC, nanosec)));
    let d = &v["data"];
    assert_eq!(
        keys(d),
        set(&[
            "orientation",
            "angular_velocity",
            "linear_acceleration",
            "frame_id"
        ])
    );
    assert_eq!(d["frame_id"], input["header"]["frame_id"]);
    let o = &d["orientation"];
    assert_eq!(keys(o), set(&["x", "y", "z", "w", "roll", "pitch", "yaw"]));
    for k in ["x", "y", "z", "w"] {
        close(
            &o[k],
            number(&input["orientation"][k], k),
            1e-12,
            &format!("orientation.{k}"),
        );
    }
    close(&o["roll"], rpy_deg[0], 1e-6, "roll");
    close(&o["pitch"], rpy_deg[1], 1e-6, "pitch");
    close(&o["yaw"], rpy_deg[2], 1e-6, "yaw");
    for part in ["angular_velocity", "linear_acceleration"] {
        assert_eq!(keys(&d[part]), set(&["x", "y", "z"]));
        for k in ["x", "y", "z"] {
            close(
                &d[part][k],
                number(&input[part][k], k),
                1e-12,
                &format!("{part}.{k}"),
            );
        }
    }
}

#[test]
fn imu_to_sensor_imu_with_best_effort_and_reliable_publishers() {
    let robot = "AMR030";
    let mut rig = Rig::start(robot, "");

    // Best effort, as IMU drivers publish (the sensor-data profile).
    let rpy = [10.0, -20.0, 135.0];
    let (gyro, acc) = ([0.01, -0.02, 0.35], [0.12, -0.05, 9.81]);
    let be = imu_msg("imu_be", rpy, gyro, acc, 250_000_000);
    let ros_imu = rig.ros(IMU, "/imu");
    let _p = ros_imu.publish(&be, 20.0, 30, "best_effort");
    let m = rig.expect("sensor/imu", T, "IMU from a best-effort publisher", |m| {
        m.payload.contains("imu_be")
    });
    check_imu(&m, robot, &be, rpy, 250_000_000);

    // Reliable: a best-effort reader matches a reliable writer too.
    let rpy = [-45.0, 5.5, -170.0];
    let (gyro, acc) = ([-0.5, 0.25, -1.0], [-0.3, 0.2, 9.79]);
    let rel = imu_msg("imu_rel", rpy, gyro, acc, 500_000_000);
    let _p = ros_imu.publish(&rel, 20.0, 30, "reliable");
    let m = rig.expect("sensor/imu", T, "IMU from a reliable publisher", |m| {
        m.payload.contains("imu_rel")
    });
    check_imu(&m, robot, &rel, rpy, 500_000_000);

    // orientation_covariance[0] == -1: the driver has no orientation.
    let (gyro, acc) = ([0.0, 0.0, 0.1], [0.0, 0.0, 9.8]);
    let mut none = imu_msg("imu_noorient", [0.0, 0.0, 90.0], gyro, acc, 0);
    none["orientation_covariance"] = json!([-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let _p = ros_imu.publish(&none, 20.0, 30, "best_effort");
    let m = rig.expect("sensor/imu", T, "IMU without orientation", |m| {
        m.payload.contains("imu_noorient")
    });
    let v = m.json();
    assert!(
        v["data"]["orientation"].is_null(),
        "orientation must be null: {v}"
    );
    let d = &v["data"];
    close(
        &d["angular_velocity"]["z"],
        0.1,
        1e-12,
        "angular_velocity.z",
    );
    close(
        &d["linear_acceleration"]["z"],
        9.8,
        1e-12,
        "linear_acceleration.z",
    );
    assert_eq!(v["timestamp"], rfc3339(STAMP_SEC, 0));
    let topic = rig.topic("sensor/imu");
    assert_not_retained(rig.port(), &topic);
}

// ---------------------------------------------------------------------------------------------
// 2. battery_state -> status/battery

fn battery_msg(percentage: Value, voltage: Value, status: u8) -> Value {
    json!({
        "header": {"stamp": {"sec": STAMP_SEC + 60, "nanosec": 0}, "frame_id": "battery"},
        "voltage": voltage,
        "temperature": 31.5,
        "current": -2.25,
        "charge": 38.4,
        "capacity": 40.0,
        "design_capacity": 42.0,
        "percentage": percentage,
        "power_supply_status": status,
        "power_supply_health": 1,
        "power_supply_technology": 2,
        "present": true
    })
}

/// Checks a battery message; `percent` is the expected percent.
fn check_battery(m: &MqttMsg, robot: &str, input: &Value, percent: f64, status_word: &str) {
    assert_eq!(m.qos, 1, "status category QoS");
    let v = m.json();
    check_envelope(&v, robot, "status", Some(&rfc3339(STAMP_SEC + 60, 0)));
    let d = &v["data"];
    close(&d["percent"], percent, 1e-6, "percent");
    match input["voltage"].as_f64() {
        Some(volts) => close32(&d["voltage"], volts as f32, "voltage"),
        None => assert!(d["voltage"].is_null(), "NaN voltage must be null: {d}"),
    }
    for k in ["current", "charge", "capacity", "temperature"] {
        close32(&d[k], number(&input[k], k) as f32, k);
    }
    assert_eq!(d["status"], status_word);
    assert_eq!(d["charging"], status_word == "charging");
    assert_eq!(d["present"], true);
}

#[test]
fn battery_state_to_status_battery_retained_fraction_nan_and_charging() {
    let robot = "AMR031";
    let mut rig = Rig::start(robot, "");

    // 0.96 by the message definition (a fraction), voltage unknown, charging.
    let percentage = 0.96_f64;
    let input = battery_msg(json!(percentage), json!("nan"), 1);
    let ros_battery = rig.ros(BATTERY, "/battery_state");
    ros_battery.publish_wait(&input, 5.0, 3, "reliable");
    let m = rig.expect("status/battery", T, "battery", |_| true);
    // f32 0.96 read as a fraction: 96 % (to 1e-6).
    check_battery(&m, robot, &input, percentage * 100.0, "charging");

    // MQTT flags retain only on what is delivered at subscribe time: a late subscriber.
    let topic = rig.topic("status/battery");
    let mut late = rig.mqtt_sub(&topic);
    let m = late.expect(&topic, Duration::from_secs(5), "retained battery", |_| true);
    assert!(m.retain, "status/battery is retained");
    check_battery(&m, robot, &input, percentage * 100.0, "charging");
}

#[test]
fn battery_percentage_scale_percent_from_the_config() {
    let robot = "AMR032";
    let mut rig = Rig::start(
        robot,
        "mappings:\n  - {name: battery_state, percentage_scale: percent}\n",
    );
    let percentage = 96.0_f64;
    let input = battery_msg(json!(percentage), json!(25.2), 2);
    let ros_battery = rig.ros(BATTERY, "/battery_state");
    let _p = ros_battery.publish(&input, 5.0, 10, "reliable");
    let m = rig.expect("status/battery", T, "battery in percent", |_| true);
    check_battery(&m, robot, &input, percentage, "discharging");
}

// ---------------------------------------------------------------------------------------------
// 3. joint_states -> status/motor

/// The `motors` of a status/motor message, `n` of them.
fn motors(v: &Value, n: usize) -> Vec<Value> {
    let motors = v["data"]["motors"].as_array().expect("motors array");
    assert_eq!(motors.len(), n, "{v}");
    motors.clone()
}

#[test]
fn joint_states_to_status_motor_with_unequal_lengths() {
    let robot = "AMR033";
    let mut rig = Rig::start(robot, "");

    let names = ["wheel_left_joint", "wheel_right_joint"];
    let pos = [12.5663, -3.25];
    let vel = [4.2, -4.1];
    let eff = [0.75, -0.5];
    let input = json!({
        "header": {"stamp": {"sec": STAMP_SEC, "nanosec": 0}, "frame_id": ""},
        "name": names, "position": pos, "velocity": vel, "effort": eff
    });
    let ros_joints = rig.ros(JOINTS, "/joint_states");
    let _p = ros_joints.publish(&input, 10.0, 20, "reliable");
    let m = rig.expect("status/motor", T, "two wheels", |m| {
        m.payload.contains("wheel_left_joint")
    });
    assert_eq!(m.qos, 1, "status category QoS");
    let topic = rig.topic("status/motor");
    assert_not_retained(rig.port(), &topic);
    let v = m.json();
    check_envelope(&v, robot, "status", Some(&rfc3339(STAMP_SEC, 0)));
    for (i, mo) in motors(&v, 2).iter().enumerate() {
        assert_eq!(keys(mo), set(&["name", "position", "velocity", "effort"]));
        assert_eq!(mo["name"], names[i]);
        close(&mo["position"], pos[i], 1e-12, "position");
        close(&mo["velocity"], vel[i], 1e-12, "velocity");
        close(&mo["effort"], eff[i], 1e-12, "effort");
    }

    // 3 names, 2 velocities, no position and no effort: the missing ones are null.
    let names3 = ["left", "right", "caster"];
    let vel2 = [1.5, -1.25];
    let input = json!({"name": names3, "velocity": vel2});
    let _p = ros_joints.publish(&input, 10.0, 20, "reliable");
    let m = rig.expect("status/motor", T, "three joints", |m| {
        m.payload.contains("caster")
    });
    for (i, mo) in motors(&m.json(), 3).iter().enumerate() {
        assert_eq!(mo["name"], names3[i]);
        assert!(mo["position"].is_null(), "no positions: {mo}");
        assert!(mo["effort"].is_null(), "no efforts: {mo}");
        match vel2.get(i) {
            Some(&want) => close(&mo["velocity"], want, 1e-12, "velocity"),
            None => assert!(mo["velocity"].is_null(), "only 2 velocities: {mo}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. scan -> sensor/lidar

#[test]
fn scan_to_sensor_lidar_non_finite_ranges_null_and_rate_limited() {
    let robot = "AMR034";
    let mut rig = Rig::start(robot, "bridge: {diagnostics_period: 1}\n");

    let n = 360;
    let increment = (2.0 * std::f64::consts::PI / n as f64) as f32;
    let angle_min = -std::f32::consts::PI;
    let angle_max = angle_min + increment * (n - 1) as f32;
    let special: [(usize, &str); 6] = [
        (0, "inf"),
        (7, "-inf"),
        (90, "nan"),
        (180, "inf"),
        (271, "nan"),
        (359, "-inf"),
    ];
    let ranges: Vec<Value> = (0..n)
        .map(|i| match special.iter().find(|(j, _)| *j == i) {
            Some((_, s)) => json!(s),
            None => json!(0.3 + 0.0371 * i as f64),
        })
        .collect();
    let intensities: Vec<f64> = (0..n).map(|i| (i % 50) as f64 * 2.5).collect();
    let input = json!({
        "header": {"stamp": {"sec": STAMP_SEC, "nanosec": 100_000_000}, "frame_id": "base_scan"},
        "angle_min": angle_min, "angle_max": angle_max, "angle_increment": increment,
        "time_increment": 0.0001, "scan_time": 0.1, "range_min": 0.12, "range_max": 25.0,
        "ranges": ranges, "intensities": intensities
    });
    // 10 Hz for 3 s, the default limit is 2 Hz.
    let rate = 10.0;
    let count = 30;
    let ros_scan = rig.ros(SCAN, "/scan");
    let _p = ros_scan.publish(&input, rate, count, "best_effort");
    let first = rig.expect("sensor/lidar", T, "a scan", |_| true);
    let topic = rig.topic("sensor/lidar");
    let rest = rig.sub.collect(&topic, Duration::from_secs(5));

    assert_eq!(first.qos, 0, "sensor category QoS");
    assert_not_retained(rig.port(), &topic);
    let v = first.json();
    check_envelope(&v, robot, "sensor", Some(&rfc3339(STAMP_SEC, 100_000_000)));
    let d = &v["data"];
    assert_eq!(d["frame_id"], "base_scan");
    close32(&d["angle_min"], angle_min, "angle_min");
    close32(&d["angle_max"], angle_max, "angle_max");
    close32(&d["angle_increment"], increment, "angle_increment");
    close32(&d["time_increment"], 0.0001, "time_increment");
    close32(&d["scan_time"], 0.1, "scan_time");
    close32(&d["range_min"], 0.12, "range_min");
    close32(&d["range_max"], 25.0, "range_max");
    let got = d["ranges"].as_array().expect("ranges array");
    assert_eq!(got.len(), n);
    for (i, r) in got.iter().enumerate() {
        match ranges[i].as_f64() {
            Some(want) => close32(r, want as f32, &format!("ranges[{i}]")),
            None => assert!(
                r.is_null(),
                "ranges[{i}] ({}) must be null, got {r}",
                ranges[i]
            ),
        }
    }
    let got = d["intensities"].as_array().expect("intensities array");
    assert_eq!(got.len(), n);
    for (i, r) in got.iter().enumerate() {
        close32(r, intensities[i] as f32, &format!("intensities[{i}]"));
    }

    // At most 2 a second, the latest value held to the next slot: never two within a slot
    // (the bridge sends them 0.5 s apart; arrival jitter aside), and over the publisher's 3 s
    // (or more, on a loaded machine) at least 1 + 2 * 3 - 2.
    let span = f64::from(count) / rate;
    let received = 1 + rest.len();
    let min = 1 + (span * 2.0).ceil() as usize - 2;
    let at: Vec<Instant> = std::iter::once(first.at)
        .chain(rest.iter().map(|m| m.at))
        .collect();
    let closest = at.windows(2).map(|w| w[1] - w[0]).min();
    assert!(
        received >= min && closest.is_some_and(|d| d >= Duration::from_millis(300)),
        "{received} scans on MQTT for {count} at {rate} Hz over {span} s with a 2 Hz limit \
         (want at least {min}, never two within 0.3 s; closest {closest:?})"
    );

    // What the limit leaves out is counted apart from what is lost: every scan the bridge took
    // is published or `skipped` (a newer one replaced it), none `dropped`. The first report
    // after the window above comes after the stream and its last held scan.
    let report = rig.expect("status/bridge", T, "the scan's counters", |m| {
        let scan = &m.json()["data"]["mappings"]["scan"];
        let n = |k: &str| scan[k].as_u64().unwrap_or(0);
        n("received") > 0 && n("published") + n("skipped") == n("received")
    });
    let scan = report.json()["data"]["mappings"]["scan"].clone();
    let n = |k: &str| scan[k].as_u64().expect(k);
    assert_eq!(n("dropped"), 0, "nothing lost: {scan}");
    let published = n("published") as usize;
    assert_eq!(published, received, "published is what MQTT got: {scan}");
    assert!(n("skipped") > 0, "the 2 Hz limit skipped the rest: {scan}");
}

// ---------------------------------------------------------------------------------------------
// 5. rate limit, latest wins

#[test]
fn imu_rate_limited_to_10hz_keeps_the_latest_value() {
    let mut rig = Rig::start("AMR035", "mappings:\n  - {name: imu, rate_limit_hz: 10}\n");
    let input = imu_msg("imu", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 9.81], 0);
    let count = 1000; // 200 Hz for 5 s; linear_acceleration.x = index of the message
    let counter = ["--counter", "linear_acceleration.x"];
    let ros_imu = rig.ros(IMU, "/imu");
    let mut p = ros_imu.publish_args(&input, 200.0, count, "best_effort", &counter);
    let first = rig.expect("sensor/imu", T, "rate-limited IMU", |_| true);
    let mut msgs = vec![first];
    let topic = rig.topic("sensor/imu");
    msgs.extend(rig.sub.collect(&topic, Duration::from_secs(7)));
    let s = p.child.wait().expect("ros_tool pub");
    assert!(s.success(), "the publisher failed");

    // The steady window: from 1 s after the first message to 1 s before the last one.
    let t0 = msgs[0].at;
    let t_end = msgs.last().expect("messages").at;
    let window: Vec<Instant> = msgs
        .iter()
        .map(|m| m.at)
        .filter(|&t| t >= t0 + Duration::from_secs(1) && t + Duration::from_secs(1) <= t_end)
        .collect();
    assert!(
        window.len() >= 20,
        "{} messages in the steady window of {} in all",
        window.len(),
        msgs.len()
    );
    let span = (*window.last().expect("window") - window[0]).as_secs_f64();
    let hz = (window.len() - 1) as f64 / span;
    assert!(
        (hz - 10.0).abs() <= 1.0,
        "MQTT rate {hz:.2} Hz over {span:.2} s, want 10 Hz ± 10%"
    );
    // Values only go forward, and the last published one is the last received (latest wins).
    let values: Vec<f64> = msgs
        .iter()
        .map(|m| number(&m.json()["data"]["linear_acceleration"]["x"], "counter"))
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "values out of order: {values:?}"
    );
    assert_eq!(
        *values.last().expect("values"),
        f64::from(count - 1),
        "the last message published must be the last one received: {values:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. generic mappings both ways

const GENERIC: &str = "mappings:
  - {name: pose_out, converter: generic, ros_topic: pose_out, ros_type: geometry_msgs/msg/PoseStamped, mqtt_category: status, mqtt_action: pose}
  - {name: pose_in, direction: mqtt_to_ros, ros_topic: pose_in, ros_type: geometry_msgs/msg/PoseStamped, mqtt_action: pose}
  - {name: say, direction: mqtt_to_ros, ros_topic: chatter, ros_type: std_msgs/msg/String, mqtt_action: say}
";

#[test]
fn generic_pose_ros_to_mqtt_with_msg_field_names() {
    let robot = "AMR036";
    let mut rig = Rig::start(robot, GENERIC);
    let [qx, qy, qz, qw] = quat_from_rpy(0.0, 0.0, 1.2);
    let input = json!({
        "header": {"stamp": {"sec": STAMP_SEC, "nanosec": 500_000_000}, "frame_id": "map"},
        "pose": {"position": {"x": 3.5, "y": -1.25, "z": 0.0},
                 "orientation": {"x": qx, "y": qy, "z": qz, "w": qw}}
    });
    let ros_pose_out = rig.ros(POSE, "/pose_out");
    let _p = ros_pose_out.publish(&input, 5.0, 10, "reliable");
    let m = rig.expect("status/pose", T, "generic PoseStamped", |_| true);
    assert_eq!(m.qos, 1, "status category QoS");
    let topic = rig.topic("status/pose");
    assert_not_retained(rig.port(), &topic);
    let v = m.json();
    check_envelope(&v, robot, "status", Some(&rfc3339(STAMP_SEC, 500_000_000)));
    let d = &v["data"];
    assert_eq!(keys(d), set(&["header", "pose"]));
    assert_eq!(keys(&d["header"]), set(&["stamp", "frame_id"]));
    assert_eq!(
        d["header"]["stamp"],
        json!({"sec": STAMP_SEC, "nanosec": 500_000_000})
    );
    assert_eq!(d["header"]["frame_id"], "map");
    assert_eq!(keys(&d["pose"]), set(&["position", "orientation"]));
    for part in ["position", "orientation"] {
        assert_eq!(keys(&d["pose"][part]), keys(&input["pose"][part]), "{part}");
        for (k, want) in input["pose"][part].as_object().expect("object") {
            close(
                &d["pose"][part][k],
                number(want, k),
                1e-12,
                &format!("pose.{part}.{k}"),
            );
        }
    }
}

#[test]
fn generic_mqtt_to_ros_pose_and_string_refuses_a_wrong_field() {
    let robot = "AMR037";
    let mut rig = Rig::start_with(
        robot,
        &config(GENERIC),
        &[],
        &format!("amr/{robot}/alert/#"),
    );

    // std_msgs/String on chatter.
    let ros_chatter = rig.ros(STRING, "/chatter");
    let mut chatter = ros_chatter.subscribe("reliable");
    rig.mqtt_pub(&rig.topic("command/say"), r#"{"data": "hello"}"#, 1, false);
    let (_, msg) = chatter.recv(T).expect("a String on /chatter");
    assert_eq!(msg, json!({"data": "hello"}));

    // PoseStamped on pose_in.
    let ros_pose_in = rig.ros(POSE, "/pose_in");
    let mut poses = ros_pose_in.subscribe("reliable");
    let good = |x: f64| {
        json!({"header": {"stamp": {"sec": STAMP_SEC, "nanosec": 0}, "frame_id": "map"},
               "pose": {"position": {"x": x, "y": -2.5, "z": 0.0},
                        "orientation": {"x": 0.0, "y": 0.0, "z": 0.6, "w": 0.8}}})
    };
    rig.send("pose", &good(1.5).to_string());
    let (_, msg) = poses.recv(T).expect("a PoseStamped on /pose_in");
    assert_eq!(msg["header"]["frame_id"], "map");
    assert_eq!(
        msg["header"]["stamp"],
        json!({"sec": STAMP_SEC, "nanosec": 0})
    );
    for (k, want) in [("x", 1.5), ("y", -2.5), ("z", 0.0)] {
        close(&msg["pose"]["position"][k], want, 1e-12, k);
    }
    for (k, want) in [("x", 0.0), ("y", 0.0), ("z", 0.6), ("w", 0.8)] {
        close(&msg["pose"]["orientation"][k], want, 1e-12, k);
    }

    // A wrong field: refused, nothing on ROS, a warning naming the field.
    rig.send("pose", r#"{"pose": {"position": {"x": "far"}}}"#);
    let a = rig.expect("alert/warning", T, "refusal warning", |m| {
        m.payload.contains("pose_in") || m.payload.contains("refused")
    });
    let v = a.json();
    assert_eq!(v["level"], "warning");
    assert!(
        a.payload.contains("pose.position.x"),
        "the alert names the field: {}",
        a.payload
    );
    assert!(
        poses.collect_for(Duration::from_millis(1500)).is_empty(),
        "a refused message reached ROS"
    );
    // The mapping still works, and the next message on ROS is the next good one.
    rig.send("pose", &good(3.0).to_string());
    let (_, msg) = poses.recv(T).expect("the next PoseStamped");
    close(&msg["pose"]["position"]["x"], 3.0, 1e-12, "x");
}

// ---------------------------------------------------------------------------------------------
// 7. QoS and topic overrides

fn odom_msg(x: f64, y: f64, yaw_deg: f64, vx: f64, wz: f64) -> Value {
    let [qx, qy, qz, qw] = quat_from_rpy(0.0, 0.0, yaw_deg.to_radians());
    json!({
        "header": {"stamp": {"sec": STAMP_SEC, "nanosec": 0}, "frame_id": "odom"},
        "child_frame_id": "base_link",
        "pose": {"pose": {"position": {"x": x, "y": y, "z": 0.0},
                          "orientation": {"x": qx, "y": qy, "z": qz, "w": qw}}},
        "twist": {"twist": {"linear": {"x": vx, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": wz}}}
    })
}

#[test]
fn qos_and_topic_prefix_overrides() {
    let robot = "AMR038";
    let yaml = config(
        "  qos: {status: 0}\n  topics: {status: \"fleet/{robot_id}/st\"}\nmappings:\n  - {name: joint_states, qos: 2}\n",
    );
    let mut rig = Rig::start_with(robot, &yaml, &[], "#");
    let odom = odom_msg(1.0, 2.0, 0.0, 0.0, 0.0);
    let ros_odom = rig.ros(ODOMETRY, "/odom");
    let _o = ros_odom.publish(&odom, 10.0, 40, "reliable");
    let joints = json!({"name": ["l", "r"], "velocity": [1.0, 1.0]});
    let ros_joints = rig.ros(JOINTS, "/joint_states");
    let _j = ros_joints.publish(&joints, 10.0, 40, "reliable");
    let st = |what: &str| format!("fleet/{robot}/st/{what}");
    let sub = &mut rig.sub;
    let pos = sub.expect(
        &st("position"),
        T,
        "position under the configured prefix",
        |_| true,
    );
    assert_eq!(pos.qos, 0, "mqtt.qos.status: 0");
    assert_not_retained(rig.site.port(), &st("position"));
    close(&pos.json()["data"]["position"]["x"], 1.0, 1e-12, "x");
    let motor = sub.expect(&st("motor"), T, "motor under the configured prefix", |_| {
        true
    });
    assert_eq!(motor.qos, 2, "per-mapping qos: 2");
    let state = sub.expect(&st("state"), T, "derived state under the prefix", |_| true);
    assert_eq!(state.qos, 0, "mqtt.qos.status: 0 for the derived state too");
    // Nothing of the status category under the default prefix; the other categories stay.
    let _ = sub.collect("", Duration::from_millis(500));
    let stray: Vec<&str> = sub
        .got
        .iter()
        .map(|m| m.topic.as_str())
        .filter(|t| t.starts_with(&format!("amr/{robot}/status")))
        .collect();
    assert!(
        stray.is_empty(),
        "status messages under the default prefix: {stray:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. robot id from the namespace

#[test]
fn robot_id_from_the_node_namespace() {
    // No robot_id parameter, none in the file: the namespace's last segment is the id.
    let ns = ["-r", "__ns:=/site_b/robot7"];
    let mut rig = Rig::start_with("", &config(""), &ns, "amr/#");
    let input = odom_msg(4.0, -3.0, -60.0, 0.0, 0.0);
    // `odom` is relative: inside the namespace.
    let ros_odom = rig.ros(ODOMETRY, "/site_b/robot7/odom");
    let _p = ros_odom.publish(&input, 5.0, 20, "reliable");
    let m = rig.sub.expect(
        "amr/robot7/status/position",
        T,
        "odometry of the namespaced robot",
        |_| true,
    );
    let v = m.json();
    check_envelope(&v, "robot7", "status", Some(&rfc3339(STAMP_SEC, 0)));
    close(&v["data"]["position"]["x"], 4.0, 1e-12, "x");
    close(&v["data"]["position"]["y"], -3.0, 1e-12, "y");
    close(&v["data"]["position"]["angle"], -60.0, 1e-6, "angle");
}

// ---------------------------------------------------------------------------------------------
// 9. derived status/state

#[test]
fn derived_state_running_then_charging_retained() {
    let robot = "AMR040";
    let mut rig = Rig::start(robot, "");

    let (x, y, yaw) = (5.25, -1.5, 30.0);
    let odom = odom_msg(x, y, yaw, 0.4, 0.0);
    let ros_odom = rig.ros(ODOMETRY, "/odom");
    let o = ros_odom.publish(&odom, 10.0, 60, "reliable");
    let m = rig.expect("status/state", T, "running", |m| {
        m.payload.contains("\"running\"")
    });
    assert_eq!(m.qos, 1);
    let v = m.json();
    check_envelope(&v, robot, "status", None);
    let d = &v["data"];
    assert_eq!(d["status"], "running");
    close(&d["position"]["x"], x, 1e-9, "x");
    close(&d["position"]["y"], y, 1e-9, "y");
    close(&d["position"]["angle"], yaw, 1e-6, "angle");
    assert!(d["battery"].is_null(), "no battery seen yet: {d}");

    // Docked: zero twist, battery charging at 0.55 (fraction).
    drop(o);
    let (x2, y2, yaw2) = (0.5, 0.25, -150.0);
    let docked = odom_msg(x2, y2, yaw2, 0.0, 0.0);
    let _o2 = ros_odom.publish(&docked, 10.0, 60, "reliable");
    let charging = battery_msg(json!(0.55), json!(25.9), 1);
    let ros_battery = rig.ros(BATTERY, "/battery_state");
    let _b = ros_battery.publish(&charging, 2.0, 12, "reliable");
    let m = rig.expect("status/state", T, "charging at the dock", |m| {
        m.payload.contains("\"charging\"") && m.json()["data"]["position"]["x"].as_f64() == Some(x2)
    });
    let d = &m.json()["data"];
    assert_eq!(d["status"], "charging");
    close(&d["battery"], 55.0, 1e-6, "battery");
    close(&d["position"]["y"], y2, 1e-9, "y");
    close(&d["position"]["angle"], yaw2, 1e-6, "angle");

    // Retained: a late subscriber gets the latest state with the retain flag.
    let topic = rig.topic("status/state");
    let mut late = rig.mqtt_sub(&topic);
    let m = late.expect(&topic, Duration::from_secs(5), "retained state", |_| true);
    assert!(m.retain, "status/state is retained");
    let d = &m.json()["data"];
    assert!(d["status"] == "charging", "{d}");
    close(&d["position"]["x"], x2, 1e-9, "x");
    close(&d["position"]["y"], y2, 1e-9, "y");
    close(&d["position"]["angle"], yaw2, 1e-6, "angle");
}

// ---------------------------------------------------------------------------------------------
// 10. disabling a mapping

#[test]
fn disabled_imu_mapping_publishes_nothing_while_odometry_flows() {
    let mut rig = Rig::start("AMR041", "mappings:\n  - {name: imu, enabled: false}\n");
    let imu = imu_msg(
        "imu",
        [0.0, 0.0, 10.0],
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 9.81],
        0,
    );
    let ros_imu = rig.ros(IMU, "/imu");
    let _i = ros_imu.publish(&imu, 50.0, 300, "best_effort");
    // Our own reader on /imu: the publisher starts at once, and we see that it does.
    let mut imu_seen = ros_imu.subscribe("best_effort");
    let odom = odom_msg(1.0, 1.0, 0.0, 0.0, 0.0);
    let ros_odom = rig.ros(ODOMETRY, "/odom");
    let _o = ros_odom.publish(&odom, 10.0, 50, "reliable");
    let pos = rig.topic("status/position");
    rig.sub.expect(&pos, T, "odometry still flows", |_| true);
    let more = rig.sub.collect(&pos, Duration::from_secs(3));
    assert!(
        more.len() >= 10,
        "odometry kept flowing for 3 s: {} messages",
        more.len()
    );
    let on_ros = imu_seen.collect_for(Duration::from_millis(200)).len();
    assert!(
        on_ros >= 100,
        "IMU messages were published meanwhile: {on_ros} seen on ROS"
    );
    let imu_topic = rig.topic("sensor/imu");
    let n = rig.sub.got.iter().filter(|m| m.topic == imu_topic).count();
    assert_eq!(
        n, 0,
        "{n} messages on {imu_topic} with the imu mapping disabled"
    );
}
