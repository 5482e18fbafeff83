//! Any ROS message type that the build knows, as JSON with the field names of its .msg
//! definition, in both directions (r2r's untyped subscriptions and publishers).
//!
//! From MQTT, the payload is the message's JSON (`{"data": "hello"}` for `std_msgs/String`),
//! or the bridge's own envelope around it (`{"timestamp": .., "data": {..}}`, as the bridge
//! emits for ROS to MQTT), so that a message can make the round trip. Fields left out keep
//! their defaults; an unknown field or a value of the wrong JSON type is refused with its path.

use serde_json::Value;

/// The message's JSON with every field at its default: the shape that input is checked against.
pub fn skeleton(ros_type: &str) -> Result<Value, r2r::Error> {
    r2r::WrappedNativeMsgUntyped::new_from(ros_type)?.to_json()
}

/// Takes the message out of the bridge's envelope, when the payload is one: (the envelope's
/// `timestamp`, the message).
pub fn unwrap_envelope(v: Value) -> (Option<Value>, Value) {
    match v {
        Value::Object(mut map)
            if map.contains_key("timestamp")
                && map.contains_key("data")
                && map
                    .keys()
                    .all(|k| matches!(k.as_str(), "timestamp" | "robot_id" | "type" | "data")) =>
        {
            let data = map.remove("data").unwrap_or(Value::Null);
            (map.remove("timestamp"), data)
        }
        other => (None, other),
    }
}

/// Checks `input` against the message's skeleton; the error names the first wrong field.
pub fn check(input: &Value, skeleton: &Value) -> Result<(), String> {
    if let Some(path) = nul_at(input, "") {
        // A ROS string is a C string: it cannot hold a NUL (r2r would panic on it).
        return Err(format!(
            "`{path}` contains a NUL character, which a ROS string cannot hold"
        ));
    }
    check_at(input, skeleton, &mut String::new())
}

/// The path of the first string that holds a NUL, anywhere (sequences included, whose
/// element type the skeleton does not show).
fn nul_at(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::String(s) if s.contains('\0') => Some(path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_at(x, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, x)| nul_at(x, &join(path, k))),
        _ => None,
    }
}

fn check_at(input: &Value, shape: &Value, path: &mut String) -> Result<(), String> {
    let here = |p: &str| {
        if p.is_empty() {
            "(message)".to_owned()
        } else {
            p.to_owned()
        }
    };
    match (shape, input) {
        (Value::Object(fields), Value::Object(given)) => {
            for (k, v) in given {
                let Some(s) = fields.get(k) else {
                    let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                    return Err(format!(
                        "unknown field `{}`; expected one of: {}",
                        join(path, k),
                        known.join(", ")
                    ));
                };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                check_at(v, s, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Value::Object(_), _) => Err(format!("`{}` must be an object", here(path))),
        (Value::Array(shape_items), Value::Array(items)) => {
            // Fixed-size arrays show their length and element type in the skeleton.
            if !shape_items.is_empty() && items.len() != shape_items.len() {
                return Err(format!(
                    "`{}` must have exactly {} elements, not {}",
                    here(path),
                    shape_items.len(),
                    items.len()
                ));
            }
            if let Some(s) = shape_items.first() {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    check_at(item, s, path)?;
                    path.truncate(len);
                }
            }
            Ok(())
        }
        (Value::Array(_), _) => Err(format!("`{}` must be an array", here(path))),
        (Value::Number(n), Value::Number(m)) => {
            let int_expected = n.is_i64() || n.is_u64();
            if int_expected && !(m.is_i64() || m.is_u64()) {
                return Err(format!("`{}` must be an integer", here(path)));
            }
            Ok(())
        }
        (Value::Number(_), _) => Err(format!("`{}` must be a number", here(path))),
        (Value::String(_), Value::String(_)) => Ok(()),
        (Value::String(_), _) => Err(format!("`{}` must be a string", here(path))),
        (Value::Bool(_), Value::Bool(_)) => Ok(()),
        (Value::Bool(_), _) => Err(format!("`{}` must be true or false", here(path))),
        _ => Ok(()),
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_owned()
    } else {
        format!("{path}.{k}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pose_stamped_shape() {
        let s = skeleton("geometry_msgs/msg/PoseStamped").expect("type known");
        let ok = json!({"header": {"frame_id": "map"}, "pose": {"position": {"x": 1.5, "y": 2}}});
        assert_eq!(check(&ok, &s), Ok(()));
        let e = check(&json!({"pose": {"position": {"x": "far"}}}), &s).unwrap_err();
        assert!(e.contains("pose.position.x"), "{e}");
        let e = check(&json!({"pose": {"positon": {}}}), &s).unwrap_err();
        assert!(e.contains("unknown field `pose.positon`"), "{e}");
        let e = check(&json!({"header": {"stamp": {"sec": 1.5}}}), &s).unwrap_err();
        assert!(
            e.contains("header.stamp.sec") && e.contains("integer"),
            "{e}"
        );
    }

    #[test]
    fn strings_with_nul_are_refused_anywhere() {
        let s = skeleton("std_msgs/msg/String").expect("type known");
        let e = check(&json!({"data": "a\u{0}b"}), &s).unwrap_err();
        assert!(e.contains("`data` contains a NUL"), "{e}");
        let s = skeleton("sensor_msgs/msg/JointState").expect("type known");
        let e = check(&json!({"name": ["ok", "\u{0}"]}), &s).unwrap_err();
        assert!(e.contains("`name[1]` contains a NUL"), "{e}");
        assert_eq!(check(&json!({"name": ["é😀\u{202e}"]}), &s), Ok(()));
    }

    #[test]
    fn envelope_is_unwrapped_but_plain_messages_are_not() {
        let plain = json!({"data": "hello"});
        assert_eq!(unwrap_envelope(plain.clone()), (None, plain));
        let env = json!({"timestamp": "t", "robot_id": "R", "type": "status", "data": {"x": 1}});
        assert_eq!(unwrap_envelope(env), (Some(json!("t")), json!({"x": 1})));
    }

    #[test]
    fn unknown_type_is_an_error() {
        assert!(skeleton("no_such_msgs/msg/Nothing").is_err());
    }
}
