//! The converters against r2r on the types the build knows: r2r's bytes (rmw_serialize) decode
//! to exactly r2r's JSON (serde) when octets are numbers, and the bytes encoded from that JSON
//! deserialize in r2r to the same message. So a run-time type can stand in for the compiled
//! generic path without a change of output but the documented one (octets as base64).

use r2r::WrappedTypesupport;
use serde::Serialize;

use super::{encode, to_value, Octets, Registry};

/// `msg` through both converters, both ways.
fn same_as_r2r<T>(ty: &str, msg: &T)
where
    T: WrappedTypesupport + Serialize + PartialEq + std::fmt::Debug,
{
    let t = Registry::from_env()
        .load(ty)
        .unwrap_or_else(|e| panic!("{ty}: {e} (source scripts/env.sh)"));
    let cdr = msg.to_serialized_bytes().expect("r2r serializes");
    let want = serde_json::to_value(msg).expect("r2r's JSON");
    let got = to_value(&t, &cdr, Octets::Numbers).expect("decodes");
    assert_eq!(got, want, "{ty}");
    let ours = encode(&t, &want, 1 << 24).expect("encodes");
    let back = T::from_serialized_bytes(&ours).expect("r2r deserializes");
    // NaN is not equal to itself: compare the JSON of what r2r read.
    assert_eq!(serde_json::to_value(&back).expect("json"), want, "{ty}");
}

#[test]
fn types_the_build_knows_match_r2r_both_ways() {
    use r2r::{diagnostic_msgs, nav_msgs, sensor_msgs};
    let mut imu = sensor_msgs::msg::Imu::default();
    imu.header.stamp.sec = -3;
    imu.header.frame_id = "imu_link ü".into();
    imu.orientation.w = 1.0;
    imu.angular_velocity.z = f64::NAN;
    imu.orientation_covariance = vec![-1.0; 9];
    same_as_r2r("sensor_msgs/msg/Imu", &imu);

    let scan = sensor_msgs::msg::LaserScan {
        angle_min: -std::f32::consts::PI,
        angle_increment: 0.0175,
        ranges: (0..360)
            .map(|i| i as f32 * 0.1)
            .chain([f32::INFINITY, f32::NAN])
            .collect(),
        intensities: vec![0.5; 362],
        ..Default::default()
    };
    same_as_r2r("sensor_msgs/msg/LaserScan", &scan);

    let image = sensor_msgs::msg::Image {
        height: 2,
        width: 3,
        encoding: "rgb8".into(),
        step: 9,
        data: (0..18).collect(),
        ..Default::default()
    };
    same_as_r2r("sensor_msgs/msg/Image", &image);

    let mut odom = nav_msgs::msg::Odometry::default();
    odom.pose.covariance = (0..36).map(f64::from).collect();
    odom.twist.twist.linear.x = -0.5;
    odom.child_frame_id = "base_link".into();
    same_as_r2r("nav_msgs/msg/Odometry", &odom);

    let joints = sensor_msgs::msg::JointState {
        name: vec!["left".into(), "right 右".into()],
        position: vec![1.0, -1.0],
        velocity: vec![],
        effort: vec![0.25, f64::NEG_INFINITY],
        ..Default::default()
    };
    same_as_r2r("sensor_msgs/msg/JointState", &joints);

    let diag = diagnostic_msgs::msg::DiagnosticArray {
        status: vec![diagnostic_msgs::msg::DiagnosticStatus {
            level: 2,
            name: "motor".into(),
            values: vec![diagnostic_msgs::msg::KeyValue {
                key: "temp".into(),
                value: "81 °C".into(),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    same_as_r2r("diagnostic_msgs/msg/DiagnosticArray", &diag);
}
