//! The MQTT side as a fleet server sees it: `mosquitto_sub` recording every message with its
//! topic, QoS, retain flag and arrival time, and `mosquitto_pub` sending one (text, any bytes,
//! a file) or a stream of them (one a line).

use super::broker::free_port;
use super::proc::{run, show, Lines, Proc};
use super::schema::check_published;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// The payload parsed strictly (serde_json rejects NaN and Infinity), and valid under the
    /// JSON Schema of its topic (`schema::check_published`).
    pub fn json(&self) -> Value {
        let v = serde_json::from_str(&self.payload).unwrap_or_else(|e| {
            panic!(
                "payload on {} is not strict JSON ({e}): {}",
                self.topic, self.payload
            )
        });
        check_published(&self.topic, &self.payload);
        v
    }

    /// `topic<TAB>qos<TAB>retain<TAB>payload`, as `-F "%t\t%q\t%r\t%p"` prints it.
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
}

/// Where a subscriber's readiness probes go (`MqttSub::wait_subscribed`); never in `got`.
const READY_PREFIX: &str = "amr_test_harness/ready/";

/// `mosquitto_sub` on a filter; every message read so far is in `got`.
pub struct MqttSub {
    proc: Proc,
    lines: Lines,
    /// Messages that came while waiting for the subscription's probe, not yet read.
    early: std::collections::VecDeque<MqttMsg>,
    pub got: Vec<MqttMsg>,
}

impl MqttSub {
    /// Subscribes to `filter` at QoS 2.
    pub fn start(port: u16, filter: &str) -> MqttSub {
        MqttSub::start_qos(port, filter, 2)
    }

    pub fn start_qos(port: u16, filter: &str, qos: u8) -> MqttSub {
        let id = format!("test_sub_{}", free_port());
        let ready = format!("{READY_PREFIX}{id}");
        let mut proc = Proc::spawn(
            Command::new("mosquitto_sub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", filter])
                .args(["-t", &ready])
                .args(["-q", &qos.to_string(), "-F", "%t\t%q\t%r\t%p"])
                .args(["--id", &id])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
            "mosquitto_sub (apt-get install mosquitto-clients)",
        );
        let stdout = proc.child.stdout.take().expect("mosquitto_sub stdout");
        let mut sub = MqttSub {
            proc,
            lines: Lines::from(stdout),
            early: Default::default(),
            got: Vec::new(),
        };
        sub.wait_subscribed(port, &ready);
        sub
    }

    /// mosquitto_sub says nothing once it is subscribed: it also subscribes (in the same
    /// SUBSCRIBE) to a topic of its own, where probes go until one comes back.
    fn wait_subscribed(&mut self, port: u16, ready: &str) {
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            mqtt_pub(port, ready, "ready", 0, false);
            let wait = Instant::now() + Duration::from_millis(100);
            while let Some(left) = wait.checked_duration_since(Instant::now()) {
                match self.lines.next(left).map(|l| MqttMsg::parse(&l)) {
                    Some(Some(m)) if m.topic == ready => return,
                    Some(Some(m)) if !m.topic.starts_with(READY_PREFIX) => self.early.push_back(m),
                    Some(_) => {}
                    None => break,
                }
            }
        }
        panic!("mosquitto_sub on port {port} never subscribed (no probe on {ready} came back)");
    }

    /// The next message within `timeout`, whatever its topic (kept in `got` too).
    fn next(&mut self, timeout: Duration) -> Option<MqttMsg> {
        if let Some(m) = self.early.pop_front() {
            self.got.push(m.clone());
            return Some(m);
        }
        let end = Instant::now() + timeout;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match MqttMsg::parse(&self.lines.next(left)?) {
                Some(m) if !m.topic.starts_with(READY_PREFIX) => {
                    self.got.push(m.clone());
                    return Some(m);
                }
                _ => {}
            }
        }
        None
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
            let m = self.next(left)?;
            if m.topic == topic && pred(&m) {
                return Some(m);
            }
        }
        None
    }

    /// `wait_for`, or a panic naming `what` and showing the last messages seen.
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
                self.recent(20)
            ),
        }
    }

    /// The last `n` messages seen, newest first, for failure messages.
    pub fn recent(&self, n: usize) -> String {
        self.got
            .iter()
            .rev()
            .take(n)
            .map(|m| format!("{} {}", m.topic, m.payload))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// All messages on `topic` arriving within `d`, each stamped (`at`) as it arrives.
    pub fn collect(&mut self, topic: &str, d: Duration) -> Vec<MqttMsg> {
        let end = Instant::now() + d;
        let mut out = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Some(m) = self.next(left) else {
                break;
            };
            if m.topic == topic {
                out.push(m);
            }
        }
        out
    }

    /// The newest message on `topic`: waits up to `timeout` for one, then takes whatever
    /// else is already there.
    pub fn latest(&mut self, topic: &str, timeout: Duration) -> Option<MqttMsg> {
        let first = self.wait_for(topic, timeout, |_| true)?;
        Some(
            self.collect(topic, Duration::from_millis(50))
                .pop()
                .unwrap_or(first),
        )
    }

    /// The `data` of the newest `amr/<robot>/status/bridge` report (the bridge's counters;
    /// read them with `counter`). The subscriber must be on that topic.
    pub fn bridge_report(&mut self, robot: &str, timeout: Duration) -> Option<Value> {
        let topic = format!("amr/{robot}/status/bridge");
        Some(self.latest(&topic, timeout)?.json()["data"].clone())
    }
}

