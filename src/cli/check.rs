//! `--check-config FILE [-p robot_id:=ID] [-p broker:=HOST] [-p port:=N] [--namespace /NS]`:
//! the configuration loaded and checked by the very `Settings::load` that a start runs (every
//! key, the robot id, topics, mappings and their message types, TLS files, password sources,
//! the safety rules), with the parameters read as ROS reads `-p name:=value` (YAML), but no
//! broker and no ROS graph: no context, no node. Prints the effective topics and mappings. A
//! file that leaves the robot id to the launch passes, and the report says so.

use std::fmt::Write;

use r2r::ParameterValue;

use super::UsageError;
use crate::config::settings::resolve_ros_name;
use crate::config::topics::ALL;
use crate::config::{Category, ConfigError, Direction, Mapping, Settings};

/// What to check: the file, the parameters a start would get, the node's namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub file: String,
    /// `name`, `value` of each `-p name:=value`.
    pub params: Vec<(String, String)>,
    pub namespace: String,
}

/// The parameters `-p` may set: the node's own, but `config_file` (that is FILE).
const PARAMS: [&str; 3] = ["robot_id", "broker", "port"];

impl Request {
    /// From the arguments after `--check-config`.
    pub fn parse(args: &[&str]) -> Result<Request, UsageError> {
        let usage = |why: String| Err(UsageError(format!("--check-config: {why}")));
        let Some((file, mut rest)) = args.split_first() else {
            return usage("which file?".into());
        };
        let mut r = Request {
            file: file.to_string(),
            params: Vec::new(),
            namespace: "/".into(),
        };
        loop {
            rest = match rest {
                [] => return Ok(r),
                ["-p", value, tail @ ..] => {
                    match value.split_once(":=") {
                        Some((name, v)) if PARAMS.contains(&name) => {
                            r.params.push((name.into(), v.into()))
                        }
                        _ => {
                            return usage(format!(
                                "-p {value}: expected robot_id, broker or port as name:=value"
                            ))
                        }
                    }
                    tail
                }
                ["--namespace", ns, tail @ ..] => {
                    r.namespace = absolute(ns);
                    tail
                }
                [flag @ ("-p" | "--namespace")] => return usage(format!("`{flag}` needs a value")),
                [other, ..] => return usage(format!("unknown argument `{other}`")),
            };
        }
    }
}

/// A namespace as a node gets it: absolute, no trailing slash (but the root).
fn absolute(ns: &str) -> String {
    let trimmed = ns.trim_matches('/');
    format!("/{trimmed}")
}

/// A `-p` value as ROS reads it: YAML, so `7` is an integer and `'7'` a string.
fn yaml_value(text: &str) -> ParameterValue {
    use serde_yaml_ng::Value as Y;
    match serde_yaml_ng::from_str::<Y>(text) {
        Ok(Y::Bool(b)) => ParameterValue::Bool(b),
        Ok(Y::Number(n)) => match n.as_i64() {
            Some(i) => ParameterValue::Integer(i),
            None => ParameterValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Ok(Y::String(s)) => ParameterValue::String(s),
        Ok(Y::Null) => ParameterValue::String(String::new()),
        _ => ParameterValue::String(text.to_owned()),
    }
}

/// Where the robot id goes in the report of a file that leaves it to the launch.
pub const ID_AT_LAUNCH: &str = "{robot_id}";

/// Loads and checks the configuration as a start does; the report of what would run.
///
/// A file without a robot id (a fleet keeps one for all its robots and gives each its id at
/// launch) is checked with [`ID_AT_LAUNCH`] in its place: every rule holds the same for any
/// valid id, and the report says where the id will come from. A start still refuses it.
pub fn run(request: &Request) -> Result<String, ConfigError> {
    let mut overrides = crate::ros::params::overrides(|name| {
        request
            .params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| yaml_value(v))
    })?;
    overrides.config_file = Some(request.file.clone());
    let ns = &request.namespace;
    match Settings::load(&overrides, ns) {
        Ok(settings) => Ok(report(&settings, ns, false)),
        Err(ConfigError::NoRobotId) => {
            overrides.robot_id = Some(ID_AT_LAUNCH.into());
            Ok(report(&Settings::load(&overrides, ns)?, ns, true))
        }
        Err(e) => Err(e),
    }
}

