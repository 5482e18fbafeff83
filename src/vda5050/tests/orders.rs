//! Orders: validation, acceptance and updates (the text's 6.6), and the navigation's progress.

use serde_json::{json, Value};

use super::fixtures::*;
use crate::vda5050::{Effects, Incoming, NavTopic, VdaConfig};

fn nav_orders(fx: &Effects) -> Vec<Value> {
    fx.navigation
        .iter()
        .filter(|n| n.topic == NavTopic::Order)
        .map(|n| serde_json::from_str(&n.data).expect("json"))
        .collect()
}

/// Sends `order` a second after the last call; the state and whether it reached navigation.
fn send(rig: &mut Rig, order: Value) -> (Value, bool) {
    rig.pass(1.0);
    let fx = rig.order(order);
    (state_after(&fx), !nav_orders(&fx).is_empty())
}

/// The error of `error_type` in the state after `order`, which must not reach navigation.
fn refused(rig: &mut Rig, order: Value, error_type: &str) -> Value {
    let (s, handed) = send(rig, order.clone());
    assert!(!handed, "refused, yet handed to navigation: {order}");
    error(&s, error_type)
        .cloned()
        .unwrap_or_else(|| panic!("no {error_type} for {order}: {s}"))
}

fn description(e: &Value) -> &str {
    e["errorDescription"].as_str().unwrap_or("")
}

#[test]
fn without_navigation_every_order_is_refused_and_nothing_moves() {
    let mut rig = Rig::with(VdaConfig {
        navigation: None,
        ..config()
    });
    let e = refused(&mut rig, path("o1", 0, 0, &["a", "b"], 2), "orderError");
    assert!(
        description(&e).contains("no navigation is configured"),
        "{e}"
    );
    assert!(
        refers(&e, "orderId", "o1") && refers(&e, "topic", "order"),
        "{e}"
    );
    let s = rig.state();
    assert_eq!((s["orderId"].as_str(), nodes(&s).len()), (Some(""), 0));
    rig.pass(1.0);
    let fx = rig.order_bytes(b"not json");
    assert!(fx.navigation.is_empty() && fx.gate.is_none());
    assert!(error(&state_after(&fx), "orderError").is_some());
}

#[test]
fn a_valid_order_is_handed_to_navigation_and_tracked() {
    let mut rig = Rig::new();
    let mut o = path("o1", 0, 0, &["a", "b", "c", "d"], 3);
    o["nodes"][1]["actions"] = json!([action("pick", "p1")]);
    o["edges"][2]["actions"] = json!([action("drop", "d1")]);
    rig.pass(1.0);
    let fx = rig.order(o.clone());
    let sent = nav_orders(&fx);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["nodes"], o["nodes"],
        "the order as master control sent it"
    );
    let s = state_after(&fx);
    assert_eq!(
        (s["orderId"].as_str(), s["orderUpdateId"].as_u64()),
        (Some("o1"), Some(0))
    );
    let want: Vec<(String, u64, bool)> = [
        ("a", 0, true),
        ("b", 2, true),
        ("c", 4, true),
        ("d", 6, false),
    ]
    .map(|(n, q, r)| (n.to_owned(), q, r))
    .to_vec();
    assert_eq!(nodes(&s), want);
    let edges: Vec<(u64, bool)> = s["edgeStates"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| (e["sequenceId"].as_u64().unwrap_or(0), e["released"] == true))
        .collect();
    assert_eq!(edges, [(1, true), (3, true), (5, false)]);
    assert_eq!(
        (status(&s, "p1").as_deref(), status(&s, "d1").as_deref()),
        (Some("WAITING"), Some("WAITING"))
    );
    assert_eq!(
        s["lastNodeId"], "",
        "nothing reached until the navigation says so"
    );
}

