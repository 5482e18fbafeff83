//! Several broker addresses (issue 21, `mqtt.failover`): the broker the bridge is on dies and
//! the bridge goes on at the next address, says `online` there (its Will registered there),
//! and sends again what the dead one never acknowledged.
//!
//! Two real Mosquittos stand for two nodes of a fleet's broker cluster (without the cluster:
//! a fleet subscriber on each), the first behind the fault-injection proxy; an rclpy
//! publisher counting in its odometry (QoS 1).

mod common;
use common::proxy::*;
use common::*;
use std::time::{Duration, Instant};

fn presence(m: &MqttMsg) -> Option<String> {
    serde_json::from_str::<Value>(&m.payload)
        .ok()
        .and_then(|v| v["data"]["state"].as_str().map(str::to_owned))
}

/// Field condition: the cluster node the robot is connected to hangs, then crashes (SIGKILL),
/// while odometry flows at 50 Hz. (The hang first: a broker killed outright also loses what
/// it acknowledged and had not passed on to its subscribers yet, which no client can help.)
/// With the seed's reconnect schedule shortened to `delay: 0.2`, the bridge tries the same
/// address once more (a restarted node comes back there), then the next: it must be
/// `online` on the second broker within 5 s of the connection's end, every sequence
/// number must reach the fleet (the union of both brokers' subscribers), and a number may
/// arrive twice only if it was in flight when the first broker died (the last 100 that its
/// subscriber got). On the new node `online` is said once more about 1.5 keepalives later
/// (a late `offline` Will of the old node must not be the last word), and the Will is
/// registered there: the bridge killed, the second broker says `offline`.
#[test]
fn the_first_broker_killed_the_bridge_goes_on_at_the_second() {
    let domain = Domain::new();
    let robot = "FOV01";
    let n: u32 = 500;
    let broker1 = Broker::start();
    let proxy = Proxy::start(broker1.port);
    let broker2 = Broker::start();
    let yaml = config(&format!(
        "  failover: [{{broker: 127.0.0.1, port: {}}}]\n\
         mappings:\n  - {{name: odom, ros_qos: {{reliability: reliable, depth: 1000}}}}\n",
        broker2.port
    ));
    let mut bridge = Bridge::start(domain.id(), proxy.port, robot, &yaml, &[]);
    let all = format!("amr/{robot}/#");
    let topic = format!("amr/{robot}/status/position");
    let connection = format!("amr/{robot}/status/connection");
    let mut sub1 = MqttSub::start(broker1.port, &all);
    let mut sub2 = MqttSub::start(broker2.port, &all);
    let mut publisher = counted_odometry(&domain, 50.0, n);
    sub1.expect(&topic, Duration::from_secs(15), "position 100", |m| {
        number_at(&m.payload, POSITION_X).is_some_and(|x| x >= 100.0)
    });
    // Nothing gets through any more; once the first broker has passed on all it got, it dies
    // and the connection ends.
    proxy.freeze();
    sub1.wait_for(&topic, Duration::from_millis(300), |_| false);
    signal(broker1.pid(), "KILL");
    proxy.refuse(true);
    proxy.cut();
    let t_kill = Instant::now();
    drop(broker1);
    let online = sub2.wait_for(&connection, Duration::from_secs(20), |m| {
        presence(m).as_deref() == Some("online")
    });
    let failover = t_kill.elapsed();
    let landed = Instant::now();
    let s1 = sequence(&sub1, &topic, POSITION_X);
    drop(sub1);
    assert!(publisher.child.wait().expect("ros_tool pub").success());
    sub2.wait_for(&topic, Duration::from_secs(30), |m| {
        number_at(&m.payload, POSITION_X) == Some(f64::from(n - 1))
    });
    // `online` once more, about 1.5 keepalives (5 s) after landing.
    let again = sub2.wait_for(&connection, Duration::from_secs(15), |m| {
        presence(m).as_deref() == Some("online")
    });
    let again_after = landed.elapsed();
    let s2 = sequence(&sub2, &topic, POSITION_X);
    let _ = bridge.proc.child.kill();
    let _ = bridge.proc.child.wait();
    let will = sub2.wait_for(&connection, Duration::from_secs(10), |m| {
        presence(m).as_deref() == Some("offline")
    });
    let missing = missing(u64::from(n), &[&s1, &s2]);
    let twice: Vec<u64> = s2.iter().copied().filter(|k| s1.contains(k)).collect();
    let tail_from = s1.iter().max().map_or(0, |m| (m + 1).saturating_sub(100));
    let log = bridge.log_text();
    eprintln!(
        "failover: online on the second broker {:.2} s after the connection to the first ended; {} positions via the first, {} via \
         the second ({} twice: in flight at the crash), {} missing ({}); online again {:.1} s after landing; \
         the Will on the second broker: {}; the bridge said: {}",
        failover.as_secs_f64(),
        s1.len(),
        s2.len(),
        twice.len(),
        missing.len(),
        ranges(&missing),
        again_after.as_secs_f64(),
        will.is_some(),
        log.lines()
            .filter(|l| l.contains("next attempt") || l.contains("now on"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    assert!(online.is_some(), "online on the second broker:\n{log}");
    assert!(
        failover < Duration::from_secs(5),
        "within seconds: {failover:?}"
    );
    assert!(
        missing.is_empty(),
        "QoS 1 without loss: {}",
        ranges(&missing)
    );
    assert_eq!(repeated(&s2), 0, "once each on the second broker");
    assert!(
        twice.iter().all(|k| *k >= tail_from),
        "only what was in flight may come twice: {twice:?}"
    );
    assert!(
        again.is_some() && again_after >= Duration::from_secs(5),
        "online said again after about 1.5 keepalives: {again_after:?}"
    );
    assert!(
        will.is_some(),
        "the Will is registered on the second broker"
    );
}
