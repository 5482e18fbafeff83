//! Why a fleet message was refused: one vocabulary for every check (the strict reader, the
//! timestamp window, the command grammar, the core's state), whose text is the outcome's
//! `reason` and the generic mappings' alert.

/// Why a command was refused. The `Display` text is the outcome's `reason`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("payload is {size} bytes, more than the limit of {max} (commands.max_payload)")]
    TooLarge { size: usize, max: usize },
    #[error("payload is not valid UTF-8 (bad byte at offset {at})")]
    NotUtf8 { at: usize },
    #[error("payload nests deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("payload is not valid JSON: {0}")]
    NotJson(String),
    #[error("payload must be a JSON object, got {0}")]
    NotObject(&'static str),
    #[error("unknown command topic `{0}`: expected move, stop or emergency")]
    UnknownTopic(String),
    #[error("retained messages are not obeyed as commands")]
    Retained,
    #[error("unknown field `{0}`")]
    UnknownField(String),
    #[error("{field} is missing{why}")]
    Missing { field: String, why: &'static str },
    #[error("{field} must be {expected}, got {got}")]
    Invalid {
        field: String,
        expected: &'static str,
        got: String,
    },
    #[error("unknown command {got} on `{topic}`: expected {expected}")]
    UnknownCommand {
        topic: &'static str,
        got: String,
        expected: &'static str,
    },
    #[error("timestamp is {age:.3} s old, more than max_age {max} s")]
    Stale { age: f64, max: f64 },
    #[error("timestamp is {ahead:.3} s in the future, more than max_future {max} s")]
    Future { ahead: f64, max: f64 },
    #[error("{field} {value} {unit} is more than {limit} {max} {unit}")]
    TooFar {
        field: &'static str,
        value: f64,
        unit: &'static str,
        limit: &'static str,
        max: f64,
    },
    #[error("parameters.speed is too low: the motion would take about {seconds:.0} s, more than {max} s")]
    TooSlow { seconds: f64, max: f64 },
    #[error("duplicate id `{0}`: a command with this id was already executed")]
    DuplicateId(String),
    #[error("emergency stop engaged")]
    EmergencyEngaged,
    #[error("paused by VDA 5050 master control (startPause; stopPause resumes)")]
    Paused,
    #[error("commands are disabled (commands.enabled is false)")]
    Disabled,
    #[error(
        "the bridge is busy: {waiting} commands already wait to be handled (bridge.inbound_queue)"
    )]
    Busy { waiting: usize },
}