#[test]
fn malformed_orders_are_validation_errors() {
    let mut rig = Rig::new();
    let base = path("o1", 0, 0, &["a", "b", "c"], 3);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut o = base.clone();
        f(&mut o);
        o
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|o| o["nodes"] = json!([])), "at least one node"),
        (
            with(&|o| {
                o["edges"]
                    .as_array_mut()
                    .map(|e| e.pop())
                    .map(drop)
                    .unwrap_or(())
            }),
            "3 nodes need 2 edges",
        ),
        (
            with(&|o| o["nodes"][0]["sequenceId"] = json!(1)),
            "must be even",
        ),
        (
            with(&|o| o["nodes"][2]["sequenceId"] = json!(6)),
            "must follow 2 by 2",
        ),
        (
            with(&|o| o["edges"][0]["sequenceId"] = json!(3)),
            "must be 1 more than its start node's 0",
        ),
        (
            with(&|o| o["edges"][1]["startNodeId"] = json!("a")),
            "lies between nodes `b` and `c`",
        ),
        (
            with(&|o| o["nodes"][0]["released"] = json!(false)),
            "first node must be released",
        ),
        (
            with(&|o| {
                o["nodes"][1]["released"] = json!(false);
                o["edges"][0]["released"] = json!(false);
            }),
            "released after the horizon",
        ),
        (
            with(&|o| {
                o["nodes"][2]["released"] = json!(false);
            }),
            "its end node is not",
        ),
        (
            with(&|o| {
                o["nodes"][0]["actions"] = json!([action("pick", "x")]);
                o["nodes"][1]["actions"] = json!([action("drop", "x")]);
            }),
            "actionId `x` is used twice",
        ),
        (
            with(&|o| o["nodes"][1]["nodePosition"]["theta"] = json!(3.2)),
            "theta 3.2 must be within",
        ),
        (
            with(&|o| o["nodes"][1]["nodePosition"]["allowedDeviationTheta"] = json!(-0.1)),
            "allowedDeviationTheta -0.1",
        ),
        (
            with(&|o| o["edges"][0]["orientation"] = json!(-4)),
            "orientation -4",
        ),
        (
            with(&|o| o["edges"][0]["orientationType"] = json!("SIDEWAYS")),
            "unknown variant `SIDEWAYS`",
        ),
        (
            with(
                &|o| o["edges"][0]["trajectory"] = json!({"degree": 1, "knotVector": [0, 1], "controlPoints": [{"x": 0, "y": 0}, {"x": 1, "y": 0}]}),
            ),
            "need 4",
        ),
        (
            with(&|o| {
                o["edges"][0]["trajectory"] =
                    json!({"degree": 1.5, "knotVector": [], "controlPoints": []})
            }),
            "degree must be an integer",
        ),
        (
            with(&|o| o["orderId"] = json!("")),
            "orderId must not be empty",
        ),
        (
            with(&|o| o["nodes"][1]["nodeId"] = json!("b\u{202e}")),
            "must be printable",
        ),
        (
            with(&|o| o["nodes"][1]["nodeId"] = json!("n".repeat(200))),
            "longer than 128",
        ),
        (
            with(&|o| o["nodes"][1]["nodeDescription"] = Value::Null),
            "invalid type: null",
        ),
        (
            with(&|o| o["nodes"][1]["nodeID"] = json!("b")),
            "unknown field `nodeID`",
        ),
        (with(&|o| o["orderUpdateId"] = json!(-1)), "`orderUpdateId`"),
        (
            with(&|o| o["nodes"][0]["sequenceId"] = json!(4_294_967_296u64)),
            "`nodes[0].sequenceId`",
        ),
        (
            with(&|o| {
                o["nodes"][1]["actions"] = json!([{"actionType": "pick", "actionId": "p", "blockingType": "NONE", "actionParameters": [{"key": "k", "value": null}]}]);
            }),
            "value must not be null",
        ),
    ];
    for (order, want) in cases {
        let e = refused(&mut rig, order.clone(), "validationError");
        assert!(
            description(&e).contains(want),
            "{want}: {}",
            description(&e)
        );
        assert_eq!(e["errorLevel"], "WARNING");
    }
    // The warning stays until an order is accepted.
    let s = rig.state();
    assert!(error(&s, "validationError").is_some());
    let (s, handed) = send(&mut rig, base);
    assert!(
        handed
            && s["errors"]
                .as_array()
                .is_some_and(|e| e.iter().all(|x| x["errorType"] == "batteryStateUnknown")),
        "{s}"
    );
}

