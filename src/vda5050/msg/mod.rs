//! The messages as types: what the vehicle writes (`connection`, `state`, `visualization`,
//! `factsheet`) serializes to the VDA 5050 2.1 JSON; what master control sends (`order`,
//! `instantActions`) deserializes strictly (every object closed, optional fields never
//! `null`); `navigation` is the bridge's own JSON to and from the robot's navigation.

pub mod connection;
pub mod factsheet;
pub mod instant_actions;
pub mod navigation;
pub mod order;
pub mod state;
pub mod visualization;

use serde::{Deserialize, Deserializer};

/// For an optional field: absent is `None`, present must be a `T` (`null` is not: the schemas
/// type every optional field, and none allows null).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The header fields of a received message, as sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeaderIn<'a> {
    pub header_id: u32,
    pub timestamp: &'a str,
    pub version: &'a str,
    pub manufacturer: &'a str,
    pub serial_number: &'a str,
}

/// A received message with a header.
pub trait Headed {
    fn header(&self) -> HeaderIn<'_>;
}

/// Declares one of master control's messages: the header's fields, then `$body`, the whole
/// closed (`deny_unknown_fields` cannot be combined with a flattened header struct).
macro_rules! headed {
    ($(#[$doc:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name {
            pub header_id: u32,
            pub timestamp: String,
            pub version: String,
            pub manufacturer: String,
            pub serial_number: String,
            $($body)*
        }

        impl $crate::vda5050::msg::Headed for $name {
            fn header(&self) -> $crate::vda5050::msg::HeaderIn<'_> {
                $crate::vda5050::msg::HeaderIn {
                    header_id: self.header_id,
                    timestamp: &self.timestamp,
                    version: &self.version,
                    manufacturer: &self.manufacturer,
                    serial_number: &self.serial_number,
                }
            }
        }
    };
}
pub(crate) use headed;
