//! Fleet commands to `cmd_vel` end to end: `mosquitto_pub` -> Mosquitto -> bridge -> DDS ->
//! an rclpy subscriber that records every Twist with its arrival time.

mod common;
use common::*;
use std::time::{Duration, Instant};

const CMD_VEL: &str = "geometry_msgs/msg/Twist";

struct Rig {
    broker: Broker,
    _bridge: Bridge,
    twists: RosSub,
    outcomes: MqttSub,
    id: String,
}

impl Rig {
    fn start(domain: u32, robot: &str, extra: &str) -> Rig {
        let broker = Broker::start();
        let bridge = Bridge::start(domain, broker.port, robot, &config(extra), &[]);
        let twists = RosSub::start(domain, CMD_VEL, "/cmd_vel", "reliable");
        let outcomes = MqttSub::start(broker.port, &format!("amr/{robot}/#"));
        Rig {
            broker,
            _bridge: bridge,
            twists,
            outcomes,
            id: robot.to_owned(),
        }
    }

    fn send(&self, action: &str, payload: &str) {
        mqtt_pub(
            self.broker.port,
            &format!("amr/{}/command/{action}", self.id),
            payload,
            2,
            false,
        );
    }

    fn cmd(&self, action: &str, command: &str, params: Value) {
        let p = json!({"timestamp": now_rfc3339(), "command": command, "parameters": params});
        self.send(action, &p.to_string());
    }

    fn outcome(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let topic = format!("amr/{}/status/command", self.id);
        let m = self
            .outcomes
            .expect(&topic, Duration::from_secs(10), what, |m| {
                pred(&m.json()["data"])
            });
        m.json()["data"].clone()
    }

    /// Twists until `quiet` passes without one (the motion is over).
    fn twists_until_quiet(
        &mut self,
        first_wait: Duration,
        quiet: Duration,
    ) -> Vec<(f64, f64, f64)> {
        let mut out = Vec::new();
        let mut wait = first_wait;
        while let Some((t, m)) = self.twists.recv(wait) {
            out.push((t, lin(&m), ang(&m)));
            wait = quiet;
        }
        out
    }
}

fn lin(m: &Value) -> f64 {
    m["linear"]["x"].as_f64().expect("linear.x")
}

fn ang(m: &Value) -> f64 {
    m["angular"]["z"].as_f64().expect("angular.z")
}

/// Integral of a held-until-next velocity stream over arrival times (the robot's view).
fn integrate(samples: &[(f64, f64, f64)], pick: impl Fn(&(f64, f64, f64)) -> f64) -> f64 {
    samples
        .windows(2)
        .map(|w| pick(&w[0]) * (w[1].0 - w[0].0))
        .sum()
}

fn status_is(s: &'static str) -> impl Fn(&Value) -> bool {
    move |d: &Value| d["status"] == s
}

#[test]
fn move_forward_integrates_to_the_distance_and_ends_with_zero() {
    require_env();
    let mut rig = Rig::start(21, "CMD21", "");
    rig.cmd(
        "move",
        "move_forward",
        json!({"speed": 50, "distance": 100}),
    );
    let tw = rig.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
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
    rig.outcome("accepted", status_is("accepted"));
    let done = rig.outcome("completed", status_is("completed"));
    assert_eq!(done["command"], "move_forward");
}

#[test]
fn rotations_integrate_in_radians_and_backward_is_negative() {
    require_env();
    let mut rig = Rig::start(22, "CMD22", "");
    rig.cmd("move", "rotate_left", json!({"speed": 45, "angle": 90}));
    let tw = rig.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
    let a = integrate(&tw, |s| s.2);
    let want = std::f64::consts::FRAC_PI_2;
    assert!(
        (a - want).abs() <= 0.02 * want,
        "turned {a} rad, want {want}"
    );
    assert!(tw
        .iter()
        .all(|s| s.2 >= 0.0 && s.2 <= 45f64.to_radians() + 1e-9));
    rig.cmd("move", "rotate_right", json!({"speed": 90, "angle": 45}));
    let tw = rig.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
    let a = integrate(&tw, |s| s.2);
    let want = -std::f64::consts::FRAC_PI_4;
    assert!(
        (a - want).abs() <= 0.02 * want.abs(),
        "turned {a} rad, want {want}"
    );
    rig.cmd(
        "move",
        "move_backward",
        json!({"speed": 30, "distance": 30}),
    );
    let tw = rig.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
    let d = integrate(&tw, |s| s.1);
    assert!((d + 0.3).abs() <= 0.02 * 0.3, "moved {d} m, want -0.30 m");
}

