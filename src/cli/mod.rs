//! The command line before `--ros-args`: the node itself takes no arguments of its own (ROS
//! takes everything after `--ros-args`), and these commands run without a node:
//!
//! - `--version`: the version, the ROS 2 distribution and the message packages of the build.
//! - `--check-config FILE [-p robot_id:=ID] [-p broker:=HOST] [-p port:=N] [--namespace /NS]`:
//!   loads and checks a configuration exactly as a start does (the generic mappings' types
//!   found in the environment too), without a broker and without a ROS graph; prints the
//!   effective topics and mappings (`check`). A file without a robot id passes, the id left to
//!   the launch.
//! - `--write-schemas DIR [--config FILE ...]`: writes the JSON Schemas of every payload
//!   (`crate::schema`); with a configuration (its arguments as `--check-config`'s), also one
//!   per generic mapping (`mapping_<name>.schema.json`).
//! - `--schema-for pkg/msg/Type`: prints the schema of a generic mapping's payload of that
//!   type, found in the environment.

pub mod check;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::dyntype::{Octets, Registry};
use crate::logging::printable;
use crate::schema::{self, Payload};

pub const USAGE: &str = "usage: amr_mqtt_bridge [--ros-args -p config_file:=FILE -p robot_id:=ID ...]
       amr_mqtt_bridge --check-config FILE [-p robot_id:=ID] [-p broker:=HOST] [-p port:=N] [--namespace /NS]
       amr_mqtt_bridge --version
       amr_mqtt_bridge --write-schemas DIR [--config FILE [-p robot_id:=ID] [--namespace /NS]]
       amr_mqtt_bridge --schema-for pkg/msg/Type";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Start the node.
    Run,
    Version,
    CheckConfig(check::Request),
    /// The directory, and the configuration whose generic mappings get schemas too.
    WriteSchemas(PathBuf, Option<check::Request>),
    SchemaFor(String),
}

/// A command line that asks for nothing this program does.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{0}\n{USAGE}")]
pub struct UsageError(pub String);

/// Reads `args` (with the program name first). Everything from `--ros-args` on is ROS's.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let own: Vec<&str> = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--ros-args")
        .map(String::as_str)
        .collect();
    match own.as_slice() {
        [] => Ok(Command::Run),
        ["--version"] => Ok(Command::Version),
        ["--check-config", rest @ ..] => check::Request::parse(rest).map(Command::CheckConfig),
        ["--write-schemas", dir] => Ok(Command::WriteSchemas(PathBuf::from(dir), None)),
        ["--write-schemas", dir, "--config", rest @ ..] => {
            check::Request::parse(rest).map(|r| Command::WriteSchemas(PathBuf::from(dir), Some(r)))
        }
        ["--write-schemas", ..] => Err(UsageError(
            "--write-schemas takes one directory, then maybe --config FILE".into(),
        )),
        ["--schema-for", ty] => Ok(Command::SchemaFor(ty.to_string())),
        ["--schema-for", ..] => Err(UsageError("--schema-for takes one pkg/msg/Type".into())),
        [first, ..] => Err(UsageError(format!("unknown argument `{first}`"))),
    }
}

/// Runs a command that needs no node; prints its result. Exit codes: 0 done, 2 a configuration
/// that would not start, 1 anything else that failed.
pub fn execute(command: Command) -> ExitCode {
    match command {
        Command::Run => ExitCode::SUCCESS,
        Command::Version => {
            print!("{}", version());
            ExitCode::SUCCESS
        }
        Command::CheckConfig(request) => match check::run(&request) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => config_failure(&request, &e),
        },
        Command::WriteSchemas(dir, config) => {
            let mut payloads = schema::all();
            if let Some(request) = &config {
                match check::load(request) {
                    Ok((settings, types, _)) => {
                        payloads.extend(schema::mapping_payloads(&settings.mappings, &types))
                    }
                    Err(e) => return config_failure(request, &e),
                }
            }
            match schema::write_all(&dir, payloads) {
                Ok(files) => {
                    println!("wrote {} schemas to {}", files.len(), dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, &format!("{}: {e}", dir.display())),
            }
        }
        Command::SchemaFor(ty) => match Registry::from_env().load(&ty) {
            Ok(t) => {
                let schema = schema::for_type(&t, Octets::Base64);
                print!("{}", Payload { name: ty, schema }.text());
                ExitCode::SUCCESS
            }
            Err(e) => fail(2, &e.to_string()),
        },
    }
}

/// A configuration that would not start: exit 2, the error naming the file (even one about a
/// parameter or the robot id).
fn config_failure(request: &check::Request, e: &crate::config::ConfigError) -> ExitCode {
    match e.to_string() {
        text if text.contains(&request.file) => fail(2, &text),
        text => fail(2, &format!("{}: {text}", request.file)),
    }
}

/// Prints `text` as an error; exit code `code`.
pub fn fail(code: u8, text: &str) -> ExitCode {
    eprintln!("amr_mqtt_bridge: error: {}", printable(text, 4096));
    ExitCode::from(code)
}

/// The version, the ROS 2 distribution and the message packages that the build generated
/// bindings for (`IDL_PACKAGE_FILTER`, `.cargo/config.toml`), as they were at build time: the
/// built-in converters' types. Generic mappings take any type installed where the bridge runs.
pub fn version() -> String {
    let distro = option_env!("ROS_DISTRO").unwrap_or("unknown");
    let packages = match option_env!("IDL_PACKAGE_FILTER") {
        Some(filter) => filter
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        None => "every message package of the ROS 2 install it was built against".into(),
    };
    format!(
        "amr_mqtt_bridge {}\nROS 2 distribution: {distro}\nmessage packages (built in): \
         {packages}\ngeneric mappings: any message type installed (AMENT_PREFIX_PATH)\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("amr_mqtt_bridge")
            .chain(a.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn commands() {
        assert_eq!(parse(&args(&[])), Ok(Command::Run));
        assert_eq!(
            parse(&args(&["--ros-args", "-p", "robot_id:=R", "--version"])),
            Ok(Command::Run),
            "after --ros-args everything is ROS's"
        );
        assert_eq!(parse(&args(&["--version"])), Ok(Command::Version));
        assert_eq!(
            parse(&args(&["--write-schemas", "out"])),
            Ok(Command::WriteSchemas("out".into(), None))
        );
        let Ok(Command::WriteSchemas(_, Some(r))) = parse(&args(&[
            "--write-schemas",
            "out",
            "--config",
            "f.yaml",
            "-p",
            "robot_id:=R",
        ])) else {
            panic!("with a config")
        };
        assert_eq!((r.file.as_str(), r.params.len()), ("f.yaml", 1));
        assert_eq!(
            parse(&args(&["--schema-for", "std_msgs/msg/String"])),
            Ok(Command::SchemaFor("std_msgs/msg/String".into()))
        );
        assert!(parse(&args(&["--check-confg", "x.yaml"])).is_err());
        assert!(parse(&args(&["--write-schemas"])).is_err());
        assert!(parse(&args(&["--write-schemas", "out", "--cfg", "f"])).is_err());
        assert!(parse(&args(&["--schema-for"])).is_err());
        let v = version();
        assert!(v.starts_with(&format!("amr_mqtt_bridge {}\n", env!("CARGO_PKG_VERSION"))));
        assert!(v.contains("std_msgs"), "{v}");
    }
}
