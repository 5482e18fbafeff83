//! Instant actions: pause and resume through the safety gate, cancelOrder, requests, and every
//! other action FAILED with an error.

use serde_json::{json, Value};

use super::fixtures::*;
use crate::vda5050::{Effects, Gate, Incoming, NavTopic, Odometry, VdaConfig};

fn controls(fx: &Effects) -> Vec<String> {
    fx.navigation
        .iter()
        .filter(|n| n.topic == NavTopic::Control)
        .map(|n| n.data.clone())
        .collect()
}

fn moving(rig: &mut Rig, speed: f64) {
    let o = Odometry {
        x: 0.0,
        y: 0.0,
        yaw: 0.0,
        vx: speed,
        vy: 0.0,
        omega: 0.0,
    };
    rig.core.on_odometry(o, rig.now, rig.wall);
}

#[test]
fn start_pause_holds_the_gate_at_once_and_finishes_at_standstill() {
    let mut rig = Rig::new();
    rig.order(path("o", 0, 0, &["a", "b"], 2));
    rig.pass(1.0);
    moving(&mut rig, 0.5);
    rig.pass(0.2);
    moving(&mut rig, 0.5);
    let fx = rig.instant(json!([action("startPause", "sp1")]));
    assert_eq!(
        fx.gate,
        Some(Gate::Hold),
        "the safety core holds in the same call"
    );
    assert!(rig.core.paused());
    assert_eq!(controls(&fx), [r#"{"command":"pause","orderId":"o"}"#]);
    let s = state_after(&fx);
    assert_eq!(
        (s["paused"].as_bool(), s["driving"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(
        status(&s, "sp1").as_deref(),
        Some("RUNNING"),
        "not standing still yet"
    );
    assert_eq!(nodes(&s).len(), 2, "the order is kept");
    rig.pass(0.2);
    let fx = rig.core.on_odometry(
        Odometry {
            x: 0.1,
            y: 0.0,
            yaw: 0.0,
            vx: 0.0,
            vy: 0.0,
            omega: 0.0,
        },
        rig.now,
        rig.wall,
    );
    let s = state_after(&fx);
    assert_eq!(s["driving"], false);
    assert_eq!(status(&s, "sp1").as_deref(), Some("FINISHED"));
    // Idempotent: a second startPause changes nothing and finishes.
    rig.pass(1.0);
    let fx = rig.instant(json!([action("startPause", "sp2")]));
    assert_eq!(fx.gate, None);
    assert!(controls(&fx).is_empty());
    assert_eq!(
        status(&state_after(&fx), "sp2").as_deref(),
        Some("FINISHED")
    );
}

#[test]
fn stop_pause_releases_and_reports() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let fx = rig.instant(json!([action("stopPause", "r0")]));
    assert_eq!(fx.gate, None, "not paused: nothing to release");
    let s = state_after(&fx);
    assert_eq!(status(&s, "r0").as_deref(), Some("FINISHED"));
    rig.pass(1.0);
    let fx = rig.instant(json!([
        action("startPause", "sp"),
        action("stopPause", "r1")
    ]));
    assert_eq!(fx.gate, Some(Gate::Release), "the last word of the message");
    assert!(!rig.core.paused());
    let s = state_after(&fx);
    assert_eq!(s["paused"], false);
    // Without odometry or navigation the vehicle is taken as standing: startPause finished first.
    assert_eq!(status(&s, "sp").as_deref(), Some("FINISHED"));
    assert_eq!(status(&s, "r1").as_deref(), Some("FINISHED"));
}

#[test]
fn stop_pause_before_standstill_fails_the_start_pause() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    moving(&mut rig, 0.5);
    rig.instant(json!([action("startPause", "sp")]));
    rig.pass(0.05);
    moving(&mut rig, 0.4);
    rig.pass(0.5);
    moving(&mut rig, 0.3);
    rig.pass(0.2);
    let fx = rig.instant(json!([action("stopPause", "r")]));
    assert_eq!(fx.gate, Some(Gate::Release));
    let s = state_after(&fx);
    assert_eq!(status(&s, "sp").as_deref(), Some("FAILED"));
    assert_eq!(status(&s, "r").as_deref(), Some("FINISHED"));
}

#[test]
fn a_stale_or_retained_message_may_pause_but_never_resume() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let mut msg = merge(
        rig.header(),
        json!({"actions": [action("startPause", "sp")]}),
    );
    msg["timestamp"] = json!("2024-05-01T11:00:00.00Z");
    let fx = rig.instant_bytes(msg.to_string().as_bytes());
    assert_eq!(
        fx.gate,
        Some(Gate::Hold),
        "a replayed pause only makes the robot safer"
    );
    rig.pass(1.0);
    let msg = merge(rig.header(), json!({"actions": [action("stopPause", "r")]}));
    let fx = rig.core.on_message(
        Incoming::InstantActions,
        msg.to_string().as_bytes(),
        true,
        rig.now,
        rig.wall,
    );
    assert_eq!(
        fx.gate, None,
        "a retained stopPause must not let the robot move"
    );
    assert!(rig.core.paused());
    let s = state_after(&fx);
    assert_eq!(status(&s, "r").as_deref(), Some("FAILED"));
    let e = error(&s, "validationError").expect("reported");
    assert!(
        e["errorDescription"]
            .as_str()
            .unwrap_or("")
            .contains("retained"),
        "{e}"
    );
    assert!(refers(e, "actionId", "r"));
}

#[test]
fn cancel_order_drops_the_order_and_finishes_at_standstill() {
    let mut rig = Rig::new();
    let mut o = path("o", 0, 0, &["a", "b", "c"], 3);
    o["nodes"][2]["actions"] = json!([action("drop", "d1")]);
    rig.order(o);
    rig.pass(1.0);
    rig.core
        .on_progress(br#"{"orderId":"o","driving":true}"#, rig.now, rig.wall);
    rig.pass(1.0);
    let fx = rig.instant(json!([action("cancelOrder", "c1")]));
    assert_eq!(controls(&fx), [r#"{"command":"cancel","orderId":"o"}"#]);
    assert_eq!(
        fx.gate, None,
        "cancelling is the navigation's stop, not a pause"
    );
    let s = state_after(&fx);
    assert_eq!(nodes(&s).len(), 0);
    assert_eq!(
        (s["orderId"].as_str(), s["orderUpdateId"].as_u64()),
        (Some("o"), Some(0)),
        "kept"
    );
    assert_eq!(status(&s, "d1").as_deref(), Some("FAILED"));
    assert_eq!(
        status(&s, "c1").as_deref(),
        Some("RUNNING"),
        "the navigation still drives"
    );
    rig.pass(0.5);
    let fx = rig
        .core
        .on_progress(br#"{"orderId":"o","driving":false}"#, rig.now, rig.wall);
    assert_eq!(status(&state_after(&fx), "c1").as_deref(), Some("FINISHED"));
    // Nothing left to cancel: FAILED, noOrderToCancel (WARNING) referring to the action.
    rig.pass(1.0);
    let fx = rig.instant(json!([action("cancelOrder", "c2")]));
    let s = state_after(&fx);
    assert_eq!(status(&s, "c2").as_deref(), Some("FAILED"));
    let e = error(&s, "noOrderToCancel").expect("error");
    assert_eq!(e["errorLevel"], "WARNING");
    assert!(refers(e, "actionId", "c2"));
    assert!(controls(&fx).is_empty());
}

#[test]
fn unsupported_and_invalid_actions_fail_with_an_error() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let mut with_param = action("stateRequest", "s2");
    with_param["actionParameters"] = json!([{"key": "now", "value": true}]);
    let fx = rig.instant(json!([
        action("startCharging", "x1"),
        with_param,
        action("stateRequest", "ok"),
        action("stateRequest", ""),
        action("stateRequest", "ok"),
    ]));
    let s = state_after(&fx);
    assert_eq!(status(&s, "x1").as_deref(), Some("FAILED"));
    assert_eq!(status(&s, "s2").as_deref(), Some("FAILED"));
    assert_eq!(status(&s, "ok").as_deref(), Some("FINISHED"));
    let errors: Vec<&Value> = s["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter(|e| e["errorType"] == "instantActionError")
        .collect();
    let texts: Vec<&str> = errors
        .iter()
        .filter_map(|e| e["errorDescription"].as_str())
        .collect();
    assert_eq!(errors.len(), 4, "{texts:?}");
    assert!(texts[0].contains("`startCharging` is not supported"));
    assert!(texts[1].contains("takes no parameters"));
    assert!(texts[2].contains("actionId must not be empty"));
    assert!(texts[3].contains("actionId `ok` is already in use"));
    assert!(
        refers(errors[0], "actionType", "startCharging")
            && refers(errors[0], "topic", "instantActions")
    );
    assert!(fx.gate.is_none() && fx.navigation.is_empty());
    // A later message taken whole clears them.
    rig.pass(1.0);
    let fx = rig.instant(json!([action("stateRequest", "ok2")]));
    assert!(error(&state_after(&fx), "instantActionError").is_none());
}

#[test]
fn too_many_actions_in_one_message_are_refused_whole() {
    let mut rig = Rig::with(VdaConfig {
        limits: crate::vda5050::config::Limits {
            max_instant_actions: 2,
            ..Default::default()
        },
        ..config()
    });
    rig.pass(1.0);
    let fx = rig.instant(json!([
        action("startPause", "a"),
        action("stateRequest", "b"),
        action("stateRequest", "c")
    ]));
    assert_eq!(fx.gate, None, "refused whole: not even the pause");
    let s = state_after(&fx);
    assert_eq!(status(&s, "a"), None);
    let e = error(&s, "validationError").expect("error");
    assert!(
        e["errorDescription"]
            .as_str()
            .unwrap_or("")
            .contains("max_instant_actions"),
        "{e}"
    );
}

#[test]
fn action_states_stay_bounded_under_a_flood() {
    let mut rig = Rig::with(VdaConfig {
        limits: crate::vda5050::config::Limits {
            max_action_states: 16,
            ..Default::default()
        },
        ..config()
    });
    for i in 0..200 {
        rig.pass(0.01);
        rig.instant(json!([action("stateRequest", &format!("r{i}"))]));
    }
    let s = rig.state();
    let n = s["actionStates"].as_array().map_or(0, Vec::len);
    assert_eq!(n, 16);
    assert!(status(&s, "r199").is_some() && status(&s, "r0").is_none());
    assert_eq!(rig.core.counters().action_states_evicted, 201 - 16);
}