#[test]
fn speeds_are_clamped_to_the_configured_maximum() {
    require_env();
    let mut rig = Rig::start(23, "CMD23", "commands: {max_linear_speed: 0.4}\n");
    rig.cmd(
        "move",
        "move_forward",
        json!({"speed": 500, "distance": 80}),
    );
    let accepted = rig.outcome("accepted", status_is("accepted"));
    assert!(
        accepted["reason"].as_str().unwrap_or("").contains("clamp"),
        "{accepted}"
    );
    let tw = rig.twists_until_quiet(Duration::from_secs(10), Duration::from_millis(1500));
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
    require_env();
    let mut rig = Rig::start(24, "CMD24", "");
    rig.cmd(
        "move",
        "move_forward",
        json!({"speed": 20, "distance": 200}),
    );
    rig.outcome("first accepted", status_is("accepted"));
    std::thread::sleep(Duration::from_millis(700));
    rig.cmd("move", "rotate_left", json!({"speed": 30, "angle": 30}));
    let pre = rig.outcome("preempted", status_is("preempted"));
    assert_eq!(pre["command"], "move_forward");
    let acc = rig.outcome("second accepted", |d| {
        d["status"] == "accepted" && d["command"] == "rotate_left"
    });
    assert_eq!(acc["command"], "rotate_left");
    rig.outcome("rotation completed", |d| {
        d["status"] == "completed" && d["command"] == "rotate_left"
    });
    // The forward motion never finished: far less than 2 m went out.
    let tw = rig.twists_until_quiet(Duration::from_secs(3), Duration::from_millis(1500));
    let last = tw.last().expect("twists");
    assert_eq!((last.1, last.2), (0.0, 0.0));
}

