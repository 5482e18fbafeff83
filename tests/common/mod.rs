//! The end-to-end harness: a real Mosquitto on a free loopback port (own config, stopped by
//! PID even when a test fails), the real bridge binary, an rclpy peer (`tests/ros/ros_tool.py`)
//! and the `mosquitto_sub`/`mosquitto_pub` clients. Every ROS process gets
//! ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and the test's own ROS_DOMAIN_ID.
#![allow(dead_code)]

pub mod proxy;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use serde_json::{json, Value};

/// Checks that the environment of `scripts/env.sh` is there; a clear message otherwise.
pub fn require_env() {
    if std::env::var("AMR_BRIDGE_ENV_READY").is_err() {
        panic!("run the tests through scripts/test (or `source scripts/env.sh` first)");
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn mosquitto_bin() -> String {
    for p in ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    "mosquitto".into()
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    /// SIGTERM, then a kill after `grace`.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Mosquitto on 127.0.0.1:<free port>.
pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    proc: Proc,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_with("")
    }

    /// `extra` is appended to the generated mosquitto.conf.
    pub fn start_with(extra: &str) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        Broker::start_on(dir, port, extra)
    }

    pub fn start_on(dir: tempfile::TempDir, port: u16, extra: &str) -> Broker {
        let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}\n");
        Broker::start_conf(dir, port, &text)
    }

    /// A broker from a whole listener configuration (`port` is the one the bridge uses).
    pub fn start_custom(listeners: impl FnOnce(u16) -> String) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let text = listeners(port);
        Broker::start_conf(dir, port, &text)
    }

    fn start_conf(dir: tempfile::TempDir, port: u16, listeners: &str) -> Broker {
        let conf = dir.path().join("mosquitto.conf");
        let text = format!(
            "persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n{listeners}\n"
        );
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mosquitto (apt-get install mosquitto)");
        let b = Broker {
            port,
            dir,
            proc: Proc {
                child,
                name: "mosquitto".into(),
            },
        };
        wait_port(port, Duration::from_secs(10));
        b
    }

    pub fn stop(mut self) -> (tempfile::TempDir, u16) {
        self.proc.terminate(Duration::from_secs(3));
        let port = self.port;
        // Hand the dir back so a restart can reuse it.
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        (dir, port)
    }
}

pub fn wait_port(port: u16, timeout: Duration) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    panic!("nothing listens on port {port} after {timeout:?}");
}

/// Lines of a child's stdout, read on a thread.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    fn from(stdout: std::process::ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Bytes, not `lines()`: a payload that is not UTF-8 must not end the reader.
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches('\n')
                            .to_owned();
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// The next line within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<String> {
        let line = self.rx.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Everything that arrives within `d`.
    pub fn collect_for(&mut self, d: Duration) -> Vec<String> {
        let end = Instant::now() + d;
        let mut out = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some(l) => out.push(l),
                None => break,
            }
        }
        out
    }
}

/// One MQTT message as `mosquitto_sub` printed it.
#[derive(Debug, Clone)]
pub struct MqttMsg {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload: String,
    pub at: Instant,
}

impl MqttMsg {
    /// The payload parsed strictly: serde_json rejects NaN and Infinity.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or_else(|e| {
            panic!(
                "payload on {} is not strict JSON ({e}): {}",
                self.topic, self.payload
            )
        })
    }
}

/// `mosquitto_sub` on a filter, printing topic, QoS, retain and payload.
pub struct MqttSub {
    proc: Proc,
    lines: Lines,
    pub got: Vec<MqttMsg>,
}

impl MqttSub {
    pub fn start(port: u16, filter: &str) -> MqttSub {
        MqttSub::start_qos(port, filter, 2)
    }

