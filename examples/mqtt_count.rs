//! The bench's MQTT subscriber: counts what arrives, fast enough that it is not the limit of a
//! throughput run (mosquitto_sub piped into Python is, near 80k msg/s). A rumqttc client
//! (clean session) with one subscription at QoS 0 that counts PUBLISH packets per topic. For
//! topics given with `--seq SUFFIX=KEY` it reads the number that follows `KEY` in the payload
//! (the sequence number the load generator wrote) and keeps which ones came.
//!
//! `mqtt_count --port P --topic 'amr/X/#' [--seq 'status/position="position":{"x":']
//!             [--latency-every N]`
//!
//! For the same topics it also takes the envelope's `timestamp` (the ROS header stamp, which
//! the generator sets to the wall clock at publish) as the latency from ROS publish to here.
//!
//! Prints `{"ready": true}` after the SUBACK, and on SIGTERM/SIGINT one JSON line:
//! `{"topics": {topic: {"count": n, "bytes": b, "distinct": d, "duplicates": u,
//!   "max_seq": m, "first_gaps": [[from, count], ...], "latency_ms": {p50, p90, p99, max}}}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Default)]
struct Topic {
    count: u64,
    bytes: u64,
    seen: Vec<bool>,
    distinct: u64,
    duplicates: u64,
    latency_us: Vec<u32>,
}

/// The number right after `key` in `payload` (integers as the generator writes them: "17.0").
fn seq_after(payload: &[u8], key: &[u8]) -> Option<u64> {
    let at = payload.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = payload[at..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

fn note(t: &mut Topic, seq: u64) {
    let i = seq as usize;
    if i >= t.seen.len() {
        t.seen.resize((i + 1).max(t.seen.len() * 2), false);
    }
    if t.seen[i] {
        t.duplicates += 1;
    } else {
        t.seen[i] = true;
        t.distinct += 1;
    }
}

/// Microseconds from the envelope's `timestamp` to now, when the payload has one.
fn latency_us(payload: &[u8]) -> Option<u32> {
    let key = b"\"timestamp\":\"";
    let at = payload.windows(key.len()).position(|w| w == key)? + key.len();
    let end = at + payload[at..].iter().position(|c| *c == b'"')?;
    let text = std::str::from_utf8(&payload[at..end]).ok()?;
    let stamp = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let d = chrono::Utc::now().signed_duration_since(stamp);
    u32::try_from(d.num_microseconds()?.max(0)).ok()
}

fn percentiles(v: &mut [u32]) -> String {
    if v.is_empty() {
        return "null".into();
    }
    v.sort_unstable();
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    format!(
        "{{\"p50\": {:.3}, \"p90\": {:.3}, \"p99\": {:.3}, \"max\": {:.3}}}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

fn summary(topics: &mut BTreeMap<String, Topic>) -> String {
    let mut parts = Vec::new();
    for (name, t) in topics.iter_mut() {
        let max = t.seen.iter().rposition(|s| *s);
        let mut gaps = Vec::new();
        let mut i = 0;
        while let Some(m) = max {
            if i > m || gaps.len() >= 20 {
                break;
            }
            if !t.seen[i] {
                let from = i;
                while i <= m && !t.seen[i] {
                    i += 1;
                }
                gaps.push(format!("[{from}, {}]", i - from));
            } else {
                i += 1;
            }
        }
        let max = max.map_or("null".to_owned(), |m| m.to_string());
        let latency = percentiles(&mut t.latency_us);
        parts.push(format!(
            "\"{name}\": {{\"count\": {}, \"bytes\": {}, \"distinct\": {}, \"duplicates\": {}, \"max_seq\": {max}, \"first_gaps\": [{}], \"latency_ms\": {latency}}}",
            t.count, t.bytes, t.distinct, t.duplicates, gaps.join(", ")
        ));
    }
    format!("{{\"topics\": {{{}}}}}", parts.join(", "))
}

struct Counter {
    /// (topic suffix, key before the sequence number)
    seqs: Vec<(String, String)>,
    /// Take the latency of every n-th message only (parsing the timestamp of each one makes
    /// the counter itself a load at 60k msg/s).
    latency_every: u64,
    topics: BTreeMap<String, Topic>,
}

impl Counter {
    fn publish(&mut self, topic: &str, payload: &[u8]) {
        if !self.topics.contains_key(topic) {
            self.topics.insert(topic.to_owned(), Topic::default());
        }
        let Some(t) = self.topics.get_mut(topic) else {
            return;
        };
        t.count += 1;
        t.bytes += payload.len() as u64;
        let key = self.seqs.iter().find(|(s, _)| topic.ends_with(s.as_str()));
        if let Some((_, k)) = key {
            if let Some(n) = seq_after(payload, k.as_bytes()) {
                note(t, n);
            }
            if t.count.is_multiple_of(self.latency_every) {
                t.latency_us.extend(latency_us(payload));
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut port, mut filter) = (1883u16, "#".to_owned());
    let mut counter = Counter {
        seqs: Vec::new(),
        latency_every: 1,
        topics: BTreeMap::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--port" => port = v.parse()?,
            "--topic" => filter = v,
            "--seq" => {
                let (suffix, key) = v.split_once('=').ok_or("--seq SUFFIX=KEY")?;
                counter.seqs.push((suffix.to_owned(), key.to_owned()));
            }
            "--latency-every" => counter.latency_every = v.parse::<u64>()?.max(1),
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut options = MqttOptions::new(
        format!("mqtt_count_{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    let max = 256 * 1024 * 1024;
    options
        .set_keep_alive(Duration::from_secs(60))
        .set_max_packet_size(max, max);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    client.subscribe(filter, QoS::AtMostOnce).await?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            event = eventloop.poll() => match event? {
                Event::Incoming(Packet::SubAck(_)) => println!("{{\"ready\": true}}"),
                Event::Incoming(Packet::Publish(p)) => counter.publish(&p.topic, &p.payload),
                _ => {}
            },
        }
    }
    println!("{}", summary(&mut counter.topics));
    Ok(())
}
