//! ROS messages to the `data` of the JSON envelope: one file per built-in converter, plus
//! `generic` for any type the build knows (both directions).
//!
//! Converters are pure functions of a message: no ROS graph, no broker, testable alone.
//! Units: lengths m, speeds m/s and rad/s as in ROS, except the seed's `angle` (degrees).

pub mod battery;
pub mod generic;
pub mod imu;
pub mod joints;
pub mod odometry;
pub mod scan;

use schemars::JsonSchema;
use serde::Serialize;

use crate::angle::wrap_deg;
use crate::envelope::Stamp;

/// A built-in conversion of one ROS message type (its name: `ConverterKind::ros_type`).
pub trait Converter: Send + 'static {
    type Msg: r2r::WrappedTypesupport + Stamped + 'static;
    /// What goes into the envelope's `data`; it may borrow from the message.
    type Data<'m>: Serialize + JsonSchema;
    fn data<'m>(&self, msg: &'m Self::Msg) -> Self::Data<'m>;
}

/// A message with a `std_msgs/Header`: its stamp is the envelope's `timestamp`.
pub trait Stamped {
    fn stamp(&self) -> Option<Stamp>;
}

macro_rules! stamped {
    ($($t:ty),*) => {$(
        impl Stamped for $t {
            fn stamp(&self) -> Option<Stamp> {
                Stamp::from_ros(&self.header.stamp)
            }
        }
    )*};
}

stamped!(
    r2r::nav_msgs::msg::Odometry,
    r2r::sensor_msgs::msg::Imu,
    r2r::sensor_msgs::msg::BatteryState,
    r2r::sensor_msgs::msg::JointState,
    r2r::sensor_msgs::msg::LaserScan
);

/// `geometry_msgs/Vector3` (and the like) in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Vec3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

impl From<&r2r::geometry_msgs::msg::Vector3> for Vec3 {
    fn from(v: &r2r::geometry_msgs::msg::Vector3) -> Self {
        Vec3 {
            x: v.x,
            y: v.y,
            z: v.z,
        }
    }
}

/// A quaternion in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Quat {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub w: f64,
}

impl From<&r2r::geometry_msgs::msg::Quaternion> for Quat {
    fn from(q: &r2r::geometry_msgs::msg::Quaternion) -> Self {
        Quat {
            x: q.x,
            y: q.y,
            z: q.z,
            w: q.w,
        }
    }
}

/// Roll, pitch, yaw in degrees, each in (-180, 180].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Euler {
    pub roll: f64,
    pub pitch: f64,
    pub yaw: f64,
}

impl Quat {
    /// Yaw (rotation about z) in radians, [-pi, pi]. Not normalised quaternions give the
    /// same yaw as their normalised form; an all-zero one gives 0.
    pub fn yaw(&self) -> f64 {
        let Quat { x, y, z, w } = *self;
        f64::atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    }

    /// Yaw in degrees, (-180, 180].
    pub fn yaw_deg(&self) -> f64 {
        wrap_deg(self.yaw().to_degrees())
    }

    pub fn euler_deg(&self) -> Euler {
        let Quat { x, y, z, w } = *self;
        let n = x * x + y * y + z * z + w * w;
        let (x, y, z, w) = if n > 0.0 {
            let s = n.sqrt();
            (x / s, y / s, z / s, w / s)
        } else {
            (0.0, 0.0, 0.0, 1.0)
        };
        let roll = f64::atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y));
        let pitch = (2.0 * (w * y - z * x)).clamp(-1.0, 1.0).asin();
        Euler {
            roll: wrap_deg(roll.to_degrees()),
            pitch: pitch.to_degrees(),
            yaw: self.yaw_deg(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaw_quat(deg: f64) -> Quat {
        let h = deg.to_radians() / 2.0;
        Quat {
            x: 0.0,
            y: 0.0,
            z: h.sin(),
            w: h.cos(),
        }
    }

    #[test]
    fn yaw_in_degrees() {
        for deg in [0.0, 45.0, 90.0, -90.0, 179.0, -179.0, 180.0] {
            let y = yaw_quat(deg).yaw_deg();
            let want = if deg == 180.0 { 180.0 } else { deg };
            assert!((y - want).abs() < 1e-9, "{deg}: {y}");
        }
        assert!((yaw_quat(-180.0).yaw_deg() - 180.0).abs() < 1e-9);
        let zero = Quat {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            w: 0.0,
        };
        assert_eq!(zero.yaw_deg(), 0.0);
    }

    #[test]
    fn euler_roll_pitch() {
        let h = 30f64.to_radians() / 2.0;
        let roll30 = Quat {
            x: h.sin(),
            y: 0.0,
            z: 0.0,
            w: h.cos(),
        };
        let e = roll30.euler_deg();
        assert!((e.roll - 30.0).abs() < 1e-9 && e.pitch.abs() < 1e-9 && e.yaw.abs() < 1e-9);
        let p = Quat {
            x: 0.0,
            y: h.sin(),
            z: 0.0,
            w: h.cos(),
        };
        assert!((p.euler_deg().pitch - 30.0).abs() < 1e-9);
    }
}
