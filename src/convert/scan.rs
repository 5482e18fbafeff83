//! `sensor_msgs/LaserScan` to `sensor/lidar` (rate-limited by default).
//!
//! Ranges and intensities keep the message's order and f32 precision. A range that is not a
//! finite number (REP 117: +inf no return, -inf too close, NaN invalid) is `null`: JSON has
//! no infinities. Angles are radians, ranges metres, as in ROS.

use schemars::JsonSchema;
use serde::Serialize;

use super::Converter;
use r2r::sensor_msgs::msg::LaserScan as Msg;

pub struct Scan;

/// `data` of `sensor/lidar`, from `sensor_msgs/msg/LaserScan`: radians, metres, seconds.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Data<'a> {
    pub frame_id: &'a str,
    pub angle_min: f32,
    pub angle_max: f32,
    pub angle_increment: f32,
    pub time_increment: f32,
    pub scan_time: f32,
    pub range_min: f32,
    pub range_max: f32,
    /// In the message's order; a range that is not finite (REP 117: +inf no return, -inf
    /// too close, NaN invalid) is null.
    pub ranges: &'a [f32],
    pub intensities: &'a [f32],
}

impl Converter for Scan {
    type Msg = Msg;
    type Data<'m> = Data<'m>;

    fn data<'m>(&self, msg: &'m Msg) -> Data<'m> {
        Data {
            frame_id: &msg.header.frame_id,
            angle_min: msg.angle_min,
            angle_max: msg.angle_max,
            angle_increment: msg.angle_increment,
            time_increment: msg.time_increment,
            scan_time: msg.scan_time,
            range_min: msg.range_min,
            range_max: msg.range_max,
            ranges: &msg.ranges,
            intensities: &msg.intensities,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinities_are_null() {
        let m = Msg {
            ranges: vec![0.3, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 12.5],
            range_max: 30.0,
            ..Default::default()
        };
        let text = serde_json::to_string(&Scan.data(&m)).expect("json");
        assert!(
            text.contains("\"ranges\":[0.3,null,null,null,12.5]"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("strict parse");
        assert_eq!(v["range_max"], 30.0);
    }
}
