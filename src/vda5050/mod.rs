//! The VDA 5050 2.1 profile (being built): configuration, versions, the protocol's words and
//! the vehicle's errors.

pub mod config;
pub mod errors;
pub mod version;
pub mod words;

pub use config::VdaConfig;
pub use version::Version;
