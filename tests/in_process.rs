//! The bridge started in-process through the library, as `main` starts it: settings in,
//! `start`, then `wait` after the shutdown signal. Real Mosquitto, real DDS (rclpy peer).

mod common;
use common::*;
use std::time::Duration;

use amr_mqtt_bridge::config::{Config, Overrides, Settings};

#[test]
fn a_bridge_started_in_process_runs_and_stops_cleanly() {
    require_env();
    let domain = 73;
    // Before the ROS context exists: this test binary holds this one test.
    std::env::set_var("ROS_DOMAIN_ID", domain.to_string());
    let broker = Broker::start();
    let mut presence = MqttSub::start(broker.port, "amr/INP73/status/connection");
    let yaml = config("commands: {watchdog_timeout: 30}\n");
    let cfg = Config::parse(&yaml, "inline.yaml").expect("config");
    let overrides = Overrides {
        robot_id: Some("INP73".into()),
        broker: Some("127.0.0.1".into()),
        port: Some(broker.port),
        ..Default::default()
    };
    let settings = Settings::resolve(cfg, "inline.yaml".into(), &overrides, "/").expect("settings");
    let ctx = r2r::Context::create().expect("ROS context");
    let node = r2r::Node::create(ctx, "amr_mqtt_bridge", "").expect("node");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = amr_mqtt_bridge::start(node, settings, async {
        let _ = stopped.await;
    })
    .expect("start");
    let waiter = std::thread::spawn(move || running.wait());
    presence.expect(
        "amr/INP73/status/connection",
        Duration::from_secs(10),
        "online",
        |m| m.json()["data"]["state"] == "online",
    );
    let mut twists = RosSub::start(domain, "geometry_msgs/msg/Twist", "/cmd_vel", "reliable");
    let cmd =
        json!({"timestamp": now_rfc3339(), "command": "velocity", "parameters": {"linear": 10}});
    mqtt_pub(
        broker.port,
        "amr/INP73/command/move",
        &cmd.to_string(),
        2,
        false,
    );
    let moving = (0..200)
        .filter_map(|_| twists.recv(Duration::from_secs(10)))
        .any(|(_, t)| t["linear"]["x"].as_f64() == Some(0.1));
    assert!(moving, "the in-process bridge drives cmd_vel");
    stop.send(()).expect("signal");
    let result = waiter.join().expect("wait() returns");
    assert!(result.is_ok(), "{result:?}");
    let after: Vec<f64> = twists
        .collect_for(Duration::from_millis(500))
        .iter()
        .filter_map(|(_, t)| t["linear"]["x"].as_f64())
        .collect();
    assert_eq!(after.last().copied(), Some(0.0), "{after:?}");
    presence.expect(
        "amr/INP73/status/connection",
        Duration::from_secs(5),
        "offline at the stop",
        |m| m.json()["data"]["state"] == "offline",
    );
}
