//! The VDA 5050 2.1 profile (being built): configuration, versions, the protocol's words, the
//! vehicle's errors, topics, headers, the messages as types and the instant actions it owns.

pub mod config;
pub mod errors;
pub mod header;
pub mod instant;
pub mod msg;
pub mod topics;
pub mod version;
pub mod words;

pub use config::VdaConfig;
pub use topics::{Incoming, Outgoing, Topics};
pub use version::Version;
