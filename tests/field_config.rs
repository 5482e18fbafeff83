//! Field failures from configuration (issue 10, "Field-ready"): risky configurations must be
//! refused at start (exit code 2, the file and the key named), and generic MQTT to ROS
//! mappings must not replay retained or stale messages unless the mapping opts out.
//!
//! Real Mosquitto, real DDS, each test in a ROS domain of its own (`tests/common`).

mod common;
use common::proxy::*;
use common::*;
use std::time::Duration;

const MQTT_HEAD: &str = "mqtt:\n  broker: \"127.0.0.1\"\n  keepalive: 5\n";

/// Field condition: an integrator edits the robot's YAML and makes it dangerous: a generic
/// mapping that writes `cmd_vel` or `emergency_stop` around the safety layer, a generic mapping
/// that takes over a command action (`move`, `stop`, `emergency`), a command prefix without
/// `{robot_id}` (every robot would obey every other robot's commands) or equal to the status
/// prefix, and numbers that overflow the timers (`1e10` Hz, `1e300` s, `1e-300` s). The bridge
/// must refuse each at start with exit code 2 and a message naming the file and the key, never
/// run with it and never crash on it.
#[test]
fn risky_configurations_are_refused_at_start() {
    let domain = Domain::new();
    let mapping = |m: &str| config(&format!("mappings:\n  - {m}\n"));
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "generic mqtt_to_ros mapping to cmd_vel",
            mapping("{name: twist_in, direction: mqtt_to_ros, ros_topic: cmd_vel, ros_type: geometry_msgs/msg/Twist, mqtt_action: twist}"),
            &["mappings[0].ros_topic"],
        ),
        (
            "generic mqtt_to_ros mapping to /cmd_vel (no namespace)",
            mapping("{name: twist_in, direction: mqtt_to_ros, ros_topic: /cmd_vel, ros_type: geometry_msgs/msg/Twist, mqtt_action: twist}"),
            &["mappings[0].ros_topic"],
        ),
        (
            "generic mqtt_to_ros mapping to emergency_stop",
            mapping("{name: estop_in, direction: mqtt_to_ros, ros_topic: emergency_stop, ros_type: std_msgs/msg/Bool, mqtt_action: estop}"),
            &["mappings[0].ros_topic"],
        ),
        (
            "generic mqtt_to_ros mapping to /emergency_stop (no namespace)",
            mapping("{name: estop_in, direction: mqtt_to_ros, ros_topic: /emergency_stop, ros_type: std_msgs/msg/Bool, mqtt_action: estop}"),
            &["mappings[0].ros_topic"],
        ),
        (
            "generic mqtt_to_ros mapping on command/move",
            mapping("{name: note, direction: mqtt_to_ros, ros_topic: note, ros_type: std_msgs/msg/String, mqtt_action: move}"),
            &["mappings[0].mqtt_action"],
        ),
        (
            "generic mqtt_to_ros mapping on command/stop",
            mapping("{name: note, direction: mqtt_to_ros, ros_topic: note, ros_type: std_msgs/msg/String, mqtt_action: stop}"),
            &["mappings[0].mqtt_action"],
        ),
        (
            "generic mqtt_to_ros mapping on command/emergency",
            mapping("{name: note, direction: mqtt_to_ros, ros_topic: note, ros_type: std_msgs/msg/String, mqtt_action: emergency}"),
            &["mappings[0].mqtt_action"],
        ),
        (
            "generic mqtt_to_ros mapping with mqtt_topic amr/{robot_id}/command/move",
            mapping("{name: note, direction: mqtt_to_ros, ros_topic: note, ros_type: std_msgs/msg/String, mqtt_topic: \"amr/{robot_id}/command/move\"}"),
            &["mappings[0].mqtt_topic"],
        ),
        (
            "mqtt.topics.command without {robot_id}",
            format!("{MQTT_HEAD}  topics: {{command: \"amr/all/command\"}}\n"),
            &["mqtt.topics.command"],
        ),
        (
            "mqtt.topics.command equal to mqtt.topics.status",
            format!("{MQTT_HEAD}  topics: {{status: \"amr/{{robot_id}}/x\", command: \"amr/{{robot_id}}/x\"}}\n"),
            &["mqtt.topics.command", "mqtt.topics.status"],
        ),
        (
            "commands.rate_hz: 1e10",
            config("commands: {rate_hz: 1e10}\n"),
            &["commands.rate_hz"],
        ),
        (
            "state.rate_hz: 1e12",
            config("state: {rate_hz: 1e12}\n"),
            &["state.rate_hz"],
        ),
        (
            "mqtt.reconnect.delay: 1e300",
            format!("{MQTT_HEAD}  reconnect: {{enabled: true, delay: 1e300}}\n"),
            &["mqtt.reconnect.delay"],
        ),
        (
            "alerts.stale_after: 1e300",
            config("alerts: {stale_after: 1e300}\n"),
            &["alerts.stale_after"],
        ),
        (
            "bridge.diagnostics_period: 1e-300",
            config("bridge: {diagnostics_period: 1e-300}\n"),
            &["bridge.diagnostics_period"],
        ),
    ];
    // Nothing listens here: a configuration that is not refused starts and waits for a broker.
    let port = free_port();
    let mut failures = Vec::new();
    for (what, yaml, keys) in &cases {
        // The file is written here, so that its path is known.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("risky.yaml");
        std::fs::write(&path, yaml).expect("write config");
        let file = path.display().to_string();
        let args: Vec<String> = [
            "--ros-args".to_owned(),
            "-p".into(),
            format!("config_file:={file}"),
            "-p".into(),
            "broker:=127.0.0.1".into(),
            "-p".into(),
            format!("port:={port}"),
            "-p".into(),
            "robot_id:=FLDCFG".into(),
        ]
        .into();
        let mut b = Bridge::spawn_raw(domain.id(), dir, &args);
        let status = b.wait_exit(Duration::from_secs(6));
        let log = b.log_text();
        let first = log
            .lines()
            .find(|l| l.contains("ERROR") || l.contains("error") || l.contains("panicked"))
            .unwrap_or("")
            .chars()
            .take(220)
            .collect::<String>();
        let verdict = match status {
            None => {
                b.proc.terminate(Duration::from_secs(3));
                let half_alive = if b.panicked() {
                    format!(" (half alive: {})", b.last_words())
                } else {
                    String::new()
                };
                format!("NOT refused: still running after 6 s{half_alive}")
            }
            Some(s) if s.code() != Some(2) => {
                format!("exit {:?} (not 2): {first}", s.code())
            }
            Some(_) if !log.contains(&file) => format!("exit 2 but the file is not named: {first}"),
            Some(_) if !keys.iter().any(|k| log.contains(k)) => {
                format!("exit 2 but the key {keys:?} is not named: {first}")
            }
            Some(_) => String::new(),
        };
        eprintln!(
            "risky config: {what}: {}",
            if verdict.is_empty() {
                format!("refused (exit 2): {first}")
            } else {
                verdict.clone()
            }
        );
        if !verdict.is_empty() {
            failures.push(format!("{what}: {verdict}"));
        }
    }
    eprintln!(
        "risky configs: {} cases, {} not refused as they should be",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} risky configurations not refused with exit 2 naming the file and the key:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The `data` of every message on a String topic within `d`.
