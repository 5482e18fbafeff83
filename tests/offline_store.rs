//! The durable offline store (issue 21): what the bridge holds for the broker survives the
//! bridge itself. A bridge killed (SIGKILL) during an outage and started again sends every
//! message it had, oldest first; a store torn by a power cut costs only the damaged record;
//! `max_bytes` drops the oldest, counted; two bridges never share a store; a full or
//! read-only disk falls back to memory with an alert.
//!
//! Bridge -> fault-injection proxy (`tests/common/proxy.rs`) -> real Mosquitto; an rclpy
//! publisher counting in its odometry (`status/position`, QoS 1); `mosquitto_sub` as the
//! fleet. The store is looked at from outside (`tests/common/store.rs`).

mod common;
use common::proxy::*;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The payload bytes of position number `k`, as they lie in the store.
fn position(k: u32) -> String {
    format!("\"position\":{{\"x\":{k}.0,")
}

/// Only odometry goes to disk: the bridge's own status messages at QoS 0 (the odometry
/// mapping keeps QoS 1), no alerts; what the store holds is then exactly the counted stream.
fn only_odometry(store: &Path, max_bytes: Option<u64>) -> String {
    config(&format!(
        "{}  qos: {{status: 0}}\nalerts: {{enabled: false}}\nbridge: {{diagnostics_period: 1}}\n\
         mappings:\n  - {{name: odom, qos: 1, ros_qos: {{reliability: reliable, depth: 1000}}}}\n",
        store_yaml(store, max_bytes)
    ))
}

/// A bridge with a store in `store`, connected through `proxy` to `broker`.
struct Online {
    domain: Domain,
    store: tempfile::TempDir,
    broker: Broker,
    proxy: Proxy,
    bridge: Bridge,
    yaml: String,
    /// `amr/<robot>/status/position`.
    topic: String,
}

/// `Online` for `robot`, its config made by `yaml` from the store's directory.
fn online(robot: &str, yaml: impl FnOnce(&Path) -> String) -> Online {
    let domain = Domain::new();
    let store = tempfile::tempdir().expect("store dir");
    let yaml = yaml(store.path());
    let broker = Broker::start();
    let proxy = Proxy::start(broker.port);
    let bridge = Bridge::start(domain.id(), proxy.port, robot, &yaml, &[]);
    Online {
        domain,
        store,
        broker,
        proxy,
        bridge,
        yaml,
        topic: format!("amr/{robot}/status/position"),
    }
}

/// Whether `seq` ascends.
fn ascending(seq: &[u64]) -> bool {
    seq.windows(2).all(|w| w[0] < w[1])
}

