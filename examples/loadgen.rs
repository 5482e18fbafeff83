//! Native ROS 2 load generator of the bench: publishes realistic AMR messages at fixed rates
//! (up to about 100k msg/s on one topic), paced on a schedule, with sequence numbers, so that a
//! throughput run measures the bridge and not a Python publisher.
//!
//! `loadgen --topic odom:60000 [--topic imu:200 --topic camera:10] [--duration 5]
//!          [--qos reliable|best_effort] [--depth 1000] [--subscribers 1] [--max-late-us 200]`
//!
//! - Schedule: message i of a stream is due at t0 + i / rate. The generator sleeps while the
//!   next slot is more than 300 µs away and spins (yielding the core to others) for the rest,
//!   so pacing does not drift with sleep granularity.
//! - No bursts: when it is more than `max(3 periods, --max-late-us)` behind a slot (the
//!   machine took the core away), it does not catch up back to back: the missed slots are
//!   skipped and counted (`late_skips`). What was sent is exactly `sent`.
//! - Sequence numbers 0, 1, 2, ... per topic, without gaps in what is sent: Odometry
//!   `pose.pose.position.x`, Imu `linear_acceleration.x`, Image `header.frame_id` ("seq <n>").
//!   `header.stamp` is the wall clock at publish.
//!
//! Prints `{"ready": true}` once every publisher has `--subscribers` matched readers, then
//! one JSON line at the end: sent, rate, late_skips, cpu_s, wall_s per run.
//! Not installed by colcon (an example: `cargo build --release --examples`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use r2r::qos::{DurabilityPolicy, HistoryPolicy, ReliabilityPolicy};
use r2r::{nav_msgs::msg::Odometry, sensor_msgs::msg::Image, sensor_msgs::msg::Imu};
use r2r::{NativeMsg as WrappedNativeMsg, Publisher, QosProfile, WrappedTypesupport};

/// How far ahead of a slot the generator stops sleeping and starts spinning.
const SPIN_AHEAD: Duration = Duration::from_micros(300);

struct Args {
    topics: Vec<(String, f64)>,
    duration: f64,
    reliable: bool,
    depth: usize,
    subscribers: usize,
    max_late: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        topics: Vec::new(),
        duration: 5.0,
        reliable: true,
        depth: 1000,
        subscribers: 1,
        max_late: Duration::from_micros(200),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{k} {v}: {e}"));
        match k.as_str() {
            "--topic" => {
                let (name, rate) = v.split_once(':').ok_or("--topic name:rate")?;
                a.topics.push((name.to_owned(), num(rate)?));
            }
            "--duration" => a.duration = num(&v)?,
            "--qos" => a.reliable = v == "reliable",
            "--depth" => a.depth = num(&v)? as usize,
            "--subscribers" => a.subscribers = num(&v)? as usize,
            "--max-late-us" => a.max_late = Duration::from_micros(num(&v)? as u64),
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if a.topics.is_empty() {
        return Err("at least one --topic name:rate".into());
    }
    Ok(a)
}

/// Publishes the stream's message with a sequence number and a stamp (sec, nanosec).
type Publish = Box<dyn FnMut(u64, (i32, u32)) -> Result<(), r2r::Error>>;
/// How many readers the stream's publisher has matched.
type Readers = Box<dyn Fn() -> usize>;

/// One paced stream: its publisher, a native message reused for every publish, its schedule.
struct Stream {
    name: String,
    publish: Publish,
    subscribers: Readers,
    period: Duration,
    rate: f64,
    next_slot: u64,
    sent: u64,
    skips: u64,
}

fn native<T: WrappedTypesupport + 'static>(
    node: &mut r2r::Node,
    topic: &str,
    qos: QosProfile,
    msg: T,
    stamp_seq: fn(&mut WrappedNativeMsg<T>, u64, (i32, u32)),
) -> Result<(Publish, Readers), r2r::Error> {
    let publisher: Publisher<T> = node.create_publisher(topic, qos)?;
    let counter = publisher.clone();
    let mut native = WrappedNativeMsg::<T>::from(&msg);
    let publish = move |seq, stamp| {
        stamp_seq(&mut native, seq, stamp);
        publisher.publish_native(&mut native)
    };
    let subs = move || counter.get_inter_process_subscription_count().unwrap_or(0);
    Ok((Box::new(publish), Box::new(subs)))
}

