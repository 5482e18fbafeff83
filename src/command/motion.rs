//! Motion profiles: a distance or angle turned into a stream of accel-limited `cmd_vel` steps,
//! one per tick, that integrates exactly to the commanded extent; and odometry progress.
//!
//! The profile is computed online, one tick at a time, in discrete time: each step picks the
//! fastest speed that (a) changes by at most `accel * dt` from the previous step, (b) does not
//! exceed the commanded speed, and (c) still lets the axis stop, decelerating at `accel * dt`
//! per step, without passing the target. (c) is the exact discrete braking curve, so the
//! profile rides it down to zero and the last non-zero step comes out shortened to land on the
//! target: trapezoid for long moves, triangle for short ones, and a smooth continuation from
//! any starting speed (preemption), including one pointing away from the target (the axis
//! brakes, comes back, and the net displacement is still the commanded one).

use super::{Pose, Twist2};
use crate::angle::wrap_rad;

/// Which component of the Twist a motion drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// `linear`, m/s.
    Linear,
    /// `angular`, rad/s.
    Angular,
}

impl Axis {
    fn of(self, t: Twist2) -> f64 {
        match self {
            Axis::Linear => t.linear,
            Axis::Angular => t.angular,
        }
    }

    fn other(self, t: Twist2) -> f64 {
        match self {
            Axis::Linear => t.angular,
            Axis::Angular => t.linear,
        }
    }

    fn twist(self, on_axis: f64, other: f64) -> Twist2 {
        match self {
            Axis::Linear => Twist2 {
                linear: on_axis,
                angular: other,
            },
            Axis::Angular => Twist2 {
                linear: other,
                angular: on_axis,
            },
        }
    }
}

/// Remaining extent (m or rad) that counts as "arrived". Far below any odometry resolution,
/// above the rounding left after thousands of float subtractions on a 100 m move.
pub const ARRIVED_EPS: f64 = 1e-12;

/// Relative slack on the per-step speed bound, so that float rounding on the braking curve is
/// not mistaken for a limit (which would leave a spurious extra micro-step at the end).
const STEP_SLACK: f64 = 1e-9;

/// Moves `current` toward `target` by at most `step`.
pub fn ramp(current: f64, target: f64, step: f64) -> f64 {
    if target > current + step {
        current + step
    } else if target < current - step {
        current - step
    } else {
        target
    }
}

/// A lower bound of how long a motion takes (s): cruise plus one ramp. Used to refuse motions
/// that would hold the robot in `Moving` for absurd times (e.g. a speed of 1e-300).
pub fn estimate_seconds(extent: f64, speed: f64, accel: f64) -> f64 {
    extent / speed + speed / accel
}

/// The fastest speed that can be emitted now and still stop within `remaining`, decelerating
/// by `step` per tick of `dt`.
///
/// Emitting v now and braking at full rate covers S(v) = dt * sum_{i>=0} max(0, v - i*step).
/// For v in (k*step, (k+1)*step], S(v) = dt*((k+1)*v - step*k*(k+1)/2), and
/// S((k+1)*step) = dt*step*(k+1)*(k+2)/2; this inverts S for the smallest k that fits.
fn braking_speed(remaining: f64, step: f64, dt: f64) -> f64 {
    if remaining <= 0.0 {
        return 0.0;
    }
    let q = remaining / (dt * step);
    let tri = |k: f64| (k + 1.0) * (k + 2.0) / 2.0;
    // Closed form, then nudged: sqrt rounding may be one off either way.
    let mut k = ((2.0 * q + 0.25).sqrt() - 1.5).ceil().max(0.0);
    while k > 0.0 && tri(k - 1.0) >= q {
        k -= 1.0;
    }
    while tri(k) < q {
        k += 1.0;
    }
    (remaining / dt + step * k * (k + 1.0) / 2.0) / (k + 1.0)
}

