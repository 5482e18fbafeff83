//! Fleet commands to `cmd_vel`: a pure state machine (no ROS, no broker, time injected) that
//! turns MQTT command messages, the local e-stop and odometry into Twists, outcomes and alerts.
//!
//! The runner feeds it events (`on_mqtt`, `on_ros_estop`, `on_odom`) and calls `tick` every
//! `1 / commands.rate_hz` seconds; every call returns [`Effects`]: publish each Twist on
//! `cmd_vel` in order, each [`Outcome`] as JSON on `amr/{id}/status/command`, each alert on
//! the alert topic.
//!
//! # Units
//! Command parameters are in `commands.linear_unit` (default cm, speeds cm/s) and
//! `commands.angular_unit` (default deg, deg/s). Limits in the configuration and everything
//! on `cmd_vel` are SI: m/s forward, rad/s counter-clockwise. `max_distance` / `max_angle`
//! are in the command units.
//!
//! # Payloads (topic `<command prefix>/<action>`)
//! Every payload is a JSON object (at most `max_payload` bytes, UTF-8, nested at most 16
//! deep, no key repeated) with only these keys (any other key is refused):
//! `{"timestamp": "2024-01-01T12:00:00Z", "command": "...", "parameters": {...}, "id": "..."}`.
//! - `timestamp`: RFC 3339; required unless `commands.require_timestamp` is false (a release
//!   always needs one); refused if older than `max_age` s or more than `max_future` s ahead
//!   of the bridge's UTC clock.
//! - `id`: optional non-empty string of at most 128 characters, echoed in every outcome of
//!   the command. An id is consumed when its command is executed; a later command with an id
//!   among the last `id_memory` executed ones is refused "duplicate id". A refused command does
//!   not consume its id, so it can be corrected and sent again with the same id.
//! - `parameters`: a closed object: unknown parameters are refused (no typo falls back to a
//!   default); absent or `{}` where a command takes none.
//!
//! `move`:
//! - `move_forward` / `move_backward`: `speed` (linear_unit/s) and `distance` (linear_unit),
//!   both numbers > 0. `rotate_left` (counter-clockwise) / `rotate_right`: `speed`
//!   (angular_unit/s) and `angle` (angular_unit), both > 0. A speed above the limit is clamped
//!   and the accepted outcome says so ("speed clamped to 1.0 m/s"); an extent above
//!   `max_distance` / `max_angle` is refused, as is a motion estimated to take over an hour.
//! - `velocity`: `linear` (linear_unit/s) and `angular` (angular_unit/s), any sign, each
//!   optional (0). Clamped per axis. Held only while commands keep coming: if none arrives for
//!   `watchdog_timeout`, a zero Twist is sent (at the last tick before the deadline, so the
//!   robot is commanded to zero no later than `watchdog_timeout` after the last command), the
//!   last velocity command gets `completed` "by watchdog", and the mode returns to `Idle`.
//!   Each velocity command is `accepted`; one replacing another is not reported `preempted`
//!   (it is one stream). Speed changes in a velocity stream are accel-limited per tick.
//!
//! `stop`: `command` absent or `"stop"`, no parameters. Any message on this topic, even
//! malformed, stale or a duplicate, stops: the running command gets `cancelled`, a zero Twist
//! is sent at once. The stop's own outcome is `completed`, or `rejected` with the reason and
//! "the robot was stopped anyway". Stopping never moves the robot, so refusing to obey it
//! could only do harm.
//!
//! `emergency`: `command` absent, `"engage"` or `"emergency_stop"` engages the latch;
//! `{"timestamp": <fresh>, "command": "release"}` releases it. Any message that is not a
//! release attempt (no `"command": "release"`) engages, even malformed (outcome `rejected`,
//! "emergency stop engaged anyway"). A release attempt that fails any check (stale, future,
//! no timestamp, duplicate id, extra keys) is refused and leaves the latch as it is: the
//! robot never unlatches on a replayed or doubtful message. Engaging cancels the running
//! command (`cancelled`), sends a zero Twist at once and one on every tick while engaged,
//! refuses every `move` command ("emergency stop engaged") and raises an `Error` alert
//! "Emergency stop engaged" (`data: {source: "mqtt"|"ros", id, engaged_by}`) when a source
//! newly engages. The ROS e-stop topic (`std_msgs/Bool`) engages (true) and releases (false)
//! the same latch, but each source holds it on its own: an MQTT release does not release a
//! ROS engagement nor the reverse; the `Info` alert "Emergency stop released" comes when the
//! last source releases. A release never starts a motion.
//!
//! Any other action is refused. Refused commands never move the robot; a refused `move`
//! leaves a running motion running.
//!
//! # Pause
//! `on_pause(true)` (a VDA 5050 `startPause`) holds the robot like the e-stop latch without
//! being one: the running command is `cancelled` ("paused by VDA 5050 master control"), a
//! zero Twist goes out in the same call and on every tick while paused, and every `move` is
//! refused. `on_pause(false)` lifts it and moves nothing by itself. `stop` and `emergency` work
//! as ever; the latch and the pause hold independently.
//!
//! # Outcomes
//! JSON `{"id": "a1" | null, "command": "move_forward" | null, "status": "accepted" |
//! "rejected" | "completed" | "preempted" | "cancelled", "reason": "..." | null}`.
//! A new motion preempts the running one: `preempted` for the old, then `accepted` for the
//! new, whose profile continues from the current speed within the accel limits.
//!
//! # Motion
//! One Twist per tick while a motion runs, accel-limited (`max_linear_accel`,
//! `max_angular_accel`) both ways, integrating exactly to the commanded extent in discrete
//! time with `dt = 1 / rate_hz` (the runner's tick period), ending with a zero Twist and
//! `completed`. Backward is negative linear, `rotate_right` negative angular. When odometry
//! is fresh (last `on_odom` within `odom_timeout`) at the start, the motion also ends as
//! soon as odometry shows the target reached (Euclidean distance from the start pose in the
//! commanded direction, or unwrapped yaw turned), with an immediate zero Twist; if the plan
//! finishes first, zero Twists are sent for up to 1 s while odometry may still confirm.
//! The reason says "completed by odometry" or "completed by time". Without fresh odometry the
//! motion is open loop, by time.

