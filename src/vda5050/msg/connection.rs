//! `connection`: ONLINE after connecting, OFFLINE before a graceful disconnect, and the Will
//! that the broker publishes if the connection ends otherwise (CONNECTIONBROKEN).

use serde::Serialize;

use crate::vda5050::header::Header;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    #[serde(flatten)]
    pub header: Header,
    /// The version's word ([`crate::vda5050::version::Version::connection_word`]).
    pub connection_state: &'static str,
}