#[test]
fn orders_the_vehicle_cannot_execute_are_order_errors() {
    let mut rig = Rig::new();
    let base = path("o1", 0, 0, &["a", "b"], 2);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut o = base.clone();
        f(&mut o);
        o
    };
    let cases: Vec<(Value, &str, (&str, &str))> = vec![
        (
            with(&|o| o["nodes"][1]["actions"] = json!([action("lift", "l1")])),
            "action `lift` is not one",
            ("actionId", "l1"),
        ),
        (
            with(&|o| o["nodes"][1]["actions"] = json!([action("startPause", "s1")])),
            "is an instant action",
            ("actionType", "startPause"),
        ),
        (
            with(
                &|o| o["edges"][0]["trajectory"] = json!({"degree": 1, "knotVector": [0, 0, 1, 1], "controlPoints": [{"x": 0, "y": 0}, {"x": 1, "y": 0}]}),
            ),
            "`order.edges.trajectory`",
            ("parameter", "order.edges.trajectory"),
        ),
        (
            with(&|o| o["edges"][0]["maxSpeed"] = json!(0.5)),
            "`order.edges.maxSpeed`",
            ("edgeId", "e1"),
        ),
        (
            with(&|o| o["zoneSetId"] = json!("z1")),
            "`order.zoneSetId`",
            ("parameter", "order.zoneSetId"),
        ),
        (
            with(&|o| o["nodes"][1]["nodePosition"]["mapId"] = json!("floor2")),
            "map `floor2`",
            ("nodeId", "b"),
        ),
    ];
    for (order, want, (key, value)) in cases {
        let e = refused(&mut rig, order, "orderError");
        assert!(
            description(&e).contains(want),
            "{want}: {}",
            description(&e)
        );
        assert!(refers(&e, key, value) && refers(&e, "orderId", "o1"), "{e}");
    }
    let mut small = Rig::with(VdaConfig {
        limits: crate::vda5050::config::Limits {
            max_nodes: 2,
            ..Default::default()
        },
        ..config()
    });
    let e = refused(
        &mut small,
        path("o1", 0, 0, &["a", "b", "c"], 3),
        "orderError",
    );
    assert!(description(&e).contains("vda5050.limits.max_nodes"), "{e}");
}

#[test]
fn stale_retained_and_foreign_orders_are_not_obeyed() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let mut o = merge(rig.header(), path("o1", 0, 0, &["a"], 1));
    o["timestamp"] = json!("2024-05-01T11:00:00.00Z");
    let fx = rig.order_bytes(o.to_string().as_bytes());
    let e = error(&state_after(&fx), "validationError")
        .cloned()
        .expect("stale");
    assert!(
        description(&e).contains("s old") && nav_orders(&fx).is_empty(),
        "{e}"
    );
    rig.pass(1.0);
    let o = merge(rig.header(), path("o1", 0, 0, &["a"], 1));
    let fx = rig.core.on_message(
        Incoming::Order,
        o.to_string().as_bytes(),
        true,
        rig.now,
        rig.wall,
    );
    assert!(nav_orders(&fx).is_empty());
    assert!(
        description(error(&state_after(&fx), "validationError").expect("retained"))
            .contains("retained")
    );
    rig.pass(1.0);
    let mut o = merge(rig.header(), path("o1", 0, 0, &["a"], 1));
    o["serialNumber"] = json!("AMR002");
    let fx = rig.order_bytes(o.to_string().as_bytes());
    assert!(nav_orders(&fx).is_empty());
    assert!(
        description(error(&state_after(&fx), "validationError").expect("foreign"))
            .contains("AMR002")
    );
}

#[test]
fn a_new_order_id_while_one_runs_is_refused() {
    let mut rig = Rig::new();
    assert!(send(&mut rig, path("o1", 0, 0, &["a", "b"], 2)).1);
    let e = refused(&mut rig, path("o2", 0, 0, &["x"], 1), "orderError");
    assert!(
        description(&e).contains("order `o1` is still active"),
        "{e}"
    );
    let s = rig.state();
    assert_eq!(s["orderId"], "o1", "the current order goes on");
    // Done (the last node reached): a new order is welcome.
    rig.progress(json!({"orderId": "o1", "lastNodeId": "b", "lastNodeSequenceId": 2}));
    let (s, handed) = send(&mut rig, path("o2", 0, 0, &["b", "c"], 2));
    assert!(handed && s["orderId"] == "o2", "{s}");
    assert!(
        error(&s, "orderError").is_none(),
        "accepting clears the warning"
    );
}

