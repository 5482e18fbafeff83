//! `--check-config FILE [-p robot_id:=ID] [-p broker:=HOST] [-p port:=N] [--namespace /NS]`:
//! the configuration loaded and checked by the very `Settings::load` that a start runs (every
//! key, the robot id, topics, mappings, TLS files, password sources, the safety rules) and the
//! generic mappings' message types found as a start finds them (`convert::generic::resolve`),
//! with the parameters read as ROS reads `-p name:=value` (YAML), but no broker and no ROS
//! graph: no context, no node. Prints the effective topics and mappings. A file that leaves the
//! robot id to the launch passes, and the report says so.

use std::fmt::Write;

use r2r::ParameterValue;

use super::UsageError;
use crate::config::ros_names::resolve_ros_name;
use crate::config::topics::ALL;
use crate::config::{Category, ConfigError, ConverterKind, Direction, Mapping, Settings};
use crate::convert::generic::{self, Types};
use crate::vda5050::connection::CLIENT_ID_SUFFIX;
use crate::vda5050::{Incoming, Outgoing};

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
    let (settings, types, id_at_launch) = load(request)?;
    Ok(report(&settings, &types, &request.namespace, id_at_launch))
}

/// The settings a start would run with, the generic mappings' types, and whether the robot id
/// is left to the launch.
pub fn load(request: &Request) -> Result<(Settings, Types, bool), ConfigError> {
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
    let (settings, id_at_launch) = match Settings::load(&overrides, ns) {
        Ok(settings) => (settings, false),
        Err(ConfigError::NoRobotId) => {
            overrides.robot_id = Some(ID_AT_LAUNCH.into());
            (Settings::load(&overrides, ns)?, true)
        }
        Err(e) => return Err(e),
    };
    let types = generic::resolve(&settings.mappings, &settings.file)?;
    Ok((settings, types, id_at_launch))
}

/// What the bridge would run with: robot, broker, topic tree, its own topics, mappings and
/// where their types were found. `id_at_launch`: the file has no robot id, and the report
/// shows [`ID_AT_LAUNCH`] instead.
pub fn report(s: &Settings, types: &Types, namespace: &str, id_at_launch: bool) -> String {
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
        "ROS QoS",
    ]
    .map(String::from)
    .to_vec()];
    rows.extend(s.mappings.iter().map(|m| mapping_row(m, namespace)));
    out.push_str(&table(&rows));
    let found: Vec<Vec<String>> = s
        .mappings
        .iter()
        .filter_map(|m| {
            let t = types.of(m)?;
            Some(vec![
                m.name.clone(),
                m.ros_type.clone(),
                t.type_ref.library.display().to_string(),
            ])
        })
        .collect();
    if !found.is_empty() {
        out.push_str("\ngeneric mappings' types, found in the environment\n");
        out.push_str(&table(&found));
    }
    if let Some(vda) = vda5050(s, namespace) {
        out.push_str(&vda);
    }
    out
}

