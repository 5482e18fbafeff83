//! The bench's MQTT subscriber: counts what arrives, fast enough that it is not the limit of a
//! throughput run (mosquitto_sub piped into Python is, near 80k msg/s). A plain MQTT 3.1.1
//! client over a blocking socket: CONNECT (clean session, no keep-alive), one SUBSCRIBE at
//! QoS 0, then it reads PUBLISH packets and counts them per topic. For topics given with
//! `--seq SUFFIX=KEY` it reads the number that follows `KEY` in the payload (the sequence
//! number the load generator wrote) and keeps which ones came.
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
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Relaxed);
}

#[derive(Default)]
struct Topic {
    count: u64,
    bytes: u64,
    seen: Vec<bool>,
    distinct: u64,
    duplicates: u64,
    latency_us: Vec<u32>,
}

fn mqtt_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    let mut n = body.len();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// One packet: (first byte, body); None when STOP was set while waiting.
fn read_packet(r: &mut impl Read, body: &mut Vec<u8>) -> std::io::Result<Option<u8>> {
    let mut b = [0u8; 1];
    loop {
        match r.read_exact(&mut b) {
            Ok(()) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if STOP.load(Relaxed) {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
    let kind = b[0];
    let (mut len, mut shift) = (0usize, 0);
    loop {
        r.read_exact(&mut b)?;
        len |= ((b[0] & 0x7f) as usize) << shift;
        shift += 7;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    body.resize(len, 0);
    r.read_exact(body)?;
    Ok(Some(kind))
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
    /// One PUBLISH packet (`kind`: its first byte; `body`: the rest).
    fn publish(&mut self, kind: u8, body: &[u8]) -> Result<(), std::str::Utf8Error> {
        let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
        let topic = std::str::from_utf8(&body[2..2 + tlen])?;
        let skip = 2 + tlen + if kind & 0x06 != 0 { 2 } else { 0 };
        let payload = &body[skip..];
        if !self.topics.contains_key(topic) {
            self.topics.insert(topic.to_owned(), Topic::default());
        }
        let t = self.topics.get_mut(topic).expect("inserted");
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
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, handler) };
    }
    let mut sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut body = b"\x00\x04MQTT\x04\x02\x00\x00".to_vec();
    mqtt_string(&mut body, &format!("mqtt_count_{}", std::process::id()));
    sock.write_all(&packet(0x10, &body))?;
    let mut sub = vec![0, 1];
    mqtt_string(&mut sub, &filter);
    sub.push(0);
    sock.write_all(&packet(0x82, &sub))?;
    let mut r = BufReader::with_capacity(1 << 20, sock);
    let mut buf = Vec::new();
    while let Some(kind) = read_packet(&mut r, &mut buf)? {
        match kind >> 4 {
            9 => println!("{{\"ready\": true}}"),
            3 => counter.publish(kind, &buf)?,
            _ => {}
        }
    }
    println!("{}", summary(&mut counter.topics));
    Ok(())
}
