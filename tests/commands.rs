//! Fleet commands to `cmd_vel` end to end: `mosquitto_pub` -> Mosquitto -> bridge -> DDS ->
//! an rclpy subscriber that records every Twist with its arrival time (`common::Robot`). Every
//! well-formed command sent is valid under its JSON Schema (schemas/command_<action>.schema.json,
//! checked by `Robot::cmd`), and every malformed one the bridge refuses is refused by the
//! schema too, wherever a schema can say it (types, required keys, unknown keys, names, ranges).

mod common;
use common::*;
use std::time::{Duration, Instant};

/// Integral of a held-until-next velocity stream over arrival times (the robot's view).
fn integrate(samples: &[(f64, f64, f64)], pick: impl Fn(&(f64, f64, f64)) -> f64) -> f64 {
    samples
        .windows(2)
        .map(|w| pick(&w[0]) * (w[1].0 - w[0].0))
        .sum()
}

#[test]
fn move_forward_integrates_to_the_distance_and_ends_with_zero() {
    let mut robot = Robot::start("CMD21", "");
    robot.forward(50, 100);
    let tw = robot.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
    assert!(tw.len() > 20, "a stream of Twists: {}", tw.len());
    let last = tw.last().expect("twists");
    assert_eq!((last.1, last.2), (0.0, 0.0), "ends with a zero Twist");
    let d = integrate(&tw, |s| s.1);
    assert!(
        (d - 1.0).abs() <= 0.02,
        "integrated {d} m, want 1.00 m within 2%"
    );
    assert!(
        tw.iter().all(|s| s.1 <= 0.5 + 1e-9 && s.2 == 0.0),
        "at most 50 cm/s, no turn"
    );
    robot.outcome("accepted", status_is("accepted"));
    let done = robot.outcome("completed", status_is("completed"));
    assert_eq!(done["command"], "move_forward");
}

#[test]
fn rotations_integrate_in_radians_and_backward_is_negative() {
    let mut robot = Robot::start("CMD22", "");
    robot.cmd("move", "rotate_left", json!({"speed": 45, "angle": 90}));
    let tw = robot.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
    let a = integrate(&tw, |s| s.2);
    let want = std::f64::consts::FRAC_PI_2;
    assert!(
        (a - want).abs() <= 0.02 * want,
        "turned {a} rad, want {want}"
    );
    assert!(tw
        .iter()
        .all(|s| s.2 >= 0.0 && s.2 <= 45f64.to_radians() + 1e-9));
    robot.cmd("move", "rotate_right", json!({"speed": 90, "angle": 45}));
    let tw = robot.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
    let a = integrate(&tw, |s| s.2);
    let want = -std::f64::consts::FRAC_PI_4;
    assert!(
        (a - want).abs() <= 0.02 * want.abs(),
        "turned {a} rad, want {want}"
    );
    robot.cmd(
        "move",
        "move_backward",
        json!({"speed": 30, "distance": 30}),
    );
    let tw = robot.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
    let d = integrate(&tw, |s| s.1);
    assert!((d + 0.3).abs() <= 0.02 * 0.3, "moved {d} m, want -0.30 m");
}

#[test]
fn speeds_are_clamped_to_the_configured_maximum() {
    let mut robot = Robot::start("CMD23", "commands: {max_linear_speed: 0.4}\n");
    robot.forward(500, 80);
    let accepted = robot.outcome("accepted", status_is("accepted"));
    assert!(reason(&accepted).contains("clamp"), "{accepted}");
    let tw = robot.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
    let max = tw.iter().map(|s| s.1).fold(0.0, f64::max);
    assert!(
        max <= 0.4 + 1e-9 && max > 0.35,
        "max {max} m/s with a 0.4 m/s limit"
    );
    let d = integrate(&tw, |s| s.1);
    assert!(
        (d - 0.8).abs() <= 0.02 * 0.8,
        "still the full distance: {d}"
    );
}

#[test]
fn a_new_motion_preempts_the_running_one() {
    let mut robot = Robot::start("CMD24", "");
    robot.start_moving(20, 200, "first accepted", Duration::from_millis(700));
    robot.cmd("move", "rotate_left", json!({"speed": 30, "angle": 30}));
    let pre = robot.outcome("preempted", status_is("preempted"));
    assert_eq!(pre["command"], "move_forward");
    let acc = robot.outcome_of("second accepted", "accepted", "rotate_left");
    assert_eq!(acc["command"], "rotate_left");
    robot.outcome_of("rotation completed", "completed", "rotate_left");
    // The forward motion never finished: far less than 2 m went out.
    let tw = robot.twists_until_quiet(Duration::from_secs(3), Duration::from_millis(1500));
    let last = tw.last().expect("twists");
    assert_eq!((last.1, last.2), (0.0, 0.0));
}