/// The VDA 5050 profile's topics, when it is on: its connection, what it publishes and
/// reads on MQTT, and its ROS topics.
fn vda5050(s: &Settings, namespace: &str) -> Option<String> {
    let v = &s.config.vda5050;
    // Settings::load checked the same.
    let topics = crate::config::vda5050::topics(v, s.tree.robot_id())
        .ok()
        .filter(|_| v.enabled)?;
    let mut out = format!(
        "\nVDA 5050 2.1 on {}/, connection of its own: client id {}{CLIENT_ID_SUFFIX}\n",
        topics.prefix(),
        s.broker.client_id
    );
    let visualization = if v.visualization_rate_hz > 0.0 {
        format!("position and velocity, {} Hz", v.visualization_rate_hz)
    } else {
        "off (visualization_rate_hz 0)".into()
    };
    let what = |o: Outgoing| match o {
        Outgoing::Connection => "ONLINE, OFFLINE (CONNECTIONBROKEN: the Last Will)".to_owned(),
        Outgoing::State => format!("on events, at least every {} s", v.state_period),
        Outgoing::Visualization => visualization.clone(),
        Outgoing::Factsheet => "at connect and on factsheetRequest".to_owned(),
    };
    let mut rows: Vec<Vec<String>> = Outgoing::ALL
        .iter()
        .map(|o| {
            let retain = if o.retained() { ", retained" } else { "" };
            vec![
                topics.outgoing(*o),
                format!("QoS {}{retain}", o.qos()),
                what(*o),
            ]
        })
        .collect();
    let orders = match &v.navigation {
        Some(n) => format!("to ROS {}", resolve_ros_name(&n.order_topic, namespace)),
        None => "refused: no vda5050.navigation".to_owned(),
    };
    for (i, what) in [
        (Incoming::Order, orders),
        (Incoming::InstantActions, INSTANT.into()),
    ] {
        rows.push(vec![
            topics.incoming(i),
            format!("subscribed, QoS {}", i.subscribe_qos()),
            what,
        ]);
    }
    out.push_str(&table(&rows));
    // Odometry and battery as the bridge's mappings with those converters read them.
    let reading = |kind: ConverterKind| {
        let m = s.mappings.iter().find(|m| m.converter == kind);
        m.map_or("none: no mapping with this converter".to_owned(), |m| {
            let topic = resolve_ros_name(&m.ros_topic, namespace);
            format!("{topic} (mapping `{}`)", m.name)
        })
    };
    let mut ros = vec![
        ("odometry (in)", reading(ConverterKind::Odometry)),
        ("battery (in)", reading(ConverterKind::Battery)),
    ];
    let mut optional = vec![];
    if let Some(n) = &v.navigation {
        optional.push(("navigation progress (in)", &n.progress_topic));
        optional.push(("navigation control (out)", &n.control_topic));
    }
    optional.extend(
        v.operating_mode_topic
            .iter()
            .map(|t| ("operating mode (in)", t)),
    );
    optional.extend(
        v.field_violation_topic
            .iter()
            .map(|t| ("field violation (in)", t)),
    );
    ros.extend(
        optional
            .into_iter()
            .map(|(what, t)| (what, resolve_ros_name(t, namespace))),
    );
    let rows: Vec<Vec<String>> = ros
        .into_iter()
        .map(|(w, t)| vec![w.to_owned(), t])
        .collect();
    out.push_str(&table(&rows));
    Some(out)
}

/// What the profile does with `instantActions`.
const INSTANT: &str =
    "startPause, stopPause (through the safety layer), cancelOrder, stateRequest, factsheetRequest";

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
        if m.auto_qos {
            "auto".into()
        } else {
            m.ros_qos.to_string()
        },
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

    #[test]
    fn the_vda5050_topics_are_reported() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("vda.yaml");
        let example = include_str!("../../config/bridge.yaml");
        let yaml = example
            .replace(
                "  enabled: false\n  interface_name",
                "  enabled: true\n  interface_name",
            )
            .replace("  manufacturer: \"\"", "  manufacturer: KIT")
            .replace("  # navigation: ", "  navigation: {}\n  # ");
        std::fs::write(&file, yaml).expect("write");
        let path = file.display().to_string();
        let text = run(&request(&[&path, "-p", "robot_id:=R7"]).expect("args")).expect("ok");
        for want in [
            "VDA 5050 2.1 on uagv/v2/KIT/R7/, connection of its own: client id amr_bridge_R7_vda5050",
            "uagv/v2/KIT/R7/connection",
            "uagv/v2/KIT/R7/factsheet",
            "uagv/v2/KIT/R7/instantActions",
            "to ROS /vda5050/order",
            "/vda5050/order_progress",
        ] {
            assert!(text.contains(want), "{want}:\n{text}");
        }
        let text = run(&request(&[&path]).expect("args")).expect("without a robot id");
        assert!(text.contains("uagv/v2/KIT/{robot_id}/state"), "{text}");
        assert_eq!(ID_AT_LAUNCH, crate::vda5050::config::ROBOT_ID);
    }

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
        assert!(!text.contains("VDA 5050"), "off by default:\n{text}");
        let bad_port = request(&[seed, "-p", "robot_id:=R", "-p", "port:=x"]).expect("args");
        assert!(run(&bad_port).unwrap_err().to_string().contains("port"));
    }
}
