//! Every payload the profile writes validates against the official VDA 5050 2.1.0 JSON Schemas
//! shipped in `schemas/vda5050/2.1.0/` (the Rust `jsonschema` crate, formats asserted, no
//! network), and against the text where it is stricter: the full header on every message
//! (the factsheet and visualization schemas require none of it), timestamps in UTC with
//! milliseconds, theta within [-pi, pi] (no range in the state schema), no `null` anywhere.
//! And what master control sends that its schemas refuse, the profile refuses too.

use std::f64::consts::PI;
use std::path::Path;

use serde_json::{json, Value};

use super::fixtures::*;
use crate::vda5050::words::OperatingMode;
use crate::vda5050::{Battery, Estop, Odometry, Outgoing, Publish, VdaConfig, Version};

fn schema(name: &str) -> jsonschema::Validator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(Version::V2_1.schema_dir());
    let text = std::fs::read_to_string(dir.join(format!("{name}.schema")))
        .unwrap_or_else(|e| panic!("{name}.schema: {e}"));
    let value: Value = serde_json::from_str(&text).expect("the official schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&value)
        .unwrap_or_else(|e| panic!("{name}.schema does not compile: {e}"))
}

fn schema_of(kind: Outgoing) -> &'static str {
    match kind {
        Outgoing::Connection => "connection",
        Outgoing::State => "state",
        Outgoing::Visualization => "visualization",
        Outgoing::Factsheet => "factsheet",
    }
}

/// What the text says beyond the schemas.
fn text_rules(kind: Outgoing, v: &Value) -> Result<(), String> {
    let header_id = v["headerId"].as_u64().ok_or("no headerId")?;
    if header_id > u64::from(u32::MAX) {
        return Err(format!("headerId {header_id} is not a uint32"));
    }
    let ts = v["timestamp"].as_str().ok_or("no timestamp")?;
    let millis = ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes().get(19) == Some(&b'.');
    if !millis || crate::envelope::parse_rfc3339(ts).is_none() {
        return Err(format!("timestamp `{ts}` is not UTC with milliseconds"));
    }
    let header = (
        v["version"].as_str(),
        v["manufacturer"].as_str(),
        v["serialNumber"].as_str(),
    );
    if header != (Some("2.1.0"), Some("KIT"), Some(ROBOT)) {
        return Err(format!("header {header:?}"));
    }
    if let Some(theta) = v.pointer("/agvPosition/theta") {
        let t = theta.as_f64().ok_or("theta is not a number")?;
        if !(-PI..=PI).contains(&t) {
            return Err(format!("theta {t} is outside [-pi, pi]"));
        }
    }
    if contains_null(v) {
        return Err("a null".into());
    }
    if kind == Outgoing::Factsheet && v.to_string().contains("blockingTypes") {
        return Err("blockingTypes cannot be valid under the 2.1 schema".into());
    }
    Ok(())
}

fn contains_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(contains_null),
        Value::Object(o) => o.values().any(contains_null),
        _ => false,
    }
}

/// Checks every payload; returns how many of each kind there were.
fn check_all(payloads: &[Publish]) -> [usize; 4] {
    let validators = Outgoing::ALL.map(|k| (k, schema(schema_of(k))));
    let mut counts = [0; 4];
    for p in payloads {
        let v = json_of(p);
        let (i, (_, validator)) = validators
            .iter()
            .enumerate()
            .find(|(_, (k, _))| *k == p.kind)
            .expect("a schema per kind");
        if let Err(e) = validator.validate(&v) {
            panic!(
                "{:?} is not valid under {}.schema: {e}\n{v:#}",
                p.kind,
                schema_of(p.kind)
            );
        }
        if let Err(e) = text_rules(p.kind, &v) {
            panic!("{:?} breaks the text: {e}\n{v:#}", p.kind);
        }
        counts[i] += 1;
    }
    counts
}

/// One thing that happens to the vehicle.
type Step = Box<dyn Fn(&mut Rig) -> crate::vda5050::Effects>;
/// A change to a message.
type Mutation = Box<dyn Fn(&mut Value)>;