#[test]
fn stop_cancels_at_once() {
    let mut robot = Robot::start("CMD25", "");
    robot.start_moving(30, 300, "accepted", Duration::from_millis(600));
    let sent = Instant::now();
    robot.bare("stop", "stop");
    robot.outcome("cancelled", status_is("cancelled"));
    let took = sent.elapsed();
    let tw = robot.twists_until_quiet(Duration::from_secs(2), Duration::from_millis(1000));
    let last = tw.last().expect("twists");
    assert_eq!((last.1, last.2), (0.0, 0.0), "stopped");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn watchdog_zeroes_velocity_when_commands_stop() {
    let mut robot = Robot::start("CMD26", "");
    for _ in 0..4 {
        robot.cmd("move", "velocity", json!({"linear": 20, "angular": 0}));
        std::thread::sleep(Duration::from_millis(200));
    }
    robot.cmd("move", "velocity", json!({"linear": 20, "angular": 0}));
    let last_cmd = now_unix();
    let tw = robot.twists_until_quiet(Duration::from_secs(5), Duration::from_millis(1500));
    assert!(tw.iter().any(|s| s.1 > 0.0), "the velocity was obeyed");
    let zero = tw
        .iter()
        .find(|s| s.0 > last_cmd && s.1 == 0.0 && s.2 == 0.0)
        .expect("a zero Twist after the last command");
    let after = zero.0 - last_cmd;
    assert!(
        after <= 0.5 + 0.1,
        "zero {after:.3} s after the last command (timeout 0.5 s)"
    );
    let last = tw.last().expect("twists");
    assert_eq!((last.1, last.2), (0.0, 0.0));
}

#[test]
fn emergency_latch_holds_until_released() {
    let mut robot = Robot::start("CMD27", "");
    let mut alerts = robot.rig.mqtt_sub("amr/CMD27/alert/#");
    robot.bare("emergency", "engage");
    let a = alerts.expect(
        "amr/CMD27/alert/error",
        Duration::from_secs(5),
        "e-stop alert",
        |_| true,
    );
    assert_eq!(a.json()["level"], "error");
    robot.forward(20, 20);
    let r = robot.outcome_of("refused while latched", "rejected", "move_forward");
    assert!(reason(&r).contains("emergency"), "{r}");
    // Only zero Twists while engaged.
    let tw = robot.twists.collect_for(Duration::from_secs(1));
    assert!(!tw.is_empty(), "zero Twists keep coming while engaged");
    assert!(tw.iter().all(|(_, m)| lin(m) == 0.0 && ang(m) == 0.0));
    let state = robot
        .rig
        .expect("status/state", Duration::from_secs(3), "state", |m| {
            m.json()["data"]["status"] == "emergency"
        });
    assert_eq!(state.json()["data"]["status"], "emergency");
    // A stale release is refused; a fresh one releases.
    robot.send(
        "emergency",
        json!({"timestamp": "2020-01-01T00:00:00Z", "command": "release"}).to_string(),
    );
    robot.outcome("stale release refused", |d| d["status"] == "rejected");
    robot.bare("emergency", "release");
    alerts.expect(
        "amr/CMD27/alert/info",
        Duration::from_secs(5),
        "released alert",
        |_| true,
    );
    robot.forward(20, 10);
    robot.outcome_of("obeyed after release", "accepted", "move_forward");
    robot.moves(Duration::from_millis(1500), "moves again after the release");
}

#[test]
fn ros_estop_topic_latches_too() {
    let mut robot = Robot::start("CMD28", "");
    robot.ros_estop(true);
    robot.forward(20, 20);
    let r = robot.outcome_of("refused", "rejected", "move_forward");
    assert!(reason(&r).contains("emergency"), "{r}");
    robot.ros_estop(false);
    robot.forward(20, 10);
    robot.outcome_of("accepted", "accepted", "move_forward");
}

#[test]
fn stale_future_and_duplicate_commands() {
    let mut robot = Robot::start("CMD29", "");
    let stale = json!({"timestamp": "2024-01-01T12:00:00Z", "command": "move_forward",
                       "parameters": {"speed": 20, "distance": 10}});
    robot.send("move", stale.to_string());
    let r = robot.outcome("stale refused", status_is("rejected"));
    assert!(!reason(&r).is_empty());
    let future = json!({"timestamp": "2099-01-01T00:00:00Z", "command": "move_forward",
                        "parameters": {"speed": 20, "distance": 10}});
    robot.send("move", future.to_string());
    robot.outcome("future refused", status_is("rejected"));
    assert!(robot
        .twists
        .collect_for(Duration::from_millis(800))
        .iter()
        .all(|(_, m)| lin(m) == 0.0));
    let cmd = json!({"timestamp": now_rfc3339(), "id": "job-1", "command": "move_forward",
                     "parameters": {"speed": 20, "distance": 10}});
    robot.send("move", cmd.to_string());
    robot.outcome("first accepted", |d| {
        d["status"] == "accepted" && d["id"] == "job-1"
    });
    robot.outcome("first completed", |d| {
        d["status"] == "completed" && d["id"] == "job-1"
    });
    robot.twists_until_quiet(Duration::from_secs(2), Duration::from_millis(800));
    robot.send("move", cmd.to_string());
    let dup = robot.outcome("duplicate refused", |d| {
        d["status"] == "rejected" && d["id"] == "job-1"
    });
    assert!(reason(&dup).contains("duplicate"), "{dup}");
    assert!(robot
        .twists
        .collect_for(Duration::from_millis(800))
        .iter()
        .all(|(_, m)| lin(m) == 0.0));
}

#[test]
fn malformed_commands_are_refused_and_never_move_the_robot() {
    let mut robot = Robot::start("CMD20", "");
    let ts = now_rfc3339();
    let big = format!(
        "{{\"timestamp\":\"{ts}\",\"command\":\"move_forward\",\"pad\":\"{}\"}}",
        "x".repeat(20000)
    );
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let mv = |params: Value| {
        json!({"timestamp": ts, "command": "move_forward", "parameters": params}).to_string()
    };
    let cases: Vec<(&str, String)> = vec![
        ("move", "not json".into()),
        ("move", "".into()),
        ("move", "[]".into()),
        ("move", "42".into()),
        ("move", "\"move_forward\"".into()),
        ("move", "null".into()),
        ("move", "{".into()),
        ("move", json!({"timestamp": ts, "command": "fly", "parameters": {}}).to_string()),
        ("move", json!({"timestamp": ts, "parameters": {"speed": 10, "distance": 10}}).to_string()),
        ("move", json!({"timestamp": ts, "command": 7, "parameters": {}}).to_string()),
        ("move", mv(json!({"speed": 10}))),
        ("move", mv(json!({"distance": 10}))),
        ("move", mv(json!({"speed": "50", "distance": 100}))),
        ("move", mv(json!({"speed": true, "distance": 100}))),
        ("move", mv(json!({"speed": null, "distance": 100}))),
        ("move", mv(json!({"speed": [50], "distance": 100}))),
        ("move", mv(json!({"speed": -5, "distance": 100}))),
        ("move", mv(json!({"speed": 0, "distance": 100}))),
        ("move", mv(json!({"speed": 50, "distance": -100}))),
        ("move", mv(json!({"speed": 50, "distanse": 100}))),
        ("move", mv(json!("fast"))),
        ("move", json!({"timestamp": ts, "command": "rotate_left", "parameters": {"speed": 10, "distance": 10}}).to_string()),
        ("move", json!({"timestamp": "yesterday", "command": "move_forward", "parameters": {"speed": 10, "distance": 10}}).to_string()),
        ("move", json!({"timestamp": 1704110400, "command": "move_forward", "parameters": {"speed": 10, "distance": 10}}).to_string()),
        ("move", json!({"command": "move_forward", "parameters": {"speed": 10, "distance": 10}}).to_string()),
        ("move", json!({"timestamp": ts, "command": "move_forward", "id": 5, "parameters": {"speed": 10, "distance": 10}}).to_string()),
        ("move", json!({"timestamp": ts, "command": "velocity", "parameters": {"linear": "1"}}).to_string()),
        ("move", big),
        ("move", deep),
        ("move", "{\"timestamp\": NaN}".into()),
        ("move", "{\"command\": \"move_forward\", \"parameters\": {\"speed\": Infinity}}".into()),
        ("teleport", mv(json!({"speed": 10, "distance": 10}))),
    ];
    // Refused for the robot's configured limits: no schema can know them.
    let beyond_limits: Vec<(&str, String)> = vec![
        ("move", mv(json!({"speed": 1e308, "distance": 1e308}))),
        ("move", mv(json!({"speed": 50, "distance": 1e9}))),
    ];
    assert!(cases.len() + beyond_limits.len() >= 30);
    for (action, payload) in cases.iter().chain(&beyond_limits) {
        robot.send(action, payload);
        let short: String = payload.chars().take(80).collect();
        let within_limits = !beyond_limits.contains(&(action, payload.clone()));
        match command_schema(action, payload) {
            Some(Ok(())) if within_limits => {
                panic!("the command_{action} schema takes what the bridge refuses: {short}")
            }
            Some(Err(e)) if !within_limits => panic!("{short}: only the limits refuse it: {e}"),
            _ => {}
        }
        let r = robot.outcome(
            &format!("a rejection for {action} {short}"),
            status_is("rejected"),
        );
        let reason = reason(&r);
        assert!(!reason.trim().is_empty(), "a reason for {short}: {r}");
    }
    // Invalid UTF-8 straight from a file.
    robot.send("move", [0x7b, 0xff, 0xfe, 0x7d]);
    robot.outcome("a rejection for invalid UTF-8", status_is("rejected"));
    let tw = robot.twists.collect_for(Duration::from_millis(500));
    assert!(
        tw.iter().all(|(_, m)| lin(m) == 0.0 && ang(m) == 0.0),
        "no motion from bad input: {tw:?}"
    );
    // Still alive and obeying.
    robot.forward(20, 10);
    robot.outcome("a valid command afterwards", |d| d["status"] == "accepted");
    robot.moves(
        Duration::from_millis(1000),
        "moves on a valid command after all that",
    );
}

#[test]
fn an_oversized_command_is_refused_without_losing_the_connection() {
    let mut robot = Robot::start("CMD10", "");
    let huge = format!(
        "{{\"timestamp\":\"{}\",\"command\":\"move_forward\",\"parameters\":{{\"speed\":10,\"distance\":10}},\"pad\":\"{}\"}}",
        now_rfc3339(),
        "x".repeat(2 * 1024 * 1024)
    );
    robot.send("move", &huge);
    let r = robot.outcome("oversized refused", status_is("rejected"));
    assert!(!reason(&r).is_empty(), "{r}");
    assert!(
        !robot.rig.bridge.log_text().contains("lost"),
        "the connection stayed up:\n{}",
        robot.rig.bridge.log_text()
    );
    robot.forward(20, 10);
    robot.outcome("obeyed afterwards", |d| d["status"] == "accepted");
}

#[test]
fn a_stop_is_obeyed_in_the_middle_of_a_flood() {
    let mut robot = Robot::start("CMD06", "");
    robot.start_moving(20, 300, "accepted", Duration::ZERO);
    // 5000 junk commands as fast as mosquitto_pub can send them, a stop in the middle.
    let junk = (0..5000).map(|i| format!("{{\"junk\": {i}}}").into_bytes());
    let flood = mqtt_pub_lines(robot.rig.port(), &robot.command_topic("move"), 0, junk);
    std::thread::sleep(Duration::from_millis(100));
    robot.bare("stop", "stop");
    let stopped_at = now_unix();
    flood.wait();
    let tw = robot.twists.collect_for(Duration::from_secs(3));
    let zero_after = tw
        .iter()
        .find(|(t, m)| *t >= stopped_at - 0.05 && lin(m) == 0.0 && ang(m) == 0.0)
        .map(|(t, _)| t - stopped_at)
        .expect("a zero Twist after the stop");
    assert!(zero_after < 1.0, "zero {zero_after:.3} s after the stop");
    let moving_later: Vec<_> = tw
        .iter()
        .filter(|(t, m)| *t > stopped_at + 1.0 && lin(m) != 0.0)
        .collect();
    assert!(
        moving_later.is_empty(),
        "no motion after the stop: {moving_later:?}"
    );
    // And the bridge still obeys afterwards.
    robot.forward(20, 10);
    robot.moves(
        Duration::from_millis(1000),
        "moves on a valid command after the flood",
    );
}
