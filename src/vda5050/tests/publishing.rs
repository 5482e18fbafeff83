//! What the vehicle publishes and when: connection, state, visualization, factsheet.

use std::f64::consts::PI;

use serde_json::{json, Value};

use super::fixtures::*;
use crate::vda5050::words::EstopType;
use crate::vda5050::{Battery, Estop, Odometry, Outgoing, VdaConfig};

fn odom(x: f64, y: f64, yaw: f64, vx: f64) -> Odometry {
    Odometry {
        x,
        y,
        yaw,
        vx,
        vy: 0.0,
        omega: 0.0,
    }
}

#[test]
fn presence_online_will_and_offline_with_ids_that_never_go_back() {
    let mut rig = Rig::offline(config());
    let mut presence = rig.core.presence();
    let will = presence.will(rig.wall);
    assert_eq!(will.topic, "uagv/v2/KIT/AMR001/connection");
    assert_eq!((will.qos, will.retain), (1, true));
    let w = json_of(&will);
    assert_eq!(w["connectionState"], "CONNECTIONBROKEN");
    assert_eq!(
        json_of(&presence.will(rig.wall))["headerId"],
        1,
        "the same Will until ONLINE"
    );
    let online = presence.online(rig.wall);
    assert!(online.retain && online.qos == 1);
    let online = json_of(&online);
    assert_eq!(online["connectionState"], "ONLINE");
    assert_eq!(
        (online["headerId"].as_u64(), w["headerId"].as_u64()),
        (Some(0), Some(1))
    );
    let fx = rig.core.on_connected(rig.now, rig.wall);
    let kinds: Vec<Outgoing> = fx.publish.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [Outgoing::Factsheet, Outgoing::State]);
    assert!(fx.publish[0].retain && !fx.publish[1].retain);
    // The link drops; the broker says the Will (1); the next connect: ONLINE 2, Will 3.
    rig.core.on_disconnected();
    assert!(rig.tick(60.0).publish.is_empty(), "nothing while offline");
    let will = json_of(&presence.will(rig.wall));
    assert_eq!(json_of(&presence.online(rig.wall))["headerId"], 2);
    assert_eq!(will["headerId"], 3);
    rig.core.on_connected(rig.now, rig.wall);
    assert!(
        rig.core.on_shutdown(rig.now, rig.wall).publish.is_empty(),
        "no order: nothing"
    );
    let off = json_of(&presence.offline(rig.wall));
    assert_eq!(
        (off["connectionState"].as_str(), off["headerId"].as_u64()),
        (Some("OFFLINE"), Some(4))
    );
    assert!(rig.tick(60.0).publish.is_empty(), "nothing after the stop");
}

#[test]
fn state_at_least_every_period_with_header_ids_plus_one() {
    let mut cfg = config();
    cfg.state_period = 5.0;
    cfg.visualization_rate_hz = 0.0;
    let mut rig = Rig::with(cfg);
    let mut ids = Vec::new();
    for _ in 0..30 {
        let fx = rig.tick(1.0);
        ids.extend(
            all(&fx, Outgoing::State)
                .iter()
                .map(|s| s["headerId"].as_u64().unwrap_or(0)),
        );
    }
    assert_eq!(ids, [1, 2, 3, 4, 5, 6], "every 5 s, after the connect's 0");
    assert_eq!(
        rig.core.next_wake(rig.now),
        Some(rig.now + std::time::Duration::from_secs(5))
    );
    let s = rig.state();
    assert_eq!(s["timestamp"], "2024-05-01T12:00:31.000Z");
    assert_eq!(
        (
            s["version"].as_str(),
            s["manufacturer"].as_str(),
            s["serialNumber"].as_str()
        ),
        (Some("2.1.0"), Some("KIT"), Some("AMR001"))
    );
    assert_eq!(s["headerId"], 7);
}

#[test]
fn events_share_a_state_within_the_minimum_interval() {
    let mut rig = Rig::with(VdaConfig {
        visualization_rate_hz: 0.0,
        ..config()
    });
    rig.pass(1.0);
    let a = rig.core.on_estop(
        Estop {
            robot: true,
            fleet: false,
        },
        rig.now,
        rig.wall,
    );
    assert_eq!(all(&a, Outgoing::State).len(), 1, "an event sends at once");
    rig.pass(0.02);
    let b = rig.core.on_estop(
        Estop {
            robot: true,
            fleet: true,
        },
        rig.now,
        rig.wall,
    );
    let c = rig.core.on_field_violation(true, rig.now, rig.wall);
    assert!(all(&b, Outgoing::State).is_empty() && all(&c, Outgoing::State).is_empty());
    assert_eq!(
        rig.core.next_wake(rig.now),
        Some(rig.now + std::time::Duration::from_millis(80))
    );
    let d = rig.tick(0.08);
    let s = last(&d, Outgoing::State).expect("the coalesced state");
    assert_eq!(
        s["safetyState"],
        json!({"eStop": "MANUAL", "fieldViolation": true})
    );
    assert!(
        rig.tick(0.5).publish.is_empty(),
        "nothing new, nothing sent"
    );
}