    pub fn start_qos(port: u16, filter: &str, qos: u8) -> MqttSub {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", filter])
            .args([
                "-q",
                &qos.to_string(),
                "-F",
                "%t\t%q\t%r\t%p",
                "--id",
                &format!("test_sub_{}", free_port()),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mosquitto_sub (apt-get install mosquitto-clients)");
        let stdout = child.stdout.take().expect("stdout");
        let sub = MqttSub {
            proc: Proc {
                child,
                name: "mosquitto_sub".into(),
            },
            lines: Lines::from(stdout),
            got: Vec::new(),
        };
        // mosquitto_sub has no "subscribed" signal: give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        sub
    }

    fn parse(line: &str) -> Option<MqttMsg> {
        let mut it = line.splitn(4, '\t');
        Some(MqttMsg {
            topic: it.next()?.to_owned(),
            qos: it.next()?.parse().ok()?,
            retain: it.next()? == "1",
            payload: it.next().unwrap_or("").to_owned(),
            at: Instant::now(),
        })
    }

    /// Waits for a message on `topic` that satisfies `pred`.
    pub fn wait_for(
        &mut self,
        topic: &str,
        timeout: Duration,
        pred: impl Fn(&MqttMsg) -> bool,
    ) -> Option<MqttMsg> {
        let end = Instant::now() + timeout;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let line = self.lines.next(left)?;
            if let Some(m) = MqttSub::parse(&line) {
                self.got.push(m.clone());
                if m.topic == topic && pred(&m) {
                    return Some(m);
                }
            }
        }
        None
    }

    pub fn expect(
        &mut self,
        topic: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&MqttMsg) -> bool,
    ) -> MqttMsg {
        match self.wait_for(topic, timeout, pred) {
            Some(m) => m,
            None => panic!(
                "no message on {topic} ({what}) within {timeout:?}; got:\n{}",
                self.got
                    .iter()
                    .rev()
                    .take(20)
                    .map(|m| format!("{} {}", m.topic, m.payload))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    /// All messages on `topic` arriving within `d`, each stamped (`at`) as it arrives.
    pub fn collect(&mut self, topic: &str, d: Duration) -> Vec<MqttMsg> {
        let end = Instant::now() + d;
        let mut out = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Some(line) = self.lines.next(left) else {
                break;
            };
            if let Some(m) = MqttSub::parse(&line) {
                self.got.push(m.clone());
                if m.topic == topic {
                    out.push(m);
                }
            }
        }
        out
    }
}

/// `mosquitto_pub` once.
pub fn mqtt_pub(port: u16, topic: &str, payload: &str, qos: u8, retain: bool) {
    let mut c = Command::new("mosquitto_pub");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-t",
        topic,
        "-q",
        &qos.to_string(),
        "-m",
        payload,
    ]);
    if retain {
        c.arg("-r");
    }
    let s = c.status().expect("run mosquitto_pub");
    assert!(s.success(), "mosquitto_pub failed");
}

/// A fresh RFC 3339 UTC timestamp, as a fleet would stamp a command.
pub fn now_rfc3339() -> String {
    chrono_like_now()
}

fn chrono_like_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm), so the tests compute
/// timestamps without the bridge's own code.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn python() -> String {
    std::env::var("AMR_BRIDGE_PY").unwrap_or_else(|_| "python3".into())
}

fn ros_env(c: &mut Command, domain: u32) {
    c.env("ROS_DOMAIN_ID", domain.to_string())
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST");
}

/// The rclpy peer publishing `count` messages at `rate`.
pub fn ros_pub(
    domain: u32,
    ty: &str,
    topic: &str,
    data: &Value,
    rate: f64,
    count: u32,
    qos: &str,
) -> Proc {
    ros_pub_args(domain, ty, topic, data, rate, count, qos, &[])
}

/// `ros_pub` with more `ros_tool.py pub` options (`--counter a.b`, `--stamp now`).
#[allow(clippy::too_many_arguments)]
pub fn ros_pub_args(
    domain: u32,
    ty: &str,
    topic: &str,
    data: &Value,
    rate: f64,
    count: u32,
    qos: &str,
    extra: &[&str],
) -> Proc {
    let mut c = Command::new(python());
    c.arg(repo().join("tests/ros/ros_tool.py"))
        .args(["pub", ty, topic, &data.to_string()])
        .args([
            "--rate",
            &rate.to_string(),
            "--count",
            &count.to_string(),
            "--qos",
            qos,
        ])
        .args(extra);
    ros_env(&mut c, domain);
    let child = c
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ros_tool.py pub");
    Proc {
        child,
        name: "ros_tool pub".into(),
    }
}

/// Publishes and waits until the peer is done.
pub fn ros_pub_wait(
    domain: u32,
    ty: &str,
    topic: &str,
    data: &Value,
    rate: f64,
    count: u32,
    qos: &str,
) {
    let mut p = ros_pub(domain, ty, topic, data, rate, count, qos);
    let s = p.child.wait().expect("ros_tool.py pub");
    assert!(s.success(), "ros_tool.py pub failed");
}

/// A recording rclpy subscriber; `recv` gives (arrival unix time, message JSON).
pub struct RosSub {
    proc: Proc,
    lines: Lines,
}

