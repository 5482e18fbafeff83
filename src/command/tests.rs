//! Behaviour tests of `CommandCore`: time is injected, nothing touches ROS or a broker.

use std::f64::consts::FRAC_PI_2;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::*;
use crate::envelope::parse_rfc3339;
use safety::Source;

/// Who an e-stop alert names.
fn source_of(a: &AlertEvent) -> Option<Source> {
    match a {
        AlertEvent::EstopEngaged(e) => Some(e.source),
        AlertEvent::EstopReleased(e) => Some(e.source),
        _ => None,
    }
}

const DT: f64 = 0.05;

/// A core plus a fake clock that advances one tick per `tick()`.
struct Rig {
    core: CommandCore,
    now: Instant,
    wall: DateTime<Utc>,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(CommandConfig::default())
    }

    fn with(cfg: CommandConfig) -> Rig {
        Rig {
            core: CommandCore::new(&cfg),
            now: Instant::now(),
            wall: parse_rfc3339("2024-01-01T12:00:00Z").expect("wall"),
        }
    }

    /// A timestamp `offset` seconds from the wall clock.
    fn ts(&self, offset: f64) -> String {
        let t = self.wall + chrono::Duration::microseconds((offset * 1e6) as i64);
        t.to_rfc3339()
    }

    fn send(&mut self, action: &str, payload: &str) -> Effects {
        self.send_bytes(action, payload.as_bytes())
    }

    fn send_bytes(&mut self, action: &str, payload: &[u8]) -> Effects {
        let m = FleetCommand::new(Action::parse(action), payload.to_vec().into(), false);
        self.core.on_mqtt(&m, self.now, self.wall)
    }

    fn send_retained(&mut self, action: &str, payload: &str) -> Effects {
        let m = FleetCommand::new(Action::parse(action), payload.to_owned().into(), true);
        self.core.on_mqtt(&m, self.now, self.wall)
    }

    fn cmd(&mut self, action: &str, command: &str, params: &str, id: Option<&str>) -> Effects {
        let id = id.map(|i| format!(r#","id":"{i}""#)).unwrap_or_default();
        let text = format!(
            r#"{{"timestamp":"{}","command":"{command}","parameters":{params}{id}}}"#,
            self.ts(0.0)
        );
        self.send(action, &text)
    }

    /// A `move` command that must be accepted.
    fn accepted(&mut self, command: &str, params: &str, id: Option<&str>) -> Effects {
        let fx = self.cmd("move", command, params, id);
        assert_eq!(
            statuses(&fx),
            [OutcomeStatus::Accepted],
            "{command} {params}"
        );
        fx
    }

    fn advance(&mut self, secs: f64) {
        let d = Duration::from_secs_f64(secs);
        self.now += d;
        self.wall += chrono::Duration::from_std(d).expect("duration");
    }

    fn tick(&mut self) -> Effects {
        self.advance(DT);
        self.core.tick(self.now)
    }

    /// Ticks until an outcome other than `accepted` shows up, collecting Twists.
    fn run_until_outcome(&mut self, max_ticks: usize) -> (Vec<Twist2>, Outcome) {
        let mut twists = Vec::new();
        for _ in 0..max_ticks {
            let fx = self.tick();
            assert_eq!(fx.twists.len(), 1, "one Twist per tick while moving");
            twists.extend(fx.twists);
            if let Some(o) = fx.outcomes.into_iter().next() {
                return (twists, o);
            }
        }
        panic!("no outcome after {max_ticks} ticks");
    }

    /// Ticks with odometry fed back after each Twist (`pose` turns the Twist into the new
    /// x, y, yaw) until an outcome shows up; returns that tick's effects.
    fn run_closed_loop(
        &mut self,
        max_ticks: usize,
        mut pose: impl FnMut(&Twist2) -> (f64, f64, f64),
    ) -> Effects {
        for _ in 0..max_ticks {
            let fx = self.tick();
            let (x, y, yaw) = pose(&fx.twists[0]);
            self.core.on_odom(Pose::planar(x, y, yaw, self.now));
            if !fx.outcomes.is_empty() {
                return fx;
            }
        }
        panic!("no outcome after {max_ticks} ticks");
    }
}

fn statuses(fx: &Effects) -> Vec<OutcomeStatus> {
    fx.outcomes.iter().map(|o| o.status).collect()
}

fn moving(fx: &Effects) -> bool {
    fx.twists.iter().any(|t| *t != Twist2::ZERO)
}

/// Integral, max speed and max step on one component.
fn profile_stats(twists: &[Twist2], f: fn(&Twist2) -> f64, start: f64) -> (f64, f64, f64) {
    let mut prev = start;
    let (mut sum, mut vmax, mut dmax) = (0.0, 0.0f64, 0.0f64);
    for t in twists {
        let v = f(t);
        sum += v * DT;
        vmax = vmax.max(v.abs());
        dmax = dmax.max((v - prev).abs());
        prev = v;
    }
    (sum, vmax, dmax)
}

#[test]
fn move_forward_integrates_to_the_distance() {
    let mut r = Rig::new();
    let fx = r.accepted("move_forward", r#"{"speed":50,"distance":100}"#, Some("m1"));
    assert_eq!(fx.outcomes[0].id.as_deref(), Some("m1"));
    assert_eq!(r.core.mode(), Mode::Moving);
    let (twists, done) = r.run_until_outcome(1000);
    let (sum, vmax, dmax) = profile_stats(&twists, |t| t.linear, 0.0);
    assert!((sum - 1.0).abs() < 1e-9, "{sum}");
    assert!(vmax <= 0.5 + 1e-12);
    assert!(dmax <= 1.0 * DT + 1e-9, "{dmax}");
    assert!(twists.iter().all(|t| t.angular == 0.0));
    assert_eq!(*twists.last().expect("twists"), Twist2::ZERO);
    assert_eq!(done.status, OutcomeStatus::Completed);
    assert_eq!(done.id.as_deref(), Some("m1"));
    assert!(done.reason.as_deref().unwrap_or("").contains("by time"));
    assert_eq!(r.core.mode(), Mode::Idle);
    assert!(r.tick().twists.is_empty(), "idle sends nothing");
}

#[test]
fn rotations_are_in_radians_and_signed() {
    for (name, sign) in [("rotate_left", 1.0), ("rotate_right", -1.0)] {
        let mut r = Rig::new();
        r.cmd("move", name, r#"{"speed":45,"angle":90}"#, None);
        let (twists, done) = r.run_until_outcome(1000);
        let (sum, vmax, dmax) = profile_stats(&twists, |t| t.angular, 0.0);
        assert!((sum - sign * FRAC_PI_2).abs() < 1e-9, "{name}: {sum}");
        assert!(vmax <= 45f64.to_radians() + 1e-12);
        assert!(dmax <= 3.0 * DT + 1e-9);
        assert!(twists.iter().all(|t| t.linear == 0.0));
        assert_eq!(done.status, OutcomeStatus::Completed);
    }
}

#[test]
fn move_backward_is_negative_and_clamped() {
    let mut r = Rig::new();
    let fx = r.cmd(
        "move",
        "move_backward",
        r#"{"speed":500,"distance":300}"#,
        None,
    );
    assert_eq!(
        fx.outcomes[0].reason.as_deref(),
        Some("speed clamped to 1.0 m/s")
    );
    let (twists, _) = r.run_until_outcome(1000);
    let (sum, vmax, _) = profile_stats(&twists, |t| t.linear, 0.0);
    assert!((sum + 3.0).abs() < 1e-9, "{sum}");
    assert!(
        (vmax - 1.0).abs() < 1e-12,
        "reaches and holds the clamped speed"
    );
    assert!(twists.iter().all(|t| t.linear <= 0.0));
}

#[test]
fn preemption_continues_from_the_current_speed() {
    let mut r = Rig::new();
    r.accepted("move_forward", r#"{"speed":100,"distance":500}"#, Some("a"));
    let mut twists = Vec::new();
    for _ in 0..15 {
        twists.extend(r.tick().twists);
    }
    let fx = r.cmd(
        "move",
        "move_backward",
        r#"{"speed":50,"distance":20}"#,
        Some("b"),
    );
    assert_eq!(
        statuses(&fx),
        [OutcomeStatus::Preempted, OutcomeStatus::Accepted]
    );
    assert_eq!(fx.outcomes[0].id.as_deref(), Some("a"));
    assert_eq!(fx.outcomes[1].id.as_deref(), Some("b"));
    let before: f64 = twists.iter().map(|t| t.linear * DT).sum();
    let (after, done) = r.run_until_outcome(1000);
    assert_eq!(done.id.as_deref(), Some("b"));
    twists.extend(after.iter().copied());
    let (_, _, dmax) = profile_stats(&twists, |t| t.linear, 0.0);
    assert!(dmax <= 1.0 * DT + 1e-9, "no jump at the preemption: {dmax}");
    // The new motion's extent is measured from where it took over.
    let moved: f64 = after.iter().map(|t| t.linear * DT).sum();
    assert!((moved + 0.2).abs() < 1e-9, "{moved} (before {before})");

    // A rotation preempting a linear motion winds the linear speed down smoothly.
    let mut r = Rig::new();
    r.accepted("move_forward", r#"{"speed":100,"distance":500}"#, None);
    for _ in 0..20 {
        r.tick();
    }
    r.cmd("move", "rotate_left", r#"{"speed":90,"angle":90}"#, None);
    let (after, _) = r.run_until_outcome(1000);
    let (_, _, dlin) = profile_stats(&after, |t| t.linear, 1.0);
    assert!(dlin <= 1.0 * DT + 1e-9);
    let (turned, _, _) = profile_stats(&after, |t| t.angular, 0.0);
    assert!((turned - FRAC_PI_2).abs() < 1e-9);
}

#[test]
fn stop_cancels_and_zeroes_at_once() {
    let mut r = Rig::new();
    r.accepted("move_forward", r#"{"speed":50,"distance":100}"#, Some("m"));
    r.tick();
    r.tick();
    let fx = r.send(
        "stop",
        &format!(r#"{{"timestamp":"{}","id":"s"}}"#, r.ts(0.0)),
    );
    assert_eq!(fx.twists, [Twist2::ZERO]);
    assert_eq!(
        statuses(&fx),
        [OutcomeStatus::Cancelled, OutcomeStatus::Completed]
    );
    assert_eq!(fx.outcomes[0].id.as_deref(), Some("m"));
    assert_eq!(fx.outcomes[1].command.as_deref(), Some("stop"));
    assert_eq!(r.core.mode(), Mode::Idle);
    assert!(r.tick().twists.is_empty());
}

#[test]
fn any_stop_message_stops() {
    for bad in [
        "garbage".to_owned(),
        r#"{"timestamp":"2020-01-01T00:00:00Z"}"#.to_owned(),
        r#"{"command":"go"}"#.to_owned(),
    ] {
        let mut r = Rig::new();
        r.cmd("move", "velocity", r#"{"linear":30}"#, None);
        r.tick();
        let fx = r.send("stop", &bad);
        assert_eq!(fx.twists, [Twist2::ZERO], "{bad}");
        assert_eq!(
            statuses(&fx),
            [OutcomeStatus::Cancelled, OutcomeStatus::Rejected]
        );
        let reason = fx.outcomes[1].reason.clone().unwrap_or_default();
        assert!(reason.ends_with("the robot was stopped anyway"), "{reason}");
        assert_eq!(r.core.mode(), Mode::Idle);
    }
}

#[test]
fn velocity_is_held_then_the_watchdog_zeroes_within_the_timeout() {
    let mut r = Rig::new();
    r.accepted("velocity", r#"{"linear":20,"angular":-30}"#, Some("v1"));
    let last_command = r.now;
    assert_eq!(r.core.mode(), Mode::Velocity);
    let mut last_nonzero = last_command;
    let mut zero_at = None;
    for _ in 0..40 {
        let fx = r.tick();
        assert_eq!(fx.twists.len(), 1);
        if fx.twists[0] == Twist2::ZERO {
            zero_at = Some(r.now);
            assert_eq!(statuses(&fx), [OutcomeStatus::Completed]);
            assert_eq!(fx.outcomes[0].id.as_deref(), Some("v1"));
            break;
        }
        last_nonzero = r.now;
        assert!(fx.twists[0].linear > 0.0 && fx.twists[0].angular < 0.0);
    }
    let zero_at = zero_at.expect("watchdog fired");
    assert!(zero_at - last_command <= Duration::from_secs_f64(0.5));
    assert!(last_nonzero > last_command);
    assert_eq!(r.core.mode(), Mode::Idle);

    // Kept alive by a steady stream, and ramped to the target.
    let mut r = Rig::new();
    let mut seen = Twist2::ZERO;
    for _ in 0..30 {
        r.cmd("move", "velocity", r#"{"linear":20}"#, None);
        let fx = r.tick();
        assert!(!fx
            .outcomes
            .iter()
            .any(|o| o.status == OutcomeStatus::Completed));
        seen = fx.twists[0];
    }
    assert!((seen.linear - 0.2).abs() < 1e-12);
}

#[test]
fn emergency_latch_holds_until_release() {
    let mut r = Rig::new();
    r.accepted("move_forward", r#"{"speed":50,"distance":100}"#, Some("m"));
    r.tick();
    let fx = r.cmd("emergency", "engage", "{}", Some("e1"));
    assert_eq!(fx.twists, [Twist2::ZERO]);
    assert_eq!(
        statuses(&fx),
        [OutcomeStatus::Cancelled, OutcomeStatus::Completed]
    );
    assert_eq!(
        fx.alerts,
        [AlertEvent::EstopEngaged(EstopEngaged {
            source: Source::Mqtt,
            id: Some("e1".into()),
            engaged_by: vec![Source::Mqtt],
        })]
    );
    assert_eq!(fx.alerts[0].level(), AlertLevel::Error);
    assert_eq!(r.core.mode(), Mode::Emergency);

    let fx = r.cmd(
        "move",
        "move_forward",
        r#"{"speed":50,"distance":100}"#,
        Some("m2"),
    );
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    assert_eq!(
        fx.outcomes[0].reason.as_deref(),
        Some("emergency stop engaged")
    );
    for _ in 0..5 {
        assert_eq!(r.tick().twists, [Twist2::ZERO], "zero on every tick");
    }

    // A stale release is refused and the latch holds.
    let text = format!(r#"{{"timestamp":"{}","command":"release"}}"#, r.ts(-10.0));
    let fx = r.send("emergency", &text);
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    assert!(fx.twists.is_empty() && fx.alerts.is_empty());
    assert_eq!(r.core.mode(), Mode::Emergency);

    let fx = r.cmd("emergency", "release", "{}", Some("r1"));
    assert_eq!(statuses(&fx), [OutcomeStatus::Completed]);
    assert_eq!(
        fx.alerts,
        [AlertEvent::EstopReleased(EstopReleased {
            source: Source::Mqtt,
            id: Some("r1".into()),
        })]
    );
    assert_eq!(fx.alerts[0].level(), AlertLevel::Info);
    assert!(!moving(&fx), "a release never moves");
    assert_eq!(r.core.mode(), Mode::Idle);
    assert!(r.tick().twists.is_empty());
    // The id of the executed move (m2 was refused, so it may be sent again).
    r.accepted("move_forward", r#"{"speed":50,"distance":10}"#, Some("m2"));
    // A replayed release (same id) is refused.
    let fx = r.cmd("emergency", "release", "{}", Some("r1"));
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    assert_eq!(r.core.mode(), Mode::Moving);
}

#[test]
fn a_pause_holds_the_robot_until_it_is_lifted() {
    let mut r = Rig::new();
    r.accepted("velocity", r#"{"linear":30}"#, Some("v"));
    assert!(moving(&r.tick()));
    let fx = r.core.on_pause(true, r.now);
    assert_eq!(fx.twists, [Twist2::ZERO], "zero at once, not a tick later");
    assert_eq!(statuses(&fx), [OutcomeStatus::Cancelled]);
    assert_eq!(
        fx.outcomes[0].reason.as_deref(),
        Some("paused by VDA 5050 master control")
    );
    assert!(r.core.on_pause(true, r.now).twists.is_empty(), "a level");
    let fx = r.cmd(
        "move",
        "move_forward",
        r#"{"speed":50,"distance":100}"#,
        None,
    );
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    assert!(
        reason(&fx).starts_with("paused by VDA 5050 master control (startPause"),
        "{fx:?}"
    );
    assert!(r.core.needs_tick());
    for _ in 0..5 {
        assert_eq!(r.tick().twists, [Twist2::ZERO], "zero on every tick");
    }
    // Stop and the e-stop work as ever; the latch and the pause hold on their own.
    assert_eq!(
        statuses(&r.cmd("stop", "stop", "{}", None)),
        [OutcomeStatus::Completed]
    );
    r.cmd("emergency", "engage", "{}", None);
    assert_eq!(r.core.mode(), Mode::Emergency);
    r.cmd("emergency", "release", "{}", None);
    assert_eq!(r.tick().twists, [Twist2::ZERO], "still paused");
    let fx = r.core.on_pause(false, r.now);
    assert!(
        fx.twists.is_empty() && fx.outcomes.is_empty(),
        "lifting moves nothing"
    );
    assert!(r.tick().twists.is_empty());
    r.accepted("move_forward", r#"{"speed":50,"distance":10}"#, None);
    assert!(moving(&r.tick()));
}

/// The reason of the only outcome.
fn reason(fx: &Effects) -> &str {
    fx.outcomes[0].reason.as_deref().unwrap_or("")
}

#[test]
fn malformed_emergency_messages_engage() {
    for bad in ["", "{", r#"{"command":"panic"}"#, r#"[1]"#] {
        let mut r = Rig::new();
        let fx = r.send("emergency", bad);
        assert_eq!(r.core.mode(), Mode::Emergency, "{bad:?}");
        assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
        let reason = fx.outcomes[0].reason.clone().unwrap_or_default();
        assert!(
            reason.ends_with("emergency stop engaged anyway"),
            "{reason}"
        );
    }
    // A message with no command field engages too (require_timestamp off: no timestamp).
    let mut r = Rig::with(CommandConfig {
        require_timestamp: false,
        ..CommandConfig::default()
    });
    let fx = r.send("emergency", "{}");
    assert_eq!(statuses(&fx), [OutcomeStatus::Completed]);
    assert_eq!(r.core.mode(), Mode::Emergency);
    // ... but a release needs a timestamp anyway.
    let fx = r.send("emergency", r#"{"command":"release"}"#);
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    assert_eq!(r.core.mode(), Mode::Emergency);
}

#[test]
fn ros_and_mqtt_sources_release_separately() {
    let mut r = Rig::new();
    let fx = r.core.on_ros_estop(true, r.now);
    assert_eq!(fx.twists, [Twist2::ZERO]);
    assert_eq!(source_of(&fx.alerts[0]), Some(Source::Ros));
    assert!(
        r.core.on_ros_estop(true, r.now).alerts.is_empty(),
        "repeats are quiet"
    );
    let fx = r.cmd("emergency", "engage", "{}", None);
    assert_eq!(source_of(&fx.alerts[0]), Some(Source::Mqtt));

    // MQTT release: the ROS e-stop still holds.
    let fx = r.cmd("emergency", "release", "{}", None);
    assert_eq!(statuses(&fx), [OutcomeStatus::Completed]);
    assert!(fx.outcomes[0]
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("still engaged by ros"));
    assert!(fx.alerts.is_empty());
    assert_eq!(r.core.mode(), Mode::Emergency);
    assert_eq!(
        statuses(&r.cmd("move", "velocity", r#"{"linear":1}"#, None)),
        [OutcomeStatus::Rejected]
    );

    let fx = r.core.on_ros_estop(false, r.now);
    assert!(matches!(fx.alerts[0], AlertEvent::EstopReleased(_)));
    assert_eq!(r.core.mode(), Mode::Idle);
    assert!(r.core.on_ros_estop(false, r.now).alerts.is_empty());

    // And the other way round: a ROS release leaves an MQTT engagement.
    r.cmd("emergency", "emergency_stop", "{}", None);
    r.core.on_ros_estop(true, r.now);
    r.core.on_ros_estop(false, r.now);
    assert_eq!(r.core.mode(), Mode::Emergency);
}

#[test]
fn stale_and_future_timestamps_are_refused() {
    let mut r = Rig::new();
    for offset in [-2.5, 2.5, -3600.0] {
        let text = format!(
            r#"{{"timestamp":"{}","command":"move_forward","parameters":{{"speed":50,"distance":100}}}}"#,
            r.ts(offset)
        );
        let fx = r.send("move", &text);
        assert_eq!(statuses(&fx), [OutcomeStatus::Rejected], "{offset}");
        assert!(!moving(&fx));
        assert_eq!(r.core.mode(), Mode::Idle);
    }
    let text = format!(
        r#"{{"timestamp":"{}","command":"move_forward","parameters":{{"speed":50,"distance":100}}}}"#,
        r.ts(-1.5)
    );
    assert_eq!(statuses(&r.send("move", &text)), [OutcomeStatus::Accepted]);
}

#[test]
fn duplicate_id_is_executed_once() {
    let mut r = Rig::new();
    r.accepted("move_forward", r#"{"speed":50,"distance":10}"#, Some("dup"));
    let fx = r.cmd(
        "move",
        "move_forward",
        r#"{"speed":50,"distance":10}"#,
        Some("dup"),
    );
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    assert!(fx.outcomes[0]
        .reason
        .as_deref()
        .unwrap_or("")
        .starts_with("duplicate id"));
    assert_eq!(fx.outcomes[0].id.as_deref(), Some("dup"));
    // The first one runs on undisturbed.
    let (twists, done) = r.run_until_outcome(1000);
    assert_eq!(done.status, OutcomeStatus::Completed);
    let (sum, _, _) = profile_stats(&twists, |t| t.linear, 0.0);
    assert!((sum - 0.1).abs() < 1e-9);
}

#[test]
fn closed_loop_ends_by_odometry() {
    let mut r = Rig::new();
    let at = r.now;
    r.core.on_odom(Pose::planar(1.0, 2.0, FRAC_PI_2, at));
    r.accepted("move_forward", r#"{"speed":50,"distance":100}"#, Some("c"));
    // The robot runs 20 % faster than commanded.
    let mut y = 2.0;
    let fx = r.run_closed_loop(1000, |t| {
        y += t.linear * DT * 1.2;
        (1.0, y, FRAC_PI_2)
    });
    let o = &fx.outcomes[0];
    assert_eq!(o.status, OutcomeStatus::Completed);
    assert_eq!(o.reason.as_deref(), Some("completed by odometry"));
    assert_eq!(fx.twists, [Twist2::ZERO]);
    assert!(y - 2.0 >= 1.0 && y - 2.0 < 1.1, "{y}");
}

#[test]
fn odometry_a_hair_short_of_the_target_confirms_it() {
    let mut r = Rig::new();
    r.core.on_odom(Pose::planar(0.0, 0.0, 0.0, r.now));
    r.accepted("move_forward", r#"{"speed":30,"distance":60}"#, None);
    // A wheel controller that always ends 0.02 mm short (0.59998 m of 0.6 m).
    let mut x = 0.0;
    let fx = r.run_closed_loop(1000, |t| {
        x += t.linear * DT * 0.99997;
        (x, 0.0, 0.0)
    });
    let o = &fx.outcomes[0];
    assert_eq!(
        o.reason.as_deref(),
        Some("completed by odometry"),
        "x = {x}"
    );
    assert!(x < 0.6 && x > 0.597, "{x}");
}

#[test]
fn closed_loop_falls_back_to_time_after_the_grace() {
    let mut r = Rig::new();
    r.core.on_odom(Pose::planar(0.0, 0.0, 0.0, r.now));
    r.cmd("move", "rotate_left", r#"{"speed":90,"angle":90}"#, None);
    // The robot is stuck: odometry stays fresh but shows no progress.
    let mut plan_end = None;
    for _ in 0..1000 {
        let fx = r.tick();
        r.core.on_odom(Pose::planar(0.0, 0.0, 0.0, r.now));
        if plan_end.is_none() && fx.twists[0] == Twist2::ZERO {
            plan_end = Some(r.now);
        }
        if let Some(o) = fx.outcomes.first() {
            assert!(o
                .reason
                .as_deref()
                .unwrap_or("")
                .starts_with("completed by time"));
            let waited = r.now - plan_end.expect("plan ended");
            assert!(waited >= Duration::from_secs(1) && waited < Duration::from_millis(1100));
            return;
        }
    }
    panic!("never completed");
}

/// Payloads on `move` that are broken before any field is read.
#[rustfmt::skip]
const BROKEN: &[&[u8]] = &[
    b"", b"not json", b"\xff\xfe{\"command\":1}", b"{\"command\":\"move_\xc3(\"}", b"[1,2]",
    b"\"move_forward\"", b"null", b"{\"timestamp\":",
    br#"{"command":"move_forward","parameters":{"speed":"50","distance":100}}"#,
    br#"{"command":"move_forward","parameters":{"speed":50,"distance":100}}"#,
    br#"{"timestamp":1704110400,"command":"velocity"}"#,
    br#"{"timestamp":"yesterday","command":"velocity"}"#,
    br#"{"timestamp":"2024-01-01 12:00:00","command":"velocity"}"#,
];

/// `(command, parameters)` of fresh `move` messages whose parameters are wrong.
#[rustfmt::skip]
const BAD_PARAMETERS: &[(&str, &str)] = &[
    ("move_forward", r#"{"speed":"50","distance":100}"#),
    ("move_forward", r#"{"speed":true,"distance":100}"#),
    ("move_forward", r#"{"speed":null,"distance":100}"#),
    ("move_forward", r#"{"speed":[50],"distance":100}"#),
    ("move_forward", r#"{"speed":{"v":50},"distance":100}"#),
    ("move_forward", r#"{"speed":-5,"distance":100}"#),
    ("move_forward", r#"{"speed":0,"distance":100}"#),
    ("move_forward", r#"{"speed":50,"distance":0}"#),
    ("move_forward", r#"{"speed":50,"distance":-1}"#),
    ("move_forward", r#"{"speed":50,"distance":1e308}"#),
    ("move_forward", r#"{"speed":1e309,"distance":100}"#),
    ("move_forward", r#"{"speed":50,"distance":20000}"#),
    ("move_forward", r#"{"speed":1e-300,"distance":100}"#),
    ("move_forward", r#"{"speed":5e-324,"distance":100}"#),
    ("move_forward", r#"{"speed":50}"#),
    ("move_forward", r#"{"distance":100}"#),
    ("move_forward", r#"{"speed":50,"distanse":100}"#),
    ("move_forward", r#"{"speed":50,"distance":100,"extra":1}"#),
    ("move_forward", "[50,100]"),
    ("move_forward", "null"),
    ("rotate_left", r#"{"speed":90,"distance":90}"#),
    ("rotate_left", r#"{"speed":90,"angle":4000}"#),
    ("velocity", r#"{"linear":"fast"}"#),
    ("velocity", r#"{"linear":1,"lineer":2}"#),
    ("velocity", "7"),
    ("fly", "{}"),
];

/// The rest of a fresh envelope (after `{"timestamp":"<ts>",`) that is wrong.
#[rustfmt::skip]
const BAD_ENVELOPES: &[&str] = &[
    r#""command":"move_forward"}"#,
    r#""command":7}"#,
    r#""parameters":{"speed":50,"distance":100}}"#,
    r#""command":"stop"}"#,
    r#""command":"velocity","id":5}"#,
    r#""command":"velocity","id":""}"#,
    r#""command":"velocity","robot":"r1"}"#,
];

/// Every malformed command of [`malformed_commands_are_refused`]: (action, payload).
fn malformed_cases() -> Vec<(&'static str, Vec<u8>)> {
    let ts = "2024-01-01T12:00:00Z";
    let msg = |command: &str, params: &str| {
        format!(r#"{{"timestamp":"{ts}","command":"{command}","parameters":{params}}}"#)
    };
    let valid = msg("move_forward", r#"{"speed":50,"distance":100}"#);
    let mut cases: Vec<(&str, Vec<u8>)> = BROKEN.iter().map(|b| ("move", b.to_vec())).collect();
    cases.push(("move", "[".repeat(100_000).into_bytes()));
    let deep = format!("{}1{}", "[".repeat(17), "]".repeat(17));
    cases.push(("move", deep.into_bytes()));
    let pad = format!(
        r#"{{"speed":50,"distance":100,"pad":"{}"}}"#,
        "x".repeat(20_000)
    );
    cases.push(("move", msg("move_forward", &pad).into_bytes()));
    for (command, params) in BAD_PARAMETERS {
        cases.push(("move", msg(command, params).into_bytes()));
    }
    for rest in BAD_ENVELOPES {
        cases.push((
            "move",
            format!(r#"{{"timestamp":"{ts}",{rest}"#).into_bytes(),
        ));
    }
    let long_id = format!(
        r#"{{"timestamp":"{ts}","command":"velocity","id":"{}"}}"#,
        "i".repeat(129)
    );
    cases.push(("move", long_id.into_bytes()));
    for action in ["dance", "", "MOVE"] {
        cases.push((action, valid.clone().into_bytes()));
    }
    // Oversized: bigger than max_payload, though otherwise valid.
    let mut big = valid.into_bytes();
    big.extend(std::iter::repeat_n(b' ', 16 * 1024));
    cases.push(("move", big));
    cases
}

/// Malformed commands: each is refused with a reason, nothing moves, and the core still obeys
/// a valid command afterwards.
#[test]
fn malformed_commands_are_refused() {
    let cases = malformed_cases();
    assert_eq!(cases.len(), 54);

    let cfg = CommandConfig {
        // Large enough that the 100000-deep payload reaches the depth check, not the size check.
        max_payload: 200_000,
        ..CommandConfig::default()
    };
    for (i, (action, payload)) in cases.iter().enumerate() {
        let cfg = if i + 1 == cases.len() {
            CommandConfig::default()
        } else {
            cfg.clone()
        };
        let mut r = Rig::with(cfg);
        let fx = r.send_bytes(action, payload);
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(80)]).into_owned();
        assert_eq!(
            statuses(&fx),
            [OutcomeStatus::Rejected],
            "case {i}: {shown}"
        );
        let reason = fx.outcomes[0].reason.clone().unwrap_or_default();
        assert!(!reason.is_empty(), "case {i}");
        assert!(!moving(&fx), "case {i}");
        assert_eq!(r.core.mode(), Mode::Idle, "case {i}: {reason}");
        assert!(!moving(&r.tick()), "case {i}");
        // Still obeys.
        let fx = r.cmd(
            "move",
            "move_forward",
            r#"{"speed":50,"distance":100}"#,
            None,
        );
        assert_eq!(statuses(&fx), [OutcomeStatus::Accepted], "case {i}");
        assert!(moving(&r.tick()), "case {i}");
    }
}

#[test]
fn reasons_are_specific() {
    let mut r = Rig::new();
    let fx = r.send(
        "move",
        r#"{"timestamp":"2024-01-01T12:00:00Z","command":"move_forward","parameters":{"speed":-5,"distance":100},"id":"q"}"#,
    );
    assert_eq!(
        fx.outcomes[0],
        Outcome {
            id: Some("q".into()),
            command: Some("move_forward".into()),
            status: OutcomeStatus::Rejected,
            reason: Some("parameters.speed must be a positive number, got -5".into()),
        }
    );
    let json = serde_json::to_value(&fx.outcomes[0]).expect("json");
    assert_eq!(json["status"], "rejected");
    let fx = r.send("dance", "{}");
    assert_eq!(
        fx.outcomes[0].reason.as_deref(),
        Some("unknown command topic `dance`: expected move, stop or emergency")
    );
}

#[test]
fn a_refused_move_leaves_a_running_motion_running() {
    let mut r = Rig::new();
    r.accepted("move_forward", r#"{"speed":50,"distance":100}"#, None);
    let first = r.tick().twists;
    let fx = r.send("move", "{oops");
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    assert_eq!(r.core.mode(), Mode::Moving);
    let (rest, done) = r.run_until_outcome(1000);
    assert_eq!(done.status, OutcomeStatus::Completed);
    let total: f64 = first.iter().chain(&rest).map(|t| t.linear * DT).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
}

#[test]
fn a_broken_configuration_never_puts_nan_on_cmd_vel() {
    let mut r = Rig::with(CommandConfig {
        max_linear_accel: f64::NAN,
        ..CommandConfig::default()
    });
    // Refused (the estimate is NaN) or run: either way nothing non-finite goes out.
    r.cmd(
        "move",
        "move_forward",
        r#"{"speed":50,"distance":100}"#,
        None,
    );
    for _ in 0..10 {
        for t in r.tick().twists {
            assert!(t.linear.is_finite() && t.angular.is_finite());
        }
    }
}

#[test]
fn retained_messages_never_move_the_robot_but_still_stop_it() {
    let mut r = Rig::new();
    let mv = format!(
        r#"{{"timestamp":"{}","command":"move_forward","parameters":{{"speed":50,"distance":100}},"id":"r1"}}"#,
        r.ts(0.0)
    );
    let fx = r.send_retained("move", &mv);
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    assert_eq!(
        fx.outcomes[0].reason.as_deref(),
        Some("retained messages are not obeyed as commands")
    );
    assert_eq!(fx.outcomes[0].id.as_deref(), Some("r1"), "the id is echoed");
    assert!(fx.twists.is_empty() && !moving(&r.tick()));
    assert_eq!(r.core.mode(), Mode::Idle);
    let fx = r.send_retained("goal", "{}");
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    // The same id is still free: a refused command does not consume it.
    assert_eq!(statuses(&r.send("move", &mv)), [OutcomeStatus::Accepted]);
    let fx = r.send_retained("stop", "{}");
    assert_eq!(fx.twists, [Twist2::ZERO], "a retained stop still stops");
    let fx = r.send_retained("emergency", "{}");
    assert_eq!(
        r.core.mode(),
        Mode::Emergency,
        "a retained e-stop engages: {fx:?}"
    );
}

#[test]
fn a_payload_too_large_to_keep_is_refused_by_its_size_and_still_stops() {
    let mut r = Rig::new();
    r.accepted("move_forward", r#"{"speed":50,"distance":100}"#, None);
    // What the inbox passes on for a 17 MB message: the size, not the bytes.
    let big = |action: &str| FleetCommand {
        action: Action::parse(action),
        payload: bytes::Bytes::new(),
        size: 17_000_000,
        retained: false,
    };
    let (now, wall) = (r.now, r.wall);
    let fx = r.core.on_mqtt(&big("move"), now, wall);
    assert_eq!(statuses(&fx), [OutcomeStatus::Rejected]);
    let reason = fx.outcomes[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("17000000 bytes"), "{reason}");
    assert_eq!(
        r.core.mode(),
        Mode::Moving,
        "a refused move leaves the motion"
    );
    let fx = r.core.on_mqtt(&big("junk"), now, wall);
    assert!(fx.outcomes[0]
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("17000000"));
    let fx = r.core.on_mqtt(&big("stop"), now, wall);
    assert_eq!(fx.twists, [Twist2::ZERO], "an oversized stop still stops");
    r.core.on_mqtt(&big("emergency"), now, wall);
    assert_eq!(
        r.core.mode(),
        Mode::Emergency,
        "an oversized e-stop engages"
    );
}

/// Text a hostile fleet puts in a string: escaped NUL and controls, lone surrogates,
/// direction marks, combining marks, emoji, BOM, non-characters, a lot of it.
fn hostile_text(rng: &mut fastrand::Rng) -> String {
    const PIECES: &[&str] = &[
        "\\u0000",
        "\\u001b[2J",
        "\\r\\n",
        "\\ud800",
        "\\udfff",
        "\\ud83d\\ude00",
        "\u{202e}",
        "e\u{301}",
        "😀",
        "\u{feff}",
        "\u{ffff}",
        "\u{85}",
        "\\\"",
        "\\\\",
        "move_forward",
        "release",
        "stop",
        "%s%n",
        "{}",
        "'",
        "\t",
    ];
    let mut s = String::new();
    for _ in 0..rng.usize(0..12) {
        s.push_str(PIECES[rng.usize(..PIECES.len())]);
    }
    if rng.u8(..) < 8 {
        s.push_str(&"x".repeat(rng.usize(0..40_000)));
    }
    s
}

/// A JSON value of any kind, hostile strings included.
fn hostile_value(rng: &mut fastrand::Rng, depth: usize) -> String {
    match rng.u8(..8) {
        0 => format!("\"{}\"", hostile_text(rng)),
        1 => ["1e309", "-0", "5e-324", "1e308", "NaN", "-1", "50", "0.3"][rng.usize(..8)].into(),
        2 => ["true", "null", "false"][rng.usize(..3)].into(),
        3 if depth < 4 => format!("[{}]", hostile_value(rng, depth + 1)),
        4 | 5 if depth < 4 => hostile_object(rng, depth + 1),
        _ => format!("\"{}\"", hostile_text(rng)),
    }
}

fn hostile_object(rng: &mut fastrand::Rng, depth: usize) -> String {
    const KEYS: &[&str] = &[
        "timestamp",
        "command",
        "parameters",
        "id",
        "speed",
        "distance",
    ];
    let fields: Vec<String> = (0..rng.usize(0..5))
        .map(|_| {
            let key = if rng.bool() {
                KEYS[rng.usize(..KEYS.len())].to_owned()
            } else {
                hostile_text(rng)
            };
            format!("\"{key}\":{}", hostile_value(rng, depth))
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Randomized: any bytes on any action are answered with exactly the outcomes the rules
/// allow, never move the robot, never panic, and every text the core logs or reports is one
/// that logging can take. Seeded, so a failure names its case.
#[test]
fn hostile_commands_never_move_the_robot_nor_break_the_core() {
    let seed = 0x5eed_2026;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut r = Rig::new();
    for i in 0..3000 {
        let action = ["move", "stop", "emergency", "junk", "\u{0}"][rng.usize(..5)];
        let mut payload = hostile_object(&mut rng, 0).into_bytes();
        if rng.u8(..) < 20 {
            payload.insert(rng.usize(..=payload.len()), 0xff);
        }
        let fx = r.send_bytes(action, &payload);
        let case = format!("seed {seed:#x} case {i} on {action:?}");
        assert!(!fx.outcomes.is_empty(), "{case}: every message is answered");
        assert!(!moving(&fx), "{case}: {fx:?}");
        for o in &fx.outcomes {
            for text in [&o.reason, &o.id, &o.command].into_iter().flatten() {
                let line = crate::logging::printable(text, crate::logging::MAX_LINE);
                assert!(std::ffi::CString::new(line.as_bytes()).is_ok(), "{case}");
            }
            assert!(serde_json::to_string(o).is_ok(), "{case}");
        }
        if r.core.mode() == Mode::Emergency {
            r.core.on_ros_estop(false, r.now);
        }
        assert!(!moving(&r.tick()), "{case}");
    }
    // Still obeys after all of it (a hostile engage may hold the latch: release it).
    let release = format!(r#"{{"timestamp":"{}","command":"release"}}"#, r.ts(0.0));
    r.send("emergency", &release);
    r.accepted("move_forward", r#"{"speed":50,"distance":100}"#, None);
    assert!(moving(&r.tick()));
}
