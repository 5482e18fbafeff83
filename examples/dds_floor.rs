//! The DDS floor: what any Rust ROS 2 node (r2r's typed API) pays to take the bridge's topics
//! from DDS before it does any work. It subscribes with the bridge's QoS (best effort,
//! volatile, depth 1000 or 100), spins, drains every stream after each spin (as the bridge does) and
//! drops the messages. The bench (`scripts/bench`) runs it beside the bridge on the same
//! publishers, so that the bridge's cost can be given as a ratio to this floor.
//!
//! `dds_floor [--topics odom,imu,joint_states,battery_state,scan] [--timeout-ms 100]`
//! (`camera`: a `sensor_msgs/Image` topic of that name, reliable, depth 10.)
//!
//! Prints `{"ready": true}` once subscribed, then `{"taken": {topic: n}, "spins": n}` at most
//! once a second while counts change, and a last line with `"final": true` on SIGTERM/SIGINT.
//! Not installed by colcon (an example: `cargo build --release --examples`).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use amr_mqtt_bridge::config::{Reliability, RosQos};
use amr_mqtt_bridge::ros::qos_profile;
use futures::{FutureExt, StreamExt};
use r2r::{QosProfile, WrappedTypesupport};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Relaxed);
}

/// A subscription of the floor: takes what its stream holds, returns how many.
type Drain = Box<dyn FnMut() -> u64>;

/// For the camera (as the bench maps it): reliable, depth 10. Best effort, DDS loses most
/// 1 MB frames on the way (fragments over UDP), the floor as much as the bridge.
fn camera_qos() -> QosProfile {
    qos_profile(RosQos {
        reliability: Reliability::Reliable,
        depth: 10,
        ..RosQos::SENSOR
    })
}

fn drain_of<T: WrappedTypesupport + 'static>(
    node: &mut r2r::Node,
    topic: &str,
    qos: QosProfile,
) -> Result<Drain, r2r::Error> {
    let mut stream = node.subscribe::<T>(topic, qos)?;
    Ok(Box::new(move || {
        let mut n = 0;
        while let Some(Some(msg)) = stream.next().now_or_never() {
            drop(msg);
            n += 1;
        }
        n
    }))
}

fn subscribe(node: &mut r2r::Node, topic: &str) -> Result<Drain, r2r::Error> {
    use r2r::{nav_msgs::msg as nav, sensor_msgs::msg as sensor};
    let high_rate = qos_profile(RosQos::SENSOR_HIGH_RATE);
    let sensor = qos_profile(RosQos::SENSOR);
    match topic {
        // The bridge's QoS for its built-in mappings, from the bridge's own constants.
        "odom" => drain_of::<nav::Odometry>(node, topic, high_rate),
        "imu" => drain_of::<sensor::Imu>(node, topic, high_rate),
        "joint_states" => drain_of::<sensor::JointState>(node, topic, high_rate),
        "battery_state" => drain_of::<sensor::BatteryState>(node, topic, sensor),
        "scan" => drain_of::<sensor::LaserScan>(node, topic, sensor),
        "camera" => drain_of::<sensor::Image>(node, topic, camera_qos()),
        other => panic!("dds_floor: unknown topic {other}"),
    }
}

fn report(names: &[String], taken: &[u64], spins: u64, last: bool) {
    let counts: Vec<String> = names
        .iter()
        .zip(taken)
        .map(|(n, c)| format!("\"{n}\": {c}"))
        .collect();
    println!(
        "{{\"taken\": {{{}}}, \"spins\": {spins}, \"final\": {last}}}",
        counts.join(", ")
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut topics = "odom,imu,joint_states,battery_state,scan".to_owned();
    let mut timeout_ms = 100u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--topics" => topics = args.next().ok_or("--topics needs a value")?,
            "--timeout-ms" => {
                timeout_ms = args.next().ok_or("--timeout-ms needs a value")?.parse()?
            }
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, handler) };
    }
    let ctx = r2r::Context::create()?;
    let mut node = r2r::Node::create(ctx, "dds_floor", "")?;
    let names: Vec<String> = topics.split(',').map(str::to_owned).collect();
    let mut drains = names
        .iter()
        .map(|t| subscribe(&mut node, t))
        .collect::<Result<Vec<_>, _>>()?;
    println!("{{\"ready\": true}}");
    let mut taken = vec![0u64; names.len()];
    let (mut spins, mut printed) = (0u64, Instant::now());
    let mut changed = false;
    while !STOP.load(Relaxed) {
        node.spin_once(Duration::from_millis(timeout_ms));
        spins += 1;
        for (d, t) in drains.iter_mut().zip(taken.iter_mut()) {
            let n = d();
            *t += n;
            changed |= n > 0;
        }
        if changed && printed.elapsed() >= Duration::from_secs(1) {
            report(&names, &taken, spins, false);
            (changed, printed) = (false, Instant::now());
        }
    }
    report(&names, &taken, spins, true);
    Ok(())
}