/// Field condition: the robot drives out of Wi-Fi coverage while odometry (QoS 1) flows, the
/// broker it left is killed meanwhile, and the bridge is killed by the watchdog (SIGKILL)
/// during the outage and started again by its supervisor, with the same config and the same
/// store; then a broker is back. Every sequence number must reach the fleet.
///
/// At least once, exactly as allowed: a number may arrive twice only when it was in flight
/// when the connection died (written to the old broker, its PUBACK lost with the connection;
/// stored then and sent again): so only among the last 100 (the in-flight window) that the
/// old broker's subscriber got, each at most once more. Everything after the reconnect
/// arrives once, in order (the store is read oldest first).
#[test]
fn a_bridge_killed_while_offline_loses_nothing() {
    let robot = "STR01";
    let n: u32 = 300;
    let Online {
        domain,
        store,
        broker,
        proxy,
        mut bridge,
        yaml,
        topic,
    } = online(robot, |store| {
        config(&format!(
            "{}mappings:\n  - {{name: odom, ros_qos: {{reliability: reliable, depth: 1000}}}}\n",
            store_yaml(store, None)
        ))
    });
    let dir = store.path().join(robot);
    let mut sub1 = MqttSub::start(broker.port, &topic);
    let mut publisher = counted_odometry(&domain, 50.0, n);
    sub1.expect(&topic, Duration::from_secs(15), "position 50", |m| {
        number_at(&m.payload, POSITION_X).is_some_and(|x| x >= 50.0)
    });
    // Out of coverage: first nothing gets through (what the bridge writes now stays in
    // flight, unacknowledged), then the connection drops; the broker it left dies once the
    // bridge has noticed.
    proxy.freeze();
    sub1.wait_for(&topic, Duration::from_millis(500), |_| false);
    proxy.refuse(true);
    proxy.cut();
    proxy.thaw();
    bridge.wait_log("lost", Duration::from_secs(10));
    signal(broker.pid(), "KILL");
    let (broker_dir, port) = broker.stop();
    let s1 = sequence(&sub1, &topic, POSITION_X);
    drop(sub1);
    assert!(publisher.child.wait().expect("ros_tool pub").success());
    // Everything the bridge got is on disk (not yet synced is fine: a kill keeps the page
    // cache), then the watchdog kills it.
    wait_stored(&dir, &position(n - 1), Duration::from_secs(10));
    let _ = bridge.proc.child.kill();
    let _ = bridge.proc.child.wait();
    let mut bridge2 = Bridge::spawn(domain.id(), proxy.port, robot, &yaml, &[]);
    bridge2.wait_log("messages from before, sent first", Duration::from_secs(20));
    let _broker2 = Broker::start_on(broker_dir, port, "");
    let mut sub2 = MqttSub::start(port, &topic);
    let t_open = Instant::now();
    proxy.refuse(false);
    bridge2.wait_connected(Duration::from_secs(20));
    let last = sub2.wait_for(&topic, Duration::from_secs(30), |m| {
        number_at(&m.payload, POSITION_X) == Some(f64::from(n - 1))
    });
    let all_sent = t_open.elapsed();
    sub2.collect(&topic, Duration::from_secs(1));
    let s2 = sequence(&sub2, &topic, POSITION_X);
    let missing = missing(u64::from(n), &[&s1, &s2]);
    let twice: Vec<u64> = s2.iter().copied().filter(|k| s1.contains(k)).collect();
    let tail_from = s1.iter().max().map_or(0, |m| (m + 1).saturating_sub(100));
    let kept = s2.len() - twice.len();
    let log1 = bridge.log_text();
    let to_disk = log1
        .lines()
        .find(|l| l.contains("in flight and"))
        .unwrap_or("");
    eprintln!(
        "crash while offline: {n} published; {} reached the old broker; {} kept across the kill and sent by \
         the new process ({} of them twice: in flight at the loss), all within {:.2} s of the reconnect; \
         {} missing ({}); at the loss: {to_disk}; the new process said: {}",
        s1.len(),
        kept,
        twice.len(),
        all_sent.as_secs_f64(),
        missing.len(),
        ranges(&missing),
        bridge2.log_line("from before")
    );
    assert!(last.is_some(), "the last message arrived");
    assert!(missing.is_empty(), "nothing lost: {}", ranges(&missing));
    assert_eq!(repeated(&s1), 0, "once each on the old broker");
    assert_eq!(repeated(&s2), 0, "once each after the restart");
    assert!(ascending(&s2), "oldest first: {s2:?}");
    assert!(
        twice.iter().all(|k| *k >= tail_from),
        "only what was in flight (the last 100 the old broker got, from {tail_from}) may come twice: {twice:?}"
    );
    assert!(kept > 100, "most went through the store: {kept}");
    let in_flight: u32 = to_disk
        .split(": ")
        .nth(2)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        in_flight > 0,
        "what was in flight at the loss went to disk too: {to_disk}"
    );
}

/// A bridge that was offline all along, with `n` positions on its store: the site (broker,
/// domain), the proxy (refusing), the store, the config and the bridge.
struct Offline {
    site: Site,
    proxy: Proxy,
    store: tempfile::TempDir,
    yaml: String,
    bridge: Bridge,
}

fn offline_with(robot: &str, n: u32, max_bytes: Option<u64>) -> Offline {
    let site = Site::start();
    let proxy = Proxy::start(site.port());
    proxy.refuse(true);
    let store = tempfile::tempdir().expect("store dir");
    let yaml = only_odometry(store.path(), max_bytes);
    let bridge = Bridge::spawn(site.domain.id(), proxy.port, robot, &yaml, &[]);
    bridge.wait_log("cannot connect", Duration::from_secs(20));
    let mut publisher = counted_odometry(&site.domain, 200.0, n);
    assert!(publisher.child.wait().expect("ros_tool pub").success());
    wait_stored(
        &store.path().join(robot),
        &position(n - 1),
        Duration::from_secs(10),
    );
    Offline {
        site,
        proxy,
        store,
        yaml,
        bridge,
    }
}