#[test]
fn safety_state_from_the_latch() {
    let mut cfg = config();
    cfg.estop_type = EstopType::Autoack;
    let mut rig = Rig::with(cfg);
    let mut estop = |robot, fleet| {
        rig.pass(1.0);
        let fx = rig.core.on_estop(Estop { robot, fleet }, rig.now, rig.wall);
        last(&fx, Outgoing::State).map(|s| s["safetyState"]["eStop"].clone())
    };
    assert_eq!(estop(false, true), Some(json!("REMOTE")));
    assert_eq!(
        estop(true, true),
        Some(json!("AUTOACK")),
        "the robot's own acknowledgement wins"
    );
    assert_eq!(estop(false, false), Some(json!("NONE")));
    assert_eq!(estop(false, false), None, "no change, no event");
}

#[test]
fn position_and_velocity_from_odometry_never_wrong_numbers() {
    let mut rig = Rig::new();
    let s = rig.state();
    assert!(
        s.get("agvPosition").is_none() && s.get("velocity").is_none(),
        "unknown: left out"
    );
    assert_eq!(s["driving"], false);
    rig.pass(1.0);
    let fx = rig
        .core
        .on_odometry(odom(1.5, -2.0, 3.0 * PI, 0.4), rig.now, rig.wall);
    let s = last(&fx, Outgoing::State).expect("driving started: an event");
    assert_eq!(s["driving"], true);
    let p = &s["agvPosition"];
    assert_eq!(
        (p["x"].as_f64(), p["y"].as_f64(), p["mapId"].as_str()),
        (Some(1.5), Some(-2.0), Some("floor1"))
    );
    let theta = p["theta"].as_f64().expect("theta");
    assert!(
        (-PI..=PI).contains(&theta) && (theta.abs() - PI).abs() < 1e-9,
        "{theta}"
    );
    assert_eq!(p["positionInitialized"], true);
    assert_eq!(s["velocity"], json!({"vx": 0.4, "vy": 0.0, "omega": 0.0}));
    // Odometry goes silent: stale after odom_timeout (1 s), an event.
    let fx = rig.tick(1.5);
    let s = last(&fx, Outgoing::State).expect("stale odometry: an event");
    assert_eq!(s["agvPosition"]["positionInitialized"], false);
    assert_eq!(
        s["driving"], false,
        "no fresh odometry and no navigation word"
    );
    assert!(
        s.get("velocity").is_none(),
        "a stale velocity is not the velocity"
    );
    // Broken odometry is left out, never NaN.
    rig.pass(1.0);
    rig.core
        .on_odometry(odom(f64::NAN, 0.0, 0.0, f64::INFINITY), rig.now, rig.wall);
    let s = rig.state();
    assert!(s.get("agvPosition").is_none(), "{s}");
    assert!(!serde_json::to_string(&s).expect("json").contains("null"));
}

#[test]
fn battery_steps_charging_and_unknown() {
    let mut rig = Rig::new();
    let s = rig.state();
    assert_eq!(
        s["batteryState"],
        json!({"batteryCharge": 0.0, "charging": false})
    );
    assert!(
        error(&s, "batteryStateUnknown").is_some(),
        "0 is a stand-in, and said so"
    );
    let mut battery = |percent: Option<f64>, charging: bool| {
        rig.pass(1.0);
        let fx = rig
            .core
            .on_battery(Battery { percent, charging }, rig.now, rig.wall);
        last(&fx, Outgoing::State)
    };
    let s = battery(Some(80.0), false).expect("known now: an event");
    assert_eq!(s["batteryState"]["batteryCharge"], 80.0);
    assert!(error(&s, "batteryStateUnknown").is_none());
    assert!(
        battery(Some(77.0), false).is_none(),
        "3 % is under the 5 % step"
    );
    assert!(
        battery(Some(75.0), false).is_some(),
        "5 % since the last state"
    );
    assert!(battery(Some(74.0), false).is_none());
    assert!(battery(Some(74.0), true).is_some(), "charging starts");
    let s = battery(Some(f64::NAN), true).expect("unknown again");
    assert_eq!(s["batteryState"]["batteryCharge"], 0.0);
    assert!(error(&s, "batteryStateUnknown").is_some());
    assert!(
        battery(Some(250.0), true).is_none(),
        "out of range is unknown too: no change"
    );
}

