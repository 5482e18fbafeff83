//! The VDA 5050 2.1 profile end to end: a master control of the tests' own
//! (`common::MasterControl`: `mosquitto_pub`/`mosquitto_sub`, every message it receives
//! checked against the official schemas with Python jsonschema) -> Mosquitto -> the real bridge
//! binary -> rclpy peers (odometry, battery, e-stop, `cmd_vel`, the navigation's topics), the
//! seed's tree working beside it.

mod common;
use common::*;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

/// A bridge configuration with the profile on (`vda` more keys of its block) and `extra`
/// blocks of the bridge's own.
fn yaml(vda: &str, extra: &str) -> String {
    config(&format!("{}{extra}", vda_config(vda)))
}

fn connection(state: &'static str) -> impl Fn(&MqttMsg, &Value) -> bool {
    move |_, v| v["connectionState"] == state
}

/// Robot `id` with the profile on (`vda`, `extra` as for `yaml`), its master control
/// (subscribed before the bridge starts) having seen it ONLINE.
fn vehicle(id: &str, vda: &str, extra: &str) -> (MasterControl, Rig) {
    let site = Site::start();
    let mut mc = MasterControl::start(site.port(), id);
    let rig = Rig::on(site, id, &yaml(vda, extra), &[], &format!("amr/{id}/#"));
    mc.expect("connection", "ONLINE", connection("ONLINE"));
    (mc, rig)
}

#[test]
fn presence_through_start_sigterm_and_sigkill() {
    let site = Site::start();
    let mut mc = MasterControl::start(site.port(), "PRES1");
    let seed_topic = "amr/PRES1/status/connection";
    let mut seed = site.mqtt_sub(seed_topic);
    let seed_says = |s: &'static str| move |m: &MqttMsg| m.json()["data"]["state"] == s;
    let cfg = yaml("", "");
    let mut bridge = site.bridge("PRES1", &cfg, &[]);
    let log = bridge.log_text();
    assert!(
        log.contains("as amr_bridge_PRES1_vda5050"),
        "a connection of its own:\n{log}"
    );
    let (_, online) = mc.expect("connection", "ONLINE at start", connection("ONLINE"));
    seed.expect(seed_topic, 10 * SEC, "online", seed_says("online"));
    // What a master control that comes later finds: the retained presence and factsheet.
    let mut late = MasterControl::start(site.port(), "PRES1");
    late.expect("connection", "retained ONLINE", |m, v| {
        m.retain && v["connectionState"] == "ONLINE"
    });
    let (_, sheet) = late.expect("factsheet", "retained at start", |m, _| m.retain);
    assert_eq!(sheet["typeSpecification"]["seriesName"], "AMR-1");
    assert_eq!(sheet["serialNumber"], "PRES1");

    let status = bridge.proc.terminate(10 * SEC);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        bridge.log_text()
    );
    let (_, offline) = mc.expect("connection", "OFFLINE at SIGTERM", connection("OFFLINE"));
    assert!(offline["headerId"].as_u64() > online["headerId"].as_u64());
    seed.expect(seed_topic, 10 * SEC, "offline", seed_says("offline"));
    // A clean stop leaves no Will behind: what stays retained is OFFLINE.
    let mut after = MasterControl::start(site.port(), "PRES1");
    let (_, kept) = after.expect("connection", "retained", |m, _| m.retain);
    assert_eq!(kept["connectionState"], "OFFLINE", "{kept}");

    let mut bridge = site.bridge("PRES1", &cfg, &[]);
    let (_, online) = mc.expect("connection", "ONLINE again", connection("ONLINE"));
    seed.expect(seed_topic, 10 * SEC, "online again", seed_says("online"));
    signal(bridge.pid(), "KILL");
    let (_, broken) = mc.expect("connection", "the Will", connection("CONNECTIONBROKEN"));
    assert!(
        broken["headerId"].as_u64() > online["headerId"].as_u64(),
        "headerIds never go back: {online} then {broken}"
    );
    // The seed's presence, on its own connection, is told too.
    seed.expect(
        seed_topic,
        10 * SEC,
        "the seed's Will",
        seed_says("offline"),
    );
    assert!(bridge.wait_exit(5 * SEC).is_some());
    let mut after = MasterControl::start(site.port(), "PRES1");
    let (_, kept) = after.expect("connection", "retained", |m, _| m.retain);
    assert_eq!(kept["connectionState"], "CONNECTIONBROKEN", "{kept}");
}

