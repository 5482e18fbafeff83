//! A VDA 5050 master control of the tests' own: `mosquitto_sub` on one vehicle's topics, every
//! message it receives checked against the official 2.1 schemas and the text's stricter rules
//! (`schema::check_published`, Python jsonschema), and `mosquitto_pub` sending `order` and
//! `instantActions` with a header of its own (`headerId` +1 per topic), each valid under its
//! official schema unless a test sends bytes on purpose.

use super::mqtt::{mqtt_pub_bytes, MqttMsg, MqttSub};
use super::schema::{check_published, validate};
use super::time::now_rfc3339;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

pub const MANUFACTURER: &str = "KIT";

/// The `vda5050:` block of a test bridge: enabled, manufacturer `KIT`, a factsheet, and the
/// keys of `more` (each line indented by two spaces).
pub fn vda_config(more: &str) -> String {
    format!(
        "vda5050:\n  enabled: true\n  manufacturer: {MANUFACTURER}\n{more}  factsheet:\n    \
         type_specification: {{series_name: AMR-1, agv_kinematic: DIFF, agv_class: CARRIER, \
         max_load_mass: 50, localization_types: [NATURAL], navigation_types: [AUTONOMOUS]}}\n    \
         physical_parameters: {{speed_min: 0.05, speed_max: 1.0, acceleration_max: 0.5, \
         deceleration_max: 1.0, height_max: 0.4, width: 0.6, length: 0.8}}\n"
    )
}

/// An instant action (or a node's) as master control writes it.
pub fn action(action_type: &str, id: &str) -> Value {
    json!({"actionType": action_type, "actionId": id, "blockingType": "HARD"})
}

/// The body of an order along `nodes` on the map `map`, every node and edge released.
pub fn order_body(order_id: &str, nodes: &[&str]) -> Value {
    let node = |(i, id): (usize, &&str)| {
        json!({"nodeId": id, "sequenceId": 2 * i, "released": true,
               "nodePosition": {"x": i as f64, "y": 0.0, "mapId": "map"}, "actions": []})
    };
    let edge = |i: usize| {
        json!({"edgeId": format!("e{i}"), "sequenceId": 2 * i + 1, "released": true,
               "startNodeId": nodes[i], "endNodeId": nodes[i + 1], "actions": []})
    };
    json!({"orderId": order_id, "orderUpdateId": 0,
           "nodes": nodes.iter().enumerate().map(node).collect::<Vec<_>>(),
           "edges": (0..nodes.len().saturating_sub(1)).map(edge).collect::<Vec<_>>()})
}

/// Master control of one vehicle (`uagv/v2/KIT/<serial>`).
pub struct MasterControl {
    /// Everything on the vehicle's topics (master control's own messages too).
    pub sub: MqttSub,
    port: u16,
    serial: String,
    /// `headerId` of the last `order` and `instantActions` sent.
    sent: [u32; 2],
    /// Messages of `sub.got` checked so far.
    checked: usize,
    /// Per topic, where in `sub.got` the next `wait` starts: after the last message it gave.
    cursor: HashMap<String, usize>,
}

impl MasterControl {
    /// Subscribed to `uagv/v2/KIT/<serial>/#` on the broker at `port`.
    pub fn start(port: u16, serial: &str) -> MasterControl {
        let prefix = format!("uagv/v2/{MANUFACTURER}/{serial}");
        MasterControl {
            sub: MqttSub::start(port, &format!("{prefix}/#")),
            port,
            serial: serial.to_owned(),
            sent: [0, 0],
            checked: 0,
            cursor: HashMap::new(),
        }
    }

    /// `uagv/v2/KIT/<serial>/<name>`.
    pub fn topic(&self, name: &str) -> String {
        format!("uagv/v2/{MANUFACTURER}/{}/{name}", self.serial)
    }

    /// A header for the next message on `order` (0) or `instantActions` (1).
    fn header(&mut self, which: usize) -> Value {
        self.sent[which] += 1;
        json!({"headerId": self.sent[which], "timestamp": now_rfc3339(), "version": "2.1.0",
               "manufacturer": MANUFACTURER, "serialNumber": self.serial})
    }

    /// `instantActions` with these actions, valid under the official schema; its headerId.
    pub fn instant_actions(&mut self, actions: Value) -> u32 {
        let mut m = self.header(1);
        m["actions"] = actions;
        self.send_valid("instantActions", &m);
        self.sent[1]
    }

    /// An `order` with this body (orderId, orderUpdateId, nodes, edges), valid under the
    /// official schema; the text sent.
    pub fn order(&mut self, body: Value) -> String {
        let mut m = self.header(0);
        if let (Some(m), Value::Object(b)) = (m.as_object_mut(), body) {
            m.extend(b);
        }
        self.send_valid("order", &m)
    }

