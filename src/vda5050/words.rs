//! The protocol's closed vocabularies (VDA 5050 2.1 spelling) that the configuration names and
//! the messages carry, and the kinds of error the vehicle reports (their `errorType` words
//! are the version's). Words that 3.0 spells differently are listed in [`super::version`].

use serde::{Deserialize, Serialize};

/// `state.operatingMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum OperatingMode {
    /// Master control is in full control.
    #[default]
    Automatic,
    /// Master control is in control; the speed comes from the vehicle's HMI.
    Semiautomatic,
    /// Master control is not in control: entering or leaving clears the order.
    Manual,
    Service,
    Teachin,
}

impl OperatingMode {
    /// Whether master control may drive the vehicle: orders are refused otherwise.
    pub fn master_in_control(self) -> bool {
        matches!(
            self,
            OperatingMode::Automatic | OperatingMode::Semiautomatic
        )
    }

    /// The protocol's word, `AUTOMATIC`.
    pub fn word(self) -> &'static str {
        match self {
            OperatingMode::Automatic => "AUTOMATIC",
            OperatingMode::Semiautomatic => "SEMIAUTOMATIC",
            OperatingMode::Manual => "MANUAL",
            OperatingMode::Service => "SERVICE",
            OperatingMode::Teachin => "TEACHIN",
        }
    }

    /// Parses the word a ROS topic carries (`AUTOMATIC`, ...), surrounding blanks ignored.
    pub fn from_word(word: &str) -> Option<OperatingMode> {
        serde_json::from_value(serde_json::Value::String(word.trim().to_owned())).ok()
    }
}

/// `safetyState.eStop`: how an engaged e-stop is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EstopType {
    Autoack,
    Manual,
    Remote,
    None,
}

/// `actionStates[].actionStatus` (the 2.1 schema's enum: the text's PAUSED is not in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionStatus {
    Waiting,
    Initializing,
    Running,
    Finished,
    Failed,
}

impl ActionStatus {
    /// FINISHED and FAILED never change again.
    pub fn is_final(self) -> bool {
        matches!(self, ActionStatus::Finished | ActionStatus::Failed)
    }
}

/// `action.blockingType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BlockingType {
    None,
    Soft,
    Hard,
}

/// `errors[].errorLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ErrorLevel {
    Warning,
    Fatal,
}

/// What went wrong (`state.errors`); [`super::version::Version::error_type`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A malformed message: not JSON, not the schema, too big, for another vehicle, stale.
    Validation,
    /// A well-formed order the vehicle cannot execute.
    Order,
    /// An order update that does not fit the current order.
    OrderUpdate,
    /// `cancelOrder` without an order.
    NoOrderToCancel,
    /// An instant action the bridge does not support, or cannot carry out as sent.
    InstantAction,
    /// The robot's navigation reported progress that does not fit the order.
    Navigation,
    /// No battery charge is known: `batteryCharge` 0 stands in for it.
    BatteryUnknown,
}

/// `factsheet.typeSpecification.agvKinematic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AgvKinematic {
    Diff,
    Omni,
    Threewheel,
}

/// `factsheet.typeSpecification.agvClass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AgvClass {
    Forklift,
    Conveyor,
    Tugger,
    Carrier,
}

/// `factsheet.typeSpecification.localizationTypes[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LocalizationType {
    Natural,
    Reflector,
    Rfid,
    Dmc,
    Spot,
    Grid,
}

/// `factsheet.typeSpecification.navigationTypes[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NavigationType {
    PhysicalLineGuided,
    VirtualLineGuided,
    Autonomous,
}

/// The optional fields of an order (the text's italic ones) that change what the vehicle
/// does, by their factsheet name. An order that uses one the robot's navigation does not
/// support (`vda5050.navigation.optional_parameters`) is refused: the text forbids ignoring
/// them. Descriptions are not listed: they only inform.
pub const ORDER_OPTIONAL_PARAMETERS: [&str; 19] = [
    "order.zoneSetId",
    "order.nodes.nodePosition",
    "order.nodes.nodePosition.theta",
    "order.nodes.nodePosition.allowedDeviationXY",
    "order.nodes.nodePosition.allowedDeviationTheta",
    "order.nodes.actions.actionParameters",
    "order.edges.maxSpeed",
    "order.edges.maxHeight",
    "order.edges.minHeight",
    "order.edges.orientation",
    "order.edges.orientationType",
    "order.edges.direction",
    "order.edges.rotationAllowed",
    "order.edges.maxRotationSpeed",
    "order.edges.length",
    "order.edges.trajectory",
    "order.edges.corridor",
    "order.edges.corridor.corridorRefPoint",
    "order.edges.actions.actionParameters",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn word<T: Serialize>(v: T) -> String {
        serde_json::to_string(&v).unwrap_or_default()
    }

    #[test]
    fn words_are_the_protocols() {
        assert_eq!(word(OperatingMode::Semiautomatic), "\"SEMIAUTOMATIC\"");
        assert_eq!(word(EstopType::Autoack), "\"AUTOACK\"");
        assert_eq!(
            word(NavigationType::PhysicalLineGuided),
            "\"PHYSICAL_LINE_GUIDED\""
        );
        assert_eq!(word(AgvKinematic::Threewheel), "\"THREEWHEEL\"");
        assert_eq!(word(ActionStatus::Initializing), "\"INITIALIZING\"");
        assert_eq!(
            OperatingMode::from_word(" MANUAL\n"),
            Some(OperatingMode::Manual)
        );
        for m in [OperatingMode::Automatic, OperatingMode::Teachin] {
            assert_eq!(word(m), format!("\"{}\"", m.word()));
        }
        assert_eq!(OperatingMode::from_word("manual"), None);
        assert!(!OperatingMode::Service.master_in_control());
        assert!(OperatingMode::Semiautomatic.master_in_control());
    }
}
