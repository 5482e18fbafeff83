//! What becomes of a QoS 1/2 message handed to the MQTT link (issue 18): it is acknowledged
//! by the broker, or sent again after a reconnect, or, at a stop that cannot wait any longer,
//! counted as not delivered. Never forgotten.
//!
//! Bridge -> fault-injection proxy (`tests/common/proxy.rs`) -> real Mosquitto; an rclpy
//! publisher counting in its messages; `mosquitto_sub` at QoS 2 as the fleet.

mod common;
use common::proxy::*;
use common::*;
use std::time::{Duration, Instant};

/// The case MQTT writes its resend rule for: the broker got QoS 2 publishes and answered
/// PUBREC, but the answers never came back (here the proxy holds everything from the broker)
/// and the connection died. The broker keeps those packet ids, waiting for PUBREL, in the
/// session it keeps for the robot: a new message sent under one of them would be taken for a
/// duplicate and dropped. The bridge sends rumqttc's record again under the original ids, so
/// every message arrives, none twice.
#[test]
fn a_kept_session_gets_what_was_in_flight_again_under_the_same_ids() {
    let domain = Domain::new();
    let robot = "DLV01";
    let n: u32 = 400;
    let extra =
        "mappings:\n  - {name: odom, qos: 2, ros_qos: {reliability: reliable, depth: 1000}}\n";
    let broker = Broker::start();
    let proxy = Proxy::start(broker.port);
    let bridge = Bridge::start(domain.id(), proxy.port, robot, &config(extra), &[]);
    let topic = format!("amr/{robot}/status/position");
    let mut sub = MqttSub::start_qos(broker.port, &topic, 2);
    let mut publisher = counted_odometry(&domain, 100.0, n);
    sub.expect(&topic, Duration::from_secs(15), "a first position", |_| {
        true
    });
    // The broker still hears the bridge; the bridge hears nothing back for a minute.
    proxy.set_latency(Duration::ZERO, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    proxy.set_latency(Duration::ZERO, Duration::ZERO);
    proxy.cut();
    let restored = bridge.wait_log_count("restored", 1, Duration::from_secs(20));
    assert!(
        publisher.child.wait().expect("ros_tool pub").success(),
        "the publisher failed"
    );
    let last = f64::from(n - 1);
    sub.wait_for(&topic, Duration::from_secs(30), |m| {
        number_at(&m.payload, POSITION_X) == Some(last)
    });
    sub.collect(&topic, Duration::from_secs(1));
    let got = sequence(&sub, &topic, POSITION_X);
    let missing = missing(u64::from(n), &[&got]);
    let log = bridge.log_text();
    eprintln!(
        "kept session: {n} at QoS 2, {} arrived, {} missing ({}), {} twice; restored after {restored:?}; {}",
        got.len(),
        missing.len(),
        ranges(&missing),
        repeated(&got),
        log.lines().find(|l| l.contains("restored")).unwrap_or("")
    );
    assert!(restored.is_some(), "the bridge came back:\n{log}");
    assert!(
        log.contains("session kept"),
        "the broker kept the session (the case under test):\n{log}"
    );
    assert!(
        missing.is_empty(),
        "QoS 2 in flight when the connection died: {} of {n} never arrived ({}):\n{log}",
        missing.len(),
        ranges(&missing)
    );
    assert_eq!(repeated(&got), 0, "QoS 2: none twice");
}

/// A stop while the broker hangs: the bridge waits its drain time for acknowledgements that
/// never come, exits 0, and says how many QoS 1/2 messages it could not deliver; those and
/// the ones that arrived account for every message it was given.
#[test]
fn a_stop_counts_what_the_broker_never_acknowledged() {
    let domain = Domain::new();
    let robot = "DLV02";
    let n: u32 = 100;
    let extra =
        "state: {enabled: false}\nalerts: {enabled: false}\nbridge: {diagnostics_period: 0}\n\
         mappings:\n  - {name: odom, ros_qos: {reliability: reliable, depth: 1000}}\n";
    let broker = Broker::start();
    let proxy = Proxy::start(broker.port);
    let mut bridge = Bridge::start(domain.id(), proxy.port, robot, &config(extra), &[]);
    let topic = format!("amr/{robot}/status/position");
    let mut sub = MqttSub::start(broker.port, &topic);
    let mut publisher = counted_odometry(&domain, 100.0, n);
    sub.expect(&topic, Duration::from_secs(15), "a first position", |_| {
        true
    });
    proxy.freeze();
    assert!(
        publisher.child.wait().expect("ros_tool pub").success(),
        "the publisher failed"
    );
    // Every message reached the bridge (reliable DDS) before the stop.
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let status = bridge.proc.terminate(Duration::from_secs(15));
    let took = t0.elapsed();
    let log = bridge.log_text();
    sub.collect(&topic, Duration::from_millis(300));
    let got = sequence(&sub, &topic, POSITION_X).len() as u64;
    let undelivered: u64 = log
        .lines()
        .find(|l| l.contains("not delivered at shutdown"))
        .and_then(|l| l.split("mqtt: ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    eprintln!("stop on a hung broker: exit {status:?} after {took:?}; {got} arrived, {undelivered} said undelivered");
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "a clean stop:\n{log}"
    );
    assert!(
        took < Duration::from_secs(8),
        "the stop waits its drain time, not forever: {took:?}"
    );
    // `offline` is one of them too.
    assert!(
        got + undelivered > u64::from(n),
        "{got} arrived + {undelivered} counted as undelivered < {n} handed to the link:\n{log}"
    );
}

/// The same stop with the broker there: everything acknowledged, nothing said undelivered.
#[test]
fn a_stop_with_the_broker_there_leaves_nothing_undelivered() {
    let domain = Domain::new();
    let robot = "DLV03";
    let n: u32 = 200;
    let broker = Broker::start();
    let mut bridge = Bridge::start(domain.id(), broker.port, robot, &config(""), &[]);
    let topic = format!("amr/{robot}/status/position");
    let mut sub = MqttSub::start(broker.port, &topic);
    let mut publisher = counted_odometry(&domain, 200.0, n);
    assert!(publisher.child.wait().expect("ros_tool pub").success());
    sub.wait_for(&topic, Duration::from_secs(15), |m| {
        number_at(&m.payload, POSITION_X) == Some(f64::from(n - 1))
    });
    let status = bridge.proc.terminate(Duration::from_secs(15));
    let log = bridge.log_text();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{log}");
    assert!(!log.contains("not delivered"), "{log}");
    assert!(missing(u64::from(n), &[&sequence(&sub, &topic, POSITION_X)]).is_empty());
}