fn stream(node: &mut r2r::Node, name: &str, rate: f64, qos: QosProfile) -> Result<Stream, String> {
    let e = |e: r2r::Error| format!("{name}: {e}");
    let (publish, subscribers) = match name {
        "odom" => {
            let mut m = Odometry::default();
            m.header.frame_id = "odom".into();
            m.child_frame_id = "base_link".into();
            m.pose.pose.orientation.w = 1.0;
            m.twist.twist.linear.x = 0.5;
            m.twist.twist.angular.z = 0.1;
            native(node, name, qos, m, |n, seq, (sec, nanosec)| {
                n.pose.pose.position.x = seq as f64;
                n.header.stamp.sec = sec;
                n.header.stamp.nanosec = nanosec;
            })
            .map_err(e)?
        }
        "imu" => {
            let mut m = Imu::default();
            m.header.frame_id = "imu_link".into();
            m.orientation.w = 1.0;
            m.orientation_covariance = vec![0.001, 0.0, 0.0, 0.0, 0.001, 0.0, 0.0, 0.0, 0.001];
            m.linear_acceleration.z = 9.81;
            native(node, name, qos, m, |n, seq, (sec, nanosec)| {
                n.linear_acceleration.x = seq as f64;
                n.header.stamp.sec = sec;
                n.header.stamp.nanosec = nanosec;
            })
            .map_err(e)?
        }
        "camera" => {
            let m = Image {
                height: 480,
                width: 640,
                encoding: "rgb8".into(),
                step: 640 * 3,
                data: (0..640 * 480 * 3).map(|i| (i % 251) as u8).collect(),
                ..Default::default()
            };
            native(node, name, qos, m, |n, _seq, (sec, nanosec)| {
                n.header.stamp.sec = sec;
                n.header.stamp.nanosec = nanosec;
            })
            .map_err(e)?
        }
        other => return Err(format!("unknown topic {other} (odom, imu, camera)")),
    };
    Ok(Stream {
        name: name.to_owned(),
        publish,
        subscribers,
        period: Duration::from_secs_f64(1.0 / rate),
        rate,
        next_slot: 0,
        sent: 0,
        skips: 0,
    })
}

fn wall_stamp() -> (i32, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i32, d.subsec_nanos())
}

fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer; CLOCK_PROCESS_CPUTIME_ID always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Waits until `due`: sleeps while it is far, then spins, yielding so that other threads
/// that share the core run meanwhile.
fn wait_until(due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let gap = due - now;
        if gap > SPIN_AHEAD {
            std::thread::sleep(gap - SPIN_AHEAD);
        } else {
            std::thread::yield_now();
        }
    }
}

/// Publishes every stream on its schedule until `end`.
fn run(streams: &mut [Stream], t0: Instant, end: Instant, max_late: Duration) {
    let due = |s: &Stream| t0 + Duration::from_secs_f64(s.next_slot as f64 / s.rate);
    loop {
        let Some(s) = streams.iter_mut().min_by_key(|s| due(s)) else {
            return;
        };
        let at = due(s);
        if at >= end {
            return;
        }
        wait_until(at);
        let late = Instant::now().saturating_duration_since(at);
        if late > max_late.max(s.period * 3) {
            // Behind: skip the missed slots rather than catch up with a burst.
            let missed = (late.as_nanos() / s.period.as_nanos()) as u64;
            s.next_slot += missed;
            s.skips += missed;
            continue;
        }
        if let Err(e) = (s.publish)(s.sent, wall_stamp()) {
            eprintln!("loadgen: {}: publish failed: {e}", s.name);
        } else {
            s.sent += 1;
        }
        s.next_slot += 1;
    }
}

fn main() -> Result<(), String> {
    let a = parse_args()?;
    // Sleeps end within microseconds, not the default 50 µs timer slack.
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let ctx = r2r::Context::create().map_err(|e| e.to_string())?;
    let mut node = r2r::Node::create(ctx, &format!("loadgen_{}", std::process::id()), "")
        .map_err(|e| e.to_string())?;
    let mut qos = QosProfile::default();
    qos.history = HistoryPolicy::KeepLast;
    qos.depth = a.depth;
    qos.durability = DurabilityPolicy::Volatile;
    qos.reliability = if a.reliable {
        ReliabilityPolicy::Reliable
    } else {
        ReliabilityPolicy::BestEffort
    };
    let mut streams = a
        .topics
        .iter()
        .map(|(n, r)| stream(&mut node, n, *r, qos.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while streams.iter().any(|s| (s.subscribers)() < a.subscribers) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The readers' side matches on its own time: what is published before is lost.
    std::thread::sleep(Duration::from_millis(700));
    println!("{{\"ready\": true}}");
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    run(
        &mut streams,
        t0,
        t0 + Duration::from_secs_f64(a.duration),
        a.max_late,
    );
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let obj = |f: &dyn Fn(&Stream) -> String| {
        let v: Vec<String> = streams
            .iter()
            .map(|s| format!("\"{}\": {}", s.name, f(s)))
            .collect();
        format!("{{{}}}", v.join(", "))
    };
    println!(
        "{{\"sent\": {}, \"rate\": {}, \"late_skips\": {}, \"cpu_s\": {cpu:.3}, \"wall_s\": {wall:.3}}}",
        obj(&|s| s.sent.to_string()),
        obj(&|s| format!("{:.1}", s.sent as f64 / wall)),
        obj(&|s| s.skips.to_string()),
    );
    // Let the last samples leave before the node goes away.
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}
