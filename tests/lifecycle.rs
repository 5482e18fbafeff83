//! How the bridge ends: a clean stop (SIGTERM) and a fault (a panic) both leave the robot
//! still, and the fleet is told. Real binary, real Mosquitto, rclpy recording `cmd_vel`.

mod common;
use common::*;
use std::time::Duration;

/// A robot that is moving: one velocity command, held for 30 s by the watchdog.
struct Moving {
    robot: Robot,
}

impl Moving {
    fn start(id: &str) -> Moving {
        let mut robot = Robot::start(id, "commands: {watchdog_timeout: 30}\n");
        robot.cmd("move", "velocity", json!({"linear": 20, "angular": 0}));
        let moving = std::iter::from_fn(|| robot.twists.recv(Duration::from_secs(10)))
            .any(|(_, t)| lin(&t) > 0.0);
        assert!(
            moving,
            "the robot never moved:\n{}",
            robot.rig.bridge.log_text()
        );
        Moving { robot }
    }

    /// The linear.x of every Twist that arrives within `d`.
    fn twists_for(&mut self, d: Duration) -> Vec<f64> {
        let got = self.robot.twists_for(d);
        got.iter().map(|(_, t)| lin(t)).collect()
    }

    fn offline(&mut self) -> Value {
        let offline = |m: &MqttMsg| m.json()["data"]["state"] == "offline";
        let m = self.robot.rig.expect(
            "status/connection",
            Duration::from_secs(10),
            "offline",
            offline,
        );
        m.json()
    }
}

#[test]
fn sigterm_stops_the_robot_says_offline_and_exits_zero() {
    require_env();
    let mut m = Moving::start("LIFE1");
    let stopped_at = now_unix();
    let status = m.robot.rig.bridge.proc.terminate(Duration::from_secs(10));
    let log = m.robot.rig.bridge.log_text();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "a clean stop exits 0:\n{log}"
    );
    let after = m.twists_for(Duration::from_millis(800));
    assert_eq!(
        after.last().copied(),
        Some(0.0),
        "the last Twist is zero: {after:?}"
    );
    let offline = m.offline();
    // Said by the bridge at the stop, not the Last Will (stamped when it connected).
    let said = unix_of(offline["timestamp"].as_str().expect("timestamp"));
    assert!(
        said >= stopped_at - 0.5,
        "{offline} said before the stop at {stopped_at}"
    );
    let topic = m.robot.rig.topic("status/connection");
    let mut late = m.robot.rig.mqtt_sub(&topic);
    let kept = late.expect(&topic, Duration::from_secs(5), "retained", |msg| msg.retain);
    assert_eq!(kept.json()["data"]["state"], "offline");
}

#[test]
fn a_panic_stops_the_robot_and_exits_non_zero() {
    require_env();
    // Honoured by debug builds only (the tests run one).
    std::env::set_var("AMR_BRIDGE_FAULT_INJECTION", "1");
    let mut m = Moving::start("LIFE2");
    m.robot.rig.send("__panic__", "{}");
    let status = m.robot.rig.bridge.wait_exit(Duration::from_secs(10));
    let log = m.robot.rig.bridge.log_text();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(70),
        "a panic ends the process with 70, for respawn:\n{log}"
    );
    assert!(log.contains("fatal"), "{log}");
    let after = m.twists_for(Duration::from_millis(800));
    assert_eq!(
        after.last().copied(),
        Some(0.0),
        "a zero Twist before the exit: {after:?}"
    );
    // The broker tells the fleet by the Last Will.
    assert_eq!(m.offline()["data"]["state"], "offline");
}