impl Offline {
    fn dir(&self, robot: &str) -> std::path::PathBuf {
        self.store.path().join(robot)
    }

    /// Kills the bridge, as a power cut would.
    fn kill(&mut self) {
        let _ = self.bridge.proc.child.kill();
        let _ = self.bridge.proc.child.wait();
    }

    /// The broker reachable (`restart`: for a new bridge on the store); what the fleet gets
    /// until position `until` (or 30 s), and a second more, with the last report.
    fn reconnect(&mut self, robot: &str, restart: bool, until: u32) -> (Vec<u64>, Option<Value>) {
        let topic = format!("amr/{robot}/status/position");
        let mut sub = self.site.mqtt_sub(&format!("amr/{robot}/#"));
        if restart {
            self.bridge = Bridge::spawn(
                self.site.domain.id(),
                self.proxy.port,
                robot,
                &self.yaml,
                &[],
            );
        }
        self.proxy.refuse(false);
        sub.wait_for(&topic, Duration::from_secs(30), |m| {
            number_at(&m.payload, POSITION_X) == Some(f64::from(until))
        });
        sub.collect(&topic, Duration::from_secs(1));
        let report = sub.bridge_report(robot, Duration::from_secs(5));
        (sequence(&sub, &topic, POSITION_X), report)
    }
}

/// A store of `n` = 100 positions, left by a bridge killed while offline, then damaged by
/// `damage` (which says what it did): a new bridge warns and sends every position but `lost`,
/// once each, in order.
fn a_damaged_store_sends_the_rest(robot: &str, damage: impl FnOnce(&Path) -> String, lost: u32) {
    let n = 100;
    let mut s = offline_with(robot, n, None);
    s.kill();
    let what = damage(&s.dir(robot));
    let until = if lost == n - 1 { n - 2 } else { n - 1 };
    let (got, _) = s.reconnect(robot, true, until);
    let missing = missing(u64::from(n), &[&got]);
    let log = s.bridge.log_text();
    let warning = log.lines().find(|l| l.contains("damaged")).unwrap_or("");
    eprintln!(
        "{what}: {} of {n} sent, missing {}; the bridge warned: {warning}",
        got.len(),
        ranges(&missing)
    );
    assert!(!warning.is_empty(), "a warning names the damage:\n{log}");
    assert_eq!(
        missing,
        [u64::from(lost)],
        "only the damaged record is lost"
    );
    assert_eq!(repeated(&got), 0);
    assert!(ascending(&got), "in order: {got:?}");
}

/// Field condition: the robot lost power while the bridge was writing to its store, the last
/// record half on disk. The bridge starts, warns, and sends every intact record.
#[test]
fn a_store_torn_in_the_middle_of_a_record_sends_the_intact_ones() {
    let torn = |dir: &Path| {
        let cut = tear_last_record(dir);
        format!("torn store: {cut} bytes cut off the last record")
    };
    a_damaged_store_sends_the_rest("STR02", torn, 99);
}

/// Field condition: a byte of the store flipped on the flash (a power cut, a worn cell): the
/// record around it no longer checks. The bridge starts, warns, and sends every other record.
#[test]
fn a_store_with_a_flipped_byte_sends_the_intact_records() {
    let bad = 37;
    let flipped = |dir: &Path| {
        flip_byte(dir, &position(bad));
        format!("flipped byte in position {bad}")
    };
    a_damaged_store_sends_the_rest("STR03", flipped, bad);
}

