//! The one end-to-end harness of every file in tests/: a real Mosquitto on a free loopback
//! port, the real bridge binary, rclpy peers (`tests/ros/ros_tool.py`) and the
//! `mosquitto_sub`/`mosquitto_pub` clients, each ROS process in a ROS domain that the harness
//! hands out (never written by hand) with DDS kept on this host.
//!
//! - `domain`: ROS domain ids, unique across threads and processes.
//! - `broker`: Mosquitto for one test; free ports.
//! - `bridge`: the bridge binary with a config of the test's own; its log, lines with times.
//! - `mqtt`: `mosquitto_sub` recording, `mosquitto_pub` sending (text, bytes, files, lines);
//!   the `status/bridge` report.
//! - `ros`: the rclpy peer and Python with the ROS environment.
//! - `rig`: fixtures: `Site` (domain + broker), `Rig` (site + bridge + subscriber).
//! - `robot`: `Robot` (a rig + a `cmd_vel` recorder): commands, outcomes, Twists.
//! - `proc`: child processes killed on drop, their output line by line; signals, RSS.
//! - `counted`: sequence-numbered streams (a counting publisher; missing and repeated numbers).
//! - `proxy`: a TCP proxy between bridge and broker that adds latency, freezes, refuses, cuts.
//! - `store`: the bridge's offline store from outside: config lines, segments, damage.
//! - `time`, `check`: expected timestamps and JSON comparisons, computed without the bridge.
//! - `schema`: every payload a test reads checked against its JSON Schema by Python jsonschema.
//! - `test_types`: message packages the build does not know, installed for a test's processes
//!   only, and their rclpy peer `tests/ros/dyntype_peer.py`.
//! - `vda`: a VDA 5050 master control (`MasterControl`): order and instantActions out, every
//!   message of the vehicle checked against the official schemas.
//!
//! Each test file has `mod common;` and uses what it needs.
#![allow(dead_code, unused_imports)]

mod bridge;
mod broker;
mod check;
mod counted;
mod domain;
mod mqtt;
mod proc;
pub mod proxy;
mod rig;
mod robot;
mod ros;
mod schema;
mod store;
mod test_types;
mod time;
mod vda;

pub use bridge::*;
pub use broker::*;
pub use check::*;
pub use counted::*;
pub use domain::*;
pub use mqtt::*;
pub use proc::*;
pub use rig::*;
pub use robot::*;
pub use ros::*;
pub use schema::*;
pub use serde_json::{json, Value};
pub use store::*;
pub use test_types::*;
pub use time::*;
pub use vda::*;

use std::path::PathBuf;

/// Checks that the environment of `scripts/env.sh` is there; a clear message otherwise.
pub fn require_env() {
    if std::env::var("AMR_BRIDGE_ENV_READY").is_err() {
        panic!("run the tests through scripts/test (or `source scripts/env.sh` first)");
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
