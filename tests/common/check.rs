//! Comparisons of the JSON the bridge sends with values computed by the test, and its
//! counters.

use serde_json::Value;
use std::collections::BTreeSet;

/// The keys of a JSON object.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// A set of keys, to compare with `keys`.
pub fn set(k: &[&str]) -> BTreeSet<String> {
    k.iter().map(|s| s.to_string()).collect()
}

/// A JSON number, or a panic naming `what`.
pub fn number(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

/// A number within `tol` of `want`.
pub fn close(v: &Value, want: f64, tol: f64, what: &str) {
    let got = number(v, what);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (±{tol})"
    );
}

/// The envelope of every status and sensor message: exactly `timestamp`, `robot_id`, `type`
/// and `data`, from `robot`, of `kind`. Returns the timestamp.
pub fn check_envelope<'a>(v: &'a Value, robot: &str, kind: &str, what: &str) -> &'a str {
    assert_eq!(
        keys(v),
        set(&["timestamp", "robot_id", "type", "data"]),
        "{what}: {v}"
    );
    assert_eq!(v["robot_id"], robot, "{what}");
    assert_eq!(v["type"], kind, "{what}");
    v["timestamp"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: the timestamp is not a string: {v}"))
}

/// A counter of a `status/bridge` report (`MqttSub::bridge_report`): a top-level one
/// (`reconnects`) or a mapping's (`commands.refused`); 0 when absent.
pub fn counter(report: &Value, path: &str) -> u64 {
    match path.split_once('.') {
        Some((mapping, c)) => report["mappings"][mapping][c].as_u64().unwrap_or(0),
        None => report[path].as_u64().unwrap_or(0),
    }
}