#[test]
fn order_updates_follow_the_text() {
    let mut rig = Rig::new();
    // f d g released, b h horizon (the text's figure 5).
    let mut o0 = path("1234", 0, 0, &["f", "d", "g", "b", "h"], 3);
    o0["nodes"][3]["actions"] = json!([action("pick", "pb")]);
    o0["nodes"][2]["actions"] = json!([action("drop", "dg")]);
    assert!(send(&mut rig, o0).1);
    // Stitched at the decision point g; a jump in orderUpdateId is fine.
    let o2 = path("1234", 2, 4, &["g", "b", "h", "i"], 3);
    assert!(send(&mut rig, o2.clone()).1);
    // An older update: refused, the current order goes on.
    let e = refused(
        &mut rig,
        path("1234", 1, 4, &["g", "b", "h"], 3),
        "orderUpdateError",
    );
    assert!(description(&e).contains("older than the current 2"), "{e}");
    assert!(refers(&e, "orderUpdateId", "1"), "{e}");
    // The same update again: ignored, no error, not handed again.
    rig.pass(1.0);
    let fx = rig.order(o2.clone());
    let s = state_after(&fx);
    assert!(
        nav_orders(&fx).is_empty() && error(&s, "orderUpdateError").is_some(),
        "{s}"
    );
    let want: Vec<(String, u64, bool)> = [
        ("f", 0, true),
        ("d", 2, true),
        ("g", 4, true),
        ("b", 6, true),
        ("h", 8, true),
        ("i", 10, false),
    ]
    .map(|(n, q, r)| (n.to_owned(), q, r))
    .to_vec();
    assert_eq!(
        nodes(&s),
        want,
        "g stitched, b h released, i the new horizon"
    );
    assert_eq!(status(&s, "pb"), None, "the replaced horizon's actions go");
    assert_eq!(status(&s, "dg").as_deref(), Some("WAITING"));
    // Not from the decision point (h, 8): refused.
    let e = refused(
        &mut rig,
        path("1234", 3, 6, &["b", "h", "i"], 3),
        "orderUpdateError",
    );
    assert!(
        description(&e).contains("not at the decision point `h` (sequenceId 8)"),
        "{e}"
    );
    // The stitching node's actions are the first order's: a changed one is not added.
    let mut o4 = path("1234", 4, 8, &["h", "i"], 2);
    o4["nodes"][0]["actions"] = json!([action("pick", "new-on-h")]);
    let (s, handed) = send(&mut rig, o4);
    assert!(handed);
    assert_eq!(status(&s, "new-on-h"), None);
    assert_eq!(
        nodes(&s).last().map(|n| (n.0.as_str(), n.2)),
        Some(("i", true))
    );
    assert!(
        error(&s, "orderUpdateError").is_none(),
        "accepted: the warning goes"
    );
}

#[test]
fn an_update_after_the_base_is_done_continues_from_the_last_node() {
    let mut rig = Rig::new();
    assert!(send(&mut rig, path("o", 0, 0, &["a", "b"], 2)).1);
    rig.progress(json!({"orderId": "o", "lastNodeId": "b", "lastNodeSequenceId": 2}));
    let e = refused(
        &mut rig,
        path("o", 1, 0, &["a", "b", "c"], 3),
        "orderUpdateError",
    );
    assert!(
        description(&e).contains("decision point `b` (sequenceId 2)"),
        "{e}"
    );
    let (s, handed) = send(&mut rig, path("o", 1, 2, &["b", "c"], 2));
    assert!(handed);
    assert_eq!(nodes(&s), [("c".to_owned(), 4, true)]);
    assert_eq!(
        (s["lastNodeId"].as_str(), s["lastNodeSequenceId"].as_u64()),
        (Some("b"), Some(2))
    );
}

#[test]
fn an_update_of_a_cancelled_order_is_refused() {
    let mut rig = Rig::new();
    assert!(send(&mut rig, path("o", 0, 0, &["a", "b"], 2)).1);
    rig.pass(1.0);
    rig.instant(json!([action("cancelOrder", "c1")]));
    let e = refused(
        &mut rig,
        path("o", 1, 2, &["b", "c"], 2),
        "orderUpdateError",
    );
    assert!(description(&e).contains("was cancelled"), "{e}");
    assert!(
        send(&mut rig, path("o2", 0, 0, &["a"], 1)).1,
        "a new orderId is fine"
    );
}

