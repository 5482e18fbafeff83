//! Alerts the bridge raises by itself: battery low and critical, a sensor stream gone stale
//! and back. Real Mosquitto, real DDS, rclpy peer.

mod common;
use common::*;
use std::time::Duration;

/// A bridge for `robot` with `config(extra)`, recording `amr/<robot>/alert/#` only.
fn alerts_rig(robot: &str, extra: &str) -> Rig {
    Rig::start_with(robot, &config(extra), &[], &format!("amr/{robot}/alert/#"))
}

/// Battery messages at 2 Hz for 3 s.
fn battery(rig: &Rig, msg: Value) -> Proc {
    let ros_battery = rig.ros(ros_type::BATTERY, "/battery_state");
    ros_battery.publish(&msg, 2.0, 6, "reliable")
}

/// The next `alert/<level>` within `secs` whose payload contains `text`.
fn alert(rig: &mut Rig, level: &str, secs: u64, text: &str) -> MqttMsg {
    let path = format!("alert/{level}");
    let timeout = Duration::from_secs(secs);
    rig.expect(&path, timeout, text, |m| m.payload.contains(text))
}

fn battery_level(m: &MqttMsg) -> f64 {
    m.json()["data"]["battery_level"].as_f64().expect("level")
}

#[test]
fn battery_low_then_critical() {
    let mut rig = alerts_rig("ALR19", "");
    let _p = battery(&rig, json!({"percentage": 0.15, "power_supply_status": 2}));
    let m = alert(&mut rig, "warning", 15, "Battery level low");
    let v = m.json();
    assert_eq!(v["level"], "warning");
    assert_eq!(v["robot_id"], "ALR19");
    assert!((battery_level(&m) - 15.0).abs() < 1e-6, "{v}");
    assert_eq!(m.qos, 2, "alert category QoS");
    let _p = battery(&rig, json!({"percentage": 0.05, "power_supply_status": 2}));
    let m = alert(&mut rig, "error", 15, "Battery level critical");
    assert!((battery_level(&m) - 5.0).abs() < 1e-6);
}

#[test]
fn a_silent_stream_is_reported_stale_then_resumed() {
    let mut rig = alerts_rig("ALR09", "alerts: {stale_after: 1.0}\n");
    let ros_odom = rig.ros(ros_type::ODOMETRY, "/odom");
    ros_odom.publish_wait(&json!({}), 20.0, 20, "reliable");
    let m = alert(&mut rig, "warning", 10, "Sensor stream stale");
    let v = m.json();
    assert_eq!(v["data"]["mapping"], "odom");
    assert!(
        v["data"]["silent_seconds"].as_f64().expect("silent") >= 1.0,
        "{v}"
    );
    // No imu was ever seen: never-started streams are not alarms.
    assert!(
        !rig.sub.got.iter().any(|m| m.payload.contains("\"imu\"")),
        "{:?}",
        rig.sub.got
    );
    let _p = ros_odom.publish(&json!({}), 20.0, 40, "reliable");
    rig.expect("alert/info", Duration::from_secs(10), "odom resumed", |m| {
        m.payload.contains("Sensor stream resumed")
    });
}
