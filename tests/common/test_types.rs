//! Message packages that the build does not know (test_msgs: every field kind;
//! visualization_msgs), installed by scripts/env.sh into a prefix of their own
//! (AMR_BRIDGE_TEST_PREFIX) that only the processes a test gives `test_types_env` see: the
//! bridge must find them at run time. The rclpy side is `tests/ros/dyntype_peer.py`
//! (`TypesPeer`), which also computes each case's expected JSON from rclpy's own messages.

use super::domain::Domain;
use super::proc::{run, Lines, Proc};
use super::require_env;
use super::ros::python_cmd;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The prefix of the test-only message packages.
pub fn test_prefix() -> PathBuf {
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

/// The environment of a process that has the test-only packages installed: in
/// AMENT_PREFIX_PATH, their libraries in LD_LIBRARY_PATH before the process starts (the
/// dynamic loader reads it once), their Python modules in PYTHONPATH.
pub fn test_types_env() -> Vec<(String, String)> {
    let p = test_prefix();
    vec![
        (
            "AMENT_PREFIX_PATH".into(),
            prepend("AMENT_PREFIX_PATH", p.clone()),
        ),
        (
            "LD_LIBRARY_PATH".into(),
            prepend("LD_LIBRARY_PATH", p.join("lib")),
        ),
        (
            "PYTHONPATH".into(),
            prepend("PYTHONPATH", p.join("lib/python3.11/site-packages")),
        ),
    ]
}

/// `c` with `test_types_env`.
pub fn with_test_types(c: &mut Command) -> &mut Command {
    c.envs(test_types_env())
}

/// `tests/ros/dyntype_peer.py` in a domain, its stdout read line by line (JSON).
pub struct TypesPeer {
    pub proc: Proc,
    pub lines: Lines,
}

impl TypesPeer {
    /// `dyntype_peer.py ARGS` in `domain` (`pub CASE TOPIC ...`, `sub TYPE TOPIC ...`).
    pub fn start(domain: &Domain, args: &[&str]) -> TypesPeer {
        let mut c = python_cmd("tests/ros/dyntype_peer.py", Some(domain.id()));
        let mut proc = Proc::spawn(
            with_test_types(c.args(args))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
            "dyntype_peer.py",
        );
        let out = proc.child.stdout.take().expect("stdout");
        TypesPeer {
            proc,
            lines: Lines::from(out),
        }
    }

    /// The next line that has `key`, within `timeout`.
    pub fn wait_for(&mut self, key: &str, timeout: Duration) -> Value {
        self.next_with(key, timeout).unwrap_or_else(|| {
            panic!(
                "{}: no `{key}` line within {timeout:?}; saw {:?}",
                self.proc.name, self.lines.seen
            )
        })
    }

    /// The next line that has `key`, if one comes within `timeout`.
    pub fn next_with(&mut self, key: &str, timeout: Duration) -> Option<Value> {
        let end = Instant::now() + timeout;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let line = self.lines.next(left)?;
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if v.get(key).is_some() {
                return Some(v);
            }
        }
        None
    }
}

/// One case of `dyntype_peer.py`: a message made by rclpy, its CDR and its JSON as the
/// bridge must write it.
pub struct TypeCase {
    pub name: String,
    pub ty: String,
    pub cdr: Vec<u8>,
    pub json: Value,
}

/// Every case of `dyntype_peer.py cases`.
pub fn type_cases() -> Vec<TypeCase> {
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
            TypeCase {
                name: v["name"].as_str().expect("name").to_owned(),
                ty: v["type"].as_str().expect("type").to_owned(),
                cdr,
                json: v["json"].clone(),
            }
        })
        .collect()
}

/// The case `name`: its type and its JSON.
pub fn type_case(name: &str) -> (String, Value) {
    let c = type_cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    (c.ty, c.json)
}
