//! `amr_mqtt_bridge`: a ROS 2 node that translates between a robot's ROS 2 topics and the
//! fleet's MQTT topic tree `amr/{robot_id}/{status|command|sensor|alert}/...` (JSON).
//!
//! Two flows, each in one direction:
//! - ROS -> fleet: `ros::to_mqtt` routes (spin thread) -> `convert` -> `envelope` -> `policy`
//!   (rate limit, batch) -> `mqtt` link.
//! - fleet -> ROS: `mqtt` link -> `inbox` -> `command` (action, the strict reader `json`, the
//!   grammar `parse`, `freshness`, safety, motion, the runner) -> `cmd_vel` via `ros::to_ros`;
//!   generic mappings -> `ros::to_ros` (the retained/stale rule of `command::freshness`).
//! - Generic mappings, either way, take any message type installed where the bridge runs:
//!   `dyntype` finds it, walks its CDR to JSON and back, and subscribes and publishes on a ROS
//!   context of its own (`ros::types`).
//!
//! `config` (the file block by block, the topic tree, mappings, settings), `envelope`, `angle`,
//! `convert`, `policy`, `state` and the `command` core know nothing of the ROS graph or the
//! broker and are tested alone. `app` wires everything: `config::Settings` in, [`app::start`]
//! gives a running bridge, its ROS side built by `ros::side`. `schema` generates the JSON
//! Schemas of every payload; `cli` is what the binary does without a node (`--version`,
//! `--check-config`, `--write-schemas`). `vda5050` is the VDA 5050 2.1 profile beside the
//! seed's tree (`vda5050.enabled`): its core is pure logic; `vda5050::profile` runs it on a
//! second MQTT connection of its own, pausing through the command core.

pub mod alerts;
pub mod angle;
pub mod app;
pub mod cli;
pub mod command;
pub mod config;
pub mod convert;
pub mod diagnostics;
pub mod dyntype;
pub mod envelope;
pub mod herald;
pub mod inbox;
pub mod logging;
pub mod mqtt;
pub mod policy;
pub mod ros;
pub mod schema;
pub mod shutdown;
pub mod state;
pub mod vda5050;

pub use app::{start, Running};
pub use config::Settings;
