//! Bag replay: recorded rosbag2 bags (written at test time by `tests/ros/make_bag.py` with
//! `rosbags`, an independent rosbag2 implementation, as other people's robots record them) are
//! replayed into the real bridge with `scripts/bag_replay.py` (rclpy publishing the bag's raw
//! CDR bytes at the recorded timing), and everything the bridge sends to a real Mosquitto is
//! checked against values computed here from the bag itself (read back through `make_bag.py
//! dump`): every odometry, IMU, joint and battery message arrives (no rate limit on these), the
//! lidar keeps to its 2 Hz and ends on the last scan, yaw in degrees from the quaternion,
//! timestamps are the header stamps in RFC 3339, battery percent per `percentage_scale`, NaN
//! and infinities are `null`, every payload is strict JSON, topics the bridge does not bridge
//! (/tf, /cmd_vel) leave no trace, namespaces and remapping work.
//!
//! Real Mosquitto, real DDS; each test has its own broker, bridge(s) and ROS domain (`Scene`).

mod common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Bags: written and read back by tests/ros/make_bag.py.

fn make_bag(
    dir: &Path,
    name: &str,
    profile: &str,
    storage: &str,
    version: u32,
    duration: f64,
) -> PathBuf {
    let out = dir.join(name);
    run(
        python_cmd("tests/ros/make_bag.py", None)
            .arg("write")
            .arg(&out)
            .args(["--profile", profile, "--storage", storage])
            .args(["--version", &version.to_string()])
            .args(["--duration", &duration.to_string()]),
        "make_bag.py write",
    );
    out
}

/// What a bag holds, as `make_bag.py dump` reads it with rosbags.
struct Bag {
    topics: Value,
    messages: Value,
}

impl Bag {
    fn read(path: &Path) -> Bag {
        let o = run(
            python_cmd("tests/ros/make_bag.py", None)
                .arg("dump")
                .arg(path),
            "make_bag.py dump",
        );
        let v: Value = serde_json::from_slice(&o.stdout).expect("dump is JSON");
        Bag {
            topics: v["topics"].clone(),
            messages: v["messages"].clone(),
        }
    }

    fn msgs(&self, topic: &str) -> &Vec<Value> {
        self.messages[topic]
            .as_array()
            .unwrap_or_else(|| panic!("no topic {topic} in the bag"))
    }

    fn count(&self, topic: &str) -> usize {
        let n = self.topics[topic]["count"].as_u64().expect("count") as usize;
        assert_eq!(n, self.msgs(topic).len(), "{topic}: metadata count");
        n
    }

    /// Seconds between the first and the last message of a topic (log time).
    fn span(&self, topic: &str) -> f64 {
        let m = self.msgs(topic);
        let ns = |v: &Value| v["_log_ns"].as_u64().expect("_log_ns") as f64;
        (ns(m.last().expect("messages")) - ns(&m[0])) / 1e9
    }
}

/// A number of the dump: finite numbers are JSON numbers, the others "nan", "inf", "-inf".
fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("f64"),
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => panic!("not a number in the dump: {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Replay: scripts/bag_replay.py, while the MQTT subscriber keeps reading.

struct Replay {
    proc: Proc,
    out: PathBuf,
}

impl Replay {
    fn start(domain: u32, bag: &Path, args: &[&str]) -> Replay {
        let out = bag.with_extension(format!("replay{}.txt", free_port()));
        let file = std::fs::File::create(&out).expect("replay output file");
        let proc = Proc::spawn(
            python_cmd("scripts/bag_replay.py", Some(domain))
                .arg(bag)
                .args(args)
                .stdout(file.try_clone().expect("replay output file"))
                .stderr(file),
            "bag_replay.py",
        );
        Replay { proc, out }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits for the replay to end while `sub` records (arrival times stay right), then
    /// drains what is still on its way. Returns the replay's output.
    fn finish(mut self, sub: &mut MqttSub, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        let status = loop {
            sub.collect("-", Duration::from_millis(100));
            if let Ok(Some(s)) = self.proc.child.try_wait() {
                break s;
            }
            assert!(
                Instant::now() < end,
                "bag_replay.py still running after {timeout:?}:\n{}",
                self.output()
            );
        };
        sub.collect("-", Duration::from_millis(1500));
        let text = self.output();
        assert!(status.success(), "bag_replay.py failed: {status}\n{text}");
        text
    }
}

/// The summary of bag_replay.py: topic -> messages published (or None when skipped).
fn summary(text: &str) -> BTreeMap<String, Option<u64>> {
    text.lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_once('\t'))
        .map(|(t, n)| (t.to_owned(), n.trim().parse().ok()))
        .collect()
}

/// The replay's summary line, for failure messages.
fn replay_line(text: &str) -> String {
    text.lines()
        .find(|l| l.contains("messages in "))
        .unwrap_or("(no replay summary)")
        .to_owned()
}

/// "published N messages in X s": X.
fn replay_seconds(text: &str) -> f64 {
    let l = text
        .lines()
        .find(|l| l.contains("messages in "))
        .unwrap_or_else(|| panic!("no summary:\n{text}"));
    let after = l.split("messages in ").nth(1).expect("seconds");
    after.split(' ').next().unwrap().parse().expect("seconds")
}

fn on<'a>(got: &'a [MqttMsg], topic: &str) -> Vec<&'a MqttMsg> {
    got.iter().filter(|m| m.topic == topic).collect()
}