#[test]
fn progress_moves_the_order_along() {
    let mut rig = Rig::new();
    let mut o = path("o", 0, 0, &["a", "b", "c", "d"], 3);
    o["nodes"][1]["actions"] = json!([action("pick", "p1")]);
    assert!(send(&mut rig, o).1);
    rig.pass(1.0);
    let fx = rig.progress(
        json!({"orderId": "o", "lastNodeId": "b", "lastNodeSequenceId": 2, "driving": true,
                                 "actionStates": [{"actionId": "p1", "actionStatus": "RUNNING"}]}),
    );
    let s = state_after(&fx);
    assert_eq!(
        nodes(&s).iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        ["c", "d"]
    );
    let edges: Vec<u64> = s["edgeStates"]
        .as_array()
        .expect("e")
        .iter()
        .filter_map(|e| e["sequenceId"].as_u64())
        .collect();
    assert_eq!(edges, [3, 5]);
    assert_eq!(
        (s["lastNodeId"].as_str(), s["driving"].as_bool()),
        (Some("b"), Some(true))
    );
    assert_eq!(status(&s, "p1").as_deref(), Some("RUNNING"));
    rig.pass(1.0);
    let fx = rig.progress(json!({"orderId": "o", "actionStates": [{"actionId": "p1", "actionStatus": "FINISHED", "resultDescription": "loaded"}]}));
    let s = state_after(&fx);
    assert_eq!(status(&s, "p1").as_deref(), Some("FINISHED"));
    // The horizon node d is not released: the navigation may not be there.
    rig.pass(1.0);
    let fx = rig.progress(json!({"orderId": "o", "lastNodeId": "d", "lastNodeSequenceId": 6}));
    let s = state_after(&fx);
    let e = error(&s, "navigationError").expect("horizon");
    assert!(description(e).contains("horizon"), "{e}");
    assert_eq!(s["lastNodeId"], "b");
    // Another order's progress: only driving counts.
    rig.pass(1.0);
    rig.progress(
        json!({"orderId": "old", "lastNodeId": "zz", "lastNodeSequenceId": 40, "driving": false}),
    );
    let s = rig.state();
    assert_eq!(
        (s["lastNodeId"].as_str(), s["driving"].as_bool()),
        (Some("b"), Some(false))
    );
    // Malformed progress is refused and counted.
    let before = rig.core.counters();
    rig.pass(1.0);
    rig.core
        .on_progress(br#"{"orderId":"o","lastNodeId":"c"}"#, rig.now, rig.wall);
    rig.core.on_progress(b"\xff\xfe", rig.now, rig.wall);
    let after = rig.core.counters();
    assert_eq!(after.progress_refused, before.progress_refused + 2);
    assert_eq!(
        after.refused, before.refused,
        "not master control's refusals"
    );
}

#[test]
fn an_order_while_paused_keeps_the_navigation_paused() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    rig.instant(json!([action("startPause", "sp")]));
    rig.pass(1.0);
    let fx = rig.order(path("o", 0, 0, &["a", "b"], 2));
    let topics: Vec<(NavTopic, String)> = fx
        .navigation
        .iter()
        .map(|n| (n.topic, n.data.clone()))
        .collect();
    assert_eq!(topics.len(), 2);
    assert_eq!(topics[0].0, NavTopic::Order);
    assert_eq!(
        topics[1],
        (
            NavTopic::Control,
            r#"{"command":"pause","orderId":"o"}"#.to_owned()
        )
    );
    assert!(fx.gate.is_none(), "still held: no change");
}

#[test]
fn the_navigation_can_say_where_the_robot_stands_before_the_first_order() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let fx = rig.progress(json!({"orderId": "", "lastNodeId": "dock", "lastNodeSequenceId": 0}));
    let s = state_after(&fx);
    assert_eq!(
        (s["lastNodeId"].as_str(), s["orderId"].as_str()),
        (Some("dock"), Some(""))
    );
    assert!(send(&mut rig, path("o", 0, 0, &["dock", "b"], 2)).1);
    rig.progress(json!({"orderId": "o", "lastNodeId": "b", "lastNodeSequenceId": 2}));
    // Done: what the navigation says next is taken as it is, if it is an id at all.
    rig.pass(1.0);
    let fx =
        rig.progress(json!({"orderId": "o", "lastNodeId": "x\u{1b}[2J", "lastNodeSequenceId": 4}));
    let s = state_after(&fx);
    assert_eq!(s["lastNodeId"], "b");
    assert!(
        error(&s, "navigationError").is_some_and(|e| e.to_string().contains("printable")),
        "{s}"
    );
}

#[test]
fn action_ids_are_unique_among_what_stays() {
    let mut rig = Rig::new();
    let mut o = path("o1", 0, 0, &["a", "b"], 2);
    o["nodes"][1]["actions"] = json!([action("pick", "p")]);
    assert!(send(&mut rig, o.clone()).1);
    rig.progress(
        json!({"orderId": "o1", "lastNodeId": "b", "lastNodeSequenceId": 2,
                        "actionStates": [{"actionId": "p", "actionStatus": "FINISHED"}]}),
    );
    // A new order drops the old order's actions: its ids are free again.
    o["orderId"] = json!("o2");
    o["nodes"][0]["nodeId"] = json!("b");
    o["edges"][0]["startNodeId"] = json!("b");
    let (s, handed) = send(&mut rig, o);
    assert!(handed, "{s}");
    assert_eq!(status(&s, "p").as_deref(), Some("WAITING"));
    // An update may not reuse an id the order still has.
    let mut u = path("o2", 1, 2, &["b", "c"], 2);
    u["nodes"][1]["actions"] = json!([action("drop", "p")]);
    let e = refused(&mut rig, u, "validationError");
    assert!(
        description(&e).contains("actionId `p` is already in use"),
        "{e}"
    );
}
