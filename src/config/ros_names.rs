//! ROS names as the bridge's node resolves them (remapping aside).

/// The node's name, before any `__node:=` remap.
pub const NODE_NAME: &str = "amr_mqtt_bridge";

/// A ROS topic name as the node in `namespace` resolves it (remapping aside): absolute names
/// stay, relative ones go under the namespace, `~/x` under the node.
pub fn resolve_ros_name(name: &str, namespace: &str) -> String {
    let ns = namespace.trim_end_matches('/');
    let name = name.trim_end_matches('/');
    if name.starts_with('/') {
        name.to_owned()
    } else if let Some(rest) = name.strip_prefix('~') {
        format!("{ns}/{NODE_NAME}{rest}")
    } else {
        format!("{ns}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ros_names_resolve_like_rcl() {
        assert_eq!(resolve_ros_name("cmd_vel", "/"), "/cmd_vel");
        assert_eq!(resolve_ros_name("cmd_vel", "/r1"), "/r1/cmd_vel");
        assert_eq!(resolve_ros_name("/cmd_vel", "/r1"), "/cmd_vel");
        assert_eq!(resolve_ros_name("~/x", "/r1"), "/r1/amr_mqtt_bridge/x");
    }
}
