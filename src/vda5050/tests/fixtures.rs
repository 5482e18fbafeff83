//! A core on a test clock, master control's messages as JSON, and readers of what it writes.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::envelope::parse_rfc3339;
use crate::vda5050::config::{FactsheetConfig, NavigationConfig, VdaConfig};
use crate::vda5050::{Effects, Incoming, Outgoing, Publish, VdaCore};

pub const ROBOT: &str = "AMR001";

/// An enabled profile with a navigation that executes `pick` and `drop`.
pub fn config() -> VdaConfig {
    let factsheet: FactsheetConfig = serde_yaml_ng::from_str(
        "type_specification: {series_name: AMR-1, agv_kinematic: DIFF, agv_class: CARRIER, \
         max_load_mass: 50, localization_types: [NATURAL], navigation_types: [AUTONOMOUS]}\n\
         physical_parameters: {speed_min: 0.05, speed_max: 1.0, acceleration_max: 0.5, \
         deceleration_max: 1.0, height_max: 0.4, width: 0.6, length: 0.8}",
    )
    .expect("factsheet");
    let navigation: NavigationConfig =
        serde_yaml_ng::from_str("actions: [pick, drop]").expect("navigation");
    VdaConfig {
        enabled: true,
        manufacturer: "KIT".into(),
        map_id: "floor1".into(),
        navigation: Some(navigation),
        factsheet: Some(factsheet),
        ..VdaConfig::default()
    }
}

/// The core, its clock and master control's header counter.
pub struct Rig {
    pub core: VdaCore,
    pub now: Instant,
    pub wall: DateTime<Utc>,
    header_id: u32,
}

impl Rig {
    /// Connected (ONLINE, factsheet and the first state already taken).
    pub fn new() -> Rig {
        Rig::with(config())
    }

    pub fn with(cfg: VdaConfig) -> Rig {
        let mut rig = Rig::offline(cfg);
        let (now, wall) = (rig.now, rig.wall);
        rig.core.on_connected(now, wall);
        rig
    }

    pub fn offline(cfg: VdaConfig) -> Rig {
        Rig {
            core: VdaCore::new(&cfg, ROBOT).expect("core"),
            now: Instant::now(),
            wall: parse_rfc3339("2024-05-01T12:00:00Z").expect("wall"),
            header_id: 0,
        }
    }

    /// Time passes (nothing is called).
    pub fn pass(&mut self, seconds: f64) {
        let d = Duration::from_secs_f64(seconds);
        self.now += d;
        self.wall += chrono::Duration::from_std(d).expect("duration");
    }

    /// Time passes and the core ticks.
    pub fn tick(&mut self, seconds: f64) -> Effects {
        self.pass(seconds);
        self.core.tick(self.now, self.wall)
    }

    /// The header master control writes, stamped now.
    pub fn header(&mut self) -> Value {
        self.header_id += 1;
        json!({"headerId": self.header_id, "timestamp": crate::vda5050::header::timestamp(self.wall),
               "version": "2.1.0", "manufacturer": "KIT", "serialNumber": ROBOT})
    }

    pub fn order(&mut self, body: Value) -> Effects {
        let msg = merge(self.header(), body);
        self.order_bytes(msg.to_string().as_bytes())
    }

    pub fn order_bytes(&mut self, bytes: &[u8]) -> Effects {
        self.core
            .on_message(Incoming::Order, bytes, false, self.now, self.wall)
    }

    pub fn instant(&mut self, actions: Value) -> Effects {
        let msg = merge(self.header(), json!({ "actions": actions }));
        self.instant_bytes(msg.to_string().as_bytes())
    }

    pub fn instant_bytes(&mut self, bytes: &[u8]) -> Effects {
        self.core
            .on_message(Incoming::InstantActions, bytes, false, self.now, self.wall)
    }

    pub fn progress(&mut self, p: Value) -> Effects {
        self.core
            .on_progress(p.to_string().as_bytes(), self.now, self.wall)
    }

