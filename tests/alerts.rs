//! Alerts the bridge raises by itself: battery low and critical, a sensor stream gone stale
//! and back. Real Mosquitto, real DDS, rclpy peer.

mod common;
use common::*;
use std::time::Duration;

fn alert_json(m: &MqttMsg) -> Value {
    m.json()
}

#[test]
fn battery_low_then_critical() {
    require_env();
    let domain = 19;
    let broker = Broker::start();
    let _bridge = Bridge::start(domain, broker.port, "ALR19", &config(""), &[]);
    let mut alerts = MqttSub::start(broker.port, "amr/ALR19/alert/#");
    let low = json!({"percentage": 0.15, "power_supply_status": 2});
    let _p = ros_pub(
        domain,
        "sensor_msgs/msg/BatteryState",
        "/battery_state",
        &low,
        2.0,
        6,
        "reliable",
    );
    let m = alerts.expect(
        "amr/ALR19/alert/warning",
        Duration::from_secs(15),
        "battery low",
        |m| m.payload.contains("Battery level low"),
    );
    let v = alert_json(&m);
    assert_eq!(v["level"], "warning");
    assert_eq!(v["robot_id"], "ALR19");
    assert!(
        (v["data"]["battery_level"].as_f64().expect("level") - 15.0).abs() < 1e-6,
        "{v}"
    );
    assert_eq!(m.qos, 2, "alert category QoS");
    let critical = json!({"percentage": 0.05, "power_supply_status": 2});
    let _p = ros_pub(
        domain,
        "sensor_msgs/msg/BatteryState",
        "/battery_state",
        &critical,
        2.0,
        6,
        "reliable",
    );
    let m = alerts.expect(
        "amr/ALR19/alert/error",
        Duration::from_secs(15),
        "battery critical",
        |m| m.payload.contains("Battery level critical"),
    );
    assert!(
        (alert_json(&m)["data"]["battery_level"]
            .as_f64()
            .expect("level")
            - 5.0)
            .abs()
            < 1e-6
    );
}

#[test]
fn a_silent_stream_is_reported_stale_then_resumed() {
    require_env();
    let domain = 9;
    let broker = Broker::start();
    let _bridge = Bridge::start(
        domain,
        broker.port,
        "ALR09",
        &config("alerts: {stale_after: 1.0}\n"),
        &[],
    );
    let mut alerts = MqttSub::start(broker.port, "amr/ALR09/alert/#");
    ros_pub_wait(
        domain,
        "nav_msgs/msg/Odometry",
        "/odom",
        &json!({}),
        20.0,
        20,
        "reliable",
    );
    let m = alerts.expect(
        "amr/ALR09/alert/warning",
        Duration::from_secs(10),
        "odom stale",
        |m| m.payload.contains("Sensor stream stale"),
    );
    let v = alert_json(&m);
    assert_eq!(v["data"]["mapping"], "odom");
    assert!(
        v["data"]["silent_seconds"].as_f64().expect("silent") >= 1.0,
        "{v}"
    );
    // No imu was ever seen: never-started streams are not alarms.
    assert!(
        !alerts.got.iter().any(|m| m.payload.contains("\"imu\"")),
        "{:?}",
        alerts.got
    );
    let _p = ros_pub(
        domain,
        "nav_msgs/msg/Odometry",
        "/odom",
        &json!({}),
        20.0,
        40,
        "reliable",
    );
    alerts.expect(
        "amr/ALR09/alert/info",
        Duration::from_secs(10),
        "odom resumed",
        |m| m.payload.contains("Sensor stream resumed"),
    );
}