#[test]
fn after_a_broker_outage_online_the_factsheet_and_state_come_again() {
    let domain = Domain::new();
    let broker = Broker::start();
    let cfg = yaml("  state_period: 1.0\n", "");
    let mut bridge = Bridge::start(domain.id(), broker.port, "BACK1", &cfg, &[]);
    let mut mc = MasterControl::start(broker.port, "BACK1");
    let (_, before) = mc.expect("state", "a state", |_, _| true);
    // Mosquitto without persistence: the retained presence and factsheet go with it.
    let (dir, port) = broker.stop();
    bridge.wait_log("lost", 10 * SEC);
    let _broker = Broker::start_on(dir, port, "");
    let mut mc = MasterControl::start(port, "BACK1");
    mc.expect("connection", "ONLINE again", connection("ONLINE"));
    // Live, or retained when the bridge was quicker than this subscriber.
    let (_, sheet) = mc.expect("factsheet", "the factsheet again", |_, _| true);
    assert!(sheet["headerId"].as_u64() > Some(0), "{sheet}");
    let (_, after) = mc.expect("state", "states again", |_, _| true);
    assert!(
        after["headerId"].as_u64() > before["headerId"].as_u64(),
        "headerIds go on: {before} then {after}"
    );
    assert!(bridge.proc.alive());
}

#[test]
fn state_shows_the_robot_on_events_and_every_period() {
    let vda = "  state_period: 1.0\n  visualization_rate_hz: 4\n  map_id: floor1\n";
    let (mut mc, mut rig) = vehicle("STATE1", vda, "");
    let odom = odometry(1.5, -2.0, 3.0, -0.4, 0.1, 0.3);
    let _odom = rig
        .ros(ros_type::ODOMETRY, "/odom")
        .publish(&odom, 20.0, 2000, "reliable");
    let s = mc.state("the position", |s| s["agvPosition"].is_object());
    let p = &s["agvPosition"];
    assert_eq!((p["x"].as_f64(), p["y"].as_f64()), (Some(1.5), Some(-2.0)));
    assert!(
        (p["theta"].as_f64().unwrap_or(9.0) - 3.0).abs() < 1e-6,
        "{p}"
    );
    assert_eq!(p["mapId"], "floor1");
    assert_eq!(p["positionInitialized"], true);
    let v = &s["velocity"];
    let velocity = (v["vx"].as_f64(), v["vy"].as_f64(), v["omega"].as_f64());
    assert!(
        matches!(velocity, (Some(vx), Some(vy), Some(w))
            if (vx + 0.4).abs() < 1e-9 && (vy - 0.1).abs() < 1e-9 && (w - 0.3).abs() < 1e-9),
        "signed, in vehicle coordinates: {v}"
    );
    assert_eq!(s["driving"], true);
    // The seed's tree, beside it, unchanged.
    let seed = rig.expect("status/position", 10 * SEC, "odometry", |_| true);
    assert_eq!(seed.json()["data"]["position"]["x"], 1.5);

    rig.ros(ros_type::BATTERY, "/battery_state").publish_wait(
        &json!({"percentage": 0.8, "power_supply_status": 1, "present": true}),
        10.0,
        2,
        "reliable",
    );
    let s = mc.state("the battery", |s| {
        s["batteryState"]["batteryCharge"] == 80.0
    });
    assert_eq!(s["batteryState"]["charging"], true);
    assert!(errors_of(&s, "batteryStateUnknown").is_empty(), "{s}");

    let estop = rig.ros(ros_type::BOOL, "/emergency_stop");
    estop.publish_wait(&json!({"data": true}), 10.0, 1, "reliable");
    mc.state("e-stop MANUAL", |s| s["safetyState"]["eStop"] == "MANUAL");
    estop.publish_wait(&json!({"data": false}), 10.0, 1, "reliable");
    mc.state("e-stop NONE", |s| s["safetyState"]["eStop"] == "NONE");
    rig.send(
        "emergency",
        &json!({"timestamp": now_rfc3339()}).to_string(),
    );
    mc.state("a fleet e-stop is REMOTE", |s| {
        s["safetyState"]["eStop"] == "REMOTE"
    });
    rig.send(
        "emergency",
        &json!({"timestamp": now_rfc3339(), "command": "release"}).to_string(),
    );
    mc.state("released", |s| s["safetyState"]["eStop"] == "NONE");

    // Quiet now: a state at least every state_period, each headerId one more than the last.
    let quiet = mc.collect("state", Duration::from_millis(3500));
    assert!(quiet.len() >= 3, "{} states in 3.5 s", quiet.len());
    for w in quiet.windows(2) {
        let gap = w[1].0.at.duration_since(w[0].0.at);
        assert!(
            gap <= Duration::from_millis(1300),
            "{gap:?} between two states"
        );
    }
    let ids: Vec<u64> = mc
        .all("state")
        .iter()
        .filter_map(|s| s["headerId"].as_u64())
        .collect();
    assert_eq!(
        ids.first(),
        Some(&0),
        "the first state after connecting: {ids:?}"
    );
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let vis = mc.collect("visualization", 2 * SEC);
    assert!(vis.len() >= 5, "visualization at 4 Hz: {}", vis.len());
    assert!(vis.iter().all(|(_, v)| v["agvPosition"]["x"] == 1.5));
    let ids: Vec<u64> = vis
        .iter()
        .filter_map(|(_, v)| v["headerId"].as_u64())
        .collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
}