/// One motion in progress on one axis, plus the other axis winding down from whatever the
/// previous command left on it.
#[derive(Debug, Clone)]
pub struct Profile {
    axis: Axis,
    dt: f64,
    /// Commanded speed, > 0.
    cruise: f64,
    /// Largest speed change per tick on the axis.
    step: f64,
    /// +1 or -1: the world velocity is `frame * speed`. Flips if the axis overshoots.
    frame: f64,
    /// Still to go, in the frame's direction.
    remaining: f64,
    /// Last emitted speed, in the frame's direction.
    speed: f64,
    /// Other axis, world units, ramped to zero.
    other: f64,
    other_step: f64,
    finished: bool,
}

impl Profile {
    /// `extent`: signed m or rad (negative = backward / clockwise); `cruise` > 0 in SI;
    /// `accel` for the axis and `other_accel` for the other one; `start` is the last Twist sent.
    pub fn new(
        axis: Axis,
        extent: f64,
        cruise: f64,
        accel: f64,
        other_accel: f64,
        dt: f64,
        start: Twist2,
    ) -> Profile {
        let frame = if extent < 0.0 { -1.0 } else { 1.0 };
        Profile {
            axis,
            dt,
            cruise,
            step: accel * dt,
            frame,
            remaining: extent.abs(),
            speed: frame * axis.of(start),
            other: axis.other(start),
            other_step: other_accel * dt,
            finished: false,
        }
    }

    pub fn axis(&self) -> Axis {
        self.axis
    }

    /// The Twist for this tick, and whether the plan is complete (the Twist is then zero).
    pub fn step(&mut self) -> (Twist2, bool) {
        if self.finished {
            return (Twist2::ZERO, true);
        }
        if self.remaining < 0.0 {
            // Overshot (only after a preemption from a speed too high to stop in time):
            // the target is now behind, so turn the frame around.
            self.frame = -self.frame;
            self.remaining = -self.remaining;
            self.speed = -self.speed;
        }
        let want = if self.remaining <= ARRIVED_EPS {
            0.0
        } else {
            self.cruise
                .min(braking_speed(self.remaining, self.step, self.dt))
        };
        // Within the bound (plus rounding slack) take `want` exactly; beyond it, the exact bound.
        let v = if (want - self.speed).abs() <= self.step * (1.0 + STEP_SLACK) {
            want
        } else if want > self.speed {
            self.speed + self.step
        } else {
            self.speed - self.step
        };
        self.remaining -= v * self.dt;
        self.speed = v;
        self.other = ramp(self.other, 0.0, self.other_step);
        self.finished = v == 0.0 && self.other == 0.0 && self.remaining.abs() <= ARRIVED_EPS;
        (self.axis.twist(self.frame * v, self.other), self.finished)
    }
}

/// How far a motion has got according to odometry, from the pose at its start.
#[derive(Debug, Clone)]
pub struct OdomProgress {
    axis: Axis,
    /// +1 or -1: the commanded direction.
    dir: f64,
    start: Pose,
    last_yaw: f64,
    /// Yaw turned since the start, unwrapped (rad, counter-clockwise positive).
    turned: f64,
    latest: Pose,
}

impl OdomProgress {
    pub fn new(start: Pose, axis: Axis, dir: f64) -> OdomProgress {
        OdomProgress {
            axis,
            dir,
            start,
            last_yaw: start.yaw,
            turned: 0.0,
            latest: start,
        }
    }

    /// Feeds every odometry message, so that yaw is unwrapped at the odometry rate (a turn of
    /// more than half a revolution between two looks would otherwise be ambiguous).
    pub fn update(&mut self, odom: Pose) {
        self.turned += wrap_rad(odom.yaw - self.last_yaw);
        self.last_yaw = odom.yaw;
        self.latest = odom;
    }

