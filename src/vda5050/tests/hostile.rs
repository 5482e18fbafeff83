//! Hostile input from master control: refused, counted, reported, never obeyed, never a panic.

use serde_json::json;

use super::fixtures::*;
use crate::vda5050::{Effects, Incoming, Outgoing, VdaConfig};

/// Neither the safety gate nor the navigation heard of it.
fn inert(fx: &Effects) -> bool {
    fx.gate.is_none() && fx.navigation.is_empty()
}

fn garbage() -> Vec<Vec<u8>> {
    let mut g: Vec<Vec<u8>> = [
        "",
        " ",
        "null",
        "0",
        "\"startPause\"",
        "[]",
        "[{\"actionType\":\"startPause\"}]",
        "{",
        "{}",
        "{\"actions\":[]}",
        "{\"headerId\":1}",
        "\u{feff}{}",
        "{\"a\":1}{}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":1e400}",
        "{'a':1}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":1,\"a\":2}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    g.push(vec![0xff, 0xfe, 0x00]);
    g.push(b"{\"actions\":\"\xc3\x28\"}".to_vec());
    g.push("[".repeat(50_000).into_bytes());
    g.push(format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000)).into_bytes());
    g.push(vec![0u8; 4096]);
    g
}

#[test]
fn a_message_whose_bytes_were_not_kept_is_refused_by_its_size() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let (now, wall) = (rig.now, rig.wall);
    let fx = rig
        .core
        .on_oversized(Incoming::InstantActions, 3 << 20, now, wall);
    assert!(inert(&fx));
    let s = last(&fx, Outgoing::State).expect("reported");
    let e = error(&s, "validationError").expect("error");
    let d = e["errorDescription"].as_str().unwrap_or("");
    assert!(
        d.contains("message is 3145728 bytes, more than the limit of 524288"),
        "{e}"
    );
    assert!(refers(e, "topic", "instantActions"), "{e}");
    assert_eq!(
        (rig.core.counters().received, rig.core.counters().refused),
        (1, 1)
    );
}

#[test]
fn a_one_megabyte_message_is_refused_by_its_size() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let mut msg = merge(
        rig.header(),
        json!({"actions": [action("startPause", "sp")]}),
    );
    msg["pad"] = json!("x".repeat(1 << 20));
    let bytes = msg.to_string().into_bytes();
    assert!(bytes.len() > 1 << 20);
    let fx = rig.instant_bytes(&bytes);
    assert!(inert(&fx) && !rig.core.paused());
    let s = last(&fx, Outgoing::State).expect("reported");
    let e = error(&s, "validationError").expect("error");
    assert!(
        e["errorDescription"]
            .as_str()
            .unwrap_or("")
            .contains("more than the limit of 524288"),
        "{e}"
    );
    assert_eq!(rig.core.counters().refused, 1);
    let fx = rig.order_bytes(&bytes);
    assert!(inert(&fx));
    assert_eq!(rig.core.counters().refused, 2);
}

#[test]
fn malformed_messages_are_refused_counted_and_reported() {
    let mut rig = Rig::new();
    let inputs = garbage();
    for (i, bytes) in inputs.iter().enumerate() {
        rig.pass(1.0);
        let fx = rig.instant_bytes(bytes);
        assert!(inert(&fx), "instantActions #{i} was obeyed");
        let s = last(&fx, Outgoing::State).expect("state");
        assert!(error(&s, "validationError").is_some(), "#{i}: {s}");
        rig.pass(1.0);
        let fx = rig.order_bytes(bytes);
        assert!(inert(&fx), "order #{i} was obeyed");
        assert!(error(
            &last(&fx, Outgoing::State).expect("state"),
            "validationError"
        )
        .is_some());
    }
    let c = rig.core.counters();
    assert_eq!(
        (c.received, c.refused),
        (2 * inputs.len() as u64, 2 * inputs.len() as u64)
    );
    assert!(!rig.core.paused());
}

#[test]
fn escaped_control_text_is_refused_or_made_printable() {
    let mut rig = Rig::new();
    rig.pass(1.0);
    let fx = rig.instant(json!([action("start\u{0}Pause", "a\u{1b}[2J")]));
    assert!(inert(&fx));
    let s = last(&fx, Outgoing::State).expect("state");
    let text = s.to_string();
    assert!(
        !text.contains("\\u0000") && !text.contains("\\u001b"),
        "{text}"
    );
    let e = error(&s, "instantActionError").expect("error");
    assert!(
        e["errorDescription"]
            .as_str()
            .unwrap_or("")
            .contains("printable"),
        "{e}"
    );
}

#[test]
fn errors_stay_bounded_under_a_flood() {
    let mut rig = Rig::with(VdaConfig {
        limits: crate::vda5050::config::Limits {
            max_errors: 8,
            ..Default::default()
        },
        ..config()
    });
    let mut fx = Default::default();
    for i in 0..500 {
        rig.pass(0.2);
        // Not UTF-8 at a different offset each time: 500 different errors.
        let mut bytes = format!("{{{}", " ".repeat(i)).into_bytes();
        bytes.push(0xff);
        fx = rig.instant_bytes(&bytes);
    }
    let s = last(&fx, Outgoing::State).expect("state");
    assert_eq!(s["errors"].as_array().map_or(0, Vec::len), 8);
    assert!(error(&s, "validationError").is_some_and(|e| e.to_string().contains("offset 500")));
    assert_eq!(
        rig.core.counters().errors_evicted,
        500 + 1 - 8,
        "the battery warning too"
    );
    assert_eq!(rig.core.counters().refused, 500);
}

/// Random bytes and random mutations of valid messages: never a panic, never more errors or
/// action states than the bounds, and random bytes never obeyed.
#[test]
fn a_seeded_fuzz_flood() {
    let mut rig = Rig::new();
    let mut rng = fastrand::Rng::with_seed(5050);
    let valid_instant = merge(
        rig.header(),
        json!({"actions": [action("startPause", "sp"), action("stateRequest", "sr")]}),
    )
    .to_string();
    let valid_order = merge(rig.header(), path("o", 0, 0, &["a", "b", "c"], 2)).to_string();
    for round in 0..3000 {
        rig.pass(0.003);
        let noise: Vec<u8> = (0..rng.usize(0..300)).map(|_| rng.u8(..)).collect();
        let fx = if round % 2 == 0 {
            rig.instant_bytes(&noise)
        } else {
            rig.order_bytes(&noise)
        };
        // Random bytes are no valid message (a 4-byte "{}" could be JSON, never a valid one).
        assert!(inert(&fx), "noise obeyed: {noise:?}");
        let base = if round % 3 == 0 {
            &valid_order
        } else {
            &valid_instant
        };
        let mut bytes = base.clone().into_bytes();
        for _ in 0..rng.usize(1..6) {
            let at = rng.usize(0..bytes.len());
            match rng.u8(0..3) {
                0 => bytes[at] = rng.u8(..),
                1 => {
                    bytes.remove(at);
                }
                _ => {
                    let tokens = b"{}[],:\"\\0e-";
                    bytes.insert(at, tokens[rng.usize(0..tokens.len())]);
                }
            }
        }
        if round % 3 == 0 {
            rig.order_bytes(&bytes);
        } else {
            rig.instant_bytes(&bytes);
        }
    }
    let s = rig.state();
    assert!(s["errors"].as_array().map_or(0, Vec::len) <= 32);
    assert!(s["actionStates"].as_array().map_or(0, Vec::len) <= 256);
    assert!(rig.core.counters().refused >= 1500);
}
