//! Run-time message types (src/dyntype) against rclpy, with packages the build does not know:
//! test_msgs (every field kind) and visualization_msgs, installed by scripts/env.sh into a
//! prefix of their own (AMR_BRIDGE_TEST_PREFIX) that only these tests' processes see. The
//! bridge's side is `dyntype_peer` (src/bin) until the mappings use run-time types; the ROS
//! side is `tests/ros/dyntype_peer.py`, which also computes the expected JSON from rclpy's own
//! messages.

mod common;

use amr_mqtt_bridge::dyntype::{encode, to_value, Octets, Prefixes, Registry};
use common::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The prefix of the test-only message packages.
fn prefix() -> PathBuf {
    require_env();
    let p = std::env::var("AMR_BRIDGE_TEST_PREFIX").expect(
        "AMR_BRIDGE_TEST_PREFIX is unset: scripts/env.sh installs the test message packages",
    );
    PathBuf::from(p)
}

fn prepend(var: &str, dir: PathBuf) -> String {
    let mut all = vec![dir];
    if let Some(v) = std::env::var_os(var) {
        all.extend(std::env::split_paths(&v));
    }
    std::env::join_paths(all)
        .expect("paths")
        .to_string_lossy()
        .into_owned()
}

/// `c` with the test-only packages installed: in AMENT_PREFIX_PATH, and their libraries in
/// LD_LIBRARY_PATH before the process starts (the dynamic loader reads it once).
fn with_test_types(c: &mut Command) -> &mut Command {
    let p = prefix();
    c.env("AMENT_PREFIX_PATH", prepend("AMENT_PREFIX_PATH", p.clone()))
        .env("LD_LIBRARY_PATH", prepend("LD_LIBRARY_PATH", p.join("lib")))
        .env(
            "PYTHONPATH",
            prepend("PYTHONPATH", p.join("lib/python3.11/site-packages")),
        )
}

/// A process whose stdout is read line by line (JSON).
struct Peer {
    proc: Proc,
    lines: Lines,
}

impl Peer {
    fn start(c: &mut Command, name: &str) -> Peer {
        let mut proc = Proc::spawn(c.stdout(Stdio::piped()).stderr(Stdio::inherit()), name);
        let out = proc.child.stdout.take().expect("stdout");
        Peer {
            proc,
            lines: Lines::from(out),
        }
    }

    /// The rclpy side, in `domain`.
    fn py(domain: &Domain, args: &[&str]) -> Peer {
        let mut c = python_cmd("tests/ros/dyntype_peer.py", Some(domain.id()));
        Peer::start(with_test_types(c.args(args)), "dyntype_peer.py")
    }

    /// The bridge's side, in `domain`.
    fn bridge(domain: &Domain, args: &[&str]) -> Peer {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dyntype_peer"));
        ros_env(&mut c, domain.id());
        Peer::start(
            with_test_types(c.args(args).stdin(Stdio::piped())),
            "dyntype_peer",
        )
    }

    /// The next line that has `key` (any line: ""), within `timeout`.
    fn wait_for(&mut self, key: &str, timeout: Duration) -> Value {
        let end = Instant::now() + timeout;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Some(line) = self.lines.next(left) else {
                break;
            };
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if key.is_empty() || v.get(key).is_some() {
                return v;
            }
        }
        panic!(
            "{}: no `{key}` line within {timeout:?}; saw {:?}",
            self.proc.name, self.lines.seen
        );
    }

    fn send(&mut self, line: &str) {
        let stdin = self.proc.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
    }
}

/// Every case of `dyntype_peer.py` by name: (type, rclpy's CDR, expected JSON).
fn cases() -> Vec<(String, String, Vec<u8>, Value)> {
    let mut c = python_cmd("tests/ros/dyntype_peer.py", None);
    let out = run(with_test_types(c.arg("cases")), "dyntype_peer.py cases");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("case line");
            let hex = v["cdr"].as_str().expect("cdr");
            let cdr = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            let name = v["name"].as_str().expect("name").to_owned();
            (
                name,
                v["type"].as_str().expect("type").to_owned(),
                cdr,
                v["json"].clone(),
            )
        })
        .collect()
}

