//! `nav_msgs/Odometry` to `status/position`: the seed's `position {x, y, angle}` plus velocity.

use schemars::JsonSchema;
use serde::Serialize;

use super::{Converter, Quat, Vec3};
use crate::state::Pose;
use r2r::nav_msgs::msg::Odometry as Msg;
use std::time::Instant;

pub struct Odometry;

/// The pose in the odometry frame: metres.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Position {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    /// Yaw in degrees, (-180, 180].
    pub angle: f64,
}

/// Twist in the child frame: m/s and rad/s, as ROS.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Velocity {
    pub linear: Vec3,
    pub angular: Vec3,
}

/// `data` of `status/position`, from `nav_msgs/msg/Odometry`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Data {
    pub position: Position,
    pub velocity: Velocity,
    pub frame_id: String,
    pub child_frame_id: String,
}

/// The part of odometry that the rest of the bridge (state, closed-loop motion) uses,
/// received at `at`.
pub fn pose(msg: &Msg, at: Instant) -> Pose {
    let p = &msg.pose.pose.position;
    let tw = &msg.twist.twist;
    Pose {
        x: p.x,
        y: p.y,
        yaw: Quat::from(&msg.pose.pose.orientation).yaw(),
        vx: tw.linear.x,
        vy: tw.linear.y,
        angular: tw.angular.z,
        at,
    }
}

impl Converter for Odometry {
    type Msg = Msg;
    type Data<'m> = Data;

    fn data(&self, msg: &Msg) -> Data {
        let p = &msg.pose.pose.position;
        Data {
            position: Position {
                x: p.x,
                y: p.y,
                z: p.z,
                angle: Quat::from(&msg.pose.pose.orientation).yaw_deg(),
            },
            velocity: Velocity {
                linear: Vec3::from(&msg.twist.twist.linear),
                angular: Vec3::from(&msg.twist.twist.angular),
            },
            frame_id: msg.header.frame_id.clone(),
            child_frame_id: msg.child_frame_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Stamped;

    #[test]
    fn pose_and_yaw() {
        let mut m = Msg::default();
        m.pose.pose.position.x = 10.5;
        m.pose.pose.position.y = 20.3;
        let h = 45f64.to_radians() / 2.0;
        m.pose.pose.orientation.z = h.sin();
        m.pose.pose.orientation.w = h.cos();
        m.twist.twist.linear.x = 0.5;
        let d = Odometry.data(&m);
        assert_eq!((d.position.x, d.position.y), (10.5, 20.3));
        assert!((d.position.angle - 45.0).abs() < 1e-9);
        assert_eq!(d.velocity.linear.x, 0.5);
        assert_eq!(m.stamp(), None);
    }
}
