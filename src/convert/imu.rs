//! `sensor_msgs/Imu` to `sensor/imu`: orientation (quaternion and roll/pitch/yaw in degrees),
//! angular velocity (rad/s) and linear acceleration (m/s²). An orientation that the driver
//! marks unknown (covariance[0] == -1, per the message definition) is `null`.

use schemars::JsonSchema;
use serde::Serialize;

use super::{Converter, Euler, Quat, Vec3};
use r2r::sensor_msgs::msg::Imu as Msg;

pub struct Imu;

/// The quaternion and roll, pitch, yaw in degrees, each in (-180, 180].
#[derive(Debug, Serialize, JsonSchema)]
pub struct Orientation {
    #[serde(flatten)]
    pub quaternion: Quat,
    pub roll: f64,
    pub pitch: f64,
    pub yaw: f64,
}

/// `data` of `sensor/imu`, from `sensor_msgs/msg/Imu`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Data {
    /// Null when the driver marks it unknown (`orientation_covariance[0] == -1`).
    pub orientation: Option<Orientation>,
    /// rad/s.
    pub angular_velocity: Vec3,
    /// m/s².
    pub linear_acceleration: Vec3,
    pub frame_id: String,
}

impl Converter for Imu {
    type Msg = Msg;
    type Data<'m> = Data;

    fn data(&self, msg: &Msg) -> Data {
        let unknown = msg.orientation_covariance.first() == Some(&-1.0);
        let orientation = (!unknown).then(|| {
            let q = Quat::from(&msg.orientation);
            let Euler { roll, pitch, yaw } = q.euler_deg();
            Orientation {
                quaternion: q,
                roll,
                pitch,
                yaw,
            }
        });
        Data {
            orientation,
            angular_velocity: Vec3::from(&msg.angular_velocity),
            linear_acceleration: Vec3::from(&msg.linear_acceleration),
            frame_id: msg.header.frame_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_orientation_is_null() {
        let mut m = Msg {
            orientation_covariance: vec![-1.0; 9],
            ..Default::default()
        };
        m.linear_acceleration.z = 9.81;
        let v = serde_json::to_value(Imu.data(&m)).expect("json");
        assert!(v["orientation"].is_null());
        assert_eq!(v["linear_acceleration"]["z"], 9.81);
        m.orientation_covariance = vec![0.0; 9];
        m.orientation.w = 1.0;
        let v = serde_json::to_value(Imu.data(&m)).expect("json");
        assert_eq!(v["orientation"]["w"], 1.0);
        assert_eq!(v["orientation"]["yaw"], 0.0);
    }
}