// ---------------------------------------------------------------------------------------------
// Expected values, computed here from the bag (not with the bridge's code).

fn stamp_of(msg: &Value) -> (i64, u32) {
    let s = &msg["header"]["stamp"];
    (
        s["sec"].as_i64().expect("sec"),
        s["nanosec"].as_u64().expect("nanosec") as u32,
    )
}

/// The header stamp as RFC 3339; None when unstamped (zero). A stamp whose nanosec is 1e9 or
/// more (not normalised) means what ROS makes of it: rclcpp's Time(msg) is sec * 1e9 + nanosec.
fn expected_timestamp(msg: &Value) -> Option<String> {
    let (sec, ns) = stamp_of(msg);
    let total = i128::from(sec) * 1_000_000_000 + i128::from(ns);
    (total != 0).then(|| {
        rfc3339(
            total.div_euclid(1_000_000_000) as i64,
            total.rem_euclid(1_000_000_000) as u32,
        )
    })
}

/// Degrees into (-180, 180].
fn wrap(d: f64) -> f64 {
    let r = d.rem_euclid(360.0);
    if r > 180.0 {
        r - 360.0
    } else {
        r
    }
}

/// Roll, pitch, yaw in degrees of a quaternion (normalised first), ZYX as REP 103 / tf2.
fn rpy_deg(q: &Value) -> (f64, f64, f64) {
    let (x, y, z, w) = (num(&q["x"]), num(&q["y"]), num(&q["z"]), num(&q["w"]));
    let n = (x * x + y * y + z * z + w * w).sqrt();
    let (x, y, z, w) = (x / n, y / n, z / n, w / n);
    let roll = (2.0 * (w * x + y * z)).atan2(1.0 - 2.0 * (x * x + y * y));
    let pitch = (2.0 * (w * y - z * x)).clamp(-1.0, 1.0).asin();
    let yaw = (2.0 * (w * z + x * y)).atan2(1.0 - 2.0 * (y * y + z * z));
    (
        wrap(roll.to_degrees()),
        pitch.to_degrees(),
        wrap(yaw.to_degrees()),
    )
}

/// Battery percent per `percentage_scale`, from the f32 the driver published.
fn expected_percent(raw: f64, scale: &str) -> Option<f64> {
    if !raw.is_finite() {
        return None;
    }
    let p = match scale {
        "fraction" => raw * 100.0,
        "percent" => raw,
        "auto" if raw <= 1.0 => raw * 100.0,
        "auto" => raw,
        _ => panic!("scale {scale}"),
    };
    (0.0..=100.0).contains(&p).then_some(p)
}

fn status_word(s: u64) -> &'static str {
    match s {
        1 => "charging",
        2 => "discharging",
        3 => "not_charging",
        4 => "full",
        _ => "unknown",
    }
}

// ---------------------------------------------------------------------------------------------
// Comparisons

/// A float64 field: JSON carries it exactly.
fn eq64(got: &Value, want: &Value, what: &str) {
    let (g, w) = (
        got.as_f64()
            .unwrap_or_else(|| panic!("{what}: not a number: {got}")),
        num(want),
    );
    assert!(
        (g - w).abs() <= 1e-12 * w.abs().max(1.0),
        "{what}: got {g}, want {w}"
    );
}

