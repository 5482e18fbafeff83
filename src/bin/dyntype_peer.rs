//! The bridge's side of tests/dyntype.rs until run-time types are wired into the mappings
//! (phase 2 of issue 19; then this tool goes): one process with the run-time types' ROS
//! context, any installed message type, JSON lines.
//!
//!   dyntype_peer sub TYPE TOPIC [QOS]   QOS: auto (default), reliable, best_effort, or either
//!                                       with _transient_local. Prints {"ready", "qos"}, then
//!                                       {"json"} per message and {"qos"} when it changes.
//!   dyntype_peer pub TYPE TOPIC [latched]  Publishes each JSON line of stdin; prints
//!                                       {"published": n} or {"refused": why} per line.
//! A type that cannot be used: the error on stderr, exit 2.

use std::io::BufRead;
use std::time::Duration;

use amr_mqtt_bridge::dyntype::{
    encode, write_json, Durability, Qos, Registry, Reliability, Runtime, RuntimeOptions, SubQos,
    SubscribeOptions, TypeRef,
};
use serde_json::json;

fn qos(arg: &str) -> Option<SubQos> {
    let (reliability, rest) = match arg {
        "auto" => return Some(SubQos::Auto { depth: 10 }),
        a if a.starts_with("reliable") => (Reliability::Reliable, &a["reliable".len()..]),
        a if a.starts_with("best_effort") => (Reliability::BestEffort, &a["best_effort".len()..]),
        _ => return None,
    };
    let durability = match rest {
        "" => Durability::Volatile,
        "_transient_local" => Durability::TransientLocal,
        _ => return None,
    };
    Some(SubQos::Fixed(Qos {
        reliability,
        durability,
        depth: 10,
    }))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, ty, topic, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: dyntype_peer sub|pub TYPE TOPIC [QOS|latched]");
    };
    let mut registry = Registry::from_env();
    let found = registry
        .load(ty)
        .and_then(|t| Ok((TypeRef::find(&registry, ty)?, t)));
    let (type_ref, msg_type) = match found {
        Ok(x) => x,
        Err(e) => {
            eprintln!("dyntype_peer: {e}");
            std::process::exit(2);
        }
    };
    let runtime = Runtime::start(RuntimeOptions {
        node_name: "dyntype_peer".into(),
        args: Vec::new(),
        ..RuntimeOptions::default()
    })?;
    let out = |v: serde_json::Value| println!("{v}");
    if mode == "pub" {
        let q = if rest.first().map(String::as_str) == Some("latched") {
            Qos::LATCHED
        } else {
            Qos::RELIABLE
        };
        let publisher = runtime.publisher(topic, type_ref, q)?;
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let value: serde_json::Value = serde_json::from_str(&line?)?;
            match encode(&msg_type, &value, 16 << 20) {
                Ok(cdr) => {
                    publisher.publish(&cdr)?;
                    out(json!({"published": n + 1}));
                }
                Err(e) => out(json!({"refused": e.to_string()})),
            }
        }
        // Stay in the graph a moment: a latched message is served from here.
        std::thread::sleep(Duration::from_secs(
            rest.get(1).and_then(|s| s.parse().ok()).unwrap_or(1),
        ));
        return Ok(());
    }
    let qos = qos(rest.first().map_or("auto", String::as_str))
        .ok_or_else(|| anyhow::anyhow!("unknown QoS {rest:?}"))?;
    let sub = runtime.subscribe(SubscribeOptions {
        topic: topic.clone(),
        ty: type_ref,
        qos,
        capacity: 1000,
        notify: None,
    })?;
    let mut shown = sub.qos();
    out(json!({"ready": true, "qos": shown.to_string()}));
    let mut text = Vec::new();
    loop {
        let cdr = sub.recv_timeout(Duration::from_millis(100));
        // Before the message: a latched one arrives through the new subscription.
        if sub.qos() != shown {
            shown = sub.qos();
            out(json!({"qos": shown.to_string()}));
        }
        let Some(cdr) = cdr else { continue };
        text.clear();
        match write_json(&msg_type, &cdr, Default::default(), &mut text) {
            Ok(()) => println!("{{\"json\":{}}}", String::from_utf8_lossy(&text)),
            Err(e) => out(json!({"unreadable": e.to_string()})),
        }
    }
}
