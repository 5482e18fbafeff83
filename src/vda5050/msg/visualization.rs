//! `visualization`: position and velocity only, at `vda5050.visualization_rate_hz`.

use serde::Serialize;

use super::state::{AgvPosition, Velocity};
use crate::vda5050::header::Header;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Visualization {
    #[serde(flatten)]
    pub header: Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agv_position: Option<AgvPosition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
}
