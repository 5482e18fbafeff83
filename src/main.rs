//! `amr_mqtt_bridge --ros-args -p config_file:=<yaml> -p robot_id:=<id> [-r __ns:=/robot1]`
//! (and, without a node, `--version`, `--check-config FILE ...`, `--write-schemas DIR`: `cli`).
//!
//! Exit codes: 0 on SIGINT/SIGTERM, 1 on a runtime failure, 2 on a configuration error (the
//! file and the key, a parameter, the robot id, a mapping of a type that is not installed,
//! an offline store that another bridge holds), 70 when the node panicked (after a zero
//! Twist).

use std::process::ExitCode;

use amr_mqtt_bridge::app::{self, AppError};
use amr_mqtt_bridge::cli::{self, Command};
use amr_mqtt_bridge::config::{ros_names::NODE_NAME, ConfigError, Settings};
use amr_mqtt_bridge::mqtt::MqttError;
use amr_mqtt_bridge::{logging, ros};

/// Why the node stopped, as an exit code.
enum Failure {
    Config(ConfigError),
    Runtime(AppError),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match cli::parse(&args) {
        Ok(Command::Run) => {}
        Ok(command) => return cli::execute(command),
        Err(usage) => return cli::fail(2, &usage.to_string()),
    }
    app::exit_on_panic();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, text) = match failure {
                Failure::Config(e) => (2, e.to_string()),
                // A mapping the middleware refuses (a topic name it cannot take) or of a type
                // that is not installed is the configuration's fault too.
                Failure::Runtime(
                    e @ (AppError::Config(_) | AppError::Ros(ros::RosError::Mapping { .. })),
                ) => (2, e.to_string()),
                // So is an offline store that another bridge holds (or another robot's).
                Failure::Runtime(e @ AppError::Mqtt(MqttError::Store(_))) => (2, e.to_string()),
                Failure::Runtime(e) => (1, format!("{:#}", anyhow::Error::from(e))),
            };
            // Through ROS logging when it is up, else straight to stderr.
            if logging::active() {
                log::error!("{text}");
                ExitCode::from(code)
            } else {
                cli::fail(code, &text)
            }
        }
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let rt = |e: r2r::Error| Failure::Runtime(AppError::from(e));
    check_domain_id().map_err(Failure::Config)?;
    let ctx = r2r::Context::create().map_err(rt)?;
    let node = r2r::Node::create(ctx, NODE_NAME, "").map_err(rt)?;
    let level = logging::level_from_args(args).unwrap_or(log::LevelFilter::Info);
    logging::init(node.logger(), level);
    let overrides = ros::params::read(&node).map_err(Failure::Config)?;
    let namespace = node.namespace().map_err(rt)?;
    let settings = Settings::load(&overrides, &namespace).map_err(Failure::Config)?;
    log::info!(
        "robot {} from {}; broker {}:{}; {} mapping(s)",
        settings.tree.robot_id(),
        settings.file,
        settings.broker.host,
        settings.broker.port,
        settings.mappings.len()
    );
    let running = app::start(node, settings, shutdown_signal()).map_err(Failure::Runtime)?;
    running.wait().map_err(Failure::Runtime)
}

/// r2r panics on a `ROS_DOMAIN_ID` that rcl cannot read: say so as a configuration error.
fn check_domain_id() -> Result<(), ConfigError> {
    let Ok(v) = std::env::var("ROS_DOMAIN_ID") else {
        return Ok(());
    };
    match v.trim() {
        "" => Ok(()),
        d if d.parse::<u32>().is_ok_and(|d| d <= 232) => Ok(()),
        _ => Err(ConfigError::Parameter {
            name: "ROS_DOMAIN_ID (environment)".into(),
            message: format!("{v:?} is not a ROS domain id (0-232)"),
        }),
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
