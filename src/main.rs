//! `amr_mqtt_bridge --ros-args -p config_file:=<yaml> -p robot_id:=<id> [-r __ns:=/robot1]`
//!
//! Exit codes: 0 on SIGINT/SIGTERM, 1 on a runtime failure, 2 on a configuration error (the
//! file, a key, a parameter, the robot id, or a mapping of a type the build does not know).

use amr_mqtt_bridge::bridge::{self, BridgeError};
use amr_mqtt_bridge::ros_link::RosError;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args
        .iter()
        .take_while(|a| *a != "--ros-args")
        .any(|a| a == "--version")
    {
        println!("amr_mqtt_bridge {}", env!("CARGO_PKG_VERSION"));
        return std::process::ExitCode::SUCCESS;
    }
    // rustls needs one crypto provider for the process; ring is the one built in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match bridge::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let code = match e {
                BridgeError::Config(_) | BridgeError::RobotId { .. } | BridgeError::NoRobotId => 2,
                BridgeError::Ros(RosError::Parameter(..) | RosError::Mapping { .. }) => 2,
                _ => 1,
            };
            // Through ROS logging when it is up, else straight to stderr.
            if amr_mqtt_bridge::logging::active() {
                log::error!("{e}");
            } else {
                eprintln!("amr_mqtt_bridge: error: {}", anyhow::Error::from(e));
            }
            std::process::ExitCode::from(code)
        }
    }
}
