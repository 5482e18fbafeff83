//! Sequence-numbered streams: a publisher that counts in a field of its messages, and what a
//! subscriber got of them (in order, missing, repeated), so that a test proves that nothing
//! was lost rather than that something arrived.

use super::domain::Domain;
use super::mqtt::MqttSub;
use super::proc::Proc;
use super::ros::{ros_type, RosTopic};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Where `status/position` (and `sensor/odom`) carry the odometry's sequence number.
pub const POSITION_X: &str = "/data/position/x";

/// An odometry message at (0, `y`), stamped by the publisher.
pub fn odom_msg(y: f64) -> Value {
    json!({"header": {"frame_id": "odom"}, "child_frame_id": "base_link",
           "pose": {"pose": {"position": {"x": 0.0, "y": y}, "orientation": {"w": 1.0}}}})
}

/// `n` odometry messages at `rate` Hz on `/odom` (reliable), message *i* with x = *i*.
pub fn counted_odometry(domain: &Domain, rate: f64, n: u32) -> Proc {
    counted_odometry_kept(domain, rate, n, 100)
}

/// `counted_odometry` from a publisher whose history keeps the last `depth` messages.
pub fn counted_odometry_kept(domain: &Domain, rate: f64, n: u32, depth: u32) -> Proc {
    let depth = depth.to_string();
    RosTopic::new(domain.id(), ros_type::ODOMETRY, "/odom").publish_args(
        &odom_msg(0.0),
        rate,
        n,
        "reliable",
        &["--counter", "pose.pose.position.x", "--depth", &depth],
    )
}

/// The number at `path` (a JSON pointer) of a payload, if it has one there.
pub fn number_at(payload: &str, path: &str) -> Option<f64> {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v.pointer(path).and_then(Value::as_f64))
}

/// The sequence numbers at `path` of `sub`'s messages on `topic`, in the order they arrived.
pub fn sequence(sub: &MqttSub, topic: &str, path: &str) -> Vec<u64> {
    sub.got
        .iter()
        .filter(|m| m.topic == topic)
        .filter_map(|m| number_at(&m.payload, path))
        .map(|x| x as u64)
        .collect()
}

/// The numbers of 0..`n` that none of `got` has.
pub fn missing(n: u64, got: &[&[u64]]) -> Vec<u64> {
    let have: BTreeSet<u64> = got.iter().flat_map(|s| s.iter().copied()).collect();
    (0..n).filter(|s| !have.contains(s)).collect()
}

/// How many numbers `seq` has more than once.
pub fn repeated(seq: &[u64]) -> usize {
    seq.len() - seq.iter().collect::<BTreeSet<_>>().len()
}

/// `[1, 2, 3, 7]` as "1-3,7", for messages.
pub fn ranges(nums: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut it = nums.iter().peekable();
    while let Some(&a) = it.next() {
        let mut b = a;
        while it.peek().is_some_and(|&&x| x == b + 1) {
            b = it.next().copied().unwrap_or(b);
        }
        out.push(if a == b {
            format!("{a}")
        } else {
            format!("{a}-{b}")
        });
    }
    out.join(",")
}