    /// Progress in the commanded direction (m or rad).
    ///
    /// Linear: the Euclidean distance from the start, counted only while the displacement
    /// points in the commanded direction along the start heading; a preempted forward motion
    /// braking before a `move_backward` must not count as backward progress.
    pub fn progress(&self) -> f64 {
        match self.axis {
            Axis::Linear => {
                let dx = self.latest.x - self.start.x;
                let dy = self.latest.y - self.start.y;
                let along = dx * self.start.yaw.cos() + dy * self.start.yaw.sin();
                if along * self.dir > 0.0 {
                    dx.hypot(dy)
                } else {
                    0.0
                }
            }
            Axis::Angular => self.turned * self.dir,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f64 = 0.05;

    /// Runs a profile to its end; panics if it does not end.
    fn run(mut p: Profile) -> Vec<Twist2> {
        let mut out = Vec::new();
        for _ in 0..1_000_000 {
            let (t, done) = p.step();
            out.push(t);
            if done {
                return out;
            }
        }
        panic!("profile did not finish");
    }

    /// Checks integral, speed bound and accel bound; returns the integral on the axis.
    fn check(steps: &[Twist2], axis: Axis, start: Twist2, vmax: f64, accel: f64) -> f64 {
        let mut prev = start;
        let mut sum = 0.0;
        for t in steps {
            let v = axis.of(*t);
            sum += v * DT;
            assert!(
                v.abs() <= vmax.max(axis.of(start).abs()) + 1e-12,
                "{v} > {vmax}"
            );
            let dv = (v - axis.of(prev)).abs();
            assert!(dv <= accel * DT * (1.0 + 1e-9) + 1e-15, "jump {dv}");
            prev = *t;
        }
        assert_eq!(*steps.last().expect("steps"), Twist2::ZERO);
        sum
    }

    #[test]
    fn trapezoid_integrates_exactly() {
        for (d, v, a) in [
            (1.0, 0.5, 1.0),
            (100.0, 1.0, 1.0),
            (0.123_456_7, 0.9, 0.3),
            (3.0, 0.01, 1.0),
        ] {
            let p = Profile::new(Axis::Linear, d, v, a, 3.0, DT, Twist2::ZERO);
            let steps = run(p);
            let sum = check(&steps, Axis::Linear, Twist2::ZERO, v, a);
            assert!((sum - d).abs() < 1e-9, "{d}: {sum}");
        }
    }

    #[test]
    fn short_move_is_a_triangle_and_backward_is_negative() {
        let p = Profile::new(Axis::Linear, -0.01, 1.0, 1.0, 3.0, DT, Twist2::ZERO);
        let steps = run(p);
        let sum = check(&steps, Axis::Linear, Twist2::ZERO, 1.0, 1.0);
        assert!((sum + 0.01).abs() < 1e-9, "{sum}");
        assert!(steps.iter().all(|t| t.linear <= 0.0));
        let peak = steps.iter().map(|t| t.linear.abs()).fold(0.0, f64::max);
        assert!(peak < 0.2, "triangle peak {peak}");
    }

    #[test]
    fn tiny_move_is_one_step() {
        let p = Profile::new(Axis::Angular, 1e-6, 1.5, 3.0, 1.0, DT, Twist2::ZERO);
        let steps = run(p);
        assert_eq!(steps.len(), 2);
        assert!((steps[0].angular * DT - 1e-6).abs() < 1e-15);
    }

    #[test]
    fn continues_from_any_start_speed() {
        // Forward at full speed, then a short move backward: brakes, reverses, nets -0.1 m,
        // and winds the angular speed down without a jump.
        let start = Twist2 {
            linear: 1.0,
            angular: 0.6,
        };
        let p = Profile::new(Axis::Linear, -0.1, 0.5, 1.0, 3.0, DT, start);
        let steps = run(p);
        let sum = check(&steps, Axis::Linear, start, 1.0, 1.0);
        assert!((sum + 0.1).abs() < 1e-9, "{sum}");
        let mut prev = start.angular;
        for t in &steps {
            assert!((t.angular - prev).abs() <= 3.0 * DT + 1e-12);
            prev = t.angular;
        }
        // Same direction but faster than the new command and too close to stop: overshoots
        // and comes back.
        let start = Twist2 {
            linear: 1.0,
            angular: 0.0,
        };
        let p = Profile::new(Axis::Linear, 0.05, 0.2, 1.0, 3.0, DT, start);
        let steps = run(p);
        let sum = check(&steps, Axis::Linear, start, 1.0, 1.0);
        assert!((sum - 0.05).abs() < 1e-9, "{sum}");
    }

    /// Many random starts, extents and limits: always ends, exact, within both bounds.
    #[test]
    fn random_profiles_end_exactly_within_limits() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..3000 {
            let dt = [0.01, 0.05, 0.1][(rnd() * 3.0) as usize % 3];
            let vmax = 0.1 + 2.0 * rnd();
            let accel = 0.1 + 5.0 * rnd();
            let cruise = vmax * (0.01 + 0.99 * rnd());
            let extent = (rnd() - 0.5) * 2.0 * 10f64.powf(-6.0 + 7.5 * rnd());
            let start = Twist2 {
                linear: (rnd() - 0.5) * 2.0 * vmax,
                angular: (rnd() - 0.5) * 3.0,
            };
            let mut p = Profile::new(Axis::Linear, extent, cruise, accel, 3.0, dt, start);
            // Braking from the start speed may overshoot; coming back is at the cruise speed.
            let v0 = start.linear.abs();
            let back = v0 * v0 / accel + v0 * dt;
            let wind_down = start.angular.abs() / 3.0;
            let secs = (extent.abs() + back) / cruise + 4.0 * vmax / accel + wind_down;
            let bound = (secs / dt) as usize + 10;
            let (mut sum, mut prev, mut n) = (0.0, start, 0);
            loop {
                let (t, done) = p.step();
                sum += t.linear * dt;
                let cap = cruise.max(start.linear.abs()) + 1e-12;
                assert!(t.linear.abs() <= cap, "speed {} > {cap}", t.linear);
                assert!((t.linear - prev.linear).abs() <= accel * dt * (1.0 + 1e-9) + 1e-15);
                assert!((t.angular - prev.angular).abs() <= 3.0 * dt + 1e-12);
                prev = t;
                n += 1;
                assert!(
                    n <= bound,
                    "too long: {extent} {cruise} {accel} {dt} {start:?}"
                );
                if done {
                    break;
                }
            }
            assert!((sum - extent).abs() < 1e-9, "{sum} vs {extent}");
        }
    }

    #[test]
    fn braking_speed_inverts_the_stopping_distance() {
        let step = 0.05;
        for v in [0.01, 0.05, 0.051, 0.3, 0.999, 1.0] {
            let mut s = 0.0;
            let mut w: f64 = v;
            while w > 0.0 {
                s += w * DT;
                w -= step;
            }
            assert!((braking_speed(s, step, DT) - v).abs() < 1e-9, "{v}");
        }
    }

    #[test]
    fn odometry_progress_unwraps_yaw_and_ignores_wrong_way() {
        let at = std::time::Instant::now();
        let o = |x: f64, y: f64, yaw: f64| Pose::planar(x, y, yaw, at);
        let mut p = OdomProgress::new(o(0.0, 0.0, 3.0), Axis::Angular, 1.0);
        for yaw in [3.1, -3.1, -2.9] {
            p.update(o(0.0, 0.0, yaw));
        }
        let want = (-2.9 + std::f64::consts::TAU) - 3.0;
        assert!((p.progress() - want).abs() < 1e-12);
        let mut p = OdomProgress::new(o(1.0, 1.0, std::f64::consts::FRAC_PI_2), Axis::Linear, -1.0);
        p.update(o(1.0, 1.2, 0.0));
        assert_eq!(p.progress(), 0.0);
        p.update(o(1.0, 0.7, 0.0));
        assert!((p.progress() - 0.3).abs() < 1e-12);
    }
}
