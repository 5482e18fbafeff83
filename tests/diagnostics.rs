//! SPEC section 10: the bridge tells about itself on MQTT `status/bridge` and ROS
//! `/diagnostics`: per-mapping counts, connection state, queue, latency.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn counters_on_status_bridge_and_diagnostics() {
    let extra = "bridge: {diagnostics_period: 1.0}\nmappings:\n  - {name: imu, rate_limit_hz: 5}\n";
    let mut rig = Rig::start_with("DIA07", &config(extra), &[], "amr/DIA07/status/bridge");
    let ros_odom = rig.ros(ros_type::ODOMETRY, "/odom");
    let ros_imu = rig.ros(ros_type::IMU, "/imu");
    let ros_diagnostics = rig.ros(ros_type::DIAGNOSTICS, "/diagnostics");
    let mut diag = ros_diagnostics.subscribe("reliable");
    ros_odom.publish_wait(&json!({}), 50.0, 40, "reliable");
    ros_imu.publish_wait(&json!({}), 100.0, 100, "reliable");
    let m = rig.expect("status/bridge", Duration::from_secs(10), "counts", |m| {
        let d = &m.json()["data"];
        let imu = &d["mappings"]["imu"];
        // The held (latest) IMU message goes out one period after the burst.
        let settled = imu["published"].as_u64().unwrap_or(0) + imu["skipped"].as_u64().unwrap_or(0);
        d["mappings"]["odom"]["received"].as_u64() == Some(40)
            && imu["received"].as_u64() == Some(100)
            && settled == 100
    });
    let d = m.json()["data"].clone();
    assert_eq!(d["connected"], true);
    assert_eq!(d["mappings"]["odom"]["published"].as_u64(), Some(40), "{d}");
    assert_eq!(d["mappings"]["odom"]["dropped"].as_u64(), Some(0), "{d}");
    assert_eq!(d["mappings"]["odom"]["skipped"].as_u64(), Some(0), "{d}");
    // 100 IMU messages in 1 s at 5 Hz: most replaced by newer ones, each one counted as
    // skipped by the rate limit, apart from what is lost (`dropped`: none here).
    let imu = &d["mappings"]["imu"];
    let (p, sk) = (
        imu["published"].as_u64().expect("n"),
        imu["skipped"].as_u64().expect("n"),
    );
    assert!((4..=12).contains(&p), "{imu}");
    assert_eq!(
        p + sk,
        100,
        "every message is published or counted as skipped: {imu}"
    );
    assert_eq!(imu["dropped"].as_u64(), Some(0), "none lost: {imu}");
    assert!(d["latency_ms"]["last"].as_f64().is_some(), "{d}");
    // Each mapping's ROS QoS: the built-ins' fixed profiles; none for the command path.
    assert_eq!(imu["ros_qos"], "best_effort, volatile, depth 1000", "{imu}");
    assert_eq!(
        d["mappings"]["scan"]["ros_qos"], "best_effort, volatile, depth 100",
        "{d}"
    );
    assert!(d["mappings"]["commands"].get("ros_qos").is_none(), "{d}");
    // The same on /diagnostics.
    let mut found = None;
    for _ in 0..10 {
        let Some((_, msg)) = diag.recv(Duration::from_secs(3)) else {
            break;
        };
        let statuses = msg["status"].as_array().cloned().unwrap_or_default();
        if let Some(odom) = statuses
            .iter()
            .find(|s| s["name"] == "amr_mqtt_bridge: odom")
        {
            let received = odom["values"]
                .as_array()
                .and_then(|v| v.iter().find(|kv| kv["key"] == "received"))
                .and_then(|kv| kv["value"].as_str())
                .unwrap_or("");
            if received == "40" {
                found = Some(statuses.clone());
                break;
            }
        }
    }
    let statuses = found.expect("/diagnostics reports the odom mapping with 40 received");
    let imu = statuses
        .iter()
        .find(|s| s["name"] == "amr_mqtt_bridge: imu")
        .expect("imu status");
    let keys: Vec<&str> = imu["values"]
        .as_array()
        .map(|v| v.iter().filter_map(|kv| kv["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "received",
            "published",
            "dropped",
            "skipped",
            "refused",
            "ros_qos"
        ],
        "{imu}"
    );
    let link = statuses
        .iter()
        .find(|s| s["name"] == "amr_mqtt_bridge: mqtt link")
        .expect("link status");
    assert_eq!(
        link["level"].as_u64(),
        Some(0),
        "OK while connected: {link}"
    );
    assert_eq!(link["hardware_id"], "DIA07");
}