fn odom(x: f64, yaw: f64, vx: f64) -> Odometry {
    Odometry {
        x,
        y: -1.25,
        yaw,
        vx,
        vy: 0.0,
        omega: 0.1,
    }
}

/// A working day: every kind of message in many situations.
fn a_day(cfg: VdaConfig) -> Vec<Publish> {
    let mut rig = Rig::offline(cfg);
    let mut presence = rig.core.presence();
    let mut out = vec![presence.will(rig.wall), presence.online(rig.wall)];
    let take = |fx: crate::vda5050::Effects, out: &mut Vec<Publish>| out.extend(fx.publish);
    take(rig.core.on_connected(rig.now, rig.wall), &mut out);
    let steps: Vec<Step> = vec![
        Box::new(|r| r.core.on_odometry(odom(1.0, 3.5 * PI, 0.3), r.now, r.wall)),
        Box::new(|r| {
            r.core.on_battery(
                Battery {
                    percent: Some(55.5),
                    charging: true,
                },
                r.now,
                r.wall,
            )
        }),
        Box::new(|r| {
            r.core.on_estop(
                Estop {
                    robot: true,
                    fleet: true,
                },
                r.now,
                r.wall,
            )
        }),
        Box::new(|r| r.core.on_field_violation(true, r.now, r.wall)),
        Box::new(|r| {
            let mut o = path("o1", 0, 0, &["a", "b", "c", "d"], 3);
            o["nodes"][1]["actions"] = json!([action("pick", "p1")]);
            o["edges"][1]["actions"] = json!([action("drop", "d1")]);
            o["nodes"][2]["nodePosition"]["theta"] = json!(-PI);
            r.order(o)
        }),
        Box::new(|r| {
            r.progress(json!({"orderId": "o1", "lastNodeId": "b", "lastNodeSequenceId": 2, "driving": true,
            "actionStates": [{"actionId": "p1", "actionStatus": "RUNNING", "resultDescription": "lifting"}]}))
        }),
        Box::new(|r| {
            r.instant(json!([
                action("startPause", "sp"),
                action("stateRequest", "sr"),
                action("factsheetRequest", "fr")
            ]))
        }),
        Box::new(|r| {
            r.instant(json!([
                action("startCharging", "x"),
                action("stopPause", "r")
            ]))
        }),
        Box::new(|r| r.instant_bytes(b"{\"not\": \"a message\"")),
        Box::new(|r| r.order(path("o2", 0, 0, &["z"], 1))),
        Box::new(|r| r.order(path("o1", 5, 8, &["q"], 1))),
        Box::new(|r| {
            r.progress(json!({"orderId": "o1", "lastNodeId": "zz", "lastNodeSequenceId": 99}))
        }),
        Box::new(|r| r.instant(json!([action("cancelOrder", "c1")]))),
        Box::new(|r| r.instant(json!([action("cancelOrder", "c2")]))),
        Box::new(|r| {
            r.core.on_battery(
                Battery {
                    percent: None,
                    charging: false,
                },
                r.now,
                r.wall,
            )
        }),
        Box::new(|r| {
            r.core
                .on_odometry(odom(f64::NAN, 0.0, f64::INFINITY), r.now, r.wall)
        }),
        Box::new(|r| r.core.on_odometry(odom(2.0, -PI, 0.0), r.now, r.wall)),
        Box::new(|r| {
            r.core
                .on_operating_mode(OperatingMode::Teachin, r.now, r.wall)
        }),
        Box::new(|r| {
            r.core.on_estop(
                Estop {
                    robot: false,
                    fleet: true,
                },
                r.now,
                r.wall,
            )
        }),
    ];
    for step in &steps {
        for _ in 0..4 {
            let fx = rig.tick(0.3);
            take(fx, &mut out);
        }
        let fx = step(&mut rig);
        take(fx, &mut out);
    }
    // Odometry goes stale; time passes beyond the state period.
    for _ in 0..40 {
        let fx = rig.tick(1.0);
        take(fx, &mut out);
    }
    take(rig.core.on_shutdown(rig.now, rig.wall), &mut out);
    out.push(presence.offline(rig.wall));
    out
}

