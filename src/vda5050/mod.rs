//! The VDA 5050 2.1 profile (being built): configuration, versions, the protocol's words, the
//! vehicle's errors, topics, headers, the messages as types, the instant actions it owns, the
//! strict reading of master control's messages, order validation and the order book.

pub mod action_states;
pub mod config;
pub mod errors;
pub mod header;
pub mod input;
pub mod instant;
pub mod msg;
pub mod order;
pub mod topics;
pub mod validate;
pub mod version;
pub mod words;

pub use config::VdaConfig;
pub use topics::{Incoming, Outgoing, Topics};
pub use version::Version;