pub mod action;
pub mod freshness;
pub mod json;
pub mod motion;
pub mod parse;
pub mod payload;
pub mod refusal;
pub mod runner;
pub mod safety;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::config::CommandConfig;
pub use crate::envelope::{AlertEvent, AlertLevel};
use crate::envelope::{EstopEngaged, EstopReleased};
use crate::logging::{printable, Throttle};
pub use crate::state::{Mode, Pose};
pub use action::Action;
use motion::{ramp, Axis, OdomProgress, Profile};
use parse::{EstopRequest, MoveRequest, Parsed, Rejected};
use refusal::Refusal;
use safety::{IdMemory, Latch, Source};

/// A message on the robot's command subtree, its action parsed. A payload over
/// `commands.max_payload` is not kept (`payload` empty): only its `size` is, for the refusal.
#[derive(Debug, Clone)]
pub struct FleetCommand {
    pub action: Action,
    pub payload: bytes::Bytes,
    pub size: usize,
    pub retained: bool,
}

impl FleetCommand {
    pub fn new(action: Action, payload: bytes::Bytes, retained: bool) -> Self {
        FleetCommand {
            action,
            size: payload.len(),
            payload,
            retained,
        }
    }
}

/// Velocity for cmd_vel, SI: m/s forward, rad/s counter-clockwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Twist2 {
    pub linear: f64,
    pub angular: f64,
}

impl Twist2 {
    pub const ZERO: Twist2 = Twist2 {
        linear: 0.0,
        angular: 0.0,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Accepted,
    Rejected,
    Completed,
    Preempted,
    Cancelled,
}

/// Published to the fleet as JSON on amr/{id}/status/command.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Outcome {
    /// The command's `id`, when it had a valid one.
    pub id: Option<String>,
    /// The command's name as given (or implied by the topic: `stop`, `engage`), when readable.
    pub command: Option<String>,
    pub status: OutcomeStatus,
    /// Why it was rejected, how it completed, what was clamped.
    pub reason: Option<String>,
}

/// What the runner must do after a call: publish each twist on cmd_vel in order, each outcome
/// and alert on MQTT.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    pub twists: Vec<Twist2>,
    pub outcomes: Vec<Outcome>,
    pub alerts: Vec<AlertEvent>,
}

