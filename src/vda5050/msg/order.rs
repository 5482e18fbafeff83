//! `order` as received: the 2.1 schema's shape, every object closed (an unknown or misspelt
//! field is refused, never ignored) and every optional field absent or of its type. The rules
//! between fields (sequence ids, base and horizon, ranges the text gives) are `validate`'s.

use serde::Deserialize;
use serde_json::Value;

use super::{headed, present};
use crate::vda5050::words::BlockingType;

headed!(Order {
    pub order_id: String,
    pub order_update_id: u32,
    #[serde(default, deserialize_with = "present")]
    pub zone_set_id: Option<String>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
});

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Node {
    pub node_id: String,
    pub sequence_id: u32,
    #[serde(default, deserialize_with = "present")]
    pub node_description: Option<String>,
    pub released: bool,
    #[serde(default, deserialize_with = "present")]
    pub node_position: Option<NodePosition>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodePosition {
    pub x: f64,
    pub y: f64,
    #[serde(default, deserialize_with = "present")]
    pub theta: Option<f64>,
    #[serde(default, deserialize_with = "present", rename = "allowedDeviationXY")]
    pub allowed_deviation_xy: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub allowed_deviation_theta: Option<f64>,
    pub map_id: String,
    #[serde(default, deserialize_with = "present")]
    pub map_description: Option<String>,
}

/// An action of a node, an edge or an `instantActions` message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Action {
    pub action_type: String,
    pub action_id: String,
    #[serde(default, deserialize_with = "present")]
    pub action_description: Option<String>,
    pub blocking_type: BlockingType,
    #[serde(default, deserialize_with = "present")]
    pub action_parameters: Option<Vec<ActionParameter>>,
}

/// `value` is any JSON but `null` (checked by `validate`: the schema lists the other types).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionParameter {
    pub key: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Edge {
    pub edge_id: String,
    pub sequence_id: u32,
    #[serde(default, deserialize_with = "present")]
    pub edge_description: Option<String>,
    pub released: bool,
    pub start_node_id: String,
    pub end_node_id: String,
    #[serde(default, deserialize_with = "present")]
    pub max_speed: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub max_height: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub min_height: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub orientation: Option<f64>,
    /// The text's enum; the schema says only "string".
    #[serde(default, deserialize_with = "present")]
    pub orientation_type: Option<OrientationType>,
    #[serde(default, deserialize_with = "present")]
    pub direction: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub rotation_allowed: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub max_rotation_speed: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub length: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub trajectory: Option<Trajectory>,
    #[serde(default, deserialize_with = "present")]
    pub corridor: Option<Corridor>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrientationType {
    Global,
    Tangential,
}

/// A NURBS. `degree` is an integer >= 1 in the schema (float64 in the text): read as a
/// number, checked by `validate`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Trajectory {
    pub degree: f64,
    pub knot_vector: Vec<f64>,
    pub control_points: Vec<ControlPoint>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPoint {
    pub x: f64,
    pub y: f64,
    #[serde(default, deserialize_with = "present")]
    pub weight: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Corridor {
    pub left_width: f64,
    pub right_width: f64,
    #[serde(default, deserialize_with = "present")]
    pub corridor_ref_point: Option<CorridorRefPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CorridorRefPoint {
    Kinematiccenter,
    Contour,
}
