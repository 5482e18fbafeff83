//! Generic mappings of message types that the build does not know, through the real bridge:
//! test_msgs (every field kind) and visualization_msgs, installed by scripts/env.sh into a
//! prefix of their own that only the bridge and the rclpy peers of these tests see
//! (`test_types_env`). The rclpy side is `tests/ros/dyntype_peer.py`, which also computes each
//! case's expected JSON from rclpy's own messages; the MQTT side is Mosquitto and its clients.

mod common;

use amr_mqtt_bridge::dyntype::{encode, to_value, Octets, Prefixes, Registry};
use base64::Engine;
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const ROBOT: &str = "RT1";

/// The cases sent over DDS both ways: nested messages and sequences of them (markers),
/// uint8[] (texture, mesh), Unicode (UTF-8 and wstrings), every integer width at its limits,
/// NaN/inf, fixed arrays, bounded and unbounded sequences of every kind.
const DDS_CASES: [&str; 8] = [
    "marker",
    "marker_array",
    "basic_high",
    "basic_low",
    "basic_non_finite",
    "wstrings",
    "arrays",
    "unbounded",
];

/// Every case of `DDS_CASES` (name, type, JSON), and a mapping of each (`mapping(name, type)`,
/// one entry of the `mappings:` list).
fn dds_cases(
    mapping: impl Fn(&str, &str) -> String,
) -> (Vec<(&'static str, String, Value)>, String) {
    let cases: Vec<(&str, String, Value)> = DDS_CASES
        .iter()
        .map(|name| {
            let (ty, json) = type_case(name);
            (*name, ty, json)
        })
        .collect();
    let mappings = cases
        .iter()
        .map(|(name, ty, _)| format!("  - {}\n", mapping(name, ty)))
        .collect();
    (cases, mappings)
}

/// A site whose bridges and ROS peers have the test-only packages.
fn site() -> Site {
    Site::start().with_env(test_types_env())
}

/// `config(...)` with status reports every second.
fn yaml(mappings: &str) -> String {
    config(&format!(
        "default_mappings: false\ncommands: {{enabled: false}}\nbridge: {{diagnostics_period: 1}}\nmappings:\n{mappings}"
    ))
}

/// The binary run to its end with `args` and the test types (or not).
fn run_bridge(args: &[&str], types: bool) -> Output {
    require_env();
    let mut c = Command::new(env!("CARGO_BIN_EXE_amr_mqtt_bridge"));
    c.args(args).env("RCUTILS_COLORIZED_OUTPUT", "0");
    if types {
        with_test_types(&mut c);
    }
    c.output().expect("amr_mqtt_bridge")
}

/// The mapping's `ros_qos` in the next report that has it and satisfies `pred`.
fn reported_qos(sub: &mut MqttSub, mapping: &str, pred: impl Fn(&str) -> bool) -> String {
    let topic = format!("amr/{ROBOT}/status/bridge");
    let m = sub.expect(&topic, WAIT, "the mapping's QoS in status/bridge", |m| {
        let v: Value = serde_json::from_str(&m.payload).unwrap_or_default();
        v["data"]["mappings"][mapping]["ros_qos"]
            .as_str()
            .is_some_and(&pred)
    });
    m.json()["data"]["mappings"][mapping]["ros_qos"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Each payload valid under the schema `name` of `dir`, by Python jsonschema.
fn validate_in(dir: &Path, checks: &[(&str, &str)]) {
    let py = std::env::var("AMR_BRIDGE_SCHEMA_PY").expect("AMR_BRIDGE_SCHEMA_PY");
    let mut p = Command::new(py)
        .arg(repo().join("tests/schema/validate.py"))
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("validate.py");
    let mut stdin = p.stdin.take().expect("stdin");
    for (schema, payload) in checks {
        let request = json!({"schema": schema, "payload": payload});
        writeln!(stdin, "{request}").expect("write");
    }
    drop(stdin);
    let out = p.wait_with_output().expect("validate.py");
    let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1) // ready
        .map(|l| serde_json::from_str(l).expect("answer"))
        .collect();
    assert_eq!(answers.len(), checks.len(), "{}", show(&out));
    for (a, (schema, payload)) in answers.iter().zip(checks) {
        assert_eq!(a["ok"], json!(true), "{schema}: {a}\n{payload}");
    }
}

#[test]
fn the_build_does_not_know_the_test_types() {
    let built = option_env!("IDL_PACKAGE_FILTER").unwrap_or("");
    for pkg in ["test_msgs", "visualization_msgs"] {
        assert!(
            !built.split(';').any(|p| p == pkg),
            "{pkg} is in IDL_PACKAGE_FILTER: {built}"
        );
    }
    let here = std::env::var("AMENT_PREFIX_PATH").unwrap_or_default();
    assert!(
        !here.contains(&test_prefix().display().to_string()),
        "only the tests' processes see {here}"
    );
    assert!(
        Registry::from_env()
            .load("test_msgs/msg/BasicTypes")
            .is_err(),
        "not installed in this process's environment"
    );
}

#[test]
fn rclpy_bytes_decode_and_our_bytes_deserialize_in_rclpy_for_every_case() {
    let mut prefixes = vec![test_prefix()];
    prefixes.extend(Prefixes::from_env().0);
    let mut types = Registry::installed(Prefixes(prefixes));
    let all = type_cases();
    assert!(all.len() >= 20, "{} cases", all.len());
    let mut requests = String::new();
    for c in &all {
        let name = &c.name;
        let t = types.load(&c.ty).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = to_value(&t, &c.cdr, Octets::Base64).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, c.json, "{name}: rclpy's bytes");
        let ours = encode(&t, &c.json, 1 << 20).unwrap_or_else(|e| panic!("{name}: {e}"));
        let hex: String = ours.iter().map(|b| format!("{b:02x}")).collect();
        requests.push_str(&json!({"name": name, "cdr": hex}).to_string());
        requests.push('\n');
    }
    let mut c = python_cmd("tests/ros/dyntype_peer.py", None);
    // Ends by itself at the end of its input.
    let mut p = with_test_types(c.arg("check"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("dyntype_peer.py check");
    let mut stdin = p.stdin.take().expect("stdin");
    stdin.write_all(requests.as_bytes()).expect("write");
    drop(stdin);
    let out = p.wait_with_output().expect("check");
    assert!(out.status.success(), "{}", show(&out));
    let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("answer"))
        .collect();
    assert_eq!(answers.len(), all.len());
    for a in answers {
        assert_eq!(
            a["equal"],
            json!(true),
            "rclpy read our bytes of {} as {}",
            a["name"],
            a["got"]
        );
    }
}

#[test]
fn ros_to_mqtt_every_field_of_a_type_the_build_does_not_know() {
    let site = site();
    let (cases, mappings) = dds_cases(|name, ty| {
        format!("{{name: up_{name}, ros_topic: rt_up_{name}, ros_type: {ty}, mqtt_category: sensor, mqtt_action: rt_{name}}}")
    });
    // The marker again: its bytes as numbers, and through the rate limit into batches.
    let marker =
        "ros_topic: rt_up_marker, ros_type: visualization_msgs/msg/Marker, mqtt_category: sensor";
    let yaml = yaml(&format!(
        "{mappings}  - {{name: up_numbers, {marker}, mqtt_action: rt_numbers, byte_arrays: numbers}}\n\
         \x20 - {{name: up_batched, {marker}, mqtt_action: rt_batched, rate_limit_hz: 2, batch: {{max_messages: 2, max_interval: 5}}}}\n"
    ));
    // The schemas of these mappings, as a fleet would write them beside the others.
    let schemas = tempfile::tempdir().expect("dir");
    let cfg = write_config(schemas.path(), &yaml);
    let dir = schemas.path().join("schemas");
    let (cfg, dir_s) = (cfg.display().to_string(), dir.display().to_string());
    let id = format!("robot_id:={ROBOT}");
    let args = ["--write-schemas", &dir_s, "--config", &cfg, "-p", &id];
    let o = run_bridge(&args, true);
    assert!(o.status.success(), "{}", show(&o));
    let o = run_bridge(&["--schema-for", "visualization_msgs/msg/Marker"], true);
    assert!(o.status.success(), "{}", show(&o));
    std::fs::write(dir.join("marker.schema.json"), &o.stdout).expect("write");

    let _bridge = site.bridge(ROBOT, &yaml, &[]);
    let mut sub = site.mqtt_sub(&format!("amr/{ROBOT}/sensor/#"));
    let mut checks = Vec::new();
    for (name, _, want) in &cases {
        let topic = format!("/rt_up_{name}");
        let _ros = TypesPeer::start(
            &site.domain,
            &["pub", name, &topic, "--count", "100", "--rate", "5"],
        );
        let mqtt = format!("amr/{ROBOT}/sensor/rt_{name}");
        let m = sub.expect(&mqtt, WAIT, name, |_| true);
        let v = m.json();
        assert_eq!(&v["data"], want, "{name}: every field");
        assert_eq!(v["robot_id"], ROBOT);
        assert_eq!(v["type"], "sensor");
        checks.push((format!("mapping_up_{name}"), m.payload.clone()));
        if *name == "marker" {
            // The header's stamp is the envelope's time.
            assert_eq!(v["timestamp"], rfc3339(1_700_000_000, 123_456_789), "{v}");
            checks.push(("marker".into(), m.payload.clone()));
            let mut numbers = want.clone();
            octets_as_numbers(&mut numbers, "texture.data");
            octets_as_numbers(&mut numbers, "mesh_file.data");
            let topic = format!("amr/{ROBOT}/sensor/rt_numbers");
            let m = sub.expect(&topic, WAIT, "byte_arrays: numbers", |_| true);
            assert_eq!(m.json()["data"], numbers, "bytes as numbers");
            checks.push(("mapping_up_numbers".into(), m.payload.clone()));
            let topic = format!("amr/{ROBOT}/sensor/rt_batched");
            let m = sub.expect(&topic, WAIT, "a batch", |_| true);
            let batch = m.json();
            let items = batch.as_array().expect("a batch is an array");
            assert_eq!(items.len(), 2, "{batch}");
            for item in items {
                assert_eq!(&item["data"], want, "a batched marker");
                checks.push(("mapping_up_batched".into(), item.to_string()));
            }
            checks.push(("batch".into(), m.payload.clone()));
        }
    }
    let checks: Vec<(&str, &str)> = checks
        .iter()
        .map(|(s, p)| (s.as_str(), p.as_str()))
        .collect();
    validate_in(&dir, &checks);
}

/// A payload made when it is sent.
type Payload<'a> = Box<dyn Fn() -> String + 'a>;

/// The case's JSON with each base64 string at `paths` (`a.b`, `markers[].c`) as numbers.
fn octets_as_numbers(v: &mut Value, path: &str) {
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    match head.strip_suffix("[]") {
        Some(field) => {
            for item in v[field].as_array_mut().expect("array") {
                octets_as_numbers(item, rest);
            }
        }
        None if rest.is_empty() => {
            let text = v[head].as_str().expect("base64");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("base64");
            v[head] = json!(bytes);
        }
        None => octets_as_numbers(&mut v[head], rest),
    }
}

#[test]
fn mqtt_to_ros_every_field_of_a_type_the_build_does_not_know() {
    let site = site();
    let (cases, mappings) = dds_cases(|name, ty| {
        format!("{{name: down_{name}, direction: mqtt_to_ros, ros_topic: rt_down_{name}, ros_type: {ty}, mqtt_action: rt_{name}}}")
    });
    let mut reports = site.mqtt_sub(&format!("amr/{ROBOT}/status/bridge"));
    let _bridge = site.bridge(ROBOT, &yaml(&mappings), &[]);
    for (name, ty, want) in &cases {
        let mut ros = TypesPeer::start(&site.domain, &["sub", ty, &format!("/rt_down_{name}")]);
        ros.wait_for("ready", WAIT);
        // Plain, in the envelope (stamped when sent: its timestamp is judged like a
        // command's), and (markers) with the bytes as numbers: all the same message.
        let plain = want.to_string();
        let mut forms: Vec<(&str, Payload)> = vec![
            ("plain", Box::new(move || plain.clone())),
            (
                "enveloped",
                Box::new(|| json!({"timestamp": now_rfc3339(), "data": want}).to_string()),
            ),
        ];
        if name.starts_with("marker") {
            let mut numbers = want.clone();
            let paths: &[&str] = if *name == "marker" {
                &["texture.data", "mesh_file.data"]
            } else {
                &["markers[].texture.data", "markers[].mesh_file.data"]
            };
            for p in paths {
                octets_as_numbers(&mut numbers, p);
            }
            assert_ne!(&numbers, want);
            let numbers = numbers.to_string();
            forms.push(("uint8[] as numbers", Box::new(move || numbers.clone())));
        }
        for (form, text) in forms {
            let deadline = Instant::now() + WAIT;
            let got = loop {
                site.mqtt_pub(&format!("amr/{ROBOT}/command/rt_{name}"), &text(), 1, false);
                // The first ones may come before DDS has matched the bridge with rclpy.
                if let Some(v) = ros.next_with("json", Duration::from_millis(700)) {
                    break v;
                }
                assert!(Instant::now() < deadline, "{name} ({form}): nothing in ROS");
            };
            assert_eq!(&got["json"], want, "{name} ({form}): every field");
            // Whatever else was on its way: the same message.
            while let Some(more) = ros.next_with("json", Duration::from_millis(300)) {
                assert_eq!(&more["json"], want, "{name} ({form})");
            }
        }
    }
    let report = reports
        .bridge_report(ROBOT, WAIT)
        .expect("a status/bridge report");
    for (name, _, _) in &cases {
        let m = &report["mappings"][format!("down_{name}")];
        assert_eq!(m["refused"], 0, "{name}: {report}");
        assert_eq!(
            m["ros_qos"], "reliable, volatile, depth 10",
            "MQTT to ROS publishers are reliable by default: {report}"
        );
    }
}

#[test]
fn a_latched_publisher_started_before_the_bridge_is_received() {
    let mut site = site();
    let (ty, want) = type_case("marker");
    let mut ros = TypesPeer::start(
        &site.domain,
        &[
            "pub",
            "marker",
            "/rt_latched",
            "--qos",
            "reliable_transient_local",
            "--no-wait",
        ],
    );
    ros.wait_for("publishing", WAIT);
    site.keep(ros.proc);
    let mut reports = site.mqtt_sub(&format!("amr/{ROBOT}/status/bridge"));
    let mappings = format!(
        "  - {{name: latched, ros_topic: rt_latched, ros_type: {ty}, mqtt_action: latched}}\n"
    );
    // Before the bridge: the latched message may go out as soon as it is connected.
    let mut sub = site.mqtt_sub(&format!("amr/{ROBOT}/status/latched"));
    let _bridge = site.bridge(ROBOT, &yaml(&mappings), &[]);
    let topic = format!("amr/{ROBOT}/status/latched");
    // Published once, before the bridge existed: only a transient local reader gets it.
    let m = sub.expect(&topic, WAIT, "the latched marker", |_| true);
    assert_eq!(m.json()["data"], want);
    let qos = reported_qos(&mut reports, "latched", |q| q.contains("transient_local"));
    assert_eq!(qos, "auto (reliable, transient_local, depth 100)");
}

#[test]
fn a_best_effort_and_a_reliable_publisher_on_one_topic_are_both_received() {
    let site = site();
    let (ty, high) = type_case("basic_high");
    let (_, low) = type_case("basic_low");
    let mappings =
        format!("  - {{name: mixed, ros_topic: rt_mixed, ros_type: {ty}, mqtt_action: mixed}}\n");
    let mut reports = site.mqtt_sub(&format!("amr/{ROBOT}/status/bridge"));
    let _bridge = site.bridge(ROBOT, &yaml(&mappings), &[]);
    let mut sub = site.mqtt_sub(&format!("amr/{ROBOT}/status/mixed"));
    let args = |name: &'static str, qos: &'static str| {
        [
            "pub",
            name,
            "/rt_mixed",
            "--qos",
            qos,
            "--count",
            "300",
            "--rate",
            "10",
        ]
    };
    let _be = TypesPeer::start(&site.domain, &args("basic_high", "best_effort"));
    let _rel = TypesPeer::start(&site.domain, &args("basic_low", "reliable"));
    let topic = format!("amr/{ROBOT}/status/mixed");
    let (mut seen_high, mut seen_low) = (false, false);
    let end = Instant::now() + WAIT;
    while !(seen_high && seen_low) {
        assert!(Instant::now() < end, "high {seen_high}, low {seen_low}");
        let m = sub.expect(&topic, WAIT, "a BasicTypes", |_| true);
        let data = m.json()["data"].clone();
        seen_high |= data == high;
        seen_low |= data == low;
    }
    let qos = reported_qos(&mut reports, "mixed", |q| q.contains("best_effort"));
    assert_eq!(qos, "auto (best_effort, volatile, depth 100)");
}

#[test]
fn a_publisher_that_appears_after_the_bridge_started_is_received_and_matched() {
    let site = site();
    let (ty, want) = type_case("wstrings");
    let mappings =
        format!("  - {{name: later, ros_topic: rt_later, ros_type: {ty}, mqtt_action: later}}\n");
    let mut reports = site.mqtt_sub(&format!("amr/{ROBOT}/status/bridge"));
    let mut bridge = site.bridge(ROBOT, &yaml(&mappings), &[]);
    let before = reported_qos(&mut reports, "later", |_| true);
    assert_eq!(
        before, "auto (best_effort, volatile, depth 100)",
        "before any publisher: one that matches every publisher"
    );
    let mut sub = site.mqtt_sub(&format!("amr/{ROBOT}/status/later"));
    let _ros = TypesPeer::start(
        &site.domain,
        &[
            "pub",
            "wstrings",
            "/rt_later",
            "--count",
            "300",
            "--rate",
            "10",
        ],
    );
    let m = sub.expect(
        &format!("amr/{ROBOT}/status/later"),
        WAIT,
        "wstrings",
        |_| true,
    );
    assert_eq!(m.json()["data"], want);
    let after = reported_qos(&mut reports, "later", |q| q.contains("reliable,"));
    assert_eq!(
        after, "auto (reliable, volatile, depth 100)",
        "matched to the reliable publisher"
    );
    // A stop in order while messages still come: the run-time context's end ends the
    // conversion thread, and the bridge exits 0.
    let status = bridge.proc.terminate(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        bridge.log_text()
    );
}

#[test]
fn mqtt_to_ros_may_publish_latched() {
    let site = site();
    let (ty, want) = type_case("strings");
    let mappings = format!(
        "  - {{name: note, direction: mqtt_to_ros, ros_topic: rt_note, ros_type: {ty}, mqtt_action: note, ros_qos: {{durability: transient_local, depth: 1}}}}\n"
    );
    let mut reports = site.mqtt_sub(&format!("amr/{ROBOT}/status/bridge"));
    let _bridge = site.bridge(ROBOT, &yaml(&mappings), &[]);
    site.mqtt_pub(
        &format!("amr/{ROBOT}/command/note"),
        &want.to_string(),
        1,
        false,
    );
    reports.expect(
        &format!("amr/{ROBOT}/status/bridge"),
        WAIT,
        "published",
        |m| {
            let v: Value = serde_json::from_str(&m.payload).unwrap_or_default();
            counter(&v["data"], "note.published") == 1
        },
    );
    assert_eq!(
        reported_qos(&mut reports, "note", |_| true),
        "reliable, transient_local, depth 1"
    );
    // A reader that comes later still gets it.
    let mut ros = TypesPeer::start(
        &site.domain,
        &["sub", &ty, "/rt_note", "--qos", "reliable_transient_local"],
    );
    assert_eq!(ros.wait_for("json", WAIT)["json"], want);
}

#[test]
fn types_that_cannot_be_used_are_refused_at_start_naming_the_mapping() {
    let dir = tempfile::tempdir().expect("dir");
    let prefix = test_prefix().display().to_string();
    let cfg = |ty: &str| {
        let yaml = yaml(&format!(
            "  - {{name: dock, ros_topic: dock, ros_type: {ty}, mqtt_action: dock}}\n"
        ));
        write_config(dir.path(), &yaml).display().to_string()
    };
    let start = |file: &str, env: &[(String, String)]| {
        let site = Site::start().with_env(env.to_vec());
        let mut b = site.spawn_bridge(ROBOT, &std::fs::read_to_string(file).expect("cfg"), &[]);
        let status = b.wait_exit(WAIT).expect("refused at start");
        (status.code(), b.log_text())
    };
    let check = |file: &str, types: bool| {
        let id = format!("robot_id:={ROBOT}");
        let o = run_bridge(&["--check-config", file, "-p", &id], types);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code(), text)
    };
    let types = test_types_env();
    // Not installed anywhere: the mapping, the type, every prefix searched.
    let f = cfg("no_such_msgs/msg/Nope");
    for (code, text) in [start(&f, &types), check(&f, true)] {
        assert_eq!(code, Some(2), "{text}");
        for want in [
            "mappings[0].ros_type",
            "mapping `dock`",
            "no_such_msgs/msg/Nope",
            "not installed",
            &prefix,
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
    }
    // The package is there, the message is not.
    let f = cfg("test_msgs/msg/Nope");
    for (code, text) in [start(&f, &types), check(&f, true)] {
        assert_eq!(code, Some(2), "{text}");
        assert!(
            text.contains("mapping `dock`") && text.contains("Nope.msg"),
            "{text}"
        );
    }
    // Installed, but its libraries cannot be loaded: the prefix is not in LD_LIBRARY_PATH.
    let f = cfg("test_msgs/msg/BasicTypes");
    let half: Vec<(String, String)> = types
        .iter()
        .filter(|(k, _)| k == "AMENT_PREFIX_PATH")
        .cloned()
        .collect();
    let (code, text) = start(&f, &half);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("LD_LIBRARY_PATH") && text.contains("test_msgs"),
        "{text}"
    );
    // With the package installed, the same file checks, its QoS matched to the publishers.
    let (code, text) = check(&f, true);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("test_msgs/msg/BasicTypes") && text.contains("auto"),
        "{text}"
    );
    assert!(text.contains(&prefix), "where the type was found: {text}");
    // And without it, --schema-for says which type it could not find.
    let o = run_bridge(&["--schema-for", "test_msgs/msg/BasicTypes"], false);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("test_msgs/msg/BasicTypes"),
        "{}",
        show(&o)
    );
}