fn case(name: &str) -> (String, Value) {
    let all = cases();
    let (_, ty, _, json) = all.into_iter().find(|c| c.0 == name).expect("case");
    (ty, json)
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
        !here.contains(&prefix().display().to_string()),
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
    let mut prefixes = vec![prefix()];
    prefixes.extend(Prefixes::from_env().0);
    let mut types = Registry::installed(Prefixes(prefixes));
    let all = cases();
    assert!(all.len() >= 20, "{} cases", all.len());
    let mut requests = String::new();
    for (name, ty, cdr, want) in &all {
        let t = types.load(ty).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = to_value(&t, cdr, Octets::Base64).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&got, want, "{name}: rclpy's bytes");
        let ours = encode(&t, want, 1 << 20).unwrap_or_else(|e| panic!("{name}: {e}"));
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

/// The cases sent over DDS both ways: nested messages, sequences of messages, uint8[],
/// Unicode (UTF-8 and wstrings), 64-bit limits, NaN/inf, every kind in sequences.
const DDS_CASES: [&str; 5] = [
    "marker_array",
    "basic_high",
    "basic_non_finite",
    "wstrings",
    "unbounded",
];

#[test]
fn ros_to_json_over_dds_every_field() {
    let domain = Domain::new();
    for name in DDS_CASES {
        let (ty, want) = case(name);
        let topic = format!("/rt_up_{name}");
        let mut ours = Peer::bridge(&domain, &["sub", &ty, &topic]);
        ours.wait_for("ready", WAIT);
        let _ros = Peer::py(
            &domain,
            &["pub", name, &topic, "--count", "100", "--rate", "5"],
        );
        let got = ours.wait_for("json", WAIT);
        assert_eq!(got["json"], want, "{name}");
    }
}

#[test]
fn json_to_ros_over_dds_every_field() {
    let domain = Domain::new();
    for name in DDS_CASES {
        let (ty, want) = case(name);
        let topic = format!("/rt_down_{name}");
        let mut ros = Peer::py(&domain, &["sub", &ty, &topic]);
        ros.wait_for("ready", WAIT);
        let mut ours = Peer::bridge(&domain, &["pub", &ty, &topic, "volatile", "30"]);
        let deadline = Instant::now() + WAIT;
        let got = loop {
            ours.send(&want.to_string());
            assert!(ours.wait_for("published", WAIT)["published"].is_number());
            if let Some(line) = ros.lines.next(Duration::from_millis(500)) {
                break serde_json::from_str::<Value>(&line).expect("json line");
            }
            assert!(Instant::now() < deadline, "{name}: rclpy received nothing");
        };
        assert_eq!(got["json"], want, "{name}");
    }
}

#[test]
fn a_latched_message_published_before_the_subscriber_arrives() {
    let domain = Domain::new();
    let (ty, want) = case("marker");
    let mut ros = Peer::py(
        &domain,
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
    let mut ours = Peer::bridge(&domain, &["sub", &ty, "/rt_latched"]);
    ours.wait_for("ready", WAIT);
    assert_eq!(ours.wait_for("json", WAIT)["json"], want);
    let qos = ours
        .lines
        .seen
        .iter()
        .find(|l| l.contains("transient_local"))
        .cloned();
    assert!(
        qos.is_some_and(|q| q.contains("reliable")),
        "{:?}",
        ours.lines.seen
    );
}

#[test]
fn best_effort_and_reliable_publishers_on_one_topic_are_both_received() {
    let domain = Domain::new();
    let (ty, high) = case("basic_high");
    let (_, low) = case("basic_low");
    let mut ours = Peer::bridge(&domain, &["sub", &ty, "/rt_mixed"]);
    ours.wait_for("ready", WAIT);
    let args = |name: &'static str, qos: &'static str| {
        [
            "pub",
            name,
            "/rt_mixed",
            "--qos",
            qos,
            "--count",
            "200",
            "--rate",
            "10",
        ]
    };
    let _be = Peer::py(&domain, &args("basic_high", "best_effort"));
    let _rel = Peer::py(&domain, &args("basic_low", "reliable"));
    let (mut seen_high, mut seen_low) = (false, false);
    let end = Instant::now() + WAIT;
    while !(seen_high && seen_low) {
        assert!(Instant::now() < end, "high {seen_high}, low {seen_low}");
        let got = ours.wait_for("json", WAIT)["json"].clone();
        seen_high |= got == high;
        seen_low |= got == low;
    }
    let last_qos = ours
        .lines
        .seen
        .iter()
        .rev()
        .find(|l| l.contains("\"qos\""))
        .cloned();
    assert!(
        last_qos
            .as_deref()
            .is_some_and(|q| q.contains("best_effort, volatile")),
        "{last_qos:?}"
    );
}

#[test]
fn a_publisher_that_appears_after_the_subscriber_is_received_and_matched() {
    let domain = Domain::new();
    let (ty, want) = case("wstrings");
    let mut ours = Peer::bridge(&domain, &["sub", &ty, "/rt_later"]);
    let ready = ours.wait_for("ready", WAIT);
    assert_eq!(
        ready["qos"],
        json!("best_effort, volatile, depth 10"),
        "before any publisher"
    );
    let _ros = Peer::py(
        &domain,
        &[
            "pub",
            "wstrings",
            "/rt_later",
            "--count",
            "200",
            "--rate",
            "10",
        ],
    );
    // The first message and the switch to the publisher's QoS, in either order.
    let (mut json, mut qos) = (None, None);
    while json.is_none() || qos.is_none() {
        let line = ours.wait_for("", WAIT);
        if let Some(j) = line.get("json") {
            json.get_or_insert(j.clone());
        }
        if let Some(q) = line.get("qos") {
            qos = Some(q.clone());
        }
    }
    assert_eq!(json, Some(want));
    let reliable = json!("reliable, volatile, depth 10");
    assert_eq!(qos, Some(reliable), "matched to the reliable publisher");
}

#[test]
fn types_that_cannot_be_used_are_refused_with_what_was_searched() {
    let domain = Domain::new();
    let refused = |args: &[&str], env: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dyntype_peer"));
        ros_env(&mut c, domain.id()).args(args);
        if env {
            with_test_types(&mut c);
        } else {
            c.env("AMENT_PREFIX_PATH", prepend("AMENT_PREFIX_PATH", prefix()));
        }
        let out = c.output().expect("dyntype_peer");
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = refused(&["sub", "no_such_msgs/msg/Nope", "/x"], true);
    assert!(
        e.contains("no_such_msgs/msg/Nope") && e.contains("not installed"),
        "{e}"
    );
    assert!(
        e.contains(&prefix().display().to_string()),
        "every prefix searched: {e}"
    );
    let e = refused(&["sub", "test_msgs/msg/Nope", "/x"], true);
    assert!(e.contains("Nope.msg"), "{e}");
    let e = refused(&["pub", "test_msgs/msg/BasicTypes", "/x"], false);
    assert!(
        e.contains("LD_LIBRARY_PATH") && e.contains("test_msgs"),
        "{e}"
    );
}

#[test]
fn bad_json_is_refused_with_its_path_and_the_publisher_goes_on() {
    let domain = Domain::new();
    let mut ours = Peer::bridge(
        &domain,
        &["pub", "visualization_msgs/msg/MarkerArray", "/rt_bad"],
    );
    for (line, why) in [
        (
            r#"{"markers": [{"pose": {"position": {"x": "far"}}}]}"#,
            "`markers[0].pose.position.x` must be a number",
        ),
        (
            r#"{"markers": [{"idd": 1}]}"#,
            "unknown field `markers[0].idd`",
        ),
        (
            r#"{"markers": [{"id": 2147483648}]}"#,
            "`markers[0].id` must be an integer in",
        ),
        (
            r#"{"markers": [{"text": "a\u0000b"}]}"#,
            "`markers[0].text` contains a NUL",
        ),
        (
            r#"{"markers": [{"mesh_file": {"data": "%%%"}}]}"#,
            "`markers[0].mesh_file.data` is not base64",
        ),
        (
            r#"{"markers": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}"#,
            "`markers[0]` must be an object",
        ),
        (r#"{"markers": {"0": {}}}"#, "`markers` must be an array"),
    ] {
        ours.send(line);
        let v = ours.wait_for("refused", WAIT);
        assert!(
            v["refused"].as_str().is_some_and(|r| r.contains(why)),
            "{line}: {v}"
        );
    }
    let huge = format!(
        r#"{{"markers": [{{"points": [{}]}}]}}"#,
        vec![r#"{"x": 1}"#; 200_000].join(",")
    );
    ours.send(&huge);
    assert_eq!(
        ours.wait_for("published", WAIT)["published"],
        json!(8),
        "200k points are fine"
    );
    ours.send(r#"{"markers": [{"ns": "ok"}]}"#);
    assert_eq!(ours.wait_for("published", WAIT)["published"], json!(9));
}
