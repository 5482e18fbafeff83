//! A robot to command: a `Rig` with an rclpy recorder on `cmd_vel`. Commands go out as a
//! fleet sends them (any bytes, QoS 2), their outcomes are read from `status/command`, and
//! every Twist read is kept, so that a test can tell whether anything ever moved.

use super::mqtt::mqtt_pub_bytes;
use super::rig::Rig;
use super::ros::ros_type;
use super::ros::RosSub;
use super::time::now_rfc3339;
use serde_json::{json, Value};
use std::time::Duration;

/// A robot's bridge (`rig`, its `sub` on `amr/<robot>/#`) and what it sends on `cmd_vel`.
pub struct Robot {
    pub twists: RosSub,
    /// Every Twist read so far (through `twists_for`, `twists_until_quiet`): (arrival, message).
    pub seen_twists: Vec<(f64, Value)>,
    /// How often the bridge was respawned (`respawn`).
    pub restarts: usize,
    pub rig: Rig,
}

impl Robot {
    /// `Rig::start(robot, extra)` and a reliable recorder on `/cmd_vel`.
    pub fn start(robot: &str, extra: &str) -> Robot {
        Robot::on(Rig::start(robot, extra))
    }

    /// A recorder on `/cmd_vel` for a rig started otherwise (`Rig::on`).
    pub fn on(rig: Rig) -> Robot {
        let twists = rig.ros(ros_type::TWIST, "/cmd_vel").subscribe("reliable");
        Robot {
            twists,
            seen_twists: Vec::new(),
            restarts: 0,
            rig,
        }
    }

    /// The robot id.
    pub fn id(&self) -> &str {
        &self.rig.robot
    }

    /// `amr/<robot>/command/<action>`.
    pub fn command_topic(&self, action: &str) -> String {
        self.rig.topic(&format!("command/{action}"))
    }

    /// Exactly these bytes to `command/<action>` at QoS 2, as a fleet (or a broken client)
    /// sends them.
    pub fn send(&self, action: &str, payload: impl AsRef<[u8]>) {
        let topic = self.command_topic(action);
        mqtt_pub_bytes(self.rig.port(), &topic, payload.as_ref(), 2, false);
    }

    /// A fresh command with `parameters` to `command/<action>`; well-formed, so its command
    /// schema must take it.
    pub fn cmd(&self, action: &str, command: &str, params: Value) {
        let p = json!({"timestamp": now_rfc3339(), "command": command, "parameters": params});
        self.send_valid(action, &p.to_string());
    }

    /// A fresh command without parameters (stop, engage, release); well-formed too.
    pub fn bare(&self, action: &str, command: &str) {
        let p = json!({"timestamp": now_rfc3339(), "command": command});
        self.send_valid(action, &p.to_string());
    }

    /// `send`, for a payload that its command schema must take.
    fn send_valid(&self, action: &str, payload: &str) {
        if let Some(Err(e)) = command_schema(action, payload) {
            panic!("command_{action} schema refuses {payload}: {e}");
        }
        self.send(action, payload);
    }

    /// `move_forward` at `speed` cm/s for `distance` cm.
    pub fn forward(&self, speed: u32, distance: u32) {
        let params = json!({"speed": speed, "distance": distance});
        self.cmd("move", "move_forward", params);
    }

    /// A valid release of the e-stop.
    pub fn release(&self) {
        self.bare("emergency", "release");
    }

    /// Starts a long `forward` motion and lets it run for `run` once it is accepted.
    pub fn start_moving(&mut self, speed: u32, distance: u32, what: &str, run: Duration) {
        self.forward(speed, distance);
        self.outcome(what, status_is("accepted"));
        std::thread::sleep(run);
    }

    /// The e-stop engaged or released from ROS, on `/emergency_stop`.
    pub fn ros_estop(&self, engaged: bool) {
        self.rig
            .ros(ros_type::BOOL, "/emergency_stop")
            .publish_wait(&json!({"data": engaged}), 10.0, 1, "reliable");
    }

    /// The `data` of the next outcome (`status/command`) that satisfies `pred`.
    pub fn outcome_within(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let topic = self.rig.topic("status/command");
        let data = |payload: &str| {
            serde_json::from_str::<Value>(payload)
                .ok()
                .map(|v| v["data"].clone())
        };
        let m = self.rig.sub.wait_for(&topic, timeout, |m| {
            data(&m.payload).is_some_and(|d| pred(&d))
        })?;
        data(&m.payload)
    }

    /// `outcome_within` 10 s, or a panic naming `what` with the last outcomes.
    pub fn outcome(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(d) = self.outcome_within(Duration::from_secs(10), pred) {
            return d;
        }
        let topic = self.rig.topic("status/command");
        let last: Vec<String> = (self.rig.sub.got.iter().rev())
            .filter(|m| m.topic == topic)
            .take(10)
            .map(|m| m.payload.chars().take(300).collect())
            .collect();
        panic!(
            "no outcome ({what}) within 10 s; bridge alive: {}; last outcomes:\n{}",
            self.rig.bridge.proc.alive(),
            last.join("\n")
        );
    }