#[test]
fn visualization_at_its_rate_position_and_velocity_only() {
    let mut cfg = config();
    cfg.visualization_rate_hz = 4.0;
    let mut rig = Rig::with(cfg);
    assert!(
        all(&rig.tick(0.3), Outgoing::Visualization).is_empty(),
        "nothing known yet"
    );
    rig.core
        .on_odometry(odom(1.0, 2.0, 0.5, 0.0), rig.now, rig.wall);
    let mut count = 0;
    let mut last_id = None;
    for _ in 0..40 {
        let fx = rig.tick(0.05);
        // Keep odometry fresh.
        rig.core
            .on_odometry(odom(1.0, 2.0, 0.5, 0.0), rig.now, rig.wall);
        for v in all(&fx, Outgoing::Visualization) {
            count += 1;
            let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
            assert_eq!(keys.len(), 7, "header, agvPosition, velocity: {v}");
            if let Some(prev) = last_id {
                assert_eq!(v["headerId"].as_u64(), Some(prev + 1));
            }
            last_id = v["headerId"].as_u64();
        }
    }
    assert_eq!(count, 8, "2 s at 4 Hz");
    let mut off = Rig::with(VdaConfig {
        visualization_rate_hz: 0.0,
        ..config()
    });
    off.core
        .on_odometry(odom(1.0, 2.0, 0.5, 0.0), off.now, off.wall);
    assert!(
        all(&off.tick(2.0), Outgoing::Visualization).is_empty(),
        "rate 0: none"
    );
}

#[test]
fn factsheet_is_complete_and_limited_to_the_minimum_interval() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let fx = rig.instant(json!([
        action("factsheetRequest", "f1"),
        action("factsheetRequest", "f2")
    ]));
    let sheets = all(&fx, Outgoing::Factsheet);
    assert_eq!(
        sheets.len(),
        1,
        "two requests in one message: one factsheet"
    );
    let f = &sheets[0];
    assert_eq!(f["headerId"], 1);
    assert!(f["timestamp"].is_string());
    assert_eq!(f["typeSpecification"]["agvKinematic"], "DIFF");
    assert_eq!(f["physicalParameters"]["speedMax"], 1.0);
    assert!(
        f["physicalParameters"].get("heightMin").is_none(),
        "unknown: left out"
    );
    assert_eq!(f["protocolLimits"]["maxStringLens"]["msgLen"], 512 * 1024);
    assert_eq!(f["protocolLimits"]["maxArrayLens"]["instantActions"], 32);
    assert_eq!(f["protocolLimits"]["timing"]["defaultStateInterval"], 30.0);
    let actions: Vec<&str> = f["protocolFeatures"]["agvActions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["actionType"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "startPause",
            "stopPause",
            "cancelOrder",
            "stateRequest",
            "factsheetRequest",
            "pick",
            "drop"
        ]
    );
    let s = last(&fx, Outgoing::State).expect("state");
    assert_eq!(
        (status(&s, "f1").as_deref(), status(&s, "f2").as_deref()),
        (Some("FINISHED"), Some("FINISHED"))
    );
    let fx = rig.instant(json!([action("factsheetRequest", "f3")]));
    assert!(
        all(&fx, Outgoing::Factsheet).is_empty(),
        "within the minimum interval: later"
    );
    assert_eq!(all(&rig.tick(0.1), Outgoing::Factsheet).len(), 1);
}

#[test]
fn operating_mode_is_reported_and_manual_clears_the_order() {
    use crate::vda5050::words::OperatingMode;
    let mut rig = Rig::new();
    rig.order(path("o1", 0, 0, &["a", "b"], 2));
    rig.pass(1.0);
    let fx = rig
        .core
        .on_operating_mode(OperatingMode::Manual, rig.now, rig.wall);
    let s = last(&fx, Outgoing::State).expect("event");
    assert_eq!(s["operatingMode"], "MANUAL");
    assert_eq!(
        nodes(&s),
        Vec::<(String, u64, bool)>::new(),
        "entering MANUAL clears the order"
    );
    assert_eq!(s["orderId"], "o1", "orderId stays");
    let cancel: Vec<Value> = fx
        .navigation
        .iter()
        .map(|n| serde_json::from_str(&n.data).expect("json"))
        .collect();
    assert_eq!(cancel, [json!({"command": "cancel", "orderId": "o1"})]);
    rig.pass(1.0);
    let fx = rig.order(path("o2", 0, 0, &["a"], 1));
    let s = last(&fx, Outgoing::State).expect("state");
    assert!(
        error(&s, "orderError").is_some_and(|e| e["errorDescription"]
            .as_str()
            .unwrap_or("")
            .contains("MANUAL")),
        "{s}"
    );
    assert!(fx.navigation.is_empty());
}

#[test]
fn a_graceful_stop_cancels_the_order_reports_and_says_offline() {
    let mut rig = Rig::new();
    rig.order(path("o", 0, 0, &["a", "b"], 2));
    rig.pass(1.0);
    let fx = rig.core.on_shutdown(rig.now, rig.wall);
    let kinds: Vec<Outgoing> = fx.publish.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [Outgoing::State],
        "the last state; OFFLINE is the presence's"
    );
    let s = state_after(&fx);
    assert_eq!((s["orderId"].as_str(), nodes(&s).len()), (Some("o"), 0));
    let nav: Vec<&str> = fx.navigation.iter().map(|n| n.data.as_str()).collect();
    assert_eq!(nav, [r#"{"command":"cancel","orderId":"o"}"#]);
    assert!(rig.tick(60.0).publish.is_empty(), "nothing after the stop");
}