/// Field condition: an outage longer than the store holds (`max_bytes` at its smallest,
/// 64 KiB, about 150 positions): the oldest go, whole segments at a time, and each one is
/// counted in `offline_dropped`; what is kept is the newest, in order, none twice.
#[test]
fn over_max_bytes_the_oldest_are_dropped_and_counted() {
    let robot = "STR04";
    let n = 600;
    let mut s = offline_with(robot, n, Some(65536));
    let bytes: u64 = segments(&s.dir(robot))
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let (got, report) = s.reconnect(robot, false, n - 1);
    let missing = missing(u64::from(n), &[&got]);
    let r = report.unwrap_or(Value::Null);
    let dropped = counter(&r, "offline_dropped");
    eprintln!(
        "max_bytes 65536: {bytes} bytes on disk after the outage; {} of {n} sent ({}..{}), {} dropped, \
         offline_dropped {dropped}; offline_store {}",
        got.len(),
        got.first().copied().unwrap_or(0),
        got.last().copied().unwrap_or(0),
        missing.len(),
        r["offline_store"]
    );
    assert!(bytes <= 65536, "the bound holds on disk: {bytes}");
    assert!(!missing.is_empty(), "the outage was longer than the store");
    let first_kept = missing.len() as u64;
    assert_eq!(
        missing,
        (0..first_kept).collect::<Vec<_>>(),
        "the oldest went"
    );
    assert_eq!(dropped, first_kept, "every one dropped is counted");
    assert_eq!(repeated(&got), 0);
    assert!(ascending(&got), "in order: {got:?}");
    assert_eq!(r["offline_store"]["state"], "ok");
}

/// Two bridges configured with the same store (a robot's bridge started twice by mistake):
/// the second stops at once, exit 2, naming the store and the process that holds it; the
/// first goes on.
#[test]
fn a_second_bridge_on_the_same_store_is_refused() {
    let store = tempfile::tempdir().expect("store dir");
    let robot = "STR05";
    let yaml = config(&store_yaml(store.path(), None));
    let mut rig = Rig::start_with(robot, &yaml, &[], &format!("amr/{robot}/#"));
    let mut second = Bridge::spawn(rig.domain.id(), rig.port(), robot, &yaml, &[]);
    let status = second.wait_exit(Duration::from_secs(30));
    let log = second.log_text();
    let dir = store.path().join(robot).display().to_string();
    let said = log.lines().find(|l| l.contains(&dir)).unwrap_or("");
    eprintln!("second bridge: {status:?}: {said}");
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{log}");
    assert!(
        said.contains("in use by another process")
            && said.contains(&format!("pid {}", rig.bridge.pid())),
        "the error names the store and its holder:\n{log}"
    );
    assert!(rig.bridge.proc.alive(), "the first one goes on");
    let state = rig.expect("status/state", Duration::from_secs(5), "state", |_| true);
    assert!(!state.payload.is_empty());
}

/// A bridge whose store lies on a tmpfs of 64 KiB of its own, mounted `options` in a user and
/// mount namespace (no root needed; the tmpfs goes with the bridge), started offline: `n`
/// positions published, then the broker reachable. Returns what the fleet got, the bridge,
/// its last report and the alerts.
fn on_a_small_tmpfs(robot: &str, options: &str, n: u32) -> (Vec<u64>, Bridge, Value, Vec<Value>) {
    let site = Site::start();
    let proxy = Proxy::start(site.port());
    proxy.refuse(true);
    let mount = tempfile::tempdir().expect("mount point");
    let yaml = config(&format!(
        "{}  qos: {{status: 0}}\nbridge: {{diagnostics_period: 1}}\n\
         mappings:\n  - {{name: odom, qos: 1, ros_qos: {{reliability: reliable, depth: 1000}}}}\n",
        store_yaml(mount.path(), Some(1 << 20))
    ));
    let script = format!("mount -t tmpfs -o {options},size=64k tmpfs \"$0\" && exec \"$@\"");
    let launch = Launch {
        binary: None,
        wrap: [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
        ]
        .map(String::from)
        .into_iter()
        .chain([script, mount.path().display().to_string()])
        .collect(),
        ..Launch::default()
    };
    let bridge = Bridge::spawn_with(&launch, site.domain.id(), proxy.port, robot, &yaml, &[]);
    bridge.wait_log("cannot connect", Duration::from_secs(20));
    let mut publisher = counted_odometry(&site.domain, 200.0, n);
    assert!(publisher.child.wait().expect("ros_tool pub").success());
    let topic = format!("amr/{robot}/status/position");
    let mut sub = site.mqtt_sub(&format!("amr/{robot}/#"));
    proxy.refuse(false);
    // Memory is sent before what the store holds: the last one is not the sign of the end.
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end
        && !missing(u64::from(n), &[&sequence(&sub, &topic, POSITION_X)]).is_empty()
    {
        sub.wait_for(&topic, Duration::from_millis(200), |_| false);
    }
    sub.collect(&topic, Duration::from_secs(1));
    let got = sequence(&sub, &topic, POSITION_X);
    let report = sub
        .bridge_report(robot, Duration::from_secs(5))
        .unwrap_or(Value::Null);
    let alerts = sub
        .got
        .iter()
        .filter(|m| m.topic.starts_with(&format!("amr/{robot}/alert/")))
        .map(|m| m.json())
        .collect();
    (got, bridge, report, alerts)
}