/// A float32 field: the bag's value, or null when it is not finite.
fn eq32(got: &Value, want: &Value, what: &str) {
    let w = num(want) as f32;
    if !w.is_finite() {
        assert!(got.is_null(), "{what}: {w} must be null, got {got}");
        return;
    }
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {got} (want {w})"));
    assert_eq!(g as f32, w, "{what}");
}

/// The envelope of `m` from `robot`, of `kind`, stamped as `bag_msg` says.
fn check_envelope(m: &MqttMsg, robot: &str, kind: &str, bag_msg: &Value) -> Value {
    let v = m.json(); // strict: serde_json refuses NaN and Infinity
    let ts = common::check_envelope(&v, robot, kind, &m.topic);
    // RFC 3339: seconds 00-59 (60 only at a real leap second, none of which is in our bags).
    assert!(
        ts.len() > 19 && &ts[17..19] < "60",
        "{}: not a valid RFC 3339 time: {ts}",
        m.topic
    );
    match expected_timestamp(bag_msg) {
        Some(want) => assert_eq!(ts, want, "{}: timestamp = header stamp", m.topic),
        None => {
            // Unstamped: the bridge's clock, now, not 1970 and not the recording date.
            let age = now_unix() - unix_of(ts);
            assert!(age.abs() < 60.0, "{}: unstamped -> now, got {ts}", m.topic);
        }
    }
    v
}

/// `m` as delivered live (not a retained copy) at `qos`, in the envelope: its data.
fn check_live(m: &MqttMsg, qos: u8, robot: &str, kind: &str, b: &Value) -> Value {
    assert_eq!((m.qos, m.retain), (qos, false), "{} QoS", m.topic);
    check_envelope(m, robot, kind, b)["data"].clone()
}

/// Each MQTT message is the bag message at the same index: none lost, none reordered.
fn check_all<F>(got: &[&MqttMsg], bag: &[Value], what: &str, mut check: F)
where
    F: FnMut(&MqttMsg, &Value),
{
    if got.len() != bag.len() {
        let stamps: BTreeSet<String> = got
            .iter()
            .filter_map(|m| m.json()["timestamp"].as_str().map(str::to_owned))
            .collect();
        let missing: Vec<String> = bag
            .iter()
            .filter_map(expected_timestamp)
            .filter(|t| !stamps.contains(t))
            .take(10)
            .collect();
        panic!(
            "{what}: {} MQTT messages for {} bag messages; first missing stamps: {missing:?}",
            got.len(),
            bag.len()
        );
    }
    for (m, b) in got.iter().zip(bag) {
        check(m, b);
    }
}

fn check_odom(m: &MqttMsg, robot: &str, b: &Value) {
    let d = &check_live(m, 1, robot, "status", b);
    let p = &b["pose"]["pose"];
    eq64(&d["position"]["x"], &p["position"]["x"], "x");
    eq64(&d["position"]["y"], &p["position"]["y"], "y");
    eq64(&d["position"]["z"], &p["position"]["z"], "z");
    let (_, _, yaw) = rpy_deg(&p["orientation"]);
    close(&d["position"]["angle"], yaw, 1e-9, "angle = yaw in degrees");
    let angle = d["position"]["angle"].as_f64().unwrap();
    assert!(angle > -180.0 && angle <= 180.0, "angle {angle}");
    let t = &b["twist"]["twist"];
    for part in ["linear", "angular"] {
        for axis in ["x", "y", "z"] {
            eq64(
                &d["velocity"][part][axis],
                &t[part][axis],
                &format!("velocity.{part}.{axis}"),
            );
        }
    }
    assert_eq!(d["frame_id"], b["header"]["frame_id"]);
    assert_eq!(d["child_frame_id"], b["child_frame_id"]);
}

fn check_imu(m: &MqttMsg, robot: &str, b: &Value) {
    let d = &check_live(m, 0, robot, "sensor", b);
    assert_eq!(d["frame_id"], b["header"]["frame_id"]);
    if num(&b["orientation_covariance"][0]) == -1.0 {
        assert!(d["orientation"].is_null(), "unknown orientation: {d}");
    } else {
        let o = &d["orientation"];
        for k in ["x", "y", "z", "w"] {
            eq64(&o[k], &b["orientation"][k], &format!("orientation.{k}"));
        }
        let (r, p, y) = rpy_deg(&b["orientation"]);
        close(&o["roll"], r, 1e-9, "roll");
        close(&o["pitch"], p, 1e-9, "pitch");
        close(&o["yaw"], y, 1e-9, "yaw");
    }
    for part in ["angular_velocity", "linear_acceleration"] {
        for axis in ["x", "y", "z"] {
            eq64(&d[part][axis], &b[part][axis], &format!("{part}.{axis}"));
        }
    }
}

