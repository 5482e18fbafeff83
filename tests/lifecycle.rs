//! How the bridge ends: a clean stop (SIGTERM) and a fault (a panic) both leave the robot
//! still, and the fleet is told. Real binary, real Mosquitto, rclpy recording `cmd_vel`.

mod common;
use common::*;
use std::time::{Duration, SystemTime};

const CMD_VEL: &str = "geometry_msgs/msg/Twist";

/// A bridge whose robot is moving: one velocity command, held for 30 s by the watchdog.
struct Moving {
    broker: Broker,
    bridge: Bridge,
    twists: RosSub,
    presence: MqttSub,
    id: String,
}

impl Moving {
    fn start(domain: u32, id: &str) -> Moving {
        let broker = Broker::start();
        let yaml = config("commands: {watchdog_timeout: 30}\n");
        let bridge = Bridge::start(domain, broker.port, id, &yaml, &[]);
        let twists = RosSub::start(domain, CMD_VEL, "/cmd_vel", "reliable");
        let presence = MqttSub::start(broker.port, &format!("amr/{id}/status/connection"));
        let cmd = json!({"timestamp": now_rfc3339(), "command": "velocity",
                         "parameters": {"linear": 20, "angular": 0}});
        mqtt_pub(
            broker.port,
            &format!("amr/{id}/command/move"),
            &cmd.to_string(),
            2,
            false,
        );
        let mut m = Moving {
            broker,
            bridge,
            twists,
            presence,
            id: id.to_owned(),
        };
        m.until_moving();
        m
    }

    fn until_moving(&mut self) {
        while let Some((_, t)) = self.twists.recv(Duration::from_secs(10)) {
            if t["linear"]["x"].as_f64().unwrap_or(0.0) > 0.0 {
                return;
            }
        }
        panic!("the robot never moved:\n{}", self.bridge.log_text());
    }

    /// Every Twist that arrives within `d`, as linear.x.
    fn twists_for(&mut self, d: Duration) -> Vec<f64> {
        self.twists
            .collect_for(d)
            .iter()
            .map(|(_, t)| t["linear"]["x"].as_f64().expect("linear.x"))
            .collect()
    }

    fn offline(&mut self) -> Value {
        let topic = format!("amr/{}/status/connection", self.id);
        self.presence
            .expect(&topic, Duration::from_secs(10), "offline", |m| {
                m.json()["data"]["state"] == "offline"
            })
            .json()
    }
}

fn unix(ts: &Value) -> f64 {
    let s = ts.as_str().expect("timestamp");
    let d = |r: std::ops::Range<usize>| s[r].parse::<i64>().expect("digits");
    let days = days_from_civil(d(0..4), d(5..7), d(8..10));
    let secs = days * 86400 + d(11..13) * 3600 + d(14..16) * 60 + d(17..19);
    let frac: f64 = s[19..s.len() - 1].parse().unwrap_or(0.0);
    secs as f64 + frac
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[test]
fn sigterm_stops_the_robot_says_offline_and_exits_zero() {
    require_env();
    let mut m = Moving::start(71, "LIFE71");
    let stopped_at = now_unix();
    let status = m.bridge.proc.terminate(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "a clean stop exits 0:\n{}",
        m.bridge.log_text()
    );
    let after = m.twists_for(Duration::from_millis(800));
    assert_eq!(
        after.last().copied(),
        Some(0.0),
        "the last Twist is zero: {after:?}"
    );
    let offline = m.offline();
    // Said by the bridge at the stop, not the Last Will (stamped when it connected).
    assert!(
        unix(&offline["timestamp"]) >= stopped_at - 0.5,
        "{offline} said before the stop at {stopped_at}"
    );
    let mut late = MqttSub::start(m.broker.port, &format!("amr/{}/status/connection", m.id));
    let kept = late.expect(
        &format!("amr/{}/status/connection", m.id),
        Duration::from_secs(5),
        "retained offline",
        |msg| msg.retain,
    );
    assert_eq!(kept.json()["data"]["state"], "offline");
}

#[test]
fn a_panic_stops_the_robot_and_exits_non_zero() {
    require_env();
    // Honoured by debug builds only (the tests run one).
    std::env::set_var("AMR_BRIDGE_FAULT_INJECTION", "1");
    let mut m = Moving::start(72, "LIFE72");
    mqtt_pub(
        m.broker.port,
        &format!("amr/{}/command/__panic__", m.id),
        "{}",
        2,
        false,
    );
    let status = m.bridge.wait_exit(Duration::from_secs(10));
    let log = m.bridge.log_text();
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
