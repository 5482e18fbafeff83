//! Any message type installed in the ROS environment, found at run time: its `.msg` files
//! through `AMENT_PREFIX_PATH` (`find`, `msg`), compiled once (`types`), its CDR to JSON and
//! back (`cdr`, `to_json`, `from_json`), its JSON Schema (`json_schema`), and subscriptions and
//! publishers of serialized messages on an rcl context of its own (`qos`, `rcl`, `runtime`),
//! since r2r 0.9.7 can only make those for the types it was built with.

pub mod cdr;
pub mod find;
pub mod from_json;
pub mod json_schema;
pub mod msg;
pub mod qos;
pub mod queue;
#[cfg(test)]
mod r2r_cases;
// Private: its handles must be finalized in rcl's order, which only `runtime` keeps.
mod rcl;
#[cfg(test)]
mod rclpy_cases;
pub mod runtime;
pub mod to_json;
pub mod types;

pub use find::{FindError, Prefixes};
pub use from_json::{encode, EncodeError};
pub use json_schema::{in_envelope, message_schema, Side};
pub use msg::TypeName;
pub use qos::{Durability, Qos, Reliability, SubQos};
pub use rcl::RclError;
pub use runtime::{
    Publisher, QosWatch, Runtime, RuntimeError, RuntimeOptions, SubscribeOptions, Subscription,
    TypeRef,
};
pub use to_json::{header_stamp, to_value, write_json, DecodeError, JsonView, Octets};
pub use types::{MsgType, Registry, TypeError};