fn check_joints(m: &MqttMsg, robot: &str, b: &Value) {
    let d = check_live(m, 1, robot, "status", b);
    let motors = d["motors"].as_array().expect("motors");
    let names = b["name"].as_array().expect("names");
    assert_eq!(motors.len(), names.len(), "{d}");
    for (i, j) in motors.iter().enumerate() {
        assert_eq!(j["name"], names[i]);
        eq64(&j["position"], &b["position"][i], "joint position");
        eq64(&j["velocity"], &b["velocity"][i], "joint velocity");
        // The recording has no effort at all: null, not 0.
        assert!(b["effort"][i].is_null() && j["effort"].is_null(), "{j}");
    }
}

fn check_battery(m: &MqttMsg, robot: &str, b: &Value, scale: &str) {
    assert_eq!(m.qos, 1, "status/battery QoS");
    let v = check_envelope(m, robot, "status", b);
    let d = &v["data"];
    let raw = num(&b["percentage"]) as f32;
    match expected_percent(f64::from(raw), scale) {
        Some(p) => close(
            &d["percent"],
            p,
            2e-4,
            &format!("percent ({scale}, raw {raw})"),
        ),
        None => assert!(
            d["percent"].is_null(),
            "percent ({scale}, raw {raw}) must be null: {d}"
        ),
    }
    for k in ["voltage", "current", "charge", "capacity", "temperature"] {
        eq32(&d[k], &b[k], k);
    }
    let st = b["power_supply_status"].as_u64().expect("status");
    assert_eq!(d["status"], status_word(st));
    assert_eq!(d["charging"], st == 1);
    assert_eq!(d["present"], b["present"]);
}

fn check_scan(m: &MqttMsg, robot: &str, b: &Value) {
    let d = &check_live(m, 0, robot, "sensor", b);
    assert_eq!(d["frame_id"], b["header"]["frame_id"]);
    for k in [
        "angle_min",
        "angle_max",
        "angle_increment",
        "time_increment",
        "scan_time",
        "range_min",
        "range_max",
    ] {
        eq32(&d[k], &b[k], k);
    }
    for k in ["ranges", "intensities"] {
        let (got, want) = (
            d[k].as_array().expect("array"),
            b[k].as_array().expect("array"),
        );
        assert_eq!(got.len(), want.len(), "{k} length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            eq32(g, w, &format!("{k}[{i}]"));
        }
    }
}

/// Lidar under the 2 Hz limit: about two per second of scans, at least ~0.5 s apart, each
/// one of the bag's scans, and the last one is the bag's last scan (latest value wins).
fn check_lidar(got: &[&MqttMsg], robot: &str, bag: &Bag, topic: &str, rate: f64) {
    let scans = bag.msgs(topic);
    let span = bag.span(topic) / rate;
    let max = (span * 2.0).floor() as usize + 2;
    let min = ((span * 2.0).floor() as usize).saturating_sub(1);
    assert!(
        (min..=max).contains(&got.len()),
        "lidar at 2 Hz over {span:.1} s of scans: {} messages, want {min}..={max}",
        got.len()
    );
    for w in got.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(gap >= Duration::from_millis(300), "lidar gap {gap:?}");
    }
    let by_stamp: BTreeMap<String, &Value> = scans
        .iter()
        .map(|s| (expected_timestamp(s).expect("stamped"), s))
        .collect();
    for m in got {
        let ts = m.json()["timestamp"].as_str().unwrap().to_owned();
        let b = by_stamp
            .get(&ts)
            .unwrap_or_else(|| panic!("lidar stamp {ts} is no scan of the bag"));
        check_scan(m, robot, b);
    }
    let last = got.last().expect("lidar messages").json();
    assert_eq!(
        last["timestamp"].as_str(),
        expected_timestamp(scans.last().unwrap()).as_deref(),
        "the last lidar message is the bag's last scan"
    );
}