fn falls_back_to_memory(robot: &str, options: &str, what: &str) {
    let n = 400;
    let (got, bridge, report, alerts) = on_a_small_tmpfs(robot, options, n);
    let missing = missing(u64::from(n), &[&got]);
    let alert = alerts
        .iter()
        .find(|a| a["message"] == "Offline store failed")
        .cloned()
        .unwrap_or(Value::Null);
    let log = bridge.log_text();
    eprintln!(
        "{what}: {} of {n} positions arrived, {} missing, {} twice; store {}; alert {alert}",
        got.len(),
        missing.len(),
        repeated(&got),
        report["offline_store"],
    );
    assert!(
        log.contains("QoS 1/2 messages wait in memory from now on"),
        "an error in the log:\n{log}"
    );
    assert_eq!(alert["level"], "warning", "an alert: {alerts:?}");
    assert!(alert["data"]["path"]
        .as_str()
        .is_some_and(|p| p.ends_with(robot)));
    assert_eq!(report["offline_store"]["state"], "failed");
    assert!(missing.is_empty(), "nothing lost: {}", ranges(&missing));
    assert_eq!(repeated(&got), 0, "none twice");
}

/// Field condition: the robot's disk fills up during an outage. The store takes what fits
/// (64 KiB, about 150 positions), then the write fails (ENOSPC): the bridge raises an alert
/// and keeps the rest in memory; once the broker is back, everything arrives, once.
#[test]
fn a_full_disk_falls_back_to_memory_with_an_alert() {
    falls_back_to_memory("STR06", "rw", "full disk");
}

/// Field condition: the store's file system is read-only (remounted after an error): the
/// bridge cannot open its store, raises an alert, and keeps what waits in memory.
#[test]
fn a_read_only_disk_falls_back_to_memory_with_an_alert() {
    falls_back_to_memory("STR07", "ro", "read-only disk");
}

/// Issue 18's case with a store: QoS 2 publishes in flight when the connection dies (their
/// PUBRECs held back, then the connection cut) go to disk as well; the broker kept the
/// session, so they go again under their packet ids (never as new messages: the broker would
/// take one for a duplicate), and their acknowledgements clear them from the store. None
/// lost, none twice, and nothing left on disk once all is acknowledged.
#[test]
fn with_a_store_a_kept_session_still_gets_the_in_flight_under_the_same_ids() {
    let robot = "STR08";
    let n: u32 = 400;
    let o = online(robot, |store| {
        config(&format!(
            "{}bridge: {{diagnostics_period: 1}}\n\
             mappings:\n  - {{name: odom, qos: 2, ros_qos: {{reliability: reliable, depth: 1000}}}}\n",
            store_yaml(store, None)
        ))
    });
    let topic = &o.topic;
    let mut sub = MqttSub::start_qos(o.broker.port, &format!("amr/{robot}/#"), 2);
    let mut publisher = counted_odometry(&o.domain, 100.0, n);
    sub.expect(topic, Duration::from_secs(15), "a first position", |_| true);
    o.proxy.set_latency(Duration::ZERO, Duration::from_secs(60));
    sub.wait_for(topic, Duration::from_millis(1500), |_| false);
    o.proxy.set_latency(Duration::ZERO, Duration::ZERO);
    o.proxy.cut();
    let restored = o
        .bridge
        .wait_log_count("restored", 1, Duration::from_secs(20));
    assert!(publisher.child.wait().expect("ros_tool pub").success());
    sub.wait_for(topic, Duration::from_secs(30), |m| {
        number_at(&m.payload, POSITION_X) == Some(f64::from(n - 1))
    });
    // Reports until one says the store is empty (every acknowledgement reached it).
    let report = format!("amr/{robot}/status/bridge");
    let emptied = sub.wait_for(&report, Duration::from_secs(10), |m| {
        m.json()["data"]["offline_store"]["pending"] == 0
    });
    let got = sequence(&sub, topic, POSITION_X);
    let missing = missing(u64::from(n), &[&got]);
    let log = o.bridge.log_text();
    eprintln!(
        "kept session with a store: {n} at QoS 2, {} arrived, {} missing, {} twice; restored after {restored:?}; \
         {}; {}; store emptied: {}",
        got.len(),
        missing.len(),
        repeated(&got),
        log.lines().find(|l| l.contains("in flight and")).unwrap_or(""),
        log.lines().find(|l| l.contains("restored")).unwrap_or(""),
        emptied.is_some()
    );
    assert!(log.contains("session kept"), "the case under test:\n{log}");
    assert!(
        log.contains("in flight and"),
        "in-flight copies went to disk:\n{log}"
    );
    assert!(missing.is_empty(), "none lost: {}", ranges(&missing));
    assert_eq!(repeated(&got), 0, "QoS 2: none twice");
    assert!(
        emptied.is_some(),
        "the store is empty once all is acknowledged"
    );
}