impl RosSub {
    pub fn start(domain: u32, ty: &str, topic: &str, qos: &str) -> RosSub {
        let mut c = Command::new(python());
        c.arg(repo().join("tests/ros/ros_tool.py"))
            .args(["sub", ty, topic, "--qos", qos]);
        ros_env(&mut c, domain);
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ros_tool.py sub");
        let stdout = child.stdout.take().expect("stdout");
        let mut s = RosSub {
            proc: Proc {
                child,
                name: "ros_tool sub".into(),
            },
            lines: Lines::from(stdout),
        };
        let ready = s
            .lines
            .next(Duration::from_secs(20))
            .expect("ros_tool.py sub did not start");
        assert!(ready.contains("ready"), "{ready}");
        s
    }

    pub fn recv(&mut self, timeout: Duration) -> Option<(f64, Value)> {
        let line = self.lines.next(timeout)?;
        let v: Value = serde_json::from_str(&line).expect("ros_tool line");
        Some((v["t"].as_f64().unwrap_or(0.0), v["msg"].clone()))
    }

    pub fn collect_for(&mut self, d: Duration) -> Vec<(f64, Value)> {
        self.lines
            .collect_for(d)
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| (v["t"].as_f64().unwrap_or(0.0), v["msg"].clone()))
            .collect()
    }
}

/// The bridge binary with its own config file.
pub struct Bridge {
    pub proc: Proc,
    pub domain: u32,
    pub log: PathBuf,
    pub dir: tempfile::TempDir,
}

/// A config file for a test: the YAML given, with the broker's port filled in.
pub fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let p = dir.join("bridge.yaml");
    std::fs::write(&p, yaml).expect("write config");
    p
}

impl Bridge {
    /// Starts the bridge: `yaml` is its config file (written to a temp dir); `args` are more
    /// `--ros-args` arguments. Waits until it is connected to the broker.
    pub fn start(
        domain: u32,
        broker_port: u16,
        robot_id: &str,
        yaml: &str,
        args: &[&str],
    ) -> Bridge {
        let b = Bridge::spawn(domain, broker_port, robot_id, yaml, args);
        b.wait_log("connected to", Duration::from_secs(20));
        // The ROS side is up before MQTT connects; let DDS discovery reach the peers.
        std::thread::sleep(Duration::from_millis(500));
        b
    }

    pub fn spawn(
        domain: u32,
        broker_port: u16,
        robot_id: &str,
        yaml: &str,
        args: &[&str],
    ) -> Bridge {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = write_config(dir.path(), yaml);
        let mut ros_args: Vec<String> = vec![
            "--ros-args".into(),
            "-p".into(),
            format!("config_file:={}", cfg.display()),
            "-p".into(),
            format!("port:={broker_port}"),
            "-p".into(),
            "broker:=127.0.0.1".into(),
        ];
        if !robot_id.is_empty() {
            ros_args.push("-p".into());
            ros_args.push(format!("robot_id:={robot_id}"));
        }
        ros_args.extend(args.iter().map(|s| s.to_string()));
        Bridge::spawn_raw(domain, dir, &ros_args)
    }

    /// Starts the binary with exactly these arguments.
    pub fn spawn_raw(domain: u32, dir: tempfile::TempDir, args: &[String]) -> Bridge {
        let log = dir.path().join("bridge.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut c = Command::new(env!("CARGO_BIN_EXE_amr_mqtt_bridge"));
        c.args(args)
            .env("RCUTILS_COLORIZED_OUTPUT", "0")
            .env("ROS_LOG_DIR", dir.path())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        ros_env(&mut c, domain);
        let child = c.spawn().expect("start amr_mqtt_bridge");
        Bridge {
            proc: Proc {
                child,
                name: "amr_mqtt_bridge".into(),
            },
            domain,
            log,
            dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.log_text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "bridge log has no {needle:?} after {timeout:?}:\n{}",
            self.log_text()
        );
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.proc.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "---- bridge log ----\n{}",
                self.log_text()
            );
        }
    }
}

/// A minimal configuration: the seed's keys plus whatever `extra` adds.
pub fn config(extra: &str) -> String {
    format!("mqtt:\n  broker: \"127.0.0.1\"\n  keepalive: 5\n  reconnect: {{enabled: true, max_attempts: 5, delay: 0.2}}\n{extra}")
}

/// The Python of the environment (`AMR_BRIDGE_PY`) running `script` (relative to the repo),
/// with the ROS environment of `domain` when given.
pub fn python_cmd(script: &str, domain: Option<u32>) -> Command {
    let mut c = Command::new(python());
    c.arg(repo().join(script));
    if let Some(d) = domain {
        ros_env(&mut c, d);
    }
    c
}
