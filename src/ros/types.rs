//! The ROS context of the generic mappings (`crate::dyntype::Runtime`): r2r 0.9 can only
//! subscribe and publish the types it was built with, so the generic mappings have a context
//! and a node of their own. Started only when a generic mapping exists (it costs a second DDS
//! participant, about 4 MB and 9 threads). Its node is named after the bridge's
//! (`<name>_types`), in the bridge's namespace, and gets the process's `--ros-args`, so that
//! remapping applies to its topics as to the bridge's node; but never a `__node` rename, which
//! would give both nodes the same name (a rename for the bridge's node by name is its too).

use r2r::Node;

use super::RosError;
use crate::config::{ConverterKind, Mapping};
use crate::dyntype::{Runtime, RuntimeOptions};

/// The runtime, if a mapping needs one.
pub fn start(node: &Node, mappings: &[Mapping]) -> Result<Option<Runtime>, RosError> {
    if !mappings
        .iter()
        .any(|m| m.converter == ConverterKind::Generic)
    {
        return Ok(None);
    }
    let bridge = node.name()?;
    let node_name = node_name(&bridge);
    let options = RuntimeOptions {
        args: runtime_args(std::env::args(), &bridge, &node_name),
        namespace: node.namespace()?,
        node_name,
    };
    Ok(Some(Runtime::start(options)?))
}

/// The runtime's node name for a bridge node named `bridge`.
pub fn node_name(bridge: &str) -> String {
    format!("{bridge}_types")
}

/// The process's arguments for the runtime's node `ours`: the same `--ros-args`, without a
/// rename of the node (`__node:=`, `__name:=`, for any node), and with the rules given to the
/// bridge's node by name (`bridge:from:=to`) given to `ours` too.
fn runtime_args(args: impl IntoIterator<Item = String>, bridge: &str, ours: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut ros = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--ros-args" => ros = true,
            "--" => ros = false,
            "-r" | "--remap" if ros => {
                let Some(rule) = it.next() else {
                    out.push(a);
                    break;
                };
                let (target, body) = match rule.split_once(':') {
                    Some((node, body)) if !node.is_empty() && !body.starts_with('=') => {
                        (Some(node), body)
                    }
                    _ => (None, rule.as_str()),
                };
                if body.starts_with("__node:=") || body.starts_with("__name:=") {
                    continue;
                }
                let rule = match target {
                    Some(node) if node == bridge => format!("{ours}:{body}"),
                    _ => rule.clone(),
                };
                out.extend([a, rule]);
                continue;
            }
            _ => {}
        }
        out.push(a);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &str) -> Vec<String> {
        runtime_args(a.split(' ').map(String::from), "bridge", "bridge_types")
    }

    #[test]
    fn the_node_is_never_renamed_and_keeps_the_bridges_remapping() {
        assert_eq!(
            args("bin --ros-args -r __node:=bridge -r __ns:=/r1 -r odom:=/wheel/odom"),
            args("bin --ros-args -r __ns:=/r1 -r odom:=/wheel/odom")
        );
        assert_eq!(
            args("bin --ros-args --remap bridge:__node:=x -r other:__name:=y -p a:=1"),
            args("bin --ros-args -p a:=1")
        );
        assert_eq!(
            args("bin --ros-args -r bridge:scan:=/front/scan -r other:imu:=/x"),
            args("bin --ros-args -r bridge_types:scan:=/front/scan -r other:imu:=/x")
        );
        assert_eq!(
            args("bin -r __node:=app -- --ros-args -r __node:=z"),
            args("bin -r __node:=app -- --ros-args"),
            "outside --ros-args, arguments are the program's"
        );
        assert_eq!(node_name("amr_mqtt_bridge"), "amr_mqtt_bridge_types");
    }
}
