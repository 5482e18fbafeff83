//! `amr_mqtt_bridge`: a ROS 2 node that translates between a robot's ROS 2 topics and the
//! fleet's MQTT topic tree `amr/{robot_id}/{status|command|sensor|alert}/...` (JSON).
//!
//! Two flows, each in one direction:
//! - ROS -> fleet: `ros_link` subscriptions -> `convert` -> `envelope` -> `policy` (rate limit,
//!   batch) -> `mqtt_link` publish.
//! - fleet -> ROS: `mqtt_link` message -> `command` (parse, validate, safety, motion) ->
//!   `cmd_vel` Twists via `ros_link`; generic mappings go straight to their ROS publisher.
//!
//! `config`, `topic`, `envelope`, `convert`, `policy` and `command` know nothing of the ROS
//! graph or the broker and are tested alone.

pub mod alerts;
pub mod bridge;
pub mod command;
pub mod config;
pub mod convert;
pub mod diagnostics;
pub mod envelope;
pub mod logging;
pub mod mapping;
pub mod mqtt_link;
pub mod policy;
pub mod ros_link;
pub mod state;
pub mod topic;