    fn send_valid(&self, name: &str, m: &Value) -> String {
        let text = m.to_string();
        if let Err(e) = validate(&format!("vda5050/2.1.0/{name}"), &text) {
            panic!("the official {name} schema refuses what master control sends: {e}\n{text}");
        }
        self.send_bytes(name, text.as_bytes());
        text
    }

    /// Exactly these bytes on `<name>` (any size, anything), QoS 0 as the text says.
    pub fn send_bytes(&self, name: &str, bytes: &[u8]) {
        mqtt_pub_bytes(self.port, &self.topic(name), bytes, 0, false);
    }

    /// Checks every message received since the last check (panics on the first invalid).
    pub fn check(&mut self) {
        for m in &self.sub.got[self.checked..] {
            check_published(&m.topic, &m.payload);
        }
        self.checked = self.sub.got.len();
    }

    /// The next message on `<name>` (after the last one `wait` gave, whenever it came) within
    /// `timeout` whose JSON satisfies `pred`; every message read on the way is checked.
    pub fn wait(
        &mut self,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&MqttMsg, &Value) -> bool,
    ) -> Option<(MqttMsg, Value)> {
        let topic = self.topic(name);
        let json = |m: &MqttMsg| serde_json::from_str::<Value>(&m.payload).ok();
        let fits = |m: &MqttMsg| m.topic == topic && json(m).is_some_and(|v| pred(m, &v));
        let from = self.cursor.get(&topic).copied().unwrap_or(0);
        let here = self.sub.got[from..].iter().position(&fits);
        let at = match here {
            Some(i) => Some(from + i),
            None => {
                let found = self.sub.wait_for(&topic, timeout, fits);
                found.map(|_| self.sub.got.len() - 1)
            }
        };
        self.check();
        let at = at?;
        self.cursor.insert(topic, at + 1);
        let m = self.sub.got[at].clone();
        let v = json(&m)?;
        Some((m, v))
    }

    /// `wait` 10 s, or a panic naming `what` with the last messages.
    pub fn expect(
        &mut self,
        name: &str,
        what: &str,
        pred: impl Fn(&MqttMsg, &Value) -> bool,
    ) -> (MqttMsg, Value) {
        match self.wait(name, Duration::from_secs(10), pred) {
            Some(found) => found,
            None => panic!(
                "master control got no {name} ({what}) within 10 s; got:\n{}",
                self.sub.recent(12)
            ),
        }
    }

    /// The next `state` that satisfies `pred`.
    pub fn state(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect("state", what, |_, v| pred(v)).1
    }

    /// Every message on `<name>` arriving within `d`, checked, as JSON with its arrival.
    pub fn collect(&mut self, name: &str, d: Duration) -> Vec<(MqttMsg, Value)> {
        let topic = self.topic(name);
        let got = self.sub.collect(&topic, d);
        self.cursor.insert(topic, self.sub.got.len());
        self.check();
        got.into_iter()
            .filter_map(|m| {
                let v = serde_json::from_str(&m.payload).ok()?;
                Some((m, v))
            })
            .collect()
    }

    /// Every message on `<name>` received so far, as JSON.
    pub fn all(&self, name: &str) -> Vec<Value> {
        let topic = self.topic(name);
        (self.sub.got.iter())
            .filter(|m| m.topic == topic)
            .filter_map(|m| serde_json::from_str(&m.payload).ok())
            .collect()
    }
}

/// `actionStatus` of `action_id` in a state.
pub fn action_status(state: &Value, action_id: &str) -> Option<String> {
    let states = state["actionStates"].as_array()?;
    let this = states.iter().find(|a| a["actionId"] == action_id)?;
    this["actionStatus"].as_str().map(str::to_owned)
}

/// The errors of a state with this `errorType`.
pub fn errors_of<'a>(state: &'a Value, error_type: &str) -> Vec<&'a Value> {
    let errors = state["errors"].as_array().into_iter().flatten();
    errors.filter(|e| e["errorType"] == error_type).collect()
}

/// `nav_msgs/Odometry` as the rclpy peer takes it: a pose (yaw about z) and a twist.
pub fn odometry(x: f64, y: f64, yaw: f64, vx: f64, vy: f64, omega: f64) -> Value {
    json!({"header": {"frame_id": "odom"}, "child_frame_id": "base_link",
           "pose": {"pose": {"position": {"x": x, "y": y, "z": 0.0},
                             "orientation": {"x": 0.0, "y": 0.0, "z": (yaw / 2.0).sin(), "w": (yaw / 2.0).cos()}}},
           "twist": {"twist": {"linear": {"x": vx, "y": vy, "z": 0.0},
                               "angular": {"x": 0.0, "y": 0.0, "z": omega}}}})
}