#[test]
fn stop_cancels_at_once() {
    require_env();
    let mut rig = Rig::start(25, "CMD25", "");
    rig.cmd(
        "move",
        "move_forward",
        json!({"speed": 30, "distance": 300}),
    );
    rig.outcome("accepted", status_is("accepted"));
    std::thread::sleep(Duration::from_millis(600));
    let sent = Instant::now();
    rig.send(
        "stop",
        &json!({"timestamp": now_rfc3339(), "command": "stop"}).to_string(),
    );
    rig.outcome("cancelled", status_is("cancelled"));
    let took = sent.elapsed();
    let tw = rig.twists_until_quiet(Duration::from_secs(2), Duration::from_millis(1000));
    let last = tw.last().expect("twists");
    assert_eq!((last.1, last.2), (0.0, 0.0), "stopped");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn watchdog_zeroes_velocity_when_commands_stop() {
    require_env();
    let mut rig = Rig::start(26, "CMD26", "");
    for _ in 0..4 {
        rig.cmd("move", "velocity", json!({"linear": 20, "angular": 0}));
        std::thread::sleep(Duration::from_millis(200));
    }
    rig.cmd("move", "velocity", json!({"linear": 20, "angular": 0}));
    let last_cmd = now_unix();
    let tw = rig.twists_until_quiet(Duration::from_secs(5), Duration::from_millis(1500));
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

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[test]
fn emergency_latch_holds_until_released() {
    require_env();
    let mut rig = Rig::start(27, "CMD27", "");
    let mut alerts = MqttSub::start(rig.broker.port, "amr/CMD27/alert/#");
    rig.send(
        "emergency",
        &json!({"timestamp": now_rfc3339(), "command": "engage"}).to_string(),
    );
    let a = alerts.expect(
        "amr/CMD27/alert/error",
        Duration::from_secs(5),
        "e-stop alert",
        |_| true,
    );
    assert_eq!(a.json()["level"], "error");
    rig.cmd("move", "move_forward", json!({"speed": 20, "distance": 20}));
    let r = rig.outcome("refused while latched", |d| {
        d["status"] == "rejected" && d["command"] == "move_forward"
    });
    assert!(
        r["reason"].as_str().unwrap_or("").contains("emergency"),
        "{r}"
    );
    // Only zero Twists while engaged.
    let tw = rig.twists.collect_for(Duration::from_secs(1));
    assert!(!tw.is_empty(), "zero Twists keep coming while engaged");
    assert!(tw.iter().all(|(_, m)| lin(m) == 0.0 && ang(m) == 0.0));
    let state = rig.outcomes.expect(
        "amr/CMD27/status/state",
        Duration::from_secs(3),
        "state",
        |m| m.json()["data"]["status"] == "emergency",
    );
    assert_eq!(state.json()["data"]["status"], "emergency");
    // A stale release is refused; a fresh one releases.
    rig.send(
        "emergency",
        &json!({"timestamp": "2020-01-01T00:00:00Z", "command": "release"}).to_string(),
    );
    rig.outcome("stale release refused", |d| d["status"] == "rejected");
    rig.send(
        "emergency",
        &json!({"timestamp": now_rfc3339(), "command": "release"}).to_string(),
    );
    alerts.expect(
        "amr/CMD27/alert/info",
        Duration::from_secs(5),
        "released alert",
        |_| true,
    );
    rig.cmd("move", "move_forward", json!({"speed": 20, "distance": 10}));
    rig.outcome("obeyed after release", |d| {
        d["status"] == "accepted" && d["command"] == "move_forward"
    });
    let tw = rig.twists_until_quiet(Duration::from_secs(5), Duration::from_millis(1500));
    assert!(
        tw.iter().any(|s| s.1 > 0.0),
        "moves again after the release"
    );
}

#[test]
fn ros_estop_topic_latches_too() {
    require_env();
    let domain = 28;
    let mut rig = Rig::start(domain, "CMD28", "");
    ros_pub_wait(
        domain,
        "std_msgs/msg/Bool",
        "/emergency_stop",
        &json!({"data": true}),
        10.0,
        1,
        "reliable",
    );
    rig.cmd("move", "move_forward", json!({"speed": 20, "distance": 20}));
    let r = rig.outcome("refused", |d| {
        d["status"] == "rejected" && d["command"] == "move_forward"
    });
    assert!(
        r["reason"].as_str().unwrap_or("").contains("emergency"),
        "{r}"
    );
    ros_pub_wait(
        domain,
        "std_msgs/msg/Bool",
        "/emergency_stop",
        &json!({"data": false}),
        10.0,
        1,
        "reliable",
    );
    rig.cmd("move", "move_forward", json!({"speed": 20, "distance": 10}));
    rig.outcome("accepted", |d| {
        d["status"] == "accepted" && d["command"] == "move_forward"
    });
}

#[test]
fn stale_future_and_duplicate_commands() {
    require_env();
    let mut rig = Rig::start(29, "CMD29", "");
    let stale = json!({"timestamp": "2024-01-01T12:00:00Z", "command": "move_forward",
                       "parameters": {"speed": 20, "distance": 10}});
    rig.send("move", &stale.to_string());
    let r = rig.outcome("stale refused", status_is("rejected"));
    assert!(!r["reason"].as_str().unwrap_or("").is_empty());
    let future = json!({"timestamp": "2099-01-01T00:00:00Z", "command": "move_forward",
                        "parameters": {"speed": 20, "distance": 10}});
    rig.send("move", &future.to_string());
    rig.outcome("future refused", status_is("rejected"));
    assert!(rig
        .twists
        .collect_for(Duration::from_millis(800))
        .iter()
        .all(|(_, m)| lin(m) == 0.0));
    let cmd = json!({"timestamp": now_rfc3339(), "id": "job-1", "command": "move_forward",
                     "parameters": {"speed": 20, "distance": 10}});
    rig.send("move", &cmd.to_string());
    rig.outcome("first accepted", |d| {
        d["status"] == "accepted" && d["id"] == "job-1"
    });
    rig.outcome("first completed", |d| {
        d["status"] == "completed" && d["id"] == "job-1"
    });
    rig.twists_until_quiet(Duration::from_secs(2), Duration::from_millis(800));
    rig.send("move", &cmd.to_string());
    let dup = rig.outcome("duplicate refused", |d| {
        d["status"] == "rejected" && d["id"] == "job-1"
    });
    assert!(
        dup["reason"].as_str().unwrap_or("").contains("duplicate"),
        "{dup}"
    );
    assert!(rig
        .twists
        .collect_for(Duration::from_millis(800))
        .iter()
        .all(|(_, m)| lin(m) == 0.0));
}

#[test]
fn malformed_commands_are_refused_and_never_move_the_robot() {
    require_env();
    let mut rig = Rig::start(20, "CMD20", "");
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
        ("move", mv(json!({"speed": 1e308, "distance": 1e308}))),
        ("move", mv(json!({"speed": 50, "distance": 1e9}))),
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
    assert!(cases.len() >= 30);
    for (action, payload) in &cases {
        rig.send(action, payload);
        let short: String = payload.chars().take(80).collect();
        let r = rig.outcome(
            &format!("a rejection for {action} {short}"),
            status_is("rejected"),
        );
        let reason = r["reason"].as_str().unwrap_or("");
        assert!(!reason.trim().is_empty(), "a reason for {short}: {r}");
    }
    // Invalid UTF-8 straight from a file.
    let f = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(f.path(), [0x7b, 0xff, 0xfe, 0x7d]).expect("write");
    let s = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &rig.broker.port.to_string(),
            "-t",
            "amr/CMD20/command/move",
            "-q",
            "2",
            "-f",
        ])
        .arg(f.path())
        .status()
        .expect("mosquitto_pub");
    assert!(s.success());
    rig.outcome("a rejection for invalid UTF-8", status_is("rejected"));
    let tw = rig.twists.collect_for(Duration::from_millis(500));
    assert!(
        tw.iter().all(|(_, m)| lin(m) == 0.0 && ang(m) == 0.0),
        "no motion from bad input: {tw:?}"
    );
    // Still alive and obeying.
    rig.cmd("move", "move_forward", json!({"speed": 20, "distance": 10}));
    rig.outcome("a valid command afterwards", |d| d["status"] == "accepted");
    let tw = rig.twists_until_quiet(Duration::from_secs(5), Duration::from_millis(1000));
    assert!(
        tw.iter().any(|s| s.1 > 0.0),
        "moves on a valid command after all that"
    );
}