/// Why a command ended at a pause.
const PAUSED: &str = "paused by VDA 5050 master control";

/// After the time plan of a closed-loop motion ends, how long odometry may still confirm it.
const ODOM_GRACE: Duration = Duration::from_secs(1);

/// The command an outcome is about.
#[derive(Debug, Clone)]
struct Tag {
    id: Option<String>,
    name: String,
}

impl Tag {
    fn outcome(&self, status: OutcomeStatus, reason: Option<String>) -> Outcome {
        Outcome {
            id: self.id.clone(),
            command: Some(self.name.clone()),
            status,
            reason,
        }
    }
}

/// How close odometry must come to the target to confirm it: a wheel controller stops a hair
/// short (0.59999 m of 0.6 m), which is arrival, not a shortfall. 0.5 % of the extent, at
/// least 1 mm or 0.1 degree.
fn confirm_tolerance(run: &MotionRun) -> f64 {
    let floor = match run.profile.axis() {
        Axis::Linear => 0.001,
        Axis::Angular => 0.1f64.to_radians(),
    };
    (run.extent.abs() * 0.005).max(floor)
}

#[derive(Debug)]
struct MotionRun {
    tag: Tag,
    profile: Profile,
    /// Present when odometry was fresh at the start: closed loop.
    odo: Option<OdomProgress>,
    extent: f64,
    /// Set when the time plan ended and odometry has until then to confirm.
    grace_until: Option<Instant>,
}

#[derive(Debug)]
struct VelocityRun {
    tag: Tag,
    target: Twist2,
    last_command: Instant,
}

#[derive(Debug)]
enum Active {
    None,
    Motion(Box<MotionRun>),
    Velocity(VelocityRun),
}

/// The command state machine. See the module docs for the behaviour.
pub struct CommandCore {
    cfg: CommandConfig,
    dt: f64,
    /// The last Twist handed to the runner: where any new profile starts from.
    last: Twist2,
    active: Active,
    latch: Latch,
    /// Held by VDA 5050 master control (`on_pause`).
    paused: bool,
    ids: IdMemory,
    odom: Option<Pose>,
    /// The core is the one place that logs what happens to commands: refusals and the
    /// other outcomes each at most ten lines a second, whatever the fleet sends.
    refusal_log: Throttle,
    outcome_log: Throttle,
}

/// Log lines per second about commands, of each kind.
const LOG_PER_SECOND: u32 = 10;

impl CommandCore {
    /// `cfg` is expected validated, as `Config::parse` does (positive finite limits and rate).
    pub fn new(cfg: &CommandConfig) -> Self {
        CommandCore {
            cfg: cfg.clone(),
            dt: 1.0 / cfg.rate_hz,
            last: Twist2::ZERO,
            active: Active::None,
            latch: Latch::default(),
            paused: false,
            ids: IdMemory::new(cfg.id_memory),
            odom: None,
            refusal_log: Throttle::new("refused commands", LOG_PER_SECOND),
            outcome_log: Throttle::new("command outcomes", LOG_PER_SECOND),
        }
    }

    pub fn mode(&self) -> Mode {
        if self.latch.engaged() {
            return Mode::Emergency;
        }
        match self.active {
            Active::None => Mode::Idle,
            Active::Motion(_) => Mode::Moving,
            Active::Velocity(_) => Mode::Velocity,
        }
    }

    /// A message arrived on MQTT topic `<command prefix>/<action>`. `wall` is the bridge's
    /// UTC clock for the timestamp age check.
    pub fn on_mqtt(&mut self, m: &FleetCommand, now: Instant, wall: DateTime<Utc>) -> Effects {
        let cfg = &self.cfg;
        // Checked before anything reads the payload (which is not even kept when too large).
        let too_large = (m.size > cfg.max_payload).then_some(Rejected {
            id: None,
            name: None,
            refusal: Refusal::TooLarge {
                size: m.size,
                max: cfg.max_payload,
            },
        });
        let fx = if m.retained && !m.action.obeys_retained() {
            // A retained command is an old command: it is never obeyed.
            let (id, name) = parse::id_and_name(&m.payload, cfg);
            refused(id, name, Refusal::Retained)
        } else {
            match &m.action {
                Action::Move => {
                    let parsed = unless(&too_large, || parse::parse_move(&m.payload, wall, cfg));
                    self.mqtt_move(parsed, now)
                }
                Action::Stop => {
                    let parsed = unless(&too_large, || parse::parse_stop(&m.payload, wall, cfg));
                    self.mqtt_stop(parsed)
                }
                Action::Emergency => {
                    let parsed =
                        unless(&too_large, || parse::parse_emergency(&m.payload, wall, cfg));
                    self.mqtt_emergency(parsed)
                }
                Action::Other(other) => {
                    let (id, name) = parse::id_and_name(&m.payload, cfg);
                    let topic = Refusal::UnknownTopic(other.chars().take(64).collect());
                    refused(id, name, too_large.map_or(topic, |r| r.refusal))
                }
            }
        };
        self.log(&fx, now);
        fx
    }

