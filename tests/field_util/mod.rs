//! Helpers shared by the `field_*` tests (issue 10, "Field-ready"): publishing arbitrary bytes,
//! a command rig (broker, bridge, `cmd_vel` recorder, outcome subscriber), hostile text, a
//! seeded generator, the bridge's log parsed into timed lines, and its `status/bridge`
//! counters. Only the harness names of `tests/common` are used.
#![allow(dead_code)]

use crate::common::*;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TWIST: &str = "geometry_msgs/msg/Twist";
pub const ODOM: &str = "nav_msgs/msg/Odometry";
pub const BOOL: &str = "std_msgs/msg/Bool";
pub const STRING: &str = "std_msgs/msg/String";

/// An RFC 3339 UTC timestamp `offset` seconds from now (negative: in the past).
pub fn rfc3339_in(offset: f64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        + offset;
    let secs = now.floor() as i64;
    let ms = ((now - now.floor()) * 1000.0) as u32;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `mosquitto_pub -s`: the payload is exactly these bytes (NUL, invalid UTF-8, anything).
pub fn pub_bytes(port: u16, topic: &str, payload: &[u8], qos: u8, retain: bool) {
    let mut c = Command::new("mosquitto_pub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic])
        .args(["-q", &qos.to_string(), "-s"]);
    if retain {
        c.arg("-r");
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mosquitto_pub -s");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(payload)
        .expect("payload to mosquitto_pub");
    let s = child.wait().expect("mosquitto_pub");
    assert!(s.success(), "mosquitto_pub -s on {topic} failed");
}

/// `mosquitto_pub -f <file>` (a large payload).
pub fn pub_file(port: u16, topic: &str, file: &std::path::Path, qos: u8, retain: bool) {
    let mut c = Command::new("mosquitto_pub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic])
        .args(["-q", &qos.to_string(), "-f"])
        .arg(file);
    if retain {
        c.arg("-r");
    }
    let s = c.status().expect("mosquitto_pub -f");
    assert!(s.success(), "mosquitto_pub -f on {topic} failed");
}

/// `mosquitto_pub -l`: one message per line, as fast as the client goes. Lines must not hold
/// `\n` (nor NUL: the client ends a line there). The writer runs on a thread; wait for the
/// returned child.
pub fn pub_lines(
    port: u16,
    topic: &str,
    lines: Vec<Vec<u8>>,
    qos: u8,
) -> (Child, std::thread::JoinHandle<()>) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic])
        .args(["-q", &qos.to_string(), "-l"])
        .stdin(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mosquitto_pub -l");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        for l in lines {
            debug_assert!(!l.contains(&b'\n'));
            if stdin.write_all(&l).is_err() || stdin.write_all(b"\n").is_err() {
                break;
            }
        }
    });
    (child, writer)
}

pub fn lin(m: &Value) -> f64 {
    m["linear"]["x"].as_f64().unwrap_or(f64::NAN)
}

pub fn ang(m: &Value) -> f64 {
    m["angular"]["z"].as_f64().unwrap_or(f64::NAN)
}

/// A Twist that is not all zero (NaN counts as not zero).
pub fn moving(m: &Value) -> bool {
    ["linear", "angular"].iter().any(|k| {
        ["x", "y", "z"]
            .iter()
            .any(|a| m[k][a].as_f64().is_none_or(|v| v != 0.0))
    })
}

/// Broker, bridge, a reliable `/cmd_vel` recorder and a subscriber on the outcomes.
pub struct FieldRig {
    pub broker: Broker,
    pub bridge: Bridge,
    pub twists: RosSub,
    pub outcomes: MqttSub,
    pub id: String,
    pub domain: u32,
    /// The bridge's configuration, for `restart_bridge`.
    pub yaml: String,
    /// Every Twist seen so far: (arrival, message).
    pub seen_twists: Vec<(f64, Value)>,
    /// Times the bridge had to be started again (it died).
    pub restarts: usize,
}

impl FieldRig {
    pub fn start(domain: u32, robot: &str, extra: &str) -> FieldRig {
        let broker = Broker::start();
        let yaml = config(extra);
        let bridge = Bridge::start(domain, broker.port, robot, &yaml, &[]);
        FieldRig::with(broker, bridge, domain, robot, &yaml)
    }

    /// A rig around a bridge started with `yaml`.
    pub fn with(broker: Broker, bridge: Bridge, domain: u32, robot: &str, yaml: &str) -> FieldRig {
        let twists = RosSub::start(domain, TWIST, "/cmd_vel", "reliable");
        let outcomes = MqttSub::start(broker.port, &format!("amr/{robot}/status/command"));
        FieldRig {
            broker,
            bridge,
            twists,
            outcomes,
            id: robot.to_owned(),
            domain,
            yaml: yaml.to_owned(),
            seen_twists: Vec::new(),
            restarts: 0,
        }
    }