#[test]
fn an_oversized_command_is_refused_without_losing_the_connection() {
    require_env();
    let mut rig = Rig::start(10, "CMD10", "");
    let huge = format!(
        "{{\"timestamp\":\"{}\",\"command\":\"move_forward\",\"parameters\":{{\"speed\":10,\"distance\":10}},\"pad\":\"{}\"}}",
        now_rfc3339(),
        "x".repeat(2 * 1024 * 1024)
    );
    let f = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(f.path(), &huge).expect("write");
    let s = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &rig.broker.port.to_string(),
            "-t",
            "amr/CMD10/command/move",
            "-q",
            "2",
            "-f",
        ])
        .arg(f.path())
        .status()
        .expect("mosquitto_pub");
    assert!(s.success());
    let r = rig.outcome("oversized refused", status_is("rejected"));
    assert!(!r["reason"].as_str().unwrap_or("").is_empty(), "{r}");
    assert!(
        !rig._bridge.log_text().contains("lost"),
        "the connection stayed up:\n{}",
        rig._bridge.log_text()
    );
    rig.cmd("move", "move_forward", json!({"speed": 20, "distance": 10}));
    rig.outcome("obeyed afterwards", |d| d["status"] == "accepted");
}

#[test]
fn a_stop_is_obeyed_in_the_middle_of_a_flood() {
    require_env();
    let mut rig = Rig::start(6, "CMD06", "");
    rig.cmd(
        "move",
        "move_forward",
        json!({"speed": 20, "distance": 300}),
    );
    rig.outcome("accepted", status_is("accepted"));
    // 5000 junk commands as fast as mosquitto_pub can send them, a stop in the middle.
    let junk: String = (0..5000).map(|i| format!("{{\"junk\": {i}}}\n")).collect();
    let mut flood = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &rig.broker.port.to_string(),
            "-t",
            "amr/CMD06/command/move",
            "-q",
            "0",
            "-l",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_pub -l");
    let mut stdin = flood.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(junk.as_bytes());
    });
    std::thread::sleep(Duration::from_millis(100));
    rig.send(
        "stop",
        &json!({"timestamp": now_rfc3339(), "command": "stop"}).to_string(),
    );
    let stopped_at = now_unix();
    let _ = writer.join();
    let _ = flood.wait();
    let tw = rig.twists.collect_for(Duration::from_secs(3));
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
    rig.cmd("move", "move_forward", json!({"speed": 20, "distance": 10}));
    let tw = rig.twists_until_quiet(Duration::from_secs(5), Duration::from_millis(1000));
    assert!(
        tw.iter().any(|s| s.1 > 0.0),
        "moves on a valid command after the flood"
    );
}