    /// The local ROS e-stop topic (std_msgs/Bool): true engages, false releases.
    /// Repeats of the same value (e-stop topics are often published periodically) do nothing.
    pub fn on_ros_estop(&mut self, engaged: bool, now: Instant) -> Effects {
        let mut fx = Effects::default();
        if engaged {
            if !self.latch.held_by(Source::Ros) {
                self.engage(&mut fx, Source::Ros, None);
            }
        } else if self.latch.release(Source::Ros) {
            self.after_release(&mut fx, Source::Ros, None);
        }
        self.log(&fx, now);
        fx
    }

    /// The pause of VDA 5050 master control, a level: `true` holds the robot (see the
    /// module docs), `false` lets go.
    pub fn on_pause(&mut self, hold: bool, now: Instant) -> Effects {
        let mut fx = Effects::default();
        if hold && !self.paused {
            self.paused = true;
            log::warn!("paused by VDA 5050 master control");
            self.halt(&mut fx, PAUSED);
        } else if !hold && self.paused {
            self.paused = false;
            log::info!("VDA 5050 master control ended the pause");
        }
        self.log(&fx, now);
        fx
    }

    /// Who holds the e-stop latch.
    pub fn latch(&self) -> Latch {
        self.latch
    }

    pub fn on_odom(&mut self, odom: Pose) {
        // A driver glitch must not look like progress; it only makes odometry look stale.
        if !odom.is_finite() {
            if self.refusal_log.allow(odom.at) {
                log::warn!("ignoring non-finite odometry");
            }
            return;
        }
        self.odom = Some(odom);
        if let Active::Motion(run) = &mut self.active {
            if let Some(odo) = &mut run.odo {
                odo.update(odom);
            }
        }
    }

    /// Whether `tick` has anything to do: a motion, the e-stop's zero Twists, or a log
    /// summary to close. Idle, the runner need not wake for it.
    pub fn needs_tick(&self) -> bool {
        self.latch.engaged()
            || self.paused
            || !matches!(self.active, Active::None)
            || self.refusal_log.pending()
            || self.outcome_log.pending()
    }

    /// Called by the runner every 1/rate_hz seconds while `needs_tick`.
    pub fn tick(&mut self, now: Instant) -> Effects {
        let mut fx = Effects::default();
        if self.latch.engaged() || self.paused {
            self.send(&mut fx, Twist2::ZERO);
        } else {
            match std::mem::replace(&mut self.active, Active::None) {
                Active::None => {}
                Active::Velocity(run) => self.tick_velocity(&mut fx, run, now),
                Active::Motion(run) => self.tick_motion(&mut fx, run, now),
            }
        }
        self.log(&fx, now);
        self.refusal_log.flush(now);
        self.outcome_log.flush(now);
        fx
    }

    /// The bridge stops: whatever runs is cancelled, and a zero Twist goes out.
    pub fn on_shutdown(&mut self) -> Effects {
        let mut fx = Effects::default();
        self.halt(&mut fx, "the bridge is shutting down");
        fx
    }

    /// Logs the outcomes of one call, throttled. Every outcome is still published and
    /// counted by the runner; only the log lines are limited.
    fn log(&mut self, fx: &Effects, now: Instant) {
        for o in &fx.outcomes {
            let command = printable(o.command.as_deref().unwrap_or("?"), 64).into_owned();
            let id = printable(o.id.as_deref().unwrap_or("-"), 64).into_owned();
            let reason = printable(o.reason.as_deref().unwrap_or(""), 512).into_owned();
            if o.status == OutcomeStatus::Rejected {
                if self.refusal_log.allow(now) {
                    log::warn!("command {command} (id {id}) refused: {reason}");
                }
            } else if self.outcome_log.allow(now) {
                log::info!("command {command} (id {id}): {:?} {reason}", o.status);
            }
        }
    }

