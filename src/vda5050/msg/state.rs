//! `state`: everything master control knows of the vehicle, sent on every event and at least
//! every `vda5050.state_period`. Every number in it is finite: a value that cannot be known is
//! left out where the schema allows (`agvPosition`, `velocity` and its parts), and built only
//! from finite inputs where it does not (`batteryCharge`: see `core`).

use serde::Serialize;

use crate::vda5050::header::Header;
use crate::vda5050::words::{ActionStatus, ErrorLevel, EstopType, OperatingMode};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(flatten)]
    pub header: Header,
    /// `""` when there was no order yet.
    pub order_id: String,
    pub order_update_id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_set_id: Option<String>,
    /// `""` until a node is reached.
    pub last_node_id: String,
    pub last_node_sequence_id: u32,
    pub node_states: Vec<NodeState>,
    pub edge_states: Vec<EdgeState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agv_position: Option<AgvPosition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
    pub driving: bool,
    pub paused: bool,
    pub action_states: Vec<ActionState>,
    pub battery_state: BatteryState,
    pub operating_mode: OperatingMode,
    pub errors: Vec<Error>,
    pub safety_state: SafetyState,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    pub node_id: String,
    pub sequence_id: u32,
    pub released: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeState {
    pub edge_id: String,
    pub sequence_id: u32,
    pub released: bool,
}

/// Metres and radians in the map `mapId`; `theta` within [-pi, pi] (the text; the 2.1
/// schema has no range).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvPosition {
    pub x: f64,
    pub y: f64,
    pub theta: f64,
    pub map_id: String,
    pub position_initialized: bool,
}

impl AgvPosition {
    /// `None` unless x, y and yaw are finite; theta is yaw wrapped into [-pi, pi].
    pub fn new(x: f64, y: f64, yaw: f64, map_id: &str, initialized: bool) -> Option<Self> {
        let finite = x.is_finite() && y.is_finite() && yaw.is_finite();
        finite.then(|| AgvPosition {
            x,
            y,
            theta: wrap_pi(yaw),
            map_id: map_id.to_owned(),
            position_initialized: initialized,
        })
    }
}

/// `yaw` in [-pi, pi]: atan2 of its sine and cosine, which never leaves the range.
pub fn wrap_pi(yaw: f64) -> f64 {
    yaw.sin().atan2(yaw.cos())
}

/// Vehicle coordinates: m/s forward (`vx`) and left (`vy`), rad/s counter-clockwise. Each
/// part is left out when it is not finite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Velocity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vx: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omega: Option<f64>,
}

impl Velocity {
    pub fn new(vx: f64, vy: f64, omega: f64) -> Velocity {
        let finite = |v: f64| v.is_finite().then_some(v);
        Velocity {
            vx: finite(vx),
            vy: finite(vy),
            omega: finite(omega),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    pub action_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_description: Option<String>,
    pub action_status: ActionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatteryState {
    /// Percent, 0-100.
    pub battery_charge: f64,
    pub charging: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    pub error_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_references: Vec<ErrorReference>,
    pub error_description: String,
    pub error_level: ErrorLevel,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReference {
    pub reference_key: &'static str,
    pub reference_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetyState {
    pub e_stop: EstopType,
    pub field_violation: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn theta_is_within_pi_and_nothing_is_non_finite() {
        for yaw in [0.0, PI, -PI, 3.5 * PI, -7.0, 1e9, f64::MIN_POSITIVE] {
            let t = wrap_pi(yaw);
            assert!((-PI..=PI).contains(&t), "{yaw} -> {t}");
            assert!((t.sin() - yaw.sin()).abs() < 1e-6 && (t.cos() - yaw.cos()).abs() < 1e-6);
        }
        assert_eq!(AgvPosition::new(f64::NAN, 0.0, 0.0, "m", true), None);
        assert_eq!(AgvPosition::new(0.0, 0.0, f64::INFINITY, "m", true), None);
        let v = Velocity::new(0.5, f64::NAN, -f64::INFINITY);
        assert_eq!(serde_json::to_string(&v).expect("json"), r#"{"vx":0.5}"#);
        let s = SafetyState {
            e_stop: EstopType::None,
            field_violation: false,
        };
        assert_eq!(
            serde_json::to_string(&s).expect("json"),
            r#"{"eStop":"NONE","fieldViolation":false}"#
        );
    }
}
