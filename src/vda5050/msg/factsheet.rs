//! `factsheet`: retained at start and sent again on `factsheetRequest`. The type and physical
//! parameters come from `vda5050.factsheet`; protocol limits and features from what the bridge
//! really accepts (`vda5050.limits`, `vda5050.navigation`) and the instant actions it owns.
//! Geometry and load handling are unknown to the bridge: their objects are empty (the schema
//! requires them; an empty `loadSpecification` means "no load handling device"). The header is
//! complete, `headerId` and `timestamp` included, as the text says (the schema requires
//! neither).

use serde::Serialize;

use crate::vda5050::config::{NavigationConfig, PhysicalParameters, TypeSpecification, VdaConfig};
use crate::vda5050::header::Header;
use crate::vda5050::instant::SUPPORTED;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Factsheet {
    #[serde(flatten)]
    pub header: Header,
    #[serde(flatten)]
    pub body: Body,
}

/// Everything but the header: the same in every factsheet of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    pub type_specification: TypeSpecification,
    pub physical_parameters: PhysicalParameters,
    pub protocol_limits: ProtocolLimits,
    pub protocol_features: ProtocolFeatures,
    pub agv_geometry: Empty,
    pub load_specification: Empty,
    pub vehicle_config: VehicleConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolLimits {
    pub max_string_lens: MaxStringLens,
    pub max_array_lens: MaxArrayLens,
    pub timing: Timing,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MaxStringLens {
    pub msg_len: u64,
    pub id_len: u64,
    pub id_numerical_only: bool,
}

/// The schema's dotted names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaxArrayLens {
    #[serde(rename = "order.nodes")]
    pub order_nodes: u64,
    #[serde(rename = "order.edges")]
    pub order_edges: u64,
    #[serde(rename = "node.actions")]
    pub node_actions: u64,
    #[serde(rename = "edge.actions")]
    pub edge_actions: u64,
    #[serde(rename = "actions.actionsParameters")]
    pub action_parameters: u64,
    #[serde(rename = "instantActions")]
    pub instant_actions: u64,
    #[serde(rename = "trajectory.knotVector")]
    pub knot_vector: u64,
    #[serde(rename = "trajectory.controlPoints")]
    pub control_points: u64,
    #[serde(rename = "state.nodeStates")]
    pub node_states: u64,
    #[serde(rename = "state.edgeStates")]
    pub edge_states: u64,
    #[serde(rename = "state.actionStates")]
    pub action_states: u64,
    #[serde(rename = "state.errors")]
    pub errors: u64,
}

/// Seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    pub min_order_interval: f64,
    pub min_state_interval: f64,
    pub default_state_interval: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visualization_interval: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolFeatures {
    pub optional_parameters: Vec<OptionalParameter>,
    pub agv_actions: Vec<AgvAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionalParameter {
    pub parameter: String,
    /// Always `SUPPORTED`: the bridge requires none.
    pub support: &'static str,
}

/// `blockingTypes` is left out: the 2.1 schema types it as an array with a string enum, which
/// no value can satisfy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvAction {
    pub action_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_description: Option<&'static str>,
    pub action_scopes: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VehicleConfig {
    pub versions: Vec<VersionInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionInfo {
    pub key: &'static str,
    pub value: &'static str,
}

impl Body {
    /// From a validated configuration; `None` without `vda5050.factsheet` (only a disabled
    /// profile lacks it).
    pub fn new(cfg: &VdaConfig) -> Option<Body> {
        let f = cfg.factsheet.as_ref()?;
        let l = &cfg.limits;
        let n = |v: usize| v as u64;
        Some(Body {
            type_specification: f.type_specification.clone(),
            physical_parameters: f.physical_parameters.clone(),
            protocol_limits: ProtocolLimits {
                max_string_lens: MaxStringLens {
                    msg_len: n(l.max_payload),
                    id_len: n(l.max_id_len),
                    id_numerical_only: false,
                },
                max_array_lens: MaxArrayLens {
                    order_nodes: n(l.max_nodes),
                    order_edges: n(l.max_nodes.saturating_sub(1)),
                    node_actions: n(l.max_actions),
                    edge_actions: n(l.max_actions),
                    action_parameters: n(l.max_action_parameters),
                    instant_actions: n(l.max_instant_actions),
                    knot_vector: n(l.max_trajectory_points),
                    control_points: n(l.max_trajectory_points),
                    node_states: n(l.max_nodes),
                    edge_states: n(l.max_nodes.saturating_sub(1)),
                    action_states: n(l.max_action_states),
                    errors: n(l.max_errors),
                },
                timing: Timing {
                    min_order_interval: l.min_order_interval,
                    min_state_interval: cfg.min_state_interval,
                    default_state_interval: cfg.state_period,
                    visualization_interval: (cfg.visualization_rate_hz > 0.0)
                        .then(|| 1.0 / cfg.visualization_rate_hz),
                },
            },
            protocol_features: features(cfg.navigation.as_ref()),
            agv_geometry: Empty {},
            load_specification: Empty {},
            vehicle_config: VehicleConfig {
                versions: vec![VersionInfo {
                    key: "amr_mqtt_bridge",
                    value: env!("CARGO_PKG_VERSION"),
                }],
            },
        })
    }
}

/// The instant actions the bridge owns, and the order actions and optional parameters the
/// robot's navigation takes (none without navigation: orders are refused then).
fn features(nav: Option<&NavigationConfig>) -> ProtocolFeatures {
    let mut agv_actions: Vec<AgvAction> = SUPPORTED
        .iter()
        .map(|(action_type, description)| AgvAction {
            action_type: (*action_type).to_owned(),
            action_description: Some(description),
            action_scopes: vec!["INSTANT"],
        })
        .collect();
    let (actions, parameters) = match nav {
        Some(n) => (&n.actions[..], &n.optional_parameters[..]),
        None => (&[][..], &[][..]),
    };
    agv_actions.extend(actions.iter().map(|a| AgvAction {
        action_type: a.clone(),
        action_description: None,
        action_scopes: vec!["NODE", "EDGE"],
    }));
    ProtocolFeatures {
        optional_parameters: parameters
            .iter()
            .map(|p| OptionalParameter {
                parameter: p.clone(),
                support: "SUPPORTED",
            })
            .collect(),
        agv_actions,
    }
}