/// Only these topics (per robot) may appear: nothing from /tf or /cmd_vel, no alert.
fn check_topics(got: &[MqttMsg], allowed: &[String]) {
    for m in got {
        assert!(
            allowed.contains(&m.topic),
            "unexpected MQTT topic {} ({})",
            m.topic,
            m.payload.chars().take(200).collect::<String>()
        );
        m.json(); // every payload is strict JSON
    }
}

fn allowed(robot: &str, actions: &[&str]) -> Vec<String> {
    actions
        .iter()
        .chain(&["status/connection", "status/bridge", "status/state"])
        .map(|a| format!("amr/{robot}/{a}"))
        .collect()
}

const ALL: &[&str] = &[
    "status/position",
    "sensor/imu",
    "status/motor",
    "status/battery",
    "sensor/lidar",
];

/// The bridge's own counters (`status/bridge`, last report): for failure messages.
fn counters(got: &[MqttMsg], robot: &str) -> String {
    on(got, &format!("amr/{robot}/status/bridge"))
        .last()
        .map(|m| m.json()["data"]["mappings"].to_string())
        .unwrap_or_else(|| "(no status/bridge)".into())
}

/// The last `status/state` (1 Hz, after the replay ended): the bag's last pose, still moving,
/// and the last battery percent.
fn check_state(
    got: &[MqttMsg],
    robot: &str,
    bag: &Bag,
    odom: Option<&str>,
    battery: &str,
    scale: &str,
) {
    let state = on(got, &format!("amr/{robot}/status/state"))
        .last()
        .unwrap_or_else(|| panic!("no status/state of {robot}"))
        .json();
    let d = &state["data"];
    if let Some(odom) = odom {
        let p = &bag.msgs(odom).last().unwrap()["pose"]["pose"];
        eq64(&d["position"]["x"], &p["position"]["x"], "state x");
        eq64(&d["position"]["y"], &p["position"]["y"], "state y");
        close(
            &d["position"]["angle"],
            rpy_deg(&p["orientation"]).2,
            1e-9,
            "state angle",
        );
        assert_eq!(d["status"], "running", "{state}");
    }
    let last = bag.msgs(battery).last().unwrap();
    match expected_percent(num(&last["percentage"]) as f32 as f64, scale) {
        Some(p) => close(&d["battery"], p, 2e-4, &format!("{robot} state battery")),
        None => assert!(d["battery"].is_null(), "{robot} state battery: {state}"),
    }
}

/// A replay must not cost the bridge its MQTT connection.
fn assert_link_kept(bridges: &[&Bridge]) {
    for b in bridges {
        let log = b.log_text();
        assert!(
            !log.contains("connection to") || !log.contains("lost"),
            "the bridge lost its MQTT connection during the replay:\n{log}"
        );
    }
}

/// The retained battery message that a fleet server connecting now gets.
fn retained_battery(port: u16, robot: &str) -> Value {
    let topic = format!("amr/{robot}/status/battery");
    let mut late = MqttSub::start(port, &topic);
    late.expect(&topic, Duration::from_secs(3), "retained battery", |m| {
        m.retain
    })
    .json()
}

fn config_with(battery_scale: Option<&str>, only_battery: bool) -> String {
    let mut y = String::from("bridge:\n  diagnostics_period: 1.0\nmappings:\n");
    if only_battery {
        for n in ["odom", "imu", "joint_states", "scan"] {
            y.push_str(&format!("  - {{name: {n}, enabled: false}}\n"));
        }
    }
    match battery_scale {
        Some(s) => y.push_str(&format!(
            "  - {{name: battery_state, percentage_scale: {s}}}\n"
        )),
        None => y.push_str("  - {name: battery_state}\n"),
    }
    config(&y)
}

/// The subscribers' side of DDS discovery may lag the publishers' side by a second or more on
/// a loaded machine: the first messages would be lost (see bag_replay.py --help).
const DELAY: &[&str] = &["--delay", "2"];

const REPLAY_TIMEOUT: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------------------------
// Tests