/// The odometry mapping's `received` in the next `/diagnostics` message (0 if none comes).
fn odometry_received(diagnostics: &mut RosSub) -> u32 {
    let Some((_, msg)) = diagnostics.recv(Duration::from_secs(3)) else {
        return 0;
    };
    let statuses = msg["status"].as_array().cloned().unwrap_or_default();
    statuses
        .iter()
        .find(|s| s["name"] == "amr_mqtt_bridge: odom")
        .and_then(|s| s["values"].as_array().cloned())
        .and_then(|v| {
            v.iter()
                .find(|kv| kv["key"] == "received")
                .and_then(|kv| kv["value"].as_str()?.parse().ok())
        })
        .unwrap_or(0)
}

/// A stop while the broker hangs: what it never acknowledged is not counted as lost but kept
/// on disk (and the log says so); the next start sends it.
#[test]
fn a_stop_on_a_hung_broker_keeps_the_unacknowledged_for_the_next_start() {
    let robot = "STR09";
    let n: u32 = 100;
    let mut o = online(robot, |store| only_odometry(store, None));
    let topic = o.topic.clone();
    let mut sub = MqttSub::start(o.broker.port, &topic);
    let mut diagnostics =
        RosTopic::new(o.domain.id(), ros_type::DIAGNOSTICS, "/diagnostics").subscribe("reliable");
    let mut publisher = counted_odometry(&o.domain, 100.0, n);
    sub.expect(&topic, Duration::from_secs(15), "a first position", |_| {
        true
    });
    o.proxy.freeze();
    assert!(publisher.child.wait().expect("ros_tool pub").success());
    // Every message reached the bridge before the stop (its /diagnostics says so).
    let end = Instant::now() + Duration::from_secs(15);
    while odometry_received(&mut diagnostics) < n && Instant::now() < end {}
    let status = o.bridge.proc.terminate(Duration::from_secs(15));
    let log = o.bridge.log_text();
    let kept_line = log
        .lines()
        .find(|l| l.contains("kept in the offline store"))
        .unwrap_or("")
        .to_owned();
    o.proxy.cut();
    o.proxy.thaw();
    let bridge2 = Bridge::start(o.domain.id(), o.proxy.port, robot, &o.yaml, &[]);
    sub.wait_for(&topic, Duration::from_secs(30), |m| {
        number_at(&m.payload, POSITION_X) == Some(f64::from(n - 1))
    });
    sub.collect(&topic, Duration::from_secs(1));
    let got = sequence(&sub, &topic, POSITION_X);
    let missing = missing(u64::from(n), &[&got]);
    eprintln!(
        "stop on a hung broker with a store: exit {status:?}; {kept_line}; after the next start {} of {n} arrived \
         ({} twice), missing {}; {}",
        got.len(),
        repeated(&got),
        ranges(&missing),
        bridge2.log_line("from before")
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "a clean stop:\n{log}"
    );
    assert!(!kept_line.is_empty(), "the log says what was kept:\n{log}");
    assert!(
        missing.is_empty(),
        "the next start sent them: {}",
        ranges(&missing)
    );
    assert!(
        repeated(&got) <= 100,
        "at most what was in flight (100) twice: {}",
        repeated(&got)
    );
}
