//! Angles wrapped into one turn, (-half, half]: yaw as the fleet reads it (degrees), and the
//! step between two odometry yaws (radians). Converters, the motion core and `status/state`
//! share it.

use std::f64::consts::TAU;

/// Maps degrees into (-180, 180].
pub fn wrap_deg(d: f64) -> f64 {
    wrap(d, 360.0)
}

/// Maps radians into (-pi, pi].
pub fn wrap_rad(a: f64) -> f64 {
    wrap(a, TAU)
}

fn wrap(x: f64, turn: f64) -> f64 {
    let r = x.rem_euclid(turn);
    if r > turn / 2.0 {
        r - turn
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn one_turn_half_open() {
        assert_eq!(wrap_deg(190.0), -170.0);
        assert_eq!(wrap_deg(-180.0), 180.0);
        assert_eq!(wrap_deg(540.0), 180.0);
        assert_eq!(wrap_deg(-45.0), -45.0);
        assert_eq!(wrap_rad(-PI), PI);
        assert!((wrap_rad(1.5 * PI) + 0.5 * PI).abs() < 1e-12);
        assert!((wrap_rad(-2.5 * PI) + 0.5 * PI).abs() < 1e-12);
    }
}
