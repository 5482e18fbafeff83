//! `sensor_msgs/BatteryState` to `status/battery`: percent 0-100, voltage, current, charge,
//! temperature, and the charging state as a word.
//!
//! `percentage` is 0-1 by the message definition, but many drivers publish 0-100: the scale
//! is the mapping's `percentage_scale` (`fraction`, `percent`, `auto`), never a guess. A value
//! that is NaN (the definition's "unknown") or outside 0-100 after scaling becomes `null`.

use schemars::JsonSchema;
use serde::Serialize;

use super::Converter;
use crate::config::PercentageScale;
use r2r::sensor_msgs::msg::BatteryState as Msg;

pub struct Battery {
    pub scale: PercentageScale,
}

/// `data` of `status/battery`, from `sensor_msgs/msg/BatteryState`: volts, amperes,
/// ampere-hours, degrees Celsius.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Data {
    /// Percent 0-100 (`percentage` scaled by the mapping's `percentage_scale`), or null when
    /// unknown or out of range after scaling.
    pub percent: Option<f64>,
    pub voltage: f32,
    pub current: f32,
    pub charge: f32,
    pub capacity: f32,
    pub temperature: f32,
    /// `power_supply_status` as a word.
    pub status: PowerSupplyStatus,
    /// `status` is `charging`.
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

/// `sensor_msgs/BatteryState.power_supply_status`, as a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PowerSupplyStatus {
    Unknown,
    Charging,
    Discharging,
    NotCharging,
    Full,
}

pub fn status_word(status: u8) -> PowerSupplyStatus {
    use PowerSupplyStatus::*;
    match status {
        1 => Charging,
        2 => Discharging,
        3 => NotCharging,
        4 => Full,
        _ => Unknown,
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
