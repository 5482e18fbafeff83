//! The robot as the bridge last saw it, and the derived `status/state` message: the seed's
//! combined example `{position, battery, status}` with `status` one of running, idle,
//! charging, emergency, error.
//!
//! Each fact has one writer and travels on a `watch` channel (latest value wins, nothing
//! queues): the ROS side writes the pose and the battery, the command runner the mode. The
//! motion core, the state publisher and the alert watcher read them.

use schemars::JsonSchema;
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use crate::angle::wrap_deg;
use crate::herald::Herald;
use crate::shutdown::Shutdown;

/// The last odometry, planar: metres, radians, m/s, rad/s; `at` is when the bridge got it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub x: f64,
    pub y: f64,
    /// Radians, counter-clockwise.
    pub yaw: f64,
    /// Velocity in the robot's frame (`twist.linear.x`, `.y`: forward, left), signed.
    pub vx: f64,
    pub vy: f64,
    pub angular: f64,
    pub at: Instant,
}

impl Pose {
    /// A pose without velocities (tests, closed-loop checks).
    pub fn planar(x: f64, y: f64, yaw: f64, at: Instant) -> Pose {
        Pose {
            x,
            y,
            yaw,
            vx: 0.0,
            vy: 0.0,
            angular: 0.0,
            at,
        }
    }

    /// Speed over ground.
    pub fn speed(&self) -> f64 {
        self.vx.hypot(self.vy)
    }

    pub fn is_finite(&self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.yaw.is_finite()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battery {
    pub percent: Option<f64>,
    pub charging: bool,
    pub at: Instant,
}

/// What the command core is doing (it writes it; `status/state` reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Idle,
    Moving,
    Velocity,
    Emergency,
}

/// The writing ends, one per fact.
pub struct Feeds {
    pub pose: watch::Sender<Option<Pose>>,
    pub battery: watch::Sender<Option<Battery>>,
    pub mode: watch::Sender<Mode>,
}

/// The reading ends; cheap to clone.
#[derive(Clone)]
pub struct View {
    pub pose: watch::Receiver<Option<Pose>>,
    pub battery: watch::Receiver<Option<Battery>>,
    pub mode: watch::Receiver<Mode>,
}

/// A fresh pair of feeds and views, with nothing known yet.
pub fn channels() -> (Feeds, View) {
    let (pose, pose_rx) = watch::channel(None);
    let (battery, battery_rx) = watch::channel(None);
    let (mode, mode_rx) = watch::channel(Mode::Idle);
    (
        Feeds {
            pose,
            battery,
            mode,
        },
        View {
            pose: pose_rx,
            battery: battery_rx,
            mode: mode_rx,
        },
    )
}

/// Everything `status/state` is derived from, at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub pose: Option<Pose>,
    pub battery: Option<Battery>,
    pub mode: Mode,
}

impl View {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            pose: *self.pose.borrow(),
            battery: *self.battery.borrow(),
            mode: *self.mode.borrow(),
        }
    }
}

/// The last odometry, planar: metres, `angle` (yaw) in degrees, (-180, 180].
#[derive(Debug, Serialize, PartialEq, JsonSchema)]
pub struct Position {
    pub x: f64,
    pub y: f64,
    pub angle: f64,
}

/// What the robot is doing, in order of precedence.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RobotStatus {
    /// The e-stop latch is engaged.
    Emergency,
    /// Odometry is not finite: the position cannot be trusted (`reason` says so).
    Error,
    /// The battery says it is charging.
    Charging,
    /// A command runs, or fresh odometry shows motion.
    Running,
    /// None of the above.
    Idle,
}

/// `data` of `status/state`.
#[derive(Debug, Serialize, PartialEq, JsonSchema)]
pub struct StateData {
    /// Null until odometry arrives.
    pub position: Option<Position>,
    /// Battery percent 0-100, null when unknown.
    pub battery: Option<f64>,
    pub status: RobotStatus,
    /// Only with `error`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub reason: Option<&'static str>,
}

/// The status word, in order of precedence: emergency, error (odometry that is not finite:
/// the fleet cannot trust the position), charging, running, idle.
pub fn derive(s: &Snapshot, now: Instant, moving_threshold: f64, stale: Duration) -> StateData {
    let fresh_pose = s
        .pose
        .filter(|p| now.saturating_duration_since(p.at) <= stale);
    let commanded = matches!(s.mode, Mode::Moving | Mode::Velocity);
    let moving = commanded
        || fresh_pose
            .is_some_and(|p| p.speed() > moving_threshold || p.angular.abs() > moving_threshold);
    use RobotStatus::*;
    let (status, reason) = if s.mode == Mode::Emergency {
        (Emergency, None)
    } else if s.pose.is_some_and(|p| !p.is_finite()) {
        (Error, Some("odometry is not finite"))
    } else if s.battery.is_some_and(|b| b.charging) {
        (Charging, None)
    } else if moving {
        (Running, None)
    } else {
        (Idle, None)
    };
    StateData {
        position: s.pose.map(|p| Position {
            x: p.x,
            y: p.y,
            angle: wrap_deg(p.yaw.to_degrees()),
        }),
        battery: s.battery.and_then(|b| b.percent),
        status,
        reason,
    }
}

/// Publishes `status/state` (retained) at `state.rate_hz` until shutdown.
pub async fn publish(
    herald: Herald,
    view: View,
    cfg: crate::config::StateConfig,
    stale_after: f64,
    mut shutdown: Shutdown,
) {
    let stale = Duration::from_secs_f64(stale_after.max(0.5));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / cfg.rate_hz));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tick.tick() => {
                let data = derive(&view.snapshot(), Instant::now(), cfg.moving_threshold, stale);
                herald.status(&cfg.action, &data, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RobotStatus::*;

    #[test]
    fn precedence() {
        let now = Instant::now();
        let stale = Duration::from_secs(5);
        let mut s = Snapshot {
            pose: Some(Pose {
                vx: -0.3,
                ..Pose::planar(1.0, 2.0, std::f64::consts::FRAC_PI_4, now)
            }),
            battery: Some(Battery {
                percent: Some(85.5),
                charging: false,
                at: now,
            }),
            mode: Mode::Idle,
        };
        let d = derive(&s, now, 0.01, stale);
        assert_eq!(d.status, Running);
        assert_eq!(d.battery, Some(85.5));
        assert!((d.position.as_ref().expect("pose").angle - 45.0).abs() < 1e-9);
        s.pose = s.pose.map(|p| Pose { vx: 0.0, ..p });
        assert_eq!(derive(&s, now, 0.01, stale).status, Idle);
        s.mode = Mode::Velocity;
        assert_eq!(derive(&s, now, 0.01, stale).status, Running);
        s.battery = s.battery.map(|b| Battery {
            charging: true,
            ..b
        });
        assert_eq!(derive(&s, now, 0.01, stale).status, Charging);
        s.pose = s.pose.map(|p| Pose { x: f64::NAN, ..p });
        let d = derive(&s, now, 0.01, stale);
        assert_eq!(
            (d.status, d.reason),
            (Error, Some("odometry is not finite"))
        );
        s.mode = Mode::Emergency;
        assert_eq!(derive(&s, now, 0.01, stale).status, Emergency);
    }
}