    fn tick_velocity(&mut self, fx: &mut Effects, run: VelocityRun, now: Instant) {
        // Expire at the last tick before the deadline: the next tick would be too late.
        let silent = now
            .saturating_duration_since(run.last_command)
            .as_secs_f64();
        if silent + self.dt > self.cfg.watchdog_timeout {
            self.send(fx, Twist2::ZERO);
            fx.outcomes.push(run.tag.outcome(
                OutcomeStatus::Completed,
                Some(format!(
                    "by watchdog: no velocity command within {} s; zero velocity sent",
                    self.cfg.watchdog_timeout
                )),
            ));
            return;
        }
        let next = Twist2 {
            linear: ramp(
                self.last.linear,
                run.target.linear,
                self.cfg.max_linear_accel * self.dt,
            ),
            angular: ramp(
                self.last.angular,
                run.target.angular,
                self.cfg.max_angular_accel * self.dt,
            ),
        };
        self.send(fx, next);
        self.active = Active::Velocity(run);
    }

    fn tick_motion(&mut self, fx: &mut Effects, mut run: Box<MotionRun>, now: Instant) {
        let fresh = self.fresh_odom(now).is_some();
        let reached = fresh
            && run
                .odo
                .as_ref()
                .is_some_and(|o| o.progress() >= run.extent.abs() - confirm_tolerance(&run));
        if reached {
            self.send(fx, Twist2::ZERO);
            fx.outcomes.push(run.tag.outcome(
                OutcomeStatus::Completed,
                Some("completed by odometry".into()),
            ));
            return;
        }
        if let Some(until) = run.grace_until {
            self.send(fx, Twist2::ZERO);
            if now >= until || !fresh {
                fx.outcomes.push(run.tag.outcome(
                    OutcomeStatus::Completed,
                    Some("completed by time (odometry did not confirm the target within 1 s of the plan's end)".into()),
                ));
            } else {
                self.active = Active::Motion(run);
            }
            return;
        }
        let (twist, finished) = run.profile.step();
        self.send(fx, twist);
        if !finished {
            self.active = Active::Motion(run);
        } else if run.odo.is_some() && fresh {
            run.grace_until = Some(now + ODOM_GRACE);
            self.active = Active::Motion(run);
        } else {
            let why = if run.odo.is_some() {
                "completed by time (odometry went stale)"
            } else {
                "completed by time (open loop: no fresh odometry at the start)"
            };
            fx.outcomes
                .push(run.tag.outcome(OutcomeStatus::Completed, Some(why.into())));
        }
    }

    fn mqtt_move(
        &mut self,
        parsed: Result<Parsed<MoveRequest>, Rejected>,
        now: Instant,
    ) -> Effects {
        let mut fx = Effects::default();
        let p = match parsed {
            Ok(p) => p,
            Err(rej) => {
                reject(&mut fx, rej, "");
                return fx;
            }
        };
        let refusal = if !self.cfg.enabled {
            Some(Refusal::Disabled)
        } else if self.latch.engaged() {
            Some(Refusal::EmergencyEngaged)
        } else if self.paused {
            Some(Refusal::Paused)
        } else {
            self.duplicate(&p.id)
        };
        if let Some(refusal) = refusal {
            reject(&mut fx, rejected(&p, refusal), "");
            return fx;
        }
        self.consume(&p.id);
        let tag = Tag {
            id: p.id.clone(),
            name: p.name.clone(),
        };
        let reason = (!p.notes.is_empty()).then(|| p.notes.join("; "));
        match p.request {
            MoveRequest::Motion {
                axis,
                extent,
                speed,
            } => {
                self.preempt(&mut fx, &p.name);
                let (accel, other_accel) = match axis {
                    Axis::Linear => (self.cfg.max_linear_accel, self.cfg.max_angular_accel),
                    Axis::Angular => (self.cfg.max_angular_accel, self.cfg.max_linear_accel),
                };
                let profile =
                    Profile::new(axis, extent, speed, accel, other_accel, self.dt, self.last);
                let dir = extent.signum();
                let odo = self
                    .fresh_odom(now)
                    .map(|o| OdomProgress::new(o, axis, dir));
                fx.outcomes
                    .push(tag.outcome(OutcomeStatus::Accepted, reason));
                self.active = Active::Motion(Box::new(MotionRun {
                    tag,
                    profile,
                    odo,
                    extent,
                    grace_until: None,
                }));
            }
            MoveRequest::Velocity(target) => {
                if matches!(self.active, Active::Motion(_)) {
                    self.preempt(&mut fx, &p.name);
                }
                fx.outcomes
                    .push(tag.outcome(OutcomeStatus::Accepted, reason));
                self.active = Active::Velocity(VelocityRun {
                    tag,
                    target,
                    last_command: now,
                });
            }
        }
        fx
    }

