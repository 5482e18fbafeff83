//! Everything that differs between VDA 5050 versions, in one place: the topic's major level,
//! the header's `version`, which incoming versions are understood, the `connection` words, the
//! `errorType` names and where the official schemas live. Only 2.1 is implemented.
//!
//! # What 3.0 changes (VDA5050/VDA5050 tag 3.0.0), for the version that follows
//! - Topics: `vda5050/v3/<manufacturer>/<serial>/...` (interface name `vda5050`); two new
//!   topics (`responses`, `zoneSet`).
//! - `connection`: the Will says `CONNECTION_BROKEN`; a new state `HIBERNATING`.
//! - `state`: `agvPosition` -> `mobileRobotPosition` with `positionInitialized` -> `localized`
//!   and theta's range [-pi, pi] in the schema; `batteryState` -> `powerSupply` with
//!   `batteryCharge` -> `stateOfCharge` (0-100 in the schema) and `reach` -> `range`;
//!   `safetyState.eStop` -> `activeEmergencyStop` without `AUTOACK`; instant actions report in
//!   a separate `instantActionStates` (kept until `clearInstantActions`); `actionStates[]`
//!   `actionDescription` -> `actionDescriptor`, `resultDescription` -> `actionResult`, new
//!   statuses `PAUSED` and `RETRIABLE`; `operatingMode` adds `STARTUP` and `INTERVENED` and
//!   spells `TEACH_IN`.
//! - `errorType` becomes an UPPER_SNAKE enumeration with defined levels and lifetimes
//!   (`VALIDATION_FAILURE`, `INVALID_ORDER`, `OUTDATED_ORDER_UPDATE`, `SAME_ORDER_UPDATE_ID`,
//!   `ORDER_UPDATE_FOLLOWING_CANCEL`, `NO_ORDER_TO_CANCEL`, `INVALID_INSTANT_ACTION`,
//!   `MOBILE_ROBOT_NOT_AVAILABLE`, `UNKNOWN_MAP_ID`, ...); levels add `URGENT`, `CRITICAL`.
//!
//! 2.0 (for reference): `instantActions` called `actionType` `actionName`; `batteryHealth` and
//! `reach` were integers; the factsheet schema was `factsheet.json`.

use super::words::ErrorKind;

/// A protocol version the bridge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// VDA 5050 2.1.0.
    V2_1,
}

/// `connection.connectionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    Online,
    Offline,
    /// The Last Will: the broker says it when the connection ended without DISCONNECT.
    Broken,
}

impl Version {
    /// From `vda5050.major_version`; `None` for a version the bridge does not speak.
    pub fn from_major(major: &str) -> Option<Version> {
        match major {
            "v2" => Some(Version::V2_1),
            _ => None,
        }
    }

    /// The topic level, `v2`.
    pub fn major(self) -> &'static str {
        match self {
            Version::V2_1 => "v2",
        }
    }

    /// The header's `version`.
    pub fn full(self) -> &'static str {
        match self {
            Version::V2_1 => "2.1.0",
        }
    }

    /// The interface name the text suggests, the configuration's default.
    pub fn default_interface(self) -> &'static str {
        match self {
            Version::V2_1 => "uagv",
        }
    }

    /// Whether an incoming header's `version` is one this profile understands: the same major
    /// version (`2.0.0`, `2.1.0`, `2.1`), since minor versions only add optional fields.
    pub fn understands(self, version: &str) -> bool {
        let major = version.split('.').next().unwrap_or("");
        match self {
            Version::V2_1 => major == "2",
        }
    }

    pub fn connection_word(self, state: ConnectionState) -> &'static str {
        match (self, state) {
            (Version::V2_1, ConnectionState::Online) => "ONLINE",
            (Version::V2_1, ConnectionState::Offline) => "OFFLINE",
            (Version::V2_1, ConnectionState::Broken) => "CONNECTIONBROKEN",
        }
    }

    /// `errors[].errorType`. 2.1 names four (`orderError`, `orderUpdateError`,
    /// `validationError`, `noOrderToCancel`); the others are the bridge's, in the same style.
    pub fn error_type(self, kind: ErrorKind) -> &'static str {
        match (self, kind) {
            (Version::V2_1, ErrorKind::Validation) => "validationError",
            (Version::V2_1, ErrorKind::Order) => "orderError",
            (Version::V2_1, ErrorKind::OrderUpdate) => "orderUpdateError",
            (Version::V2_1, ErrorKind::NoOrderToCancel) => "noOrderToCancel",
            (Version::V2_1, ErrorKind::InstantAction) => "instantActionError",
            (Version::V2_1, ErrorKind::Navigation) => "navigationError",
            (Version::V2_1, ErrorKind::BatteryUnknown) => "batteryStateUnknown",
        }
    }

    /// Where the official JSON Schemas of this version are, relative to the package (the
    /// repository root, or `share/amr_mqtt_bridge/` once installed).
    pub fn schema_dir(self) -> &'static str {
        match self {
            Version::V2_1 => "schemas/vda5050/2.1.0",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_is_2_1() {
        let v = Version::from_major("v2").expect("v2");
        assert_eq!(
            (v.major(), v.full(), v.default_interface()),
            ("v2", "2.1.0", "uagv")
        );
        assert_eq!(Version::from_major("v3"), None);
        assert_eq!(Version::from_major("2"), None);
        assert!(v.understands("2.0.0") && v.understands("2.1.0") && v.understands("2"));
        assert!(!v.understands("1.1.0") && !v.understands("3.0.0") && !v.understands(""));
        assert_eq!(
            v.connection_word(ConnectionState::Broken),
            "CONNECTIONBROKEN"
        );
        assert_eq!(v.error_type(ErrorKind::OrderUpdate), "orderUpdateError");
    }
}
