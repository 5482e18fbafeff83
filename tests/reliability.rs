//! The broker goes away and comes back: the bridge keeps running, reconnects, and delivers
//! what was published at QoS 1 while it was offline.

mod common;
use common::*;
use std::time::Duration;

/// The robot's presence on `amr/<robot>/status/connection` reaches `state` within `timeout`.
fn presence(port: u16, robot: &str, timeout: Duration, state: &str) -> MqttMsg {
    let topic = format!("amr/{robot}/status/connection");
    MqttSub::start(port, &topic).expect(&topic, timeout, state, |m| {
        m.json()["data"]["state"] == state
    })
}

#[test]
fn broker_outage_queues_qos1_and_reconnects() {
    let domain = Domain::new();
    let broker = Broker::start();
    let mut bridge = Bridge::start(domain.id(), broker.port, "REL17", &config(""), &[]);
    let (dir, port) = broker.stop();
    bridge.wait_log("connection to", Duration::from_secs(10));
    // Published while the broker is down: QoS 1 status, retained.
    let battery = json!({"percentage": 0.42, "voltage": 24.5, "power_supply_status": 2});
    RosTopic::new(domain.id(), ros_type::BATTERY, "/battery_state")
        .publish_wait(&battery, 5.0, 3, "reliable");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        bridge.proc.alive(),
        "the bridge keeps running without a broker"
    );
    let _broker = Broker::start_on(dir, port, "");
    bridge.wait_log("restored", Duration::from_secs(20));
    let mut sub = MqttSub::start(port, "amr/REL17/status/#");
    let m = sub.expect(
        "amr/REL17/status/battery",
        Duration::from_secs(10),
        "queued battery",
        |m| {
            m.json()["data"]["percent"]
                .as_f64()
                .is_some_and(|p| (p - 42.0).abs() < 1e-6)
        },
    );
    assert!(m.retain, "delivered after the reconnect and retained");
    presence(port, "REL17", Duration::from_secs(5), "online");
}

#[test]
fn last_will_marks_the_robot_offline() {
    let mut rig = Rig::start_with("REL18", &config(""), &[], "amr/REL18/status/connection");
    // A crash, not a clean stop: the broker publishes the will.
    rig.bridge.proc.child.kill().expect("kill");
    let m = rig.expect(
        "status/connection",
        Duration::from_secs(20),
        "offline will",
        |m| m.json()["data"]["state"] == "offline",
    );
    assert_eq!(m.json()["robot_id"], "REL18");
}

#[test]
fn the_bridge_waits_for_a_broker_that_starts_later() {
    let domain = Domain::new();
    let port = free_port();
    let b = Bridge::spawn(domain.id(), port, "REL08", &config(""), &[]);
    b.wait_log("cannot connect", Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs(1));
    let _broker = Broker::start_on(tempfile::tempdir().expect("dir"), port, "");
    b.wait_log("connected to", Duration::from_secs(20));
    presence(port, "REL08", Duration::from_secs(5), "online");
}