fn texts(sub: &mut RosSub, d: Duration) -> Vec<String> {
    sub.collect_for(d)
        .into_iter()
        .map(|(_, m)| m["data"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The broker dies and a new one starts on its port holding the `retained` messages
/// (topic, payload); only then does the proxy let the bridge in. The new broker has no session
/// for the robot, so the bridge subscribes again and the broker hands it the retained
/// messages with the retain flag set. (After a short outage where the broker kept the
/// session, the bridge does not subscribe again, and nothing is replayed.) Returns the new
/// broker once the bridge says `restored`.
fn new_broker_with_retained(
    broker: Broker,
    proxy: &Proxy,
    bridge: &Bridge,
    retained: &[(&str, &str)],
) -> Broker {
    let before = bridge.log_count("restored");
    proxy.refuse(true);
    let (dir, port) = broker.stop();
    let broker = Broker::start_on(dir, port, "");
    for (topic, payload) in retained {
        mqtt_pub(port, topic, payload, 1, true);
    }
    proxy.refuse(false);
    assert!(
        bridge
            .wait_log_count("restored", before + 1, Duration::from_secs(20))
            .is_some(),
        "the bridge reconnects to the new broker:\n{}",
        bridge.log_text()
    );
    broker
}

/// Field condition: a generic MQTT to ROS mapping (e.g. a goal or a note topic) on a broker
/// that holds a RETAINED message from hours ago, and a message in the bridge's envelope whose
/// timestamp is 10 s old (queued in a client while the link was down). By default neither may
/// reach ROS (at boot, or when the bridge subscribes again after a reconnect to a broker that
/// lost its session and holds the retained message); a plain message and a fresh enveloped
/// one do.
#[test]
fn generic_mqtt_to_ros_ignores_retained_and_stale_by_default() {
    let domain = Domain::new();
    let robot = "FLD91";
    let topic = format!("amr/{robot}/command/note");
    let broker = Broker::start();
    let proxy = Proxy::start(broker.port);
    let retained = r#"{"data": "retained-old"}"#;
    mqtt_pub(broker.port, &topic, retained, 1, true);
    let mut notes = RosSub::start(domain.id(), ros_type::STRING, "/note", "reliable");
    let yaml = config("mappings:\n  - {name: note, direction: mqtt_to_ros, ros_topic: note, ros_type: std_msgs/msg/String, mqtt_action: note}\n");
    let bridge = Bridge::start(domain.id(), proxy.port, robot, &yaml, &[]);
    let at_boot = texts(&mut notes, Duration::from_secs(1));
    let broker = new_broker_with_retained(broker, &proxy, &bridge, &[(&topic, retained)]);
    let after_reconnect = texts(&mut notes, Duration::from_secs(2));
    let stale = json!({"timestamp": rfc3339_in(-10.0), "data": {"data": "stale-enveloped"}});
    mqtt_pub(broker.port, &topic, &stale.to_string(), 1, false);
    mqtt_pub(broker.port, &topic, r#"{"data": "fresh-plain"}"#, 1, false);
    let fresh = json!({"timestamp": now_rfc3339(), "data": {"data": "fresh-enveloped"}});
    mqtt_pub(broker.port, &topic, &fresh.to_string(), 1, false);
    let later = texts(&mut notes, Duration::from_secs(3));
    eprintln!(
        "generic mapping defaults: at boot {at_boot:?}; after a reconnect {after_reconnect:?}; then {later:?}"
    );
    let all: Vec<&String> = at_boot
        .iter()
        .chain(&after_reconnect)
        .chain(&later)
        .collect();
    // Carried by the new broker, which knows only what the bridge subscribed to after the
    // reconnect: the re-subscription happened.
    assert!(
        later.iter().any(|t| t == "fresh-plain") && later.iter().any(|t| t == "fresh-enveloped"),
        "fresh messages are carried: {later:?}"
    );
    assert!(
        !all.iter().any(|t| *t == "retained-old"),
        "a retained message is not published into ROS by default: {all:?}"
    );
    assert!(
        !all.iter().any(|t| *t == "stale-enveloped"),
        "an enveloped message 10 s old is not published into ROS by default: {all:?}"
    );
}

/// Field condition: a mapping whose ROS side wants the last known value (a map name, a
/// parameter) opts out: `obey_retained: true` publishes the retained message (here when the
/// bridge subscribes again to a new broker that holds it, its ROS subscribers already
/// there), `obey_stale: true` the stale enveloped one; each option only lifts its own rule.
#[test]
fn generic_mqtt_to_ros_obeys_retained_and_stale_when_the_mapping_says_so() {
    let domain = Domain::new();
    let robot = "FLD92";
    let topic_r = format!("amr/{robot}/command/note_r");
    let topic_s = format!("amr/{robot}/command/note_s");
    let broker = Broker::start();
    let proxy = Proxy::start(broker.port);
    let yaml = config(
        "mappings:\n  - {name: note_r, direction: mqtt_to_ros, ros_topic: note_r, ros_type: std_msgs/msg/String, mqtt_action: note_r, obey_retained: true}\n  - {name: note_s, direction: mqtt_to_ros, ros_topic: note_s, ros_type: std_msgs/msg/String, mqtt_action: note_s, obey_stale: true}\n",
    );
    let bridge = Bridge::start(domain.id(), proxy.port, robot, &yaml, &[]);
    let mut sub_r = RosSub::start(domain.id(), ros_type::STRING, "/note_r", "reliable");
    let mut sub_s = RosSub::start(domain.id(), ros_type::STRING, "/note_s", "reliable");
    let retained = [
        (topic_r.as_str(), r#"{"data": "retained-r"}"#),
        (topic_s.as_str(), r#"{"data": "retained-s"}"#),
    ];
    let broker = new_broker_with_retained(broker, &proxy, &bridge, &retained);
    std::thread::sleep(Duration::from_secs(1));
    for (t, what) in [(&topic_r, "stale-r"), (&topic_s, "stale-s")] {
        let stale = json!({"timestamp": rfc3339_in(-10.0), "data": {"data": what}});
        mqtt_pub(broker.port, t, &stale.to_string(), 1, false);
    }
    let got_r = texts(&mut sub_r, Duration::from_secs(3));
    let got_s = texts(&mut sub_s, Duration::from_secs(1));
    eprintln!("generic mapping opt-outs: note_r (obey_retained) got {got_r:?}; note_s (obey_stale) got {got_s:?}");
    assert!(
        got_r.iter().any(|t| t == "retained-r"),
        "obey_retained: the retained message is published: {got_r:?}"
    );
    assert!(
        !got_r.iter().any(|t| t == "stale-r"),
        "obey_retained does not lift the stale rule: {got_r:?}"
    );
    assert!(
        got_s.iter().any(|t| t == "stale-s"),
        "obey_stale: the stale message is published: {got_s:?}"
    );
    assert!(
        !got_s.iter().any(|t| t == "retained-s"),
        "obey_stale does not lift the retained rule: {got_s:?}"
    );
}