    /// A state now: a stateRequest after the minimum interval.
    pub fn state(&mut self) -> Value {
        self.pass(1.0);
        let fx = self.instant(json!([action(
            "stateRequest",
            &format!("sr{}", self.header_id)
        )]));
        last(&fx, Outgoing::State).expect("a state answers a stateRequest")
    }
}

/// `base` with `more`'s keys.
pub fn merge(mut base: Value, more: Value) -> Value {
    if let (Some(b), Value::Object(m)) = (base.as_object_mut(), more) {
        b.extend(m);
    }
    base
}

pub fn action(action_type: &str, id: &str) -> Value {
    json!({"actionType": action_type, "actionId": id, "blockingType": "HARD"})
}

/// An order along `nodes` (ids), sequence ids from `first_seq`, the first `base` nodes (and
/// the edges between them) released, positions on the map `floor1`.
pub fn path(order_id: &str, update: u32, first_seq: u32, nodes: &[&str], base: usize) -> Value {
    let node = |(i, id): (usize, &&str)| {
        json!({"nodeId": id, "sequenceId": first_seq + 2 * i as u32, "released": i < base,
               "nodePosition": {"x": i as f64, "y": 0.0, "mapId": "floor1"}, "actions": []})
    };
    let edge = |i: usize| {
        json!({"edgeId": format!("e{}", first_seq + 2 * i as u32 + 1),
               "sequenceId": first_seq + 2 * i as u32 + 1, "released": i + 1 < base,
               "startNodeId": nodes[i], "endNodeId": nodes[i + 1], "actions": []})
    };
    json!({"orderId": order_id, "orderUpdateId": update,
           "nodes": nodes.iter().enumerate().map(node).collect::<Vec<_>>(),
           "edges": (0..nodes.len().saturating_sub(1)).map(edge).collect::<Vec<_>>()})
}

/// The state `fx` published (every call that makes an event publishes one).
pub fn state_after(fx: &Effects) -> Value {
    last(fx, Outgoing::State).expect("a state after an event")
}

/// The messages of `kind` in `fx`, as JSON.
pub fn all(fx: &Effects, kind: Outgoing) -> Vec<Value> {
    fx.publish
        .iter()
        .filter(|p| p.kind == kind)
        .map(json_of)
        .collect()
}

pub fn last(fx: &Effects, kind: Outgoing) -> Option<Value> {
    all(fx, kind).pop()
}

pub fn json_of(p: &Publish) -> Value {
    serde_json::from_slice(&p.payload).expect("the core writes JSON")
}

/// The `errorType`s of a state.
pub fn error_types(state: &Value) -> Vec<String> {
    state["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["errorType"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The latest error of `errorType` in a state, if any.
pub fn error<'a>(state: &'a Value, error_type: &str) -> Option<&'a Value> {
    state["errors"]
        .as_array()?
        .iter()
        .rev()
        .find(|e| e["errorType"] == error_type)
}

/// `actionStatus` of `action_id` in a state.
pub fn status(state: &Value, action_id: &str) -> Option<String> {
    state["actionStates"]
        .as_array()?
        .iter()
        .find(|a| a["actionId"] == action_id)
        .and_then(|a| a["actionStatus"].as_str())
        .map(str::to_owned)
}

/// `(nodeId, sequenceId, released)` of the state's nodes.
pub fn nodes(state: &Value) -> Vec<(String, u64, bool)> {
    state["nodeStates"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    let id = n["nodeId"].as_str().unwrap_or("").to_owned();
                    (
                        id,
                        n["sequenceId"].as_u64().unwrap_or(0),
                        n["released"] == true,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `key`/`value` is among an error's references.
pub fn refers(error: &Value, key: &str, value: &str) -> bool {
    error["errorReferences"].as_array().is_some_and(|refs| {
        refs.iter()
            .any(|r| r["referenceKey"] == key && r["referenceValue"] == value)
    })
}
