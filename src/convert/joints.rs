//! `sensor_msgs/JointState` to `status/motor`: one entry per joint (wheel, motor).
//!
//! The message allows `position`, `velocity` and `effort` to be empty or shorter than `name`;
//! a missing value is `null`, and values beyond the names get `joint_<index>` as name.

use schemars::JsonSchema;
use serde::Serialize;

use super::Converter;
use r2r::sensor_msgs::msg::JointState as Msg;

pub struct Joints;

/// One joint (wheel, motor); a value the message does not have is null.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Joint {
    /// As in the message, or `joint_<index>` for values beyond the names.
    pub name: String,
    pub position: Option<f64>,
    pub velocity: Option<f64>,
    pub effort: Option<f64>,
}

/// `data` of `status/motor`, from `sensor_msgs/msg/JointState`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Data {
    pub motors: Vec<Joint>,
}

impl Converter for Joints {
    type Msg = Msg;
    type Data<'m> = Data;

    fn data(&self, msg: &Msg) -> Data {
        let n = msg
            .name
            .len()
            .max(msg.position.len())
            .max(msg.velocity.len())
            .max(msg.effort.len());
        let motors = (0..n)
            .map(|i| Joint {
                name: msg
                    .name
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("joint_{i}")),
                position: msg.position.get(i).copied(),
                velocity: msg.velocity.get(i).copied(),
                effort: msg.effort.get(i).copied(),
            })
            .collect();
        Data { motors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unequal_lengths() {
        let m = Msg {
            name: vec!["left".into(), "right".into()],
            position: vec![1.0, 2.0, 3.0],
            velocity: vec![0.5],
            ..Default::default()
        };
        let v = serde_json::to_value(Joints.data(&m)).expect("json");
        let motors = v["motors"].as_array().expect("array");
        assert_eq!(motors.len(), 3);
        assert_eq!(motors[0]["velocity"], 0.5);
        assert!(motors[1]["velocity"].is_null());
        assert!(motors[0]["effort"].is_null());
        assert_eq!(motors[2]["name"], "joint_2");
        assert_eq!(motors[2]["position"], 3.0);
    }
}
