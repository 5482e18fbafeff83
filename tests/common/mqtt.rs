//! The MQTT side as a fleet server sees it: `mosquitto_sub` recording every message with its
//! topic, QoS, retain flag and arrival time, and `mosquitto_pub` sending one.

use super::broker::free_port;
use super::proc::{run, Lines, Proc};
use super::schema::check_published;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
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

/// `mosquitto_sub` on a filter; every message read so far is in `got`.
pub struct MqttSub {
    proc: Proc,
    lines: Lines,
    pub got: Vec<MqttMsg>,
}

impl MqttSub {
    /// Subscribes to `filter` at QoS 2.
    pub fn start(port: u16, filter: &str) -> MqttSub {
        MqttSub::start_qos(port, filter, 2)
    }

    pub fn start_qos(port: u16, filter: &str, qos: u8) -> MqttSub {
        let mut proc = Proc::spawn(
            Command::new("mosquitto_sub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", filter])
                .args(["-q", &qos.to_string(), "-F", "%t\t%q\t%r\t%p"])
                .args(["--id", &format!("test_sub_{}", free_port())])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
            "mosquitto_sub (apt-get install mosquitto-clients)",
        );
        let stdout = proc.child.stdout.take().expect("mosquitto_sub stdout");
        let sub = MqttSub {
            proc,
            lines: Lines::from(stdout),
            got: Vec::new(),
        };
        // mosquitto_sub has no "subscribed" signal: give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        sub
    }

    /// The next message within `timeout`, whatever its topic (kept in `got` too).
    fn next(&mut self, timeout: Duration) -> Option<MqttMsg> {
        let end = Instant::now() + timeout;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if let Some(m) = MqttMsg::parse(&self.lines.next(left)?) {
                self.got.push(m.clone());
                return Some(m);
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

/// `mosquitto_pub` once, the payload being the bytes of `file` (any size, any bytes).
pub fn mqtt_pub_file(port: u16, topic: &str, file: &Path, qos: u8) {
    run(
        mosquitto_pub(port, topic, qos).arg("-f").arg(file),
        "mosquitto_pub -f",
    );
}