/// One replay: a bag written for the test, a site of its own (domain and broker) and a
/// subscriber recording `filter` from before the first bridge starts.
struct Scene {
    sub: MqttSub,
    site: Site,
    bag: Bag,
    bag_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Scene {
    /// `make_bag` with these arguments, read back, and a site recording `filter`.
    fn new(bag: (&str, &str, &str, u32, f64), filter: &str) -> Scene {
        let (name, profile, storage, version, duration) = bag;
        let dir = tempfile::tempdir().expect("tempdir");
        let bag_dir = make_bag(dir.path(), name, profile, storage, version, duration);
        let bag = Bag::read(&bag_dir);
        let site = Site::start();
        let sub = site.mqtt_sub(filter);
        Scene {
            sub,
            site,
            bag,
            bag_dir,
            _dir: dir,
        }
    }

    /// Replays `path` (the bag, or a file of it) with `args` until the end: its output and
    /// every MQTT message recorded so far.
    fn replay(&mut self, path: &Path, args: &[&str]) -> (String, Vec<MqttMsg>) {
        let out =
            Replay::start(self.site.domain.id(), path, args).finish(&mut self.sub, REPLAY_TIMEOUT);
        (out, self.sub.got.clone())
    }

    /// `replay` of the whole bag, after the usual `DELAY`.
    fn replay_bag(&mut self) -> (String, Vec<MqttMsg>) {
        let bag_dir = self.bag_dir.clone();
        self.replay(&bag_dir, DELAY)
    }

    /// The replay summary has every message of the bag topic `recorded`, as `published`.
    fn assert_replayed(&self, out: &str, published: &str, recorded: &str) {
        assert_eq!(
            summary(out).get(published),
            Some(&Some(self.bag.count(recorded) as u64)),
            "replay summary for {published}:\n{out}"
        );
    }

    /// Every message of the bag topic `recorded` reached `robot`'s `stream`, in order, each
    /// with its values (`out` and the bridge's counters go into the failure message).
    fn check_stream(
        &self,
        got: &[MqttMsg],
        robot: &str,
        stream: Stream,
        recorded: &str,
        out: &str,
    ) {
        let (action, what, check) = stream;
        let ctr = format!("{}; {}", counters(got, robot), replay_line(out));
        check_all(
            &on(got, &format!("amr/{robot}/{action}")),
            self.bag.msgs(recorded),
            &format!("{what} (bridge counters {ctr})"),
            |m, b| check(m, robot, b),
        );
    }

    /// Every battery message of `recorded` reached `robot` with percent per `scale`.
    fn check_battery(&self, got: &[MqttMsg], robot: &str, recorded: &str, scale: &str) {
        check_all(
            &on(got, &format!("amr/{robot}/status/battery")),
            self.bag.msgs(recorded),
            &format!("battery {scale}"),
            |m, b| check_battery(m, robot, b, scale),
        );
    }
}

/// A bridged stream: its action under `amr/<robot>/`, a name, and the check of one message.
type Stream = (&'static str, &'static str, fn(&MqttMsg, &str, &Value));
const ODOM: Stream = ("status/position", "odom", check_odom);
const IMU: Stream = ("sensor/imu", "imu", check_imu);
const JOINTS: Stream = ("status/motor", "joint_states", check_joints);

/// The topics the bridge maps by default, as a robot without a namespace records them.
const BRIDGED: [&str; 5] = ["/odom", "/imu", "/joint_states", "/battery_state", "/scan"];

/// A TurtleBot-like MCAP bag at the recorded rate into three bridges on one broker: TB3 with
/// `percentage_scale: percent` (the driver's 0-100), TB3_AUTO with `auto`, TB3_FRAC with the
/// default `fraction`, which must refuse 87 as 8700 % (null).
#[test]
fn turtlebot_mcap_replay_every_message_and_value() {
    let mut scene = Scene::new(("turtlebot", "turtlebot", "mcap", 9, 6.0), "amr/#");
    let bag = &scene.bag;
    assert_eq!(
        bag.topics["/battery_state"]["qos"][0]["durability"],
        "transient_local"
    );
    assert_eq!(bag.topics["/imu"]["qos"][0]["reliability"], "best_effort");

    let site = &scene.site;
    let tb3 = site.bridge("TB3", &config_with(Some("percent"), false), &[]);
    let auto = site.bridge("TB3_AUTO", &config_with(Some("auto"), true), &[]);
    let frac = site.bridge("TB3_FRAC", &config_with(None, true), &[]);

    let (out, got) = scene.replay_bag();
    for t in BRIDGED.iter().chain(&["/cmd_vel"]) {
        scene.assert_replayed(&out, t, t);
    }
    // /tf is published where tf2_msgs is installed, else skipped (and said so): both fine.
    assert!(
        summary(&out).contains_key("/tf"),
        "/tf in the summary:\n{out}"
    );

    let robot = "TB3";
    scene.check_stream(&got, robot, ODOM, "/odom", &out);
    scene.check_stream(&got, robot, IMU, "/imu", &out);
    scene.check_stream(&got, robot, JOINTS, "/joint_states", &out);
    scene.check_battery(&got, robot, "/battery_state", "percent");
    scene.check_battery(&got, "TB3_AUTO", "/battery_state", "auto");
    scene.check_battery(&got, "TB3_FRAC", "/battery_state", "fraction");
    let bag = &scene.bag;
    check_lidar(&on(&got, "amr/TB3/sensor/lidar"), robot, bag, "/scan", 1.0);

    let mut topics = allowed("TB3", ALL);
    topics.extend(allowed("TB3_AUTO", &["status/battery"]));
    topics.extend(allowed("TB3_FRAC", &["status/battery"]));
    check_topics(&got, &topics);

    // status/state after the replay: the bag's last pose (TB3) and battery (all three).
    check_state(&got, "TB3", bag, Some("/odom"), "/battery_state", "percent");
    check_state(&got, "TB3_AUTO", bag, None, "/battery_state", "auto");
    check_state(&got, "TB3_FRAC", bag, None, "/battery_state", "fraction");

    // What a fleet server connecting now sees: the last battery message, retained.
    let last = bag.msgs("/battery_state").last().unwrap();
    let want = expected_percent(num(&last["percentage"]) as f32 as f64, "percent").unwrap();
    let port = scene.site.port();
    close(
        &retained_battery(port, "TB3")["data"]["percent"],
        want,
        2e-4,
        "retained percent",
    );
    close(
        &retained_battery(port, "TB3_AUTO")["data"]["percent"],
        want,
        2e-4,
        "retained auto percent",
    );
    assert!(retained_battery(port, "TB3_FRAC")["data"]["percent"].is_null());
    assert_link_kept(&[&tb3, &auto, &frac]);
}

/// Another vendor's robot, recorded in namespace /robot3 into an sqlite3 bag (rosbag2 format
/// version 8), replayed into a bridge started in that namespace without a robot_id: the robot
/// id is `robot3`. IMU without orientation (null), four joints, a battery that follows the
/// 0-1 definition (`auto`), reports NaN while booting (null) and is unstamped (bridge clock).
#[test]
fn namespaced_sqlite3_replay_into_namespaced_bridge() {
    let mut scene = Scene::new(("robot3", "robot3", "sqlite3", 8, 6.0), "amr/#");
    let config = config_with(Some("auto"), false);
    let b = scene.site.bridge("", &config, &["-r", "__ns:=/robot3"]);
    let (out, got) = scene.replay_bag();
    for t in BRIDGED.map(|t| format!("/robot3{t}")) {
        scene.assert_replayed(&out, &t, &t);
    }

    let robot = "robot3";
    scene.check_stream(&got, robot, ODOM, "/robot3/odom", &out);
    scene.check_stream(&got, robot, IMU, "/robot3/imu", &out);
    scene.check_stream(&got, robot, JOINTS, "/robot3/joint_states", &out);
    scene.check_battery(&got, robot, "/robot3/battery_state", "auto");
    // The recording really has both cases.
    let battery = on(&got, "amr/robot3/status/battery");
    assert!(battery
        .iter()
        .any(|m| m.json()["data"]["percent"].is_null()));
    assert!(battery.iter().any(|m| m.json()["data"]["percent"]
        .as_f64()
        .is_some_and(|p| p > 50.0 && p < 70.0)));
    let lidar = on(&got, "amr/robot3/sensor/lidar");
    check_lidar(&lidar, robot, &scene.bag, "/robot3/scan", 1.0);
    check_topics(&got, &allowed(robot, ALL));
    assert_link_kept(&[&b]);
}

/// The same TurtleBot recording as an sqlite3 file (.db3 given directly), two topics remapped
/// into /amr7 and played twice as fast into a bridge in namespace /amr7: those two arrive
/// complete, with their original header stamps; /imu, replayed but not remapped, stays outside
/// the namespace and never reaches the bridge.
#[test]
fn remapped_subset_at_double_rate_from_db3_file() {
    let mut scene = Scene::new(("tb_sqlite", "turtlebot", "sqlite3", 9, 6.0), "amr/#");
    let db3 = scene.bag_dir.join("tb_sqlite.db3");
    assert!(db3.exists(), "{}", db3.display());

    let config = config_with(Some("percent"), false);
    let b = scene.site.bridge("AMR007", &config, &["-r", "__ns:=/amr7"]);
    let args = [
        DELAY[0],
        DELAY[1],
        "--topics",
        "/odom",
        "/battery_state",
        "/imu",
        "--remap",
        "/odom:=/amr7/odom",
        "--remap",
        "/battery_state:=/amr7/battery_state",
        "--rate",
        "2",
    ];
    let (out, got) = scene.replay(&db3, &args);
    scene.assert_replayed(&out, "/amr7/odom", "/odom");
    scene.assert_replayed(&out, "/amr7/battery_state", "/battery_state");
    scene.assert_replayed(&out, "/imu", "/imu");
    let sum = summary(&out);
    assert!(
        !sum.contains_key("/scan") && !sum.contains_key("/tf"),
        "--topics filters:\n{out}"
    );
    // Twice as fast: the recording's span in half the time.
    let secs = replay_seconds(&out);
    let half = scene.bag.span("/imu").max(scene.bag.span("/odom")) / 2.0;
    assert!(
        secs > half - 0.3 && secs < half + 1.0,
        "replay took {secs:.2} s, want ~{half:.2} s"
    );

    let robot = "AMR007";
    scene.check_stream(&got, robot, ODOM, "/odom", &out);
    scene.check_battery(&got, robot, "/battery_state", "percent");
    check_topics(
        &got,
        &allowed(robot, &["status/position", "status/battery"]),
    );
    assert_link_kept(&[&b]);
}

/// `--loop` plays the bag again and again: a 1 s recording keeps coming, each pass with the
/// bag's own stamps in the bag's order, until the replay is stopped.
#[test]
fn loop_replays_the_bag_again() {
    let topic = "amr/robot3/status/position";
    let mut scene = Scene::new(("short", "robot3", "mcap", 9, 1.0), topic);
    let odom = scene.bag.msgs("/robot3/odom").clone();
    let n = odom.len();

    let config = config_with(None, false);
    let b = scene.site.bridge("", &config, &["-r", "__ns:=/robot3"]);
    let args = [DELAY[0], DELAY[1], "--loop", "--topics", "/robot3/odom"];
    let mut replay = Replay::start(scene.site.domain.id(), &scene.bag_dir, &args);
    let sub = &mut scene.sub;
    let end = Instant::now() + Duration::from_secs(30);
    while on(&sub.got, topic).len() < 2 * n + n / 2 {
        assert!(
            Instant::now() < end,
            "{} of {} messages; replay:\n{}",
            on(&sub.got, topic).len(),
            2 * n + n / 2,
            replay.output()
        );
        assert!(
            replay.proc.alive(),
            "--loop ended by itself:\n{}",
            replay.output()
        );
        sub.collect("-", Duration::from_millis(200));
    }
    replay.proc.terminate(Duration::from_secs(3));
    let got = on(&sub.got, topic);
    for (k, m) in got.iter().enumerate() {
        let want = expected_timestamp(&odom[k % n]).unwrap();
        assert_eq!(
            m.json()["timestamp"].as_str(),
            Some(want.as_str()),
            "message {k} (pass {})",
            k / n + 1
        );
    }
    assert_link_kept(&[&b]);
}

/// A driver that does not normalise its header stamps (nanosec grows past 1e9 within one
/// `sec`; the message definition says [0, 1e9), and rclcpp reads such a stamp as
/// sec * 1e9 + nanosec). Every timestamp must be that instant: not "09:20:60.100Z" (no such
/// second outside a leap second; Python's datetime and chrono's parser refuse it), and not the
/// bridge's clock either.
#[test]
fn unnormalised_header_stamps_mean_what_ros_makes_of_them() {
    let mut scene = Scene::new(("quirks", "quirks", "mcap", 9, 1.2), "amr/#");
    assert!(scene
        .bag
        .msgs("/odom")
        .iter()
        .any(|m| stamp_of(m).1 >= 1_000_000_000));

    let _b = scene.site.bridge("QRK", &config_with(None, false), &[]);
    let (out, got) = scene.replay_bag();
    scene.check_stream(&got, "QRK", ODOM, "/odom", &out);
    scene.check_stream(&got, "QRK", JOINTS, "/joint_states", &out);
}