/// What the bridge would run with: robot, broker, topic tree, its own topics, mappings.
/// `id_at_launch`: the file has no robot id, and the report shows [`ID_AT_LAUNCH`] instead.
pub fn report(s: &Settings, namespace: &str, id_at_launch: bool) -> String {
    let tree = &s.tree;
    let b = &s.broker;
    let c = &s.config.commands;
    let mut out = format!("{}: OK, the bridge would start\n\n", s.file);
    if id_at_launch {
        let _ = writeln!(
            out,
            "robot id   not set: given at launch by the parameter robot_id (-p robot_id:=AMR001), \
             else the last segment of the node namespace (-r __ns:=/fleet/AMR001); \
             written {ID_AT_LAUNCH} below"
        );
    } else {
        let _ = writeln!(
            out,
            "robot id   {} (namespace {namespace})",
            tree.robot_id()
        );
    }
    let _ = writeln!(
        out,
        "broker     {}:{}, client id {}, TLS {}, user {}",
        b.host,
        b.port,
        b.client_id,
        if b.tls.is_some() { "on" } else { "off" },
        b.credentials.as_ref().map_or("(none)", |(u, _)| u.as_str())
    );
    if !b.failover.is_empty() {
        let others: Vec<String> = b.failover.iter().map(|(h, p)| format!("{h}:{p}")).collect();
        let _ = writeln!(
            out,
            "failover   {} (in turn when the broker cannot be reached)",
            others.join(", ")
        );
    }
    let _ = match &b.offline_store {
        Some(s) => writeln!(
            out,
            "store      {}, at most {} bytes (QoS 1/2 on disk while the broker is away)",
            s.dir.display(),
            s.max_bytes
        ),
        None => writeln!(out, "store      none (QoS 1/2 wait in memory only)"),
    };
    let _ = writeln!(
        out,
        "commands   {} on {}/#, cmd_vel {}, e-stop {}",
        if c.enabled { "obeyed" } else { "disabled" },
        tree.prefix(Category::Command),
        resolve_ros_name(&c.cmd_vel_topic, namespace),
        resolve_ros_name(&c.estop_topic, namespace)
    );
    out.push_str("\ntopic tree\n");
    let rows = ALL.map(|cat| {
        vec![
            cat.to_string(),
            tree.prefix(cat).to_owned(),
            format!("QoS {}", tree.qos(cat).0),
        ]
    });
    out.push_str(&table(&rows));
    out.push_str("\nthe bridge's own messages\n");
    out.push_str(&table(&own_topics(s)));
    let _ = writeln!(out, "\nmappings ({})", s.mappings.len());
    let mut rows = vec![[
        "name",
        "direction",
        "ROS topic",
        "type",
        "MQTT topic",
        "QoS",
        "retain",
        "rate",
        "batch",
    ]
    .map(String::from)
    .to_vec()];
    rows.extend(s.mappings.iter().map(|m| mapping_row(m, namespace)));
    out.push_str(&table(&rows));
    out
}

/// The topics the bridge publishes by itself.
fn own_topics(s: &Settings) -> Vec<Vec<String>> {
    let t = &s.tree;
    let status = |a: &str| t.topic(Category::Status, a);
    let qos = |c: Category| format!("QoS {}", t.qos(c).0);
    let row = |topic: String, c: Category, what: &str| vec![topic, qos(c), what.to_owned()];
    vec![
        row(
            status("connection"),
            Category::Status,
            "presence, retained (offline: the Last Will)",
        ),
        row(status("command"), Category::Status, "command outcomes"),
        row(
            status(&s.config.state.action),
            Category::Status,
            &format!("robot state, retained, {} Hz", s.config.state.rate_hz),
        ),
        row(
            status("bridge"),
            Category::Status,
            &format!("counters, every {} s", s.config.bridge.diagnostics_period),
        ),
        row(
            format!("{}/{{info,warning,error}}", t.prefix(Category::Alert)),
            Category::Alert,
            if s.config.alerts.enabled {
                "alerts"
            } else {
                "alerts (disabled)"
            },
        ),
    ]
}

fn mapping_row(m: &Mapping, namespace: &str) -> Vec<String> {
    let direction = match m.direction {
        Direction::RosToMqtt => "ros -> mqtt",
        Direction::MqttToRos => "mqtt -> ros",
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    vec![
        m.name.clone(),
        direction.into(),
        resolve_ros_name(&m.ros_topic, namespace),
        m.ros_type.clone(),
        m.mqtt_topic.clone(),
        m.qos.0.to_string(),
        yes_no(m.retain),
        m.rate_limit_hz.map_or("-".into(), |hz| format!("{hz} Hz")),
        m.batch.map_or("-".into(), |b| {
            format!("{} msgs / {} s", b.max_messages, b.max_interval)
        }),
    ]
}

/// Rows as columns padded to their widest cell, two spaces apart, indented by two.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |i: usize| {
        rows.iter()
            .filter_map(|r| r.get(i))
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(args: &[&str]) -> Result<Request, UsageError> {
        Request::parse(args)
    }

    #[test]
    fn arguments() {
        let r =
            request(&["f.yaml", "-p", "robot_id:=R7", "--namespace", "fleet/r7/"]).expect("valid");
        assert_eq!(r.file, "f.yaml");
        assert_eq!(r.params, [("robot_id".to_owned(), "R7".to_owned())]);
        assert_eq!(r.namespace, "/fleet/r7");
        assert!(request(&[]).is_err());
        assert!(request(&["f.yaml", "-p", "config_file:=g.yaml"]).is_err());
        assert!(request(&["f.yaml", "-p"]).is_err());
        assert!(request(&["f.yaml", "--verbose", "x"]).is_err());
    }

    #[test]
    fn parameters_read_like_ros() {
        assert_eq!(yaml_value("8080"), ParameterValue::Integer(8080));
        assert_eq!(yaml_value("'7'"), ParameterValue::String("7".into()));
        assert_eq!(yaml_value("a/b"), ParameterValue::String("a/b".into()));
        assert_eq!(yaml_value(""), ParameterValue::String(String::new()));
    }

    #[test]
    fn the_seed_checks_and_reports_its_topics() {
        let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/config/mqtt_config.yaml");
        let r = request(&[seed, "-p", "robot_id:=AMR001", "-p", "port:=1884"]).expect("args");
        let text = run(&r).expect("the seed loads");
        assert!(text.contains("localhost:1884"), "{text}");
        for want in [
            "amr/AMR001/status/position",
            "nav_msgs/msg/Odometry",
            "/cmd_vel",
        ] {
            assert!(text.contains(want), "{want}:\n{text}");
        }
        let no_id = request(&[seed]).expect("args");
        let text = run(&no_id).expect("a file without a robot id checks");
        for want in [
            "robot id   not set: given at launch by the parameter robot_id",
            "the last segment of the node namespace",
            "amr/{robot_id}/status/position",
            "amr_client_{robot_id}",
        ] {
            assert!(text.contains(want), "{want}:\n{text}");
        }
        let bad_port = request(&[seed, "-p", "robot_id:=R", "-p", "port:=x"]).expect("args");
        assert!(run(&bad_port).unwrap_err().to_string().contains("port"));
    }
}
