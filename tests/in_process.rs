//! The bridge started in-process through the library, as `main` starts it: settings in,
//! `start`, then `wait` after the shutdown signal. Real Mosquitto, real DDS (rclpy peer).

mod common;
use common::*;
use std::time::Duration;

use amr_mqtt_bridge::config::{Config, Overrides, Settings};

#[test]
fn a_bridge_started_in_process_runs_and_stops_cleanly() {
    require_env();
    let site = Site::start();
    // Before the ROS context exists: this test binary holds this one test.
    std::env::set_var("ROS_DOMAIN_ID", site.domain.id().to_string());
    std::env::set_var("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST");
    let mut presence = site.mqtt_sub("amr/INP/status/connection");
    let yaml = config("commands: {watchdog_timeout: 30}\n");
    let cfg = Config::parse(&yaml, "inline.yaml").expect("config");
    let overrides = Overrides {
        robot_id: Some("INP".into()),
        broker: Some("127.0.0.1".into()),
        port: Some(site.port()),
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
    let topic = "amr/INP/status/connection";
    let state_is = |s: &'static str| move |m: &MqttMsg| m.json()["data"]["state"] == s;
    presence.expect(topic, Duration::from_secs(10), "online", state_is("online"));
    let mut twists = site.ros(ros_type::TWIST, "/cmd_vel").subscribe("reliable");
    let cmd =
        json!({"timestamp": now_rfc3339(), "command": "velocity", "parameters": {"linear": 10}});
    site.mqtt_pub("amr/INP/command/move", &cmd.to_string(), 2, false);
    let moving = std::iter::from_fn(|| twists.recv(Duration::from_secs(10)))
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
        topic,
        Duration::from_secs(5),
        "offline at the stop",
        state_is("offline"),
    );
}