    /// The next outcome with this `status` for this `command`.
    pub fn outcome_of(&mut self, what: &str, status: &str, command: &str) -> Value {
        self.outcome(what, |d| d["status"] == status && d["command"] == command)
    }

    /// Reads the outcomes that arrive within `d` and forgets them: what comes next is new.
    pub fn drain_outcomes(&mut self, d: Duration) {
        let topic = self.rig.topic("status/command");
        self.rig.sub.collect(&topic, d);
    }

    /// Twists arriving within `d`, also kept in `seen_twists`.
    pub fn twists_for(&mut self, d: Duration) -> Vec<(f64, Value)> {
        let tw = self.twists.collect_for(d);
        self.seen_twists.extend(tw.iter().cloned());
        tw
    }

    /// Twists as (arrival, linear.x, angular.z) until `quiet` passes without one (the motion
    /// is over); the first may take `first_wait`.
    pub fn twists_until_quiet(
        &mut self,
        first_wait: Duration,
        quiet: Duration,
    ) -> Vec<(f64, f64, f64)> {
        let mut out = Vec::new();
        let mut wait = first_wait;
        while let Some((t, m)) = self.twists.recv(wait) {
            out.push((t, lin(&m), ang(&m)));
            self.seen_twists.push((t, m));
            wait = quiet;
        }
        out
    }

    /// The robot moves forward within 5 s, until `quiet` passes without a Twist.
    pub fn moves(&mut self, quiet: Duration, what: &str) {
        let tw = self.twists_until_quiet(Duration::from_secs(5), quiet);
        assert!(tw.iter().any(|s| s.1 > 0.0), "{what}");
    }

    /// A valid move is obeyed: accepted, a non-zero Twist, completed.
    pub fn obeys_a_valid_move(&mut self, why: &str) {
        self.twists_for(Duration::from_millis(200));
        self.forward(20, 10);
        let r = self.outcome(&format!("a valid move ({why})"), |d| {
            d["command"] == "move_forward"
                && matches!(d["status"].as_str(), Some("accepted" | "rejected"))
        });
        assert_eq!(r["status"], "accepted", "a valid move {why}: {r}");
        let done = self.outcome(&format!("the valid move completed ({why})"), |d| {
            d["command"] == "move_forward" && d["status"] != "accepted"
        });
        assert_eq!(done["status"], "completed", "{done}");
        let tw = self.twists_for(Duration::from_millis(500));
        assert!(
            tw.iter().any(|(_, m)| lin(m) > 0.0),
            "the valid move ({why}) gave a non-zero Twist: {tw:?}"
        );
    }

    /// The bridge died or a thread of it panicked.
    pub fn broken(&mut self) -> bool {
        !self.rig.bridge.proc.alive() || self.rig.bridge.panicked()
    }

    /// A new bridge in place of one that died (`Rig::respawn`), counted in `restarts`, so that
    /// a test can go on and count every input that kills it; why the old one died.
    pub fn respawn(&mut self) -> String {
        let why = self.rig.bridge.last_words();
        self.rig.respawn();
        self.restarts += 1;
        why
    }
}

/// `linear.x` of a Twist (NaN when missing).
pub fn lin(m: &Value) -> f64 {
    m["linear"]["x"].as_f64().unwrap_or(f64::NAN)
}

/// `angular.z` of a Twist (NaN when missing).
pub fn ang(m: &Value) -> f64 {
    m["angular"]["z"].as_f64().unwrap_or(f64::NAN)
}

/// A Twist that is not all zero (NaN counts as not zero).
pub fn moving(m: &Value) -> bool {
    ["linear", "angular"].iter().any(|k| {
        ["x", "y", "z"]
            .iter()
            .any(|a| m[k][a].as_f64().is_none_or(|v| v != 0.0))
    })
}

/// Every Twist in `tw` that is not zero.
pub fn nonzero(tw: &[(f64, Value)]) -> Vec<(f64, Value)> {
    tw.iter().filter(|(_, m)| moving(m)).cloned().collect()
}

/// The reason an outcome gives ("" when none).
pub fn reason(outcome: &Value) -> &str {
    outcome["reason"].as_str().unwrap_or("")
}

/// An outcome predicate: this `status`.
pub fn status_is(s: &'static str) -> impl Fn(&Value) -> bool {
    move |d: &Value| d["status"] == s
}

/// The verdict of the command schema of `action` on `payload`; `None` where no schema applies
/// (not JSON, or not a command action).
pub fn command_schema(action: &str, payload: &str) -> Option<Result<(), String>> {
    if !["move", "stop", "emergency"].contains(&action) {
        return None;
    }
    serde_json::from_str::<Value>(payload).ok()?;
    Some(super::schema::validate(
        &format!("command_{action}"),
        payload,
    ))
}
