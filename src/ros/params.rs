//! The node's own parameters (`--ros-args -p name:=value` or a params file), read into the
//! [`Overrides`] that the settings apply over the configuration file. An empty string counts
//! as unset, so that a launch file can pass every argument and leave the file's value in force.

use r2r::{Node, ParameterValue};

use crate::config::{ConfigError, Overrides};

pub fn read(node: &Node) -> Result<Overrides, ConfigError> {
    let params = node.params.lock().unwrap_or_else(|p| p.into_inner());
    overrides(|name| params.get(name).map(|p| p.value.clone()))
}

/// The overrides from the parameters' values (`get`: a parameter's value, if it has one); also
/// what `--check-config` applies to its `-p name:=value` arguments.
pub fn overrides(get: impl Fn(&str) -> Option<ParameterValue>) -> Result<Overrides, ConfigError> {
    let bad = |name: &str, message: String| ConfigError::Parameter {
        name: name.into(),
        message,
    };
    let text = |name: &str| -> Result<Option<String>, ConfigError> {
        match get(name).as_ref() {
            None | Some(ParameterValue::NotSet) => Ok(None),
            Some(ParameterValue::String(s)) if s.trim().is_empty() => Ok(None),
            Some(ParameterValue::String(s)) => Ok(Some(s.clone())),
            // `-p robot_id:=7` arrives as an integer; an id is text.
            Some(ParameterValue::Integer(i)) if name == "robot_id" => Ok(Some(i.to_string())),
            Some(other) => Err(bad(name, format!("must be a string, got {other:?}"))),
        }
    };
    let port = match get("port").as_ref() {
        None | Some(ParameterValue::NotSet) | Some(ParameterValue::Integer(0)) => None,
        Some(ParameterValue::Integer(i)) => {
            Some(u16::try_from(*i).map_err(|_| bad("port", format!("{i} is not a TCP port")))?)
        }
        Some(ParameterValue::String(s)) if s.trim().is_empty() => None,
        Some(ParameterValue::String(s)) => Some(
            s.trim()
                .parse()
                .map_err(|_| bad("port", format!("{s:?} is not a TCP port")))?,
        ),
        Some(other) => return Err(bad("port", format!("must be an integer, got {other:?}"))),
    };
    Ok(Overrides {
        config_file: text("config_file")?,
        robot_id: text("robot_id")?,
        broker: text("broker")?,
        port,
    })
}
