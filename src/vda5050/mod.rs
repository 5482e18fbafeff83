//! The VDA 5050 2.1 profile: the fleet standard of industrial AMRs, spoken beside the seed's
//! topic tree on `<interface>/<major>/<manufacturer>/<serial>/<topic>` (`uagv/v2/Acme/AMR001/
//! state`). The core is pure logic, without ROS or a broker: [`VdaCore`] is a time-injected
//! state machine like the command core; the wiring below (`connection`, `runner`, `profile`)
//! feeds it and carries out its [`Effects`].
//!
//! - `config`: the `vda5050:` block (off by default), validated key by key.
//! - `version`: everything that differs between protocol versions (2.1 now; 3.0 listed).
//! - `words`: the protocol's enumerations; `topics`: topic names, QoS, retain; `header`:
//!   `headerId` per topic and timestamps.
//! - `msg`: the messages as types; `input`: bytes to messages, strictly, errors naming the
//!   field; `validate`: one order against the text's rules; `order`: the current order and the
//!   rules of order updates; `action_states`, `errors`: the bounded lists of the state;
//!   `instant`: the instant actions the bridge owns.
//! - `core`: the state machine; `presence`: the `connection` topic, which the MQTT link that
//!   carries the profile owns.
//! - The wiring (tokio, the MQTT link): `connection`, the profile's own MQTT connection (a
//!   second `mqtt::link`: a client id and a Will of its own); `runner`, the task that feeds the
//!   core and carries out its effects; `profile`, both assembled at start.
//!
//! # Coverage of VDA 5050 2.1
//! Covered: `connection` (ONLINE, OFFLINE, the CONNECTIONBROKEN Will with a `headerId` that
//! never goes back), `state` (on events and at least every `state_period`; position from
//! odometry with theta in [-pi, pi], `positionInitialized` false when odometry is stale,
//! velocity, battery, e-stop, field violation, operating mode, paused, driving, node, edge and
//! action states, errors with references), `visualization`, `factsheet` (retained at connect and
//! on `factsheetRequest`), `instantActions` startPause, stopPause, cancelOrder, stateRequest,
//! factsheetRequest (every other action FAILED with an error), `order` and order updates
//! validated (ids, sequence ids, base and horizon, stitching, stale and repeated updates, the
//! text's ranges, supported actions and optional fields) and handed to the robot's navigation,
//! whose progress (last node, driving, action states) the state tracks; hostile input refused,
//! counted and reported, never obeyed.
//!
//! Not covered: maps (`maps`, initPosition, enableMap, downloadMap, deleteMap), charging
//! actions, node and edge actions executed by the bridge itself (only by the navigation),
//! blocking types (the navigation's), `loads`, `newBaseRequest`, `distanceSinceLastNode`,
//! `information`, `zoneSetId` beyond echoing it, the first node's reachability (the
//! navigation's), trajectories in the state, `agvGeometry` and `loadSpecification` contents.
//!
//! # Schemas and text
//! `schemas/vda5050/2.1.0/` holds the official schemas; every payload written here validates
//! against them (tests in `tests/schemas.rs` of this module) and against the text where the
//! text is stricter:
//! - `state.agvPosition.theta` has no range in the schema; the text says [-pi, pi] (and 3.0
//!   puts it in the schema): theta is wrapped into it.
//! - `factsheet` does not require `headerId` and `timestamp`, `visualization` requires
//!   nothing; the text gives every message the full header: they always carry it.
//! - `factsheet.protocolFeatures.agvActions[].blockingTypes` is typed `array` with a string
//!   `enum`, which no value satisfies: it is left out.
//! - `connection`'s description names a state `DISCONNECTED` its enum lacks: OFFLINE is sent.
//! - `actionStatus`: the text lists PAUSED, the schema's enum does not: never sent.
//! - `order`: the text types `headerId`, `orderUpdateId` and `sequenceId` uint32 (the schema
//!   any integer), `orientationType` as GLOBAL or TANGENTIAL (the schema any string),
//!   `allowedDeviationTheta` in [0, pi] (the schema [-pi, pi]), and the knot vector's length;
//!   the bridge follows the text. The schema refers to `#/definitions/action`, the older
//!   keyword.
//! - `batteryState.batteryCharge` is required: while no charge is known the bridge writes 0
//!   with an active `batteryStateUnknown` warning rather than leave the message invalid.

pub mod action_states;
pub mod config;
pub mod connection;
pub mod core;
pub mod errors;
pub mod header;
pub mod input;
pub mod instant;
pub mod msg;
pub mod order;
pub mod presence;
pub mod profile;
pub mod runner;
pub mod topics;
pub mod validate;
pub mod version;
pub mod words;

#[cfg(test)]
mod tests;

pub use self::core::{
    Battery, Counters, Effects, Estop, Gate, NavMessage, NavTopic, Odometry, VdaCore,
};
pub use config::VdaConfig;
pub use presence::Presence;
pub use topics::{Incoming, Outgoing, Publish, Topics};
pub use version::Version;
