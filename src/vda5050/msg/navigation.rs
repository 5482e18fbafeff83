//! The bridge's own JSON to and from the robot's navigation (ROS `std_msgs/String`), which
//! executes orders: the bridge does not plan paths.
//!
//! - `navigation.order_topic`: each accepted order or order update, the JSON master control
//!   sent (the navigation stitches updates by `orderId`/`orderUpdateId` as the text says).
//! - `navigation.control_topic`: [`Control`], `{"command": "cancel"|"pause"|"resume",
//!   "orderId": "..."}`.
//! - `navigation.progress_topic`: [`Progress`] from the navigation, read as strictly as
//!   master control's messages:
//!   `{"orderId": "o1", "lastNodeId": "n2", "lastNodeSequenceId": 2, "driving": true,
//!   "actionStates": [{"actionId": "a1", "actionStatus": "RUNNING"}]}`; every field but
//!   `orderId` may be left out (unchanged). Nodes and actions count for the current order
//!   only; with no order running (`orderId` as the state's, even `""`) a node reached is taken
//!   as the vehicle's `lastNodeId`, so a navigation can say where the robot stands before
//!   the first order (where the next order has to start).

use serde::{Deserialize, Serialize};

use super::present;
use crate::vda5050::words::ActionStatus;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Progress {
    pub order_id: String,
    /// The last node reached (traversed); with `lastNodeSequenceId`.
    #[serde(default, deserialize_with = "present")]
    pub last_node_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub last_node_sequence_id: Option<u32>,
    /// Whether the navigation drives the robot (used while odometry is stale).
    #[serde(default, deserialize_with = "present")]
    pub driving: Option<bool>,
    /// Node and edge actions the navigation executes.
    #[serde(default)]
    pub action_states: Vec<ProgressAction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProgressAction {
    pub action_id: String,
    pub action_status: ActionStatus,
    #[serde(default, deserialize_with = "present")]
    pub result_description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// Stop and drop the order (`cancelOrder`, or an operating mode that clears orders).
    Cancel,
    /// Stop driving, keep the order (`startPause`).
    Pause,
    /// Go on (`stopPause`).
    Resume,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Control {
    pub command: Command,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}