#[test]
fn the_types_node_follows_the_bridges_name_namespace_and_remapping() {
    let site = site();
    let (ty, want) = type_case("basic_high");
    let mappings = format!(
        "  - {{name: ns, ros_topic: rt_ns, ros_type: {ty}, mqtt_action: ns}}\n  - {{name: moved, ros_topic: rt_moved, ros_type: {ty}, mqtt_action: moved}}\n"
    );
    let args = [
        "-r",
        "__node:=bridge7",
        "-r",
        "__ns:=/fleet/r7",
        "-r",
        "rt_moved:=/elsewhere/moved",
    ];
    let bridge = site.bridge(ROBOT, &yaml(&mappings), &args);
    let mut sub = site.mqtt_sub(&format!("amr/{ROBOT}/status/#"));
    for (ros, mqtt) in [("/fleet/r7/rt_ns", "ns"), ("/elsewhere/moved", "moved")] {
        let _p = TypesPeer::start(
            &site.domain,
            &["pub", "basic_high", ros, "--count", "100", "--rate", "5"],
        );
        let m = sub.expect(&format!("amr/{ROBOT}/status/{mqtt}"), WAIT, ros, |_| true);
        assert_eq!(m.json()["data"], want, "{ros}");
    }
    let log = bridge.log_text();
    for want in [
        "[fleet.r7.bridge7]",
        "node /fleet/r7/bridge7_types",
        "subscribed to /fleet/r7/rt_ns",
        "subscribed to /elsewhere/moved",
    ] {
        assert!(log.contains(want), "{want}: {log}");
    }
}