    fn mqtt_stop(&mut self, parsed: Result<Parsed<()>, Rejected>) -> Effects {
        let mut fx = Effects::default();
        self.halt(&mut fx, "cancelled by stop");
        const ANYWAY: &str = "; the robot was stopped anyway";
        match parsed {
            Ok(p) => self.complete_once(&mut fx, p, ANYWAY),
            Err(rej) => reject(&mut fx, rej, ANYWAY),
        }
        fx
    }

    fn mqtt_emergency(&mut self, parsed: Result<Parsed<EstopRequest>, Rejected>) -> Effects {
        let mut fx = Effects::default();
        const ANYWAY: &str = "; emergency stop engaged anyway";
        const KEPT: &str = "; the emergency stop latch is unchanged";
        match parsed {
            Ok(p) if p.request == EstopRequest::Release => {
                if let Some(refusal) = self.duplicate(&p.id) {
                    reject(&mut fx, rejected(&p, refusal), KEPT);
                    return fx;
                }
                self.consume(&p.id);
                let was_held = self.latch.release(Source::Mqtt);
                let reason = if !was_held {
                    Some("the emergency stop was not engaged from MQTT".to_owned())
                } else {
                    None
                };
                let reason = match (reason, self.latch.engaged()) {
                    (r, true) => Some(format!(
                        "{}still engaged by {}: each source releases only its own engagement",
                        r.map(|r| r + "; ").unwrap_or_default(),
                        self.latch.holders().join(", ")
                    )),
                    (r, false) => r,
                };
                if was_held {
                    self.after_release(&mut fx, Source::Mqtt, p.id.clone());
                }
                fx.outcomes.push(Outcome {
                    id: p.id,
                    command: Some(p.name),
                    status: OutcomeStatus::Completed,
                    reason,
                });
            }
            Ok(p) => {
                self.engage(&mut fx, Source::Mqtt, p.id.clone());
                self.complete_once(&mut fx, p, ANYWAY);
            }
            Err(rej) if rej.name.as_deref() == Some("release") => reject(&mut fx, rej, KEPT),
            Err(rej) => {
                self.engage(&mut fx, Source::Mqtt, rej.id.clone());
                reject(&mut fx, rej, ANYWAY);
            }
        }
        fx
    }

    /// Latches `source`: cancels the running command, zero at once, alert if newly engaged.
    fn engage(&mut self, fx: &mut Effects, source: Source, id: Option<String>) {
        let newly = self.latch.engage(source);
        self.halt(fx, "emergency stop engaged");
        if newly {
            log::error!("emergency stop engaged by {}", source.name());
            fx.alerts.push(AlertEvent::EstopEngaged(EstopEngaged {
                source,
                id,
                engaged_by: self.latch.sources(),
            }));
        }
    }

    /// After `source` let go: the `Info` alert when no source holds the latch any more.
    fn after_release(&mut self, fx: &mut Effects, source: Source, id: Option<String>) {
        if self.latch.engaged() {
            log::warn!(
                "{} released its emergency stop; still engaged by {}",
                source.name(),
                self.latch.holders().join(", ")
            );
            return;
        }
        log::info!("emergency stop released by {}", source.name());
        fx.alerts
            .push(AlertEvent::EstopReleased(EstopReleased { source, id }));
    }

