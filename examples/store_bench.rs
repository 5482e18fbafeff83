//! The durable offline store's write cost: microseconds per message for appends of an
//! odometry-sized QoS 1 message (about 280 bytes of JSON), in batches of 1, 10 and 100, with
//! `fdatasync` per append (what the bridge uses) and without (page cache only); then the
//! cost of acknowledging them and of reading them back.
//!
//! `cargo run --release --example store_bench [DIR] [MESSAGES]`
//!
//! DIR: where the store goes (a fresh directory is made inside it and removed after; it
//! must be on the disk the robot would use: on a tmpfs a sync costs nothing). Default: `.`.
//! MESSAGES: per run, default 2000.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use amr_mqtt_bridge::config::Qos;
use amr_mqtt_bridge::mqtt::store::{Durability, Options, Store};
use amr_mqtt_bridge::mqtt::Outbound;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| ".".into());
    let count: usize = match args.next() {
        Some(n) => n.parse()?,
        None => 2000,
    };
    let payload = ODOMETRY;
    println!(
        "{count} messages of {} bytes per run, store under {base}",
        payload.len()
    );
    println!("durability  batch  append µs/msg  µs/append  ack µs/msg  read µs/msg");
    for durability in [Durability::Fsync, Durability::PageCache] {
        for batch in [1, 10, 100] {
            let dir = tempfile::tempdir_in(&base)?;
            let r = run(dir.path(), durability, batch, count, payload)?;
            let per = |d: f64| d * 1e6 / count as f64;
            println!(
                "{:<10}  {batch:>5}  {:>13.1}  {:>9.1}  {:>10.2}  {:>11.2}",
                format!("{durability:?}"),
                per(r.append),
                per(r.append) * batch as f64,
                per(r.ack),
                per(r.read),
            );
        }
    }
    Ok(())
}

/// Seconds spent appending, acknowledging (in batches as appended), and reading back.
struct Timings {
    append: f64,
    ack: f64,
    read: f64,
}

fn run(
    dir: &Path,
    durability: Durability,
    batch: usize,
    count: usize,
    payload: &str,
) -> anyhow::Result<Timings> {
    let options = Options {
        owner: "AMR001".into(),
        max_bytes: 1 << 30,
        durability,
    };
    let (mut store, _) = Store::open(dir, options)?;
    let topic: Arc<str> = Arc::from("amr/AMR001/status/position");
    let message = Outbound::new(topic, Qos(1), false, payload.as_bytes().to_vec());
    let mut ids = Vec::with_capacity(count);
    let t = Instant::now();
    for _ in 0..count / batch {
        let stored = store.append(&vec![message.clone(); batch])?;
        ids.push(stored.ids.into_iter().flatten().collect::<Vec<u64>>());
    }
    let append = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut after = 0;
    loop {
        let read = store.read_after(after, 1000, usize::MAX)?;
        match read.messages.last() {
            Some(m) => after = m.id,
            None => break,
        }
    }
    let read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for acked in &ids {
        store.ack(acked)?;
    }
    store.sync()?;
    let ack = t.elapsed().as_secs_f64();
    Ok(Timings { append, ack, read })
}

/// What `status/position` carries, with velocities.
const ODOMETRY: &str = concat!(
    r#"{"timestamp":"2024-01-01T12:00:00.123456789Z","robot_id":"AMR001","type":"status","#,
    r#""data":{"position":{"x":10.512345,"y":20.312345,"angle":45.123},"#,
    r#""velocity":{"linear":0.512,"angular":0.101},"frame_id":"odom","#,
    r#""child_frame_id":"base_link","seq":123456}}"#
);
