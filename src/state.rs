//! The robot as the bridge last saw it, and the derived `status/state` message: the seed's
//! combined example `{position, battery, status}` with `status` one of running, idle,
//! charging, emergency, error.
//!
//! Written by the ROS side (odometry, battery), the command side (e-stop, motion) and read by
//! the state publisher; one small mutex, held for a copy.

use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The last odometry, planar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub x: f64,
    pub y: f64,
    /// Radians.
    pub yaw: f64,
    pub linear: f64,
    pub angular: f64,
    pub at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battery {
    pub percent: Option<f64>,
    pub charging: bool,
    pub at: Instant,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    pub pose: Option<Pose>,
    pub battery: Option<Battery>,
    pub emergency: bool,
    /// A motion or velocity command is running.
    pub commanded_motion: bool,
    /// Something is wrong that the fleet should see as `error` (e.g. odometry went stale).
    pub fault: Option<&'static str>,
}

#[derive(Debug, Default)]
pub struct Telemetry {
    inner: Mutex<Snapshot>,
}

impl Telemetry {
    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
    }

    pub fn snapshot(&self) -> Snapshot {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Position {
    pub x: f64,
    pub y: f64,
    pub angle: f64,
}

/// `data` of `status/state`.
#[derive(Debug, Serialize, PartialEq)]
pub struct StateData {
    pub position: Option<Position>,
    pub battery: Option<f64>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// The status word, in order of precedence: emergency, error, charging, running, idle.
pub fn derive(s: &Snapshot, now: Instant, moving_threshold: f64, stale: Duration) -> StateData {
    let fresh_pose = s
        .pose
        .filter(|p| now.saturating_duration_since(p.at) <= stale);
    let moving = s.commanded_motion
        || fresh_pose.is_some_and(|p| {
            p.linear.abs() > moving_threshold || p.angular.abs() > moving_threshold
        });
    let (status, reason) = if s.emergency {
        ("emergency", None)
    } else if let Some(f) = s.fault {
        ("error", Some(f))
    } else if s.battery.is_some_and(|b| b.charging) {
        ("charging", None)
    } else if moving {
        ("running", None)
    } else {
        ("idle", None)
    };
    StateData {
        position: s.pose.map(|p| Position {
            x: p.x,
            y: p.y,
            angle: crate::convert::wrap_deg(p.yaw.to_degrees()),
        }),
        battery: s.battery.and_then(|b| b.percent),
        status,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let now = Instant::now();
        let stale = Duration::from_secs(5);
        let mut s = Snapshot {
            pose: Some(Pose {
                x: 1.0,
                y: 2.0,
                yaw: std::f64::consts::FRAC_PI_4,
                linear: 0.3,
                angular: 0.0,
                at: now,
            }),
            battery: Some(Battery {
                percent: Some(85.5),
                charging: false,
                at: now,
            }),
            ..Default::default()
        };
        let d = derive(&s, now, 0.01, stale);
        assert_eq!(d.status, "running");
        assert_eq!(d.battery, Some(85.5));
        assert!((d.position.as_ref().expect("pose").angle - 45.0).abs() < 1e-9);
        s.pose = s.pose.map(|p| Pose { linear: 0.0, ..p });
        assert_eq!(derive(&s, now, 0.01, stale).status, "idle");
        s.battery = s.battery.map(|b| Battery {
            charging: true,
            ..b
        });
        assert_eq!(derive(&s, now, 0.01, stale).status, "charging");
        s.fault = Some("odometry stale");
        assert_eq!(derive(&s, now, 0.01, stale).status, "error");
        s.emergency = true;
        assert_eq!(derive(&s, now, 0.01, stale).status, "emergency");
    }
}