#[test]
fn every_payload_of_a_day_is_valid_under_the_official_schemas_and_the_text() {
    let mut cfg = config();
    cfg.visualization_rate_hz = 2.0;
    let out = a_day(cfg);
    let counts = check_all(&out);
    let [connection, state, visualization, factsheet] = counts;
    assert_eq!(connection, 3, "the Will, ONLINE, OFFLINE");
    assert!(state >= 20, "{counts:?}");
    assert!(visualization >= 10, "{counts:?}");
    assert_eq!(factsheet, 2, "at connect and on request");
    let words: Vec<String> = out
        .iter()
        .filter(|p| p.kind == Outgoing::Connection)
        .map(|p| {
            json_of(p)["connectionState"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(words, ["CONNECTIONBROKEN", "ONLINE", "OFFLINE"]);
    // The day touched every error the profile raises.
    let mut seen: Vec<String> = out
        .iter()
        .filter(|p| p.kind == Outgoing::State)
        .flat_map(|p| error_types(&json_of(p)))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            "batteryStateUnknown",
            "instantActionError",
            "navigationError",
            "noOrderToCancel",
            "orderError",
            "orderUpdateError",
            "validationError"
        ]
    );
}

#[test]
fn factsheets_of_other_configurations_are_valid_too() {
    let mut cfg = config();
    cfg.navigation = None;
    cfg.visualization_rate_hz = 0.0;
    if let Some(f) = cfg.factsheet.as_mut() {
        f.physical_parameters.angular_speed_min = Some(0.1);
        f.physical_parameters.angular_speed_max = Some(1.5);
        f.physical_parameters.height_min = Some(0.2);
        f.type_specification.series_description = Some("a test robot".into());
    }
    let mut rig = Rig::offline(cfg);
    let fx = rig.core.on_connected(rig.now, rig.wall);
    assert_eq!(check_all(&fx.publish), [0, 1, 0, 1]);
    let f = last(&fx, Outgoing::Factsheet).expect("factsheet");
    assert_eq!(
        f["protocolFeatures"]["optionalParameters"],
        json!([]),
        "no navigation: no orders"
    );
    assert!(f["protocolLimits"]["timing"]
        .get("visualizationInterval")
        .is_none());
    assert_eq!(f["physicalParameters"]["heightMin"], 0.2);
}

#[test]
fn the_validator_does_refuse_a_broken_payload() {
    let mut rig = Rig::new();
    let mut s = rig.state();
    assert!(schema("state").is_valid(&s));
    s.as_object_mut().map(|o| o.remove("batteryState"));
    assert!(
        !schema("state").is_valid(&s),
        "a state without batteryState"
    );
    let mut c = json!({"headerId": 1, "timestamp": "2024-05-01T12:00:00.000Z", "version": "2.1.0",
                       "manufacturer": "KIT", "serialNumber": ROBOT, "connectionState": "ONLINE"});
    assert!(schema("connection").is_valid(&c));
    c["connectionState"] = json!("CONNECTION_BROKEN");
    assert!(
        !schema("connection").is_valid(&c),
        "3.0's word is not 2.1's"
    );
    c["connectionState"] = json!("ONLINE");
    c["timestamp"] = json!("yesterday");
    assert!(!schema("connection").is_valid(&c), "formats are asserted");
}

/// Master control's side: the fixtures' messages are valid under its schemas, and whatever
/// those schemas refuse, the profile refuses too (besides what only the text says).
#[test]
fn what_the_order_and_instant_actions_schemas_refuse_is_refused() {
    let mut rig = Rig::new();
    let order_schema = schema("order");
    let ia_schema = schema("instantActions");
    let valid = merge(rig.header(), path("o", 0, 0, &["a", "b", "c"], 2));
    assert!(
        order_schema.is_valid(&valid),
        "{:?}",
        order_schema.validate(&valid).err()
    );
    let valid_ia = merge(
        rig.header(),
        json!({"actions": [action("stateRequest", "s")]}),
    );
    assert!(ia_schema.is_valid(&valid_ia));
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "no nodes",
            Box::new(|o| {
                o.as_object_mut().map(|m| m.remove("nodes"));
            }),
        ),
        (
            "orderUpdateId -1",
            Box::new(|o| o["orderUpdateId"] = json!(-1)),
        ),
        (
            "sequenceId 1.5",
            Box::new(|o| o["nodes"][0]["sequenceId"] = json!(1.5)),
        ),
        (
            "released as text",
            Box::new(|o| o["nodes"][0]["released"] = json!("true")),
        ),
        (
            "no actions",
            Box::new(|o| {
                o["nodes"][0].as_object_mut().map(|m| m.remove("actions"));
            }),
        ),
        (
            "theta 4",
            Box::new(|o| o["nodes"][0]["nodePosition"]["theta"] = json!(4.0)),
        ),
        (
            "no mapId",
            Box::new(|o| {
                o["nodes"][0]["nodePosition"]
                    .as_object_mut()
                    .map(|m| m.remove("mapId"));
            }),
        ),
        (
            "blockingType",
            Box::new(|o| {
                o["nodes"][0]["actions"] =
                    json!([{"actionType": "pick", "actionId": "p", "blockingType": "MAYBE"}])
            }),
        ),
        (
            "parameter value null",
            Box::new(
                |o| o["nodes"][0]["actions"] = json!([{"actionType": "pick", "actionId": "p", "blockingType": "NONE", "actionParameters": [{"key": "k", "value": null}]}]),
            ),
        ),
        (
            "knot 2",
            Box::new(
                |o| o["edges"][0]["trajectory"] = json!({"degree": 1, "knotVector": [0, 0, 2, 1], "controlPoints": [{"x": 0, "y": 0}, {"x": 1, "y": 0}]}),
            ),
        ),
        (
            "corridor width -1",
            Box::new(|o| o["edges"][0]["corridor"] = json!({"leftWidth": -1, "rightWidth": 1})),
        ),
        ("timestamp", Box::new(|o| o["timestamp"] = json!("noon"))),
        ("zoneSetId 5", Box::new(|o| o["zoneSetId"] = json!(5))),
    ];
    for (what, mutate) in &mutations {
        let mut o = valid.clone();
        mutate(&mut o);
        assert!(!order_schema.is_valid(&o), "{what}: the schema takes it");
        rig.pass(1.0);
        let fx = rig.order_bytes(o.to_string().as_bytes());
        assert!(fx.navigation.is_empty(), "{what}: the profile took it");
    }
    // The text's rules beyond the schema: valid under it, refused all the same.
    for (what, mutate) in [
        (
            "odd node sequenceId",
            Box::new(|o: &mut Value| o["nodes"][1]["sequenceId"] = json!(3))
                as Box<dyn Fn(&mut Value)>,
        ),
        (
            "edge to the wrong node",
            Box::new(|o: &mut Value| o["edges"][0]["endNodeId"] = json!("c")),
        ),
        (
            "released after the horizon",
            Box::new(|o: &mut Value| o["nodes"][2]["released"] = json!(true)),
        ),
        (
            "orientationType",
            Box::new(|o: &mut Value| o["edges"][0]["orientationType"] = json!("DIAGONAL")),
        ),
    ] {
        let mut o = valid.clone();
        mutate(&mut o);
        assert!(order_schema.is_valid(&o), "{what}: the schema refuses it");
        rig.pass(1.0);
        assert!(
            rig.order_bytes(o.to_string().as_bytes())
                .navigation
                .is_empty(),
            "{what}"
        );
    }
    for bad in [
        json!({"actions": [{"actionType": "startPause", "actionId": "a"}]}),
        json!({"actions": [{"actionType": "startPause", "actionId": 7, "blockingType": "NONE"}]}),
        json!({"actions": {"actionType": "startPause"}}),
    ] {
        let msg = merge(rig.header(), bad);
        assert!(!ia_schema.is_valid(&msg));
        rig.pass(1.0);
        let fx = rig.instant_bytes(msg.to_string().as_bytes());
        assert!(fx.gate.is_none(), "{msg}");
    }
}