    /// The bridge died: the tail of its log, and a new bridge in its place (as a supervisor
    /// would respawn it), so that a test can go on and count every input that kills it.
    pub fn restart_bridge(&mut self) -> String {
        let text = self.bridge.log_text();
        let panic_line = text
            .lines()
            .find(|l| l.contains("panicked at"))
            .map(|l| {
                let i = text.find(l).unwrap_or(0);
                text[i..].lines().take(2).collect::<Vec<_>>().join(" ")
            })
            .unwrap_or_else(|| text.lines().rev().take(3).collect::<Vec<_>>().join(" | "));
        // The old one first: two bridges with one client id would take the session in turns.
        let _ = self.bridge.proc.child.kill();
        let _ = self.bridge.proc.child.wait();
        self.bridge = Bridge::start(self.domain, self.broker.port, &self.id, &self.yaml, &[]);
        self.restarts += 1;
        panic_line.chars().take(400).collect()
    }

    pub fn topic(&self, action: &str) -> String {
        format!("amr/{}/command/{action}", self.id)
    }

    pub fn send(&self, action: &str, payload: &[u8]) {
        pub_bytes(self.broker.port, &self.topic(action), payload, 2, false);
    }

    pub fn valid_move(&self, distance_cm: f64) {
        let p = json!({"timestamp": now_rfc3339(), "command": "move_forward",
                       "parameters": {"speed": 20, "distance": distance_cm}});
        self.send("move", p.to_string().as_bytes());
    }

    pub fn release(&self) {
        let p = json!({"timestamp": now_rfc3339(), "command": "release"});
        self.send("emergency", p.to_string().as_bytes());
    }

    /// The next outcome (`data` of a `status/command` message) that satisfies `pred`.
    pub fn outcome_within(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let topic = format!("amr/{}/status/command", self.id);
        self.outcomes
            .wait_for(&topic, timeout, |m| {
                serde_json::from_str::<Value>(&m.payload).is_ok_and(|v| pred(&v["data"]))
            })
            .map(|m| serde_json::from_str::<Value>(&m.payload).expect("json")["data"].clone())
    }

    pub fn outcome(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        match self.outcome_within(Duration::from_secs(10), pred) {
            Some(v) => v,
            None => panic!(
                "no outcome ({what}) within 10 s; bridge alive: {}; last outcomes:\n{}",
                self.bridge.proc.alive(),
                self.outcomes
                    .got
                    .iter()
                    .rev()
                    .take(10)
                    .map(|m| m.payload.chars().take(300).collect::<String>())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    /// The bridge's log says a thread panicked (the process may live on, half alive).
    pub fn panicked(&self) -> bool {
        self.bridge.log_text().contains("panicked at")
    }

    /// Twists arriving within `d`, also kept in `seen_twists`.
    pub fn twists_for(&mut self, d: Duration) -> Vec<(f64, Value)> {
        let tw = self.twists.collect_for(d);
        self.seen_twists.extend(tw.iter().cloned());
        tw
    }

    /// A valid move is obeyed: accepted, a non-zero Twist, completed.
    pub fn assert_obeys_a_valid_move(&mut self, why: &str) {
        self.twists_for(Duration::from_millis(200));
        self.valid_move(10.0);
        let r = self.outcome(&format!("a valid move ({why})"), |d| {
            d["command"] == "move_forward"
                && matches!(d["status"].as_str(), Some("accepted" | "rejected"))
        });
        assert_eq!(r["status"], "accepted", "a valid move {why}: {r}");
        let done = self.outcome(&format!("the valid move completed ({why})"), |d| {
            d["command"] == "move_forward" && d["status"] != "accepted"
        });
        assert_eq!(done["status"], "completed", "{done}");
        let tw = self.twists_for(Duration::from_millis(500));
        assert!(
            tw.iter().any(|(_, m)| lin(m) > 0.0),
            "the valid move ({why}) gave a non-zero Twist: {tw:?}"
        );
    }
}

/// One line of the bridge's ROS log: `[WARN] [1712345678.123456789] [amr_mqtt_bridge]: ...`.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub level: String,
    pub t: f64,
    pub text: String,
}

pub fn log_lines(text: &str) -> Vec<LogLine> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix('[')?;
            let (level, rest) = rest.split_once("] [")?;
            let (t, rest) = rest.split_once(']')?;
            Some(LogLine {
                level: level.trim().to_owned(),
                t: t.trim().parse().ok()?,
                text: rest.to_owned(),
            })
        })
        .collect()
}