/// `mosquitto_pub` to `topic` at `qos`, for the payload options still to add (`-m`, `-f`, `-l`).
pub fn mosquitto_pub(port: u16, topic: &str, qos: u8) -> Command {
    let mut c = Command::new("mosquitto_pub");
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic])
        .args(["-q", &qos.to_string()]);
    c
}

/// `mosquitto_pub` once.
pub fn mqtt_pub(port: u16, topic: &str, payload: &str, qos: u8, retain: bool) {
    let mut c = mosquitto_pub(port, topic, qos);
    c.args(["-m", payload]);
    if retain {
        c.arg("-r");
    }
    run(&mut c, "mosquitto_pub");
}

/// `mosquitto_pub` once, the payload being exactly these bytes (NUL, invalid UTF-8, empty,
/// megabytes: anything a broken fleet client may send).
pub fn mqtt_pub_bytes(port: u16, topic: &str, payload: &[u8], qos: u8, retain: bool) {
    let mut c = mosquitto_pub(port, topic, qos);
    // `-s` refuses an empty stdin; `-n` is the zero-length message.
    c.arg(if payload.is_empty() { "-n" } else { "-s" });
    if retain {
        c.arg("-r");
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub -s");
    let mut stdin = child.stdin.take().expect("mosquitto_pub stdin");
    // A writer of its own: mosquitto_pub reads while it runs.
    let data = payload.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let o = child.wait_with_output().expect("mosquitto_pub -s");
    let _ = writer.join();
    assert!(
        o.status.success(),
        "mosquitto_pub -s on {topic} failed: {}",
        show(&o)
    );
}

/// `mosquitto_pub` once, the payload being the bytes of `file` (any size, any bytes).
pub fn mqtt_pub_file(port: u16, topic: &str, file: &Path, qos: u8, retain: bool) {
    let mut c = mosquitto_pub(port, topic, qos);
    c.arg("-f").arg(file);
    if retain {
        c.arg("-r");
    }
    run(&mut c, "mosquitto_pub -f");
}

/// `mosquitto_pub -l`: one message per line of `lines`, as fast as the client goes (an
/// iterator that sleeps paces it). A line must hold neither `\n` nor NUL (the client ends a
/// message there). The lines are written on a thread; `wait` for the end.
pub struct LinePublisher {
    proc: Proc,
    writer: Option<JoinHandle<()>>,
}

pub fn mqtt_pub_lines<I>(port: u16, topic: &str, qos: u8, lines: I) -> LinePublisher
where
    I: IntoIterator<Item = Vec<u8>> + Send + 'static,
{
    let mut proc = Proc::spawn(
        mosquitto_pub(port, topic, qos)
            .arg("-l")
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit()),
        "mosquitto_pub -l",
    );
    let mut stdin = proc.child.stdin.take().expect("mosquitto_pub stdin");
    let writer = std::thread::spawn(move || {
        for mut l in lines {
            assert!(
                !l.contains(&b'\n') && !l.contains(&0),
                "a line for mosquitto_pub -l"
            );
            l.push(b'\n');
            if stdin.write_all(&l).is_err() {
                break;
            }
        }
    });
    LinePublisher {
        proc,
        writer: Some(writer),
    }
}

impl LinePublisher {
    /// Waits until every line is written and the client has sent them and ended.
    pub fn wait(mut self) {
        if let Some(w) = self.writer.take() {
            w.join().expect("the line writer");
        }
        let s = self.proc.child.wait().expect("mosquitto_pub -l");
        assert!(s.success(), "mosquitto_pub -l failed: {s}");
    }
}
