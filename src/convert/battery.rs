//! `sensor_msgs/BatteryState` to `status/battery`: percent 0-100, voltage, current, charge,
//! temperature, and the charging state as a word.
//!
//! `percentage` is 0-1 by the message definition, but many drivers publish 0-100: the scale
//! is the mapping's `percentage_scale` (`fraction`, `percent`, `auto`), never a guess. A value
//! that is NaN (the definition's "unknown") or outside 0-100 after scaling becomes `null`.

use serde::Serialize;

use super::Converter;
use crate::config::PercentageScale;
use r2r::sensor_msgs::msg::BatteryState as Msg;

pub struct Battery {
    pub scale: PercentageScale,
}

#[derive(Debug, Serialize)]
pub struct Data {
    /// Percent 0-100, or null when unknown.
    pub percent: Option<f64>,
    pub voltage: f32,
    pub current: f32,
    pub charge: f32,
    pub capacity: f32,
    pub temperature: f32,
    /// unknown, charging, discharging, not_charging, full.
    pub status: &'static str,
    pub charging: bool,
    pub present: bool,
}

/// Rounding slack: 100.000001 from a driver is still 100.
const SLACK: f64 = 1e-3;

pub fn percent(raw: f32, scale: PercentageScale) -> Option<f64> {
    let raw = f64::from(raw);
    if !raw.is_finite() {
        return None;
    }
    let p = match scale {
        PercentageScale::Fraction => raw * 100.0,
        PercentageScale::Percent => raw,
        PercentageScale::Auto if raw <= 1.0 => raw * 100.0,
        PercentageScale::Auto => raw,
    };
    // f32 0.96 is 0.9599999785...: round to what the driver meant (1e-4 %).
    let p = (p * 1e4).round() / 1e4;
    (-SLACK..=100.0 + SLACK)
        .contains(&p)
        .then(|| p.clamp(0.0, 100.0))
}

pub fn status_word(status: u8) -> &'static str {
    match status {
        1 => "charging",
        2 => "discharging",
        3 => "not_charging",
        4 => "full",
        _ => "unknown",
    }
}

impl Converter for Battery {
    type Msg = Msg;
    type Data<'m> = Data;

    fn data(&self, msg: &Msg) -> Data {
        Data {
            percent: percent(msg.percentage, self.scale),
            voltage: msg.voltage,
            current: msg.current,
            charge: msg.charge,
            capacity: msg.capacity,
            temperature: msg.temperature,
            status: status_word(msg.power_supply_status),
            charging: msg.power_supply_status == 1,
            present: msg.present,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales() {
        assert_eq!(percent(0.96, PercentageScale::Fraction), Some(96.0));
        assert_eq!(percent(96.0, PercentageScale::Percent), Some(96.0));
        assert_eq!(percent(0.96, PercentageScale::Auto), Some(96.0));
        assert_eq!(percent(96.0, PercentageScale::Auto), Some(96.0));
        assert_eq!(percent(1.0, PercentageScale::Auto), Some(100.0));
        // 96 read as a fraction is 9600 %: refused, not published.
        assert_eq!(percent(96.0, PercentageScale::Fraction), None);
        assert_eq!(percent(f32::NAN, PercentageScale::Percent), None);
        assert_eq!(percent(-5.0, PercentageScale::Percent), None);
    }

    #[test]
    fn nan_voltage_is_valid_json() {
        let m = Msg {
            voltage: f32::NAN,
            percentage: 0.5,
            power_supply_status: 1,
            ..Default::default()
        };
        let text = serde_json::to_string(
            &Battery {
                scale: PercentageScale::Fraction,
            }
            .data(&m),
        )
        .expect("json");
        assert!(text.contains("\"voltage\":null"), "{text}");
        assert!(text.contains("\"status\":\"charging\""), "{text}");
        assert!(text.contains("\"percent\":50.0"), "{text}");
    }
}