/// How often `needle` occurs in the log.
pub fn log_count(bridge: &Bridge, needle: &str) -> usize {
    bridge.log_text().matches(needle).count()
}

/// Waits until the log holds `needle` at least `n` times; the time waited.
pub fn wait_log_count(
    bridge: &Bridge,
    needle: &str,
    n: usize,
    timeout: Duration,
) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if log_count(bridge, needle) >= n {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The bridge's pid.
pub fn bridge_pid(bridge: &Bridge) -> u32 {
    bridge.proc.child.id()
}

/// The latest `status/bridge` report in `sub` (which must subscribe to it) within `timeout`.
pub fn bridge_report(sub: &mut MqttSub, robot: &str, timeout: Duration) -> Option<Value> {
    let topic = format!("amr/{robot}/status/bridge");
    let first = sub.wait_for(&topic, timeout, |_| true)?;
    let mut last = first.json()["data"].clone();
    // Drain what is already there: the newest wins.
    for m in sub.collect(&topic, Duration::from_millis(50)) {
        last = m.json()["data"].clone();
    }
    Some(last)
}

/// A counter of a report: a top-level one (`reconnects`) or a mapping's (`commands.refused`).
pub fn counter(report: &Value, path: &str) -> u64 {
    match path.split_once('.') {
        Some((mapping, c)) => report["mappings"][mapping][c].as_u64().unwrap_or(0),
        None => report[path].as_u64().unwrap_or(0),
    }
}

/// Deterministic pseudo-random numbers (SplitMix64): a printed seed replays a run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Hostile text to put inside a JSON string literal (already in JSON string syntax: `\u0000`
/// is the escape, six characters; raw bytes are raw). Name, bytes.
pub fn hostile_fragments() -> Vec<(&'static str, Vec<u8>)> {
    let raw = |s: &str| s.as_bytes().to_vec();
    vec![
        ("escaped NUL", raw(r"\u0000")),
        ("escaped NUL x3", raw(r"\u0000\u0000\u0000")),
        ("escaped ESC sequence", raw(r"\u001b[2J\u001b[31m")),
        ("escaped C0 controls", raw(r"\u0001\u0007\b\f\r\t")),
        ("RTL override (raw)", raw("\u{202e}")),
        ("RTL mark (escaped)", raw(r"\u200f")),
        ("zero-width space + joiner (raw)", raw("\u{200b}\u{200d}")),
        (
            "combining marks (raw)",
            raw("e\u{0301}\u{0308}\u{0327}\u{0301}\u{0301}"),
        ),
        (
            "combining marks (escaped)",
            raw(r"a\u0301\u0301\u0301\u0301"),
        ),
        ("emoji (raw)", raw("\u{1F916}\u{1F680}")),
        ("emoji (escaped pair)", raw(r"\ud83e\udd16")),
        ("C1 controls (raw)", raw("\u{0085}\u{009b}")),
        ("C1 controls (escaped)", raw(r"\u0085\u009b\u0080")),
        ("U+FFFF (escaped)", raw(r"\uffff\ufffe")),
        ("U+FFFF (raw)", raw("\u{ffff}")),
        ("BOM (escaped)", raw(r"\ufeff")),
        ("BOM (raw)", raw("\u{feff}")),
        ("lone high surrogate", raw(r"\ud800")),
        ("lone low surrogate", raw(r"\udfff")),
        ("reversed surrogate pair", raw(r"\udc00\ud800")),
        ("10 kB string", raw(&"W".repeat(10_000))),
        ("100 kB string", raw(&"L".repeat(100_000))),
        ("invalid UTF-8 0xff 0xfe", vec![0xff, 0xfe]),
        ("overlong NUL 0xc0 0x80", vec![0xc0, 0x80]),
        ("CESU surrogate 0xed 0xa0 0x80", vec![0xed, 0xa0, 0x80]),
        ("truncated sequence 0xe2 0x82", vec![0xe2, 0x82]),
        ("raw NUL byte", vec![0x00]),
        ("raw ESC byte", vec![0x1b]),
    ]
}

/// Stands for a fresh timestamp in a payload template (`fill`).
pub const TS: &str = "@@TS@@";
/// Stands for a number unique to each message (`fill`): ids must not repeat, or a refusal
/// as "duplicate id" would hide how the bridge treats the hostile text.
pub const SEQ: &str = "@@SEQ@@";

/// The template with `TS` and `SEQ` replaced.
pub fn fill(template: &[u8], ts: &str, seq: usize) -> Vec<u8> {
    fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(hay.len());
        let mut i = 0;
        while i < hay.len() {
            if hay[i..].starts_with(needle) {
                out.extend_from_slice(with);
                i += needle.len();
            } else {
                out.push(hay[i]);
                i += 1;
            }
        }
        out
    }
    let t = replace(template, TS.as_bytes(), ts.as_bytes());
    replace(&t, SEQ.as_bytes(), seq.to_string().as_bytes())
}