#[test]
fn queries_are_answered_and_unsupported_actions_fail_with_an_error() {
    let (mut mc, _rig) = vehicle("ASK1", "", "");
    let (_, first) = mc.expect("factsheet", "at connect", |_, _| true);
    mc.instant_actions(json!([action("factsheetRequest", "fr1")]));
    let (_, sheet) = mc.expect("factsheet", "on request", |_, v| {
        v["headerId"].as_u64() > first["headerId"].as_u64()
    });
    let features = &sheet["protocolFeatures"]["agvActions"];
    let names: Vec<&str> = (features.as_array().into_iter().flatten())
        .filter_map(|a| a["actionType"].as_str())
        .collect();
    for want in [
        "startPause",
        "stopPause",
        "cancelOrder",
        "stateRequest",
        "factsheetRequest",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(sheet["protocolLimits"]["maxStringLens"]["msgLen"].as_u64() > Some(0));
    mc.state("factsheetRequest FINISHED", |s| {
        action_status(s, "fr1").as_deref() == Some("FINISHED")
    });
    mc.instant_actions(json!([action("stateRequest", "sr1")]));
    mc.state("stateRequest FINISHED", |s| {
        action_status(s, "sr1").as_deref() == Some("FINISHED")
    });
    mc.instant_actions(json!([action("pick", "x1")]));
    let s = mc.state("an unsupported action", |s| {
        action_status(s, "x1").as_deref() == Some("FAILED")
    });
    assert!(!errors_of(&s, "instantActionError").is_empty(), "{s}");
}

/// When the command core took the `n`-th pause (1, 2, ...), by the bridge's log.
fn paused_at(bridge: &Bridge, n: usize) -> f64 {
    const LINE: &str = "]: paused by VDA 5050 master control";
    let lines = || {
        let all = bridge.log_lines().into_iter();
        all.filter(|l| l.text.ends_with(LINE)).collect::<Vec<_>>()
    };
    let end = std::time::Instant::now() + 5 * SEC;
    while lines().len() < n && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    lines().get(n - 1).map_or(f64::NAN, |l| l.t)
}

/// After a pause logged at `t`: a zero Twist arrives within one command tick (20 Hz), and
/// nothing but zero after it.
fn stops_within_a_tick(tw: &[(f64, Value)], t: f64, what: &str) {
    let zero = tw.iter().position(|(at, m)| *at >= t && !moving(m));
    let Some(i) = zero else {
        panic!("{what}: no zero Twist after the pause at {t}: {tw:?}");
    };
    let late = tw[i].0 - t;
    assert!(
        late <= 0.05,
        "{what}: the zero Twist came {late:.3} s after the pause"
    );
    let after = nonzero(&tw[i..]);
    assert!(after.is_empty(), "{what}: moved after the pause: {after:?}");
}

#[test]
fn a_pause_stops_a_running_motion_within_a_tick_and_resume_moves_nothing() {
    let (mut mc, rig) = vehicle("PAUSE1", "", "commands: {watchdog_timeout: 30}\n");
    let mut robot = Robot::on(rig);
    robot.start_moving(30, 500, "a long move", Duration::from_millis(300));
    robot.twists_for(Duration::from_millis(200));
    mc.instant_actions(json!([action("startPause", "p1")]));
    let s = mc.state("paused", |s| s["paused"] == true);
    assert_eq!(action_status(&s, "p1").as_deref(), Some("FINISHED"), "{s}");
    let tw = robot.twists_for(Duration::from_millis(600));
    stops_within_a_tick(&tw, paused_at(&robot.rig.bridge, 1), "a move");
    let o = robot.outcome_of("the move cancelled", "cancelled", "move_forward");
    assert_eq!(reason(&o), "paused by VDA 5050 master control");
    robot.forward(30, 50);
    let r = robot.outcome_of("a move while paused", "rejected", "move_forward");
    assert!(
        reason(&r).starts_with("paused by VDA 5050 master control"),
        "{r}"
    );
    let tw = robot.twists_for(Duration::from_millis(500));
    assert!(
        !tw.is_empty() && nonzero(&tw).is_empty(),
        "zero every tick: {tw:?}"
    );
    // The seed's stop and e-stop work as ever while paused.
    robot.bare("stop", "stop");
    robot.outcome_of("a stop while paused", "completed", "stop");
    robot.bare("emergency", "engage");
    robot.outcome_of("an e-stop while paused", "completed", "engage");
    robot.release();
    robot.outcome_of("released", "completed", "release");

    mc.instant_actions(json!([action("stopPause", "p2")]));
    let s = mc.state("resumed", |s| s["paused"] == false);
    assert_eq!(action_status(&s, "p2").as_deref(), Some("FINISHED"), "{s}");
    let tw = robot.twists_for(Duration::from_millis(800));
    assert!(
        nonzero(&tw).is_empty(),
        "a resume moves nothing by itself: {tw:?}"
    );

    // A velocity stream is held the same way.
    robot.cmd("move", "velocity", json!({"linear": 20}));
    let tw = robot.twists_for(Duration::from_millis(400));
    assert!(
        tw.iter().any(|(_, m)| lin(m) > 0.0),
        "the stream moves: {tw:?}"
    );
    mc.instant_actions(json!([action("startPause", "p3")]));
    mc.state("paused again", |s| s["paused"] == true);
    let tw = robot.twists_for(Duration::from_millis(600));
    stops_within_a_tick(&tw, paused_at(&robot.rig.bridge, 2), "a velocity stream");
    robot.cmd("move", "velocity", json!({"linear": 20}));
    robot.outcome_of("velocity while paused", "rejected", "velocity");
    mc.instant_actions(json!([action("stopPause", "p4")]));
    mc.state("resumed again", |s| s["paused"] == false);
    robot.obeys_a_valid_move("after the pause");
}

#[test]
fn an_order_without_navigation_is_refused_and_nothing_moves() {
    let (mut mc, rig) = vehicle("ORD1", "", "");
    let mut robot = Robot::on(rig);
    mc.order(order_body("o1", &["n1", "n2"]));
    let s = mc.state("orderError", |s| !errors_of(s, "orderError").is_empty());
    assert_eq!(s["orderId"], "", "not taken: {s}");
    assert!(s["nodeStates"].as_array().is_some_and(Vec::is_empty), "{s}");
    let tw = robot.twists_for(Duration::from_millis(800));
    assert!(tw.is_empty(), "nothing on cmd_vel: {tw:?}");
    robot.obeys_a_valid_move("beside the profile");
}

#[test]
fn an_order_reaches_the_navigation_and_its_progress_shows_in_the_state() {
    let (mut mc, rig) = vehicle("ORD2", "  navigation: {}\n", "");
    let mut orders = rig
        .ros(ros_type::STRING, "/vda5050/order")
        .subscribe("reliable");
    let mut control = rig
        .ros(ros_type::STRING, "/vda5050/order_control")
        .subscribe("reliable");
    let sent = mc.order(order_body("o1", &["n1", "n2", "n3"]));
    let (_, got) = orders
        .recv(10 * SEC)
        .expect("the order on the navigation topic");
    assert_eq!(
        got["data"].as_str(),
        Some(sent.as_str()),
        "the order as sent"
    );
    let s = mc.state("the order taken", |s| s["orderId"] == "o1");
    assert!(errors_of(&s, "orderError").is_empty(), "{s}");
    assert_eq!(s["nodeStates"].as_array().map(Vec::len), Some(3), "{s}");

    let progress = json!({"orderId": "o1", "lastNodeId": "n2", "lastNodeSequenceId": 2,
                          "driving": true});
    let _nav = rig
        .ros(ros_type::STRING, "/vda5050/order_progress")
        .publish(&json!({"data": progress.to_string()}), 5.0, 3, "reliable");
    let s = mc.state("progress", |s| s["lastNodeId"] == "n2");
    assert_eq!(s["lastNodeSequenceId"], 2);
    assert_eq!(s["driving"], true, "the navigation's word without odometry");
    let left: Vec<&str> = (s["nodeStates"].as_array().into_iter().flatten())
        .filter_map(|n| n["nodeId"].as_str())
        .collect();
    assert_eq!(left, ["n3"], "{s}");

    mc.instant_actions(json!([action("startPause", "p1")]));
    let (_, c) = control.recv(10 * SEC).expect("pause to the navigation");
    let c: Value = serde_json::from_str(c["data"].as_str().unwrap_or("")).expect("JSON");
    assert_eq!(c, json!({"command": "pause", "orderId": "o1"}));
    mc.instant_actions(json!([action("cancelOrder", "c1")]));
    let (_, c) = control.recv(10 * SEC).expect("cancel to the navigation");
    assert!(
        c["data"].as_str().unwrap_or("").contains("\"cancel\""),
        "{c}"
    );
    let s = mc.state("cancelled", |s| s["nodeStates"] == json!([]));
    assert_eq!(s["paused"], true, "the pause outlives the order");
}

/// The VDA 5050 counters of the next `status/bridge` that satisfies `pred` (10 s).
fn vda_counters(rig: &mut Rig, pred: impl Fn(&Value) -> bool) -> Value {
    let counters = |m: &MqttMsg| m.json()["data"]["vda5050"].clone();
    let m = rig.expect("status/bridge", 10 * SEC, "the VDA 5050 counters", |m| {
        pred(&counters(m))
    });
    counters(&m)
}

#[test]
fn hostile_instant_actions_are_refused_counted_and_never_move() {
    let (mut mc, rig) = vehicle("HOST1", "", "bridge: {diagnostics_period: 0.5}\n");
    let mut robot = Robot::on(rig);
    // 1 MB with a startPause inside: refused by its size alone.
    let big = json!({"headerId": 1, "timestamp": now_rfc3339(), "version": "2.1.0",
                     "manufacturer": MANUFACTURER, "serialNumber": "HOST1",
                     "actions": [action("startPause", "big")], "pad": "x".repeat(1 << 20)});
    mc.send_bytes("instantActions", big.to_string().as_bytes());
    let s = mc.state("the 1 MB message refused", |s| {
        errors_of(s, "validationError").iter().any(|e| {
            e["errorDescription"]
                .as_str()
                .is_some_and(|d| d.contains("more than the limit of 524288"))
        })
    });
    assert_eq!(s["paused"], false, "{s}");
    let malformed: [&[u8]; 7] = [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b"{\"headerId\":1,\"headerId\":2}",
        b"{\"headerId\": -1, \"actions\": []}",
        &[b'['; 100_000],
    ];
    for m in malformed {
        mc.send_bytes("instantActions", m);
    }
    let stranger = json!({"headerId": 7, "timestamp": now_rfc3339(), "version": "2.1.0",
                          "manufacturer": MANUFACTURER, "serialNumber": "OTHER",
                          "actions": [action("startPause", "s1")]});
    mc.send_bytes("instantActions", stranger.to_string().as_bytes());
    mc.send_bytes("order", b"{\"orderId\": 5}");
    let refused = 1 + malformed.len() as u64 + 2;
    let report = vda_counters(&mut robot.rig, |c| c["refused"].as_u64() >= Some(refused));
    assert_eq!(report["refused"].as_u64(), Some(refused), "{report}");
    assert_eq!(report["received"].as_u64(), Some(refused), "{report}");
    assert_eq!(report["connected"], true);
    assert!(!robot.broken(), "{}", robot.rig.bridge.last_words());
    let s = mc.state("still answering", |_| true);
    assert_eq!(s["paused"], false, "nothing refused was obeyed: {s}");
    mc.instant_actions(json!([action("stateRequest", "ok1")]));
    mc.state("a valid request after the flood", |s| {
        action_status(s, "ok1").as_deref() == Some("FINISHED")
    });
    let tw = robot.twists_for(Duration::from_millis(300));
    assert!(
        robot.seen_twists.is_empty() && tw.is_empty(),
        "never moved: {tw:?}"
    );
    robot.obeys_a_valid_move("after the flood");
}