    /// Ends whatever runs (`cancelled`, with `why`) and sends zero at once.
    fn halt(&mut self, fx: &mut Effects, why: &str) {
        let tag = match std::mem::replace(&mut self.active, Active::None) {
            Active::None => None,
            Active::Motion(run) => Some(run.tag),
            Active::Velocity(run) => Some(run.tag),
        };
        if let Some(tag) = tag {
            fx.outcomes
                .push(tag.outcome(OutcomeStatus::Cancelled, Some(why.into())));
        }
        self.send(fx, Twist2::ZERO);
    }

    /// Reports the running command `preempted` by `by`; the caller replaces it.
    fn preempt(&mut self, fx: &mut Effects, by: &str) {
        let tag = match std::mem::replace(&mut self.active, Active::None) {
            Active::None => return,
            Active::Motion(run) => run.tag,
            Active::Velocity(run) => run.tag,
        };
        fx.outcomes
            .push(tag.outcome(OutcomeStatus::Preempted, Some(format!("preempted by {by}"))));
    }

    fn send(&mut self, fx: &mut Effects, twist: Twist2) {
        // Defence in depth: only an unvalidated configuration (Config::parse checks every
        // limit) could make a profile non-finite, and NaN must never reach a motor driver.
        let twist = if twist.linear.is_finite() && twist.angular.is_finite() {
            twist
        } else {
            log::error!("non-finite velocity {twist:?} replaced by zero; check commands.*");
            Twist2::ZERO
        };
        self.last = twist;
        fx.twists.push(twist);
    }

    fn fresh_odom(&self, now: Instant) -> Option<Pose> {
        self.odom
            .filter(|o| now.saturating_duration_since(o.at).as_secs_f64() <= self.cfg.odom_timeout)
    }

    /// A stop or engage that has already acted: `completed`, or `rejected` for a repeated id
    /// (with `anyway` saying that it acted all the same).
    fn complete_once<R>(&mut self, fx: &mut Effects, p: Parsed<R>, anyway: &str) {
        match self.duplicate(&p.id) {
            Some(refusal) => reject(fx, rejected(&p, refusal), anyway),
            None => {
                self.consume(&p.id);
                fx.outcomes.push(Outcome {
                    id: p.id,
                    command: Some(p.name),
                    status: OutcomeStatus::Completed,
                    reason: None,
                });
            }
        }
    }

    fn duplicate(&self, id: &Option<String>) -> Option<Refusal> {
        id.as_deref()
            .filter(|id| self.ids.contains(id))
            .map(|id| Refusal::DuplicateId(id.to_owned()))
    }

    fn consume(&mut self, id: &Option<String>) {
        if let Some(id) = id {
            self.ids.remember(id);
        }
    }
}

fn rejected<R>(p: &Parsed<R>, refusal: Refusal) -> Rejected {
    Rejected {
        id: p.id.clone(),
        name: Some(p.name.clone()),
        refusal,
    }
}

/// `parse()`, unless the message is already refused.
fn unless<R>(
    refused: &Option<Rejected>,
    parse: impl FnOnce() -> Result<Parsed<R>, Rejected>,
) -> Result<Parsed<R>, Rejected> {
    match refused {
        Some(r) => Err(r.clone()),
        None => parse(),
    }
}

/// The `rejected` outcome of a command refused before the runner saw it (its queue was full):
/// its `id` and `command` when the payload shows them.
pub fn refused_unread(c: &FleetCommand, refusal: Refusal, cfg: &CommandConfig) -> Outcome {
    let (id, name) = parse::id_and_name(&c.payload, cfg);
    Outcome {
        id,
        command: name,
        status: OutcomeStatus::Rejected,
        reason: Some(refusal.to_string()),
    }
}

/// The effects of refusing a message outright.
fn refused(id: Option<String>, name: Option<String>, refusal: Refusal) -> Effects {
    let mut fx = Effects::default();
    reject(&mut fx, Rejected { id, name, refusal }, "");
    fx
}

/// Adds the `rejected` outcome, its reason followed by `suffix` (logged by [`CommandCore::log`]).
fn reject(fx: &mut Effects, rej: Rejected, suffix: &str) {
    let reason = format!("{}{suffix}", rej.refusal);
    fx.outcomes.push(Outcome {
        id: rej.id,
        command: rej.name,
        status: OutcomeStatus::Rejected,
        reason: Some(reason),
    });
}