/// `prefix + fragment + suffix` as bytes.
pub fn splice(prefix: &str, frag: &[u8], suffix: &str) -> Vec<u8> {
    let mut v = prefix.as_bytes().to_vec();
    v.extend_from_slice(frag);
    v.extend_from_slice(suffix.as_bytes());
    v
}

/// Command payloads with `frag` in every string field of a command whose other fields are
/// valid: (field, payload). `command` is the valid command name of the action, `params`
/// its valid parameters as JSON object text (`{}` for none); `ts` the timestamp text (`TS`
/// in a template to `fill` when sent). Ids hold `SEQ`.
pub fn hostile_commands(
    command: &str,
    params: &str,
    frag: &[u8],
    ts: &str,
) -> Vec<(String, Vec<u8>)> {
    let (c_head, c_tail) = command.split_at(command.len() / 2);
    let with_params = |p: &str| format!(",\"parameters\":{p}");
    let params_part = if params == "{}" {
        String::new()
    } else {
        with_params(params)
    };
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |field: &str, v: Vec<u8>| out.push((field.to_owned(), v));
    // command
    add(
        "command (inside)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{c_head}"),
            frag,
            &format!("{c_tail}\"{params_part}}}"),
        ),
    );
    add(
        "command (after)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}"),
            frag,
            &format!("\"{params_part}}}"),
        ),
    );
    add(
        "command (only)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\""),
            frag,
            &format!("\"{params_part}}}"),
        ),
    );
    // id (unique per message through SEQ)
    add(
        "id",
        splice(
            &format!(
                "{{\"timestamp\":\"{ts}\",\"command\":\"{command}\"{params_part},\"id\":\"job-{SEQ}-"
            ),
            frag,
            "\"}",
        ),
    );
    add(
        "id (fragment first)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\"{params_part},\"id\":\""),
            frag,
            &format!("-{SEQ}\"}}"),
        ),
    );
    // timestamp
    add(
        "timestamp (after)",
        splice(
            &format!("{{\"timestamp\":\"{ts}"),
            frag,
            &format!("\",\"command\":\"{command}\"{params_part}}}"),
        ),
    );
    add(
        "timestamp (before)",
        splice(
            "{\"timestamp\":\"",
            frag,
            &format!("{ts}\",\"command\":\"{command}\"{params_part}}}"),
        ),
    );
    // parameter names and values
    let inner = params.trim_start_matches('{').trim_end_matches('}');
    let sep = if inner.is_empty() { "" } else { "," };
    add(
        "parameter name (extra)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\",\"parameters\":{{{inner}{sep}\""),
            frag,
            "\":1}}",
        ),
    );
    if let Some((first, rest)) = inner.split_once(':') {
        // `"speed":20,...` -> `"spe<frag>ed":20,...` and `"speed":"20<frag>",...`
        let name = first.trim_matches('"');
        let (n_head, n_tail) = name.split_at(name.len() / 2);
        add(
            "parameter name (inside)",
            splice(
                &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\",\"parameters\":{{\"{n_head}"),
                frag,
                &format!("{n_tail}\":{rest}}}}}"),
            ),
        );
        let (value, more) = rest
            .split_once(',')
            .map(|(v, m)| (v, format!(",{m}")))
            .unwrap_or((rest, String::new()));
        add(
            "parameter value",
            splice(
                &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\",\"parameters\":{{\"{name}\":\"{value}"),
                frag,
                &format!("\"{more}}}}}"),
            ),
        );
    }
    // unknown keys
    add(
        "unknown key",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\"{params_part},\""),
            frag,
            "\":\"x\"}",
        ),
    );
    add(
        "unknown key's value",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\"{params_part},\"note\":\""),
            frag,
            "\"}",
        ),
    );
    out
}

/// Every Twist in `tw` that is not zero.
pub fn nonzero(tw: &[(f64, Value)]) -> Vec<(f64, Value)> {
    tw.iter().filter(|(_, m)| moving(m)).cloned().collect()
}
