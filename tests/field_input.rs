//! Field failures on the input side (issue 10, "Field-ready"): hostile text in fleet commands
//! and generic MQTT to ROS messages, a fuzzed flood of hostile commands, a log flood from
//! refused commands, and the ROS e-stop from publishers of every QoS a safety system uses.
//!
//! Real Mosquitto, real DDS (rclpy peers), mosquitto_pub/sub; ROS_DOMAIN_ID 90-96, one per
//! test. Measured numbers are printed with `eprintln!` (`-- --nocapture`).

mod common;
mod field_util;
use common::*;
use field_util::*;
use std::time::{Duration, Instant};

enum Probe {
    Refused,
    /// Handled, but not as it should be.
    Wrong(String),
    /// No outcome: the bridge died, or a thread of it panicked (half alive), or it hangs.
    Broken(String),
}

/// Sends one hostile command and waits for its own outcome. A command that is wrongly obeyed
/// is stopped again so the next probe starts from rest.
fn probe(rig: &mut FieldRig, action: &str, what: &str, payload: &[u8]) -> Probe {
    rig.send(action, payload);
    let own = |d: &Value| {
        matches!(
            d["status"].as_str(),
            Some("accepted" | "rejected" | "completed")
        )
    };
    let t0 = Instant::now();
    let mut got = None;
    while got.is_none() && t0.elapsed() < Duration::from_secs(4) {
        got = rig.outcome_within(Duration::from_millis(200), own);
        if got.is_none() && (rig.panicked() || !rig.bridge.proc.alive()) {
            break;
        }
    }
    match got {
        Some(d) if d["status"] == "rejected" => {
            if d["reason"].as_str().is_none_or(|r| r.trim().is_empty()) {
                return Probe::Wrong(format!("{action} / {what}: rejected without a reason: {d}"));
            }
            Probe::Refused
        }
        Some(d) => {
            if d["status"] == "accepted" && action == "move" {
                // Wrongly obeyed: stop it so the next probe is judged on its own.
                let stop = json!({"timestamp": now_rfc3339(), "command": "stop"});
                rig.send("stop", stop.to_string().as_bytes());
                let _ = rig.outcome_within(Duration::from_secs(3), |d| {
                    d["command"] == "stop" && d["status"] == "completed"
                });
            }
            Probe::Wrong(format!(
                "{action} / {what}: outcome {} (reason {})",
                d["status"], d["reason"]
            ))
        }
        None => Probe::Broken(format!(
            "{action} / {what}: no outcome (process alive: {}, a thread panicked: {})",
            rig.bridge.proc.alive(),
            rig.panicked()
        )),
    }
}

/// Runs a probe; a broken bridge is restarted (as its supervisor would) and counted, up to
/// `MAX_RESTARTS`; after that, probes holding an escaped NUL are not run (`skipped`).
struct Prober {
    failures: Vec<String>,
    broken: usize,
    skipped: usize,
    seq: usize,
}

const MAX_RESTARTS: usize = 12;

impl Prober {
    fn run(&mut self, rig: &mut FieldRig, action: &str, what: &str, payload: &[u8]) {
        if rig.restarts >= MAX_RESTARTS && payload.windows(6).any(|w| w == br"\u0000") {
            self.skipped += 1;
            return;
        }
        self.seq += 1;
        let payload = fill(payload, &now_rfc3339(), self.seq);
        match probe(rig, action, what, &payload) {
            Probe::Refused => {}
            Probe::Wrong(e) => self.failures.push(e),
            Probe::Broken(e) => {
                self.broken += 1;
                let why = rig.restart_bridge();
                self.failures.push(format!("BROKEN {e}: {why}"));
            }
        }
    }
}

/// Whole-payload oddities around a valid command: BOM, NUL after the JSON, UTF-16.
fn whole_payload_cases(valid: &str) -> Vec<(String, Vec<u8>)> {
    let mut bom = vec![0xef, 0xbb, 0xbf];
    bom.extend_from_slice(valid.as_bytes());
    let mut nul_after = valid.as_bytes().to_vec();
    nul_after.push(0);
    let mut nul_inside = valid.as_bytes().to_vec();
    nul_inside.insert(valid.len() / 2, 0);
    let utf16: Vec<u8> = valid.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    vec![
        ("payload: BOM before the JSON".into(), bom),
        ("payload: NUL byte after the JSON".into(), nul_after),
        ("payload: NUL byte inside the JSON".into(), nul_inside),
        ("payload: UTF-16LE".into(), utf16),
    ]
}

/// Field condition: a fleet server (or an attacker on the fleet network) sends commands whose
/// JSON carries escaped NUL (`"move_forw\u0000ard"`), bidi overrides, combining marks, emoji,
/// C1 controls, noncharacters, BOMs, lone surrogate escapes, 100 kB strings or invalid UTF-8
/// in any string field (command, id, timestamp, parameter names and values, unknown keys), on
/// every command action and on unknown ones. The bridge must stay alive (no thread may die:
/// every probe must get its outcome), refuse every one of them with an outcome `rejected`,
/// never publish a non-zero Twist because of them (a stop or an emergency with hostile text
/// still stops / engages, by design), never release the e-stop on a hostile release, and obey a
/// valid move afterwards (after a valid release of the e-stop the hostile emergencies engaged).
/// A bridge found dead or half alive is restarted (counted) so that every case is judged.
#[test]
fn hostile_text_in_every_command_field_is_refused() {
    require_env();
    let mut rig = FieldRig::start(90, "FLD90", "");
    let mut alerts = MqttSub::start(rig.broker.port, "amr/FLD90/alert/#");
    let frags = hostile_fragments();
    let mut p = Prober {
        failures: Vec::new(),
        broken: 0,
        skipped: 0,
        seq: 0,
    };
    let mut sent = 0usize;
    let mut by_action: Vec<(String, usize, usize, usize)> = Vec::new();
    let move_params = r#"{"speed":20,"distance":10}"#;

    // move (three commands), an unknown action, stop.
    let phases: Vec<(&str, &str, &str)> = vec![
        ("move", "move_forward", move_params),
        ("move", "rotate_left", r#"{"speed":20,"angle":10}"#),
        ("move", "velocity", r#"{"linear":20,"angular":5}"#),
        ("junk", "move_forward", move_params),
        ("stop", "stop", "{}"),
    ];
    for (action, command, params) in &phases {
        // Nothing left over from the previous phase.
        rig.outcomes.collect(
            &format!("amr/{}/status/command", rig.id),
            Duration::from_millis(300),
        );
        let (f0, b0) = (p.failures.len(), p.broken);
        let mut n = 0;
        for (fname, frag) in &frags {
            for (field, payload) in hostile_commands(command, params, frag, TS) {
                n += 1;
                p.run(
                    &mut rig,
                    action,
                    &format!("{command} {field}: {fname}"),
                    &payload,
                );
            }
        }
        let valid =
            format!("{{\"timestamp\":\"{TS}\",\"command\":\"{command}\",\"parameters\":{params}}}");
        for (what, payload) in whole_payload_cases(&valid) {
            n += 1;
            p.run(&mut rig, action, &what, &payload);
        }
        sent += n;
        by_action.push((
            format!("{action}:{command}"),
            n,
            p.failures.len() - f0,
            p.broken - b0,
        ));
    }
    // Unknown actions with hostile topic levels (mosquitto_pub itself refuses C0/C1 controls
    // and noncharacters in topics).
    let valid_move = json!({"timestamp": TS, "command": "move_forward",
                            "parameters": {"speed": 20, "distance": 10}})
    .to_string();
    let (f0, b0) = (p.failures.len(), p.broken);
    let levels = [
        "ju\u{202e}nk",
        "\u{1F916}",
        "move\u{200b}",
        "mo\u{0301}ve",
        "\u{feff}move",
        "move\u{202e}",
        "stop\u{1F6D1}",
    ];
    for level in levels {
        sent += 1;
        p.run(
            &mut rig,
            level,
            &format!("topic level {level:?}"),
            valid_move.as_bytes(),
        );
    }
    by_action.push((
        "topic levels".into(),
        levels.len(),
        p.failures.len() - f0,
        p.broken - b0,
    ));

    // No motion from any of that.
    let tw = rig.twists_for(Duration::from_millis(800));
    let bad_twists = nonzero(&rig.seen_twists);
    eprintln!(
        "hostile commands: {} Twists seen ({} in the last 0.8 s), {} non-zero",
        rig.seen_twists.len(),
        tw.len(),
        bad_twists.len()
    );
    if !bad_twists.is_empty() {
        p.failures.push(format!(
            "{} non-zero Twists on /cmd_vel from hostile commands, first: {:?}",
            bad_twists.len(),
            bad_twists.first()
        ));
    }
    if !rig.bridge.proc.alive() || rig.panicked() {
        rig.restart_bridge();
    }
    rig.assert_obeys_a_valid_move("after the hostile moves and stops");

    // A hostile stop still stops a running motion.
    for (fname, frag) in frags
        .iter()
        .filter(|(n, _)| n.contains("emoji") || n.contains("RTL") || n.contains("NUL"))
        .take(4)
    {
        rig.valid_move(300.0);
        rig.outcome("a long valid move accepted", |d| {
            d["command"] == "move_forward" && d["status"] == "accepted"
        });
        rig.twists_for(Duration::from_millis(400));
        let template = hostile_commands("stop", "{}", frag, TS)
            .into_iter()
            .find(|(f, _)| f == "id")
            .expect("id case")
            .1;
        p.seq += 1;
        rig.send("stop", &fill(&template, &now_rfc3339(), p.seq));
        let cancelled = rig.outcome_within(Duration::from_secs(3), |d| {
            d["command"] == "move_forward" && d["status"] == "cancelled"
        });
        if cancelled.is_none() {
            p.failures.push(format!(
                "stop with a hostile id ({fname}) did not cancel the running move"
            ));
        }
        // The stop's own outcome (so that the next probe is not judged by it).
        let own = rig.outcome_within(Duration::from_secs(3), |d| {
            d["command"] != "move_forward"
                && matches!(d["status"].as_str(), Some("rejected" | "completed"))
        });
        if own.as_ref().is_none_or(|d| d["status"] != "rejected") {
            p.failures.push(format!(
                "stop with a hostile id ({fname}): outcome {own:?}, expected rejected (stopped anyway)"
            ));
        }
        rig.twists_for(Duration::from_millis(600));
        if rig.seen_twists.last().is_some_and(|(_, m)| moving(m)) {
            p.failures.push(format!(
                "after a stop with a hostile id ({fname}) the last Twist is not zero"
            ));
        }
        if !rig.bridge.proc.alive() || rig.panicked() {
            let why = rig.restart_bridge();
            p.failures.push(format!(
                "BROKEN by a stop with a hostile id ({fname}): {why}"
            ));
        }
    }

    // Nothing left over from before: every probe is judged by its own outcome.
    rig.outcomes.collect(
        &format!("amr/{}/status/command", rig.id),
        Duration::from_millis(500),
    );
    // Emergency: engages by design; every outcome rejected; a hostile release never releases.
    let (f0, b0) = (p.failures.len(), p.broken);
    let mut n = 0;
    let mut released = Vec::new();
    for base in ["engage", "release"] {
        for (fname, frag) in &frags {
            for (field, payload) in hostile_commands(base, "{}", frag, TS) {
                n += 1;
                let restarts = rig.restarts;
                p.run(
                    &mut rig,
                    "emergency",
                    &format!("{base} {field}: {fname}"),
                    &payload,
                );
                if rig.restarts != restarts && base == "release" {
                    // A new bridge starts unlatched: engage it again so releases are judged.
                    let engage = json!({"timestamp": now_rfc3339(), "command": "engage"});
                    rig.send("emergency", engage.to_string().as_bytes());
                    rig.outcome("re-engaged after a restart", |d| d["status"] != "cancelled");
                }
                released.extend(
                    alerts
                        .collect("amr/FLD90/alert/info", Duration::from_millis(1))
                        .into_iter()
                        .filter(|m| m.payload.contains("released"))
                        .map(|m| format!("{base} {field}: {fname}: {}", m.payload)),
                );
            }
        }
    }
    sent += n;
    by_action.push(("emergency".into(), n, p.failures.len() - f0, p.broken - b0));
    released.extend(
        alerts
            .collect("amr/FLD90/alert/info", Duration::from_millis(300))
            .into_iter()
            .filter(|m| m.payload.contains("released"))
            .map(|m| m.payload),
    );
    if !released.is_empty() {
        p.failures.push(format!(
            "{} hostile release(s) released the e-stop latch, first after {}",
            released.len(),
            released[0]
        ));
    }
    // Still latched: a valid move is refused.
    rig.valid_move(10.0);
    let r = rig.outcome("a valid move while latched", |d| {
        d["command"] == "move_forward"
            && matches!(d["status"].as_str(), Some("accepted" | "rejected"))
    });
    if !(r["status"] == "rejected"
        && r["reason"]
            .as_str()
            .unwrap_or("")
            .contains("emergency stop engaged"))
    {
        p.failures.push(format!(
            "after hostile emergencies a valid move was not refused as latched: {r}"
        ));
    }
    let bad_twists = nonzero(&rig.twists_for(Duration::from_millis(500)));
    if !bad_twists.is_empty() {
        p.failures.push(format!(
            "non-zero Twists while latched: {:?}",
            bad_twists.first()
        ));
    }
    rig.release();
    rig.outcome("the valid release", |d| d["status"] != "cancelled");
    rig.assert_obeys_a_valid_move("after a valid release");

    for f in &p.failures {
        eprintln!(
            "hostile commands: MISHANDLED {}",
            f.chars().take(300).collect::<String>()
        );
    }
    for (a, n, f, b) in &by_action {
        eprintln!("hostile commands: {a}: {n} sent, {f} mishandled, of which {b} broke the bridge");
    }
    let wrong: Vec<&String> = p
        .failures
        .iter()
        .filter(|f| !f.starts_with("BROKEN"))
        .collect();
    let broken: Vec<&String> = p
        .failures
        .iter()
        .filter(|f| f.starts_with("BROKEN"))
        .collect();
    eprintln!(
        "hostile commands: {sent} sent; {} mishandled: {} broke the bridge (restarts {}), {} otherwise wrong; {} not run after {MAX_RESTARTS} restarts",
        p.failures.len(),
        broken.len(),
        rig.restarts,
        wrong.len(),
        p.skipped
    );
    assert!(
        p.failures.is_empty(),
        "{} of {sent} hostile commands were mishandled ({} broke the bridge, {} not run after {MAX_RESTARTS} restarts); broken:\n{}\nwrong:\n{}",
        p.failures.len(),
        broken.len(),
        p.skipped,
        broken.iter().take(12).map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        wrong.iter().take(40).map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}

/// Field condition: a generic MQTT to ROS mapping (`std_msgs/String` on `command/note`) gets
/// `{"data": ...}` with NUL, odd Unicode, lone surrogates, huge strings or invalid UTF-8 (a
/// ROS string is a C string: a NUL cannot be carried and must not crash or truncate). The
/// bridge must stay alive, either publish the text exactly or refuse it (counted and with an
/// alert), never publish a mangled or truncated string, and still carry a valid message and
/// obey a valid move afterwards.
#[test]
fn hostile_text_in_a_generic_mqtt_to_ros_mapping() {
    require_env();
    let domain = 91;
    let extra = "alerts: {enabled: true}\nbridge: {diagnostics_period: 1}\nmappings:\n  - {name: note, direction: mqtt_to_ros, ros_topic: note, ros_type: std_msgs/msg/String, mqtt_action: note}\n";
    let mut rig = FieldRig::start(domain, "FLD91", extra);
    let mut notes = RosSub::start(domain, STRING, "/note", "reliable");
    let mut warnings = MqttSub::start(rig.broker.port, "amr/FLD91/alert/warning");
    let topic = "amr/FLD91/command/note";
    let mut failures = Vec::new();
    let (mut published, mut refused) = (0, 0);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (fname, frag) in hostile_fragments() {
        cases.push((
            format!("data: {fname}"),
            splice("{\"data\":\"a", &frag, "b\"}"),
        ));
        cases.push((
            format!("data only: {fname}"),
            splice("{\"data\":\"", &frag, "\"}"),
        ));
        cases.push((
            format!("enveloped data: {fname}"),
            splice(
                &format!("{{\"timestamp\":\"{TS}\",\"data\":{{\"data\":\""),
                &frag,
                "\"}}",
            ),
        ));
        cases.push((
            format!("field name: {fname}"),
            splice("{\"da", &frag, "ta\":\"x\"}"),
        ));
        cases.push((
            format!("unknown key: {fname}"),
            splice("{\"data\":\"x\",\"", &frag, "\":1}"),
        ));
    }
    let mut reports = MqttSub::start(rig.broker.port, "amr/FLD91/status/bridge");
    let (mut alerts_seen, mut counter_seen, mut attributed) = (0u64, 0u64, 0u64);
    let mut broken = 0;
    let mut skipped = 0;
    for (what, template) in &cases {
        if rig.restarts >= MAX_RESTARTS && template.windows(6).any(|w| w == br"\u0000") {
            skipped += 1;
            continue;
        }
        let payload = fill(template, &now_rfc3339(), 0);
        // What a faithful bridge would put into ROS, if anything.
        let expected: Option<String> =
            serde_json::from_slice::<Value>(&payload)
                .ok()
                .and_then(|v| {
                    let inner = if v.get("timestamp").is_some() {
                        v["data"].clone()
                    } else {
                        v
                    };
                    let obj = inner.as_object()?;
                    (obj.len() == 1).then(|| obj.get("data")?.as_str().map(str::to_owned))?
                });
        pub_bytes(rig.broker.port, topic, &payload, 1, false);
        // Published: the ROS message. Refused: an alert or the mapping's `refused` counter
        // (either may come late or be throttled: both are cumulative, compared with the
        // refusals already accounted for since the bridge started).
        let t0 = Instant::now();
        let mut outcome = None;
        while t0.elapsed() < Duration::from_secs(4) && outcome.is_none() {
            if let Some((_, m)) = notes.recv(Duration::from_millis(40)) {
                outcome = Some(Ok(m["data"]
                    .as_str()
                    .unwrap_or("<not a string>")
                    .to_owned()));
                break;
            }
            alerts_seen += warnings
                .collect("amr/FLD91/alert/warning", Duration::from_millis(20))
                .iter()
                .filter(|m| m.payload.contains("MQTT message refused"))
                .count() as u64;
            for r in reports.collect("amr/FLD91/status/bridge", Duration::from_millis(20)) {
                if let Ok(v) = serde_json::from_str::<Value>(&r.payload) {
                    counter_seen = counter_seen.max(counter(&v["data"], "note.refused"));
                }
            }
            if alerts_seen.max(counter_seen) > attributed {
                attributed += 1;
                outcome = Some(Err(()));
            } else if rig.panicked() || !rig.bridge.proc.alive() {
                break;
            }
        }
        if rig.panicked() || !rig.bridge.proc.alive() {
            broken += 1;
            let alive = rig.bridge.proc.alive();
            let why = rig.restart_bridge();
            (alerts_seen, counter_seen, attributed) = (0, 0, 0);
            failures.push(format!(
                "BROKEN by {what} ({} bytes; process alive: {alive}): {why}",
                payload.len()
            ));
            continue;
        }
        match (outcome, &expected) {
            (None, _) => failures.push(format!("{what}: neither published nor refused within 4 s")),
            (Some(Err(_)), _) => refused += 1,
            (Some(Ok(got)), Some(e)) if &got == e && !e.contains('\0') => published += 1,
            (Some(Ok(got)), e) => {
                published += 1;
                failures.push(format!(
                    "{what}: published {:?} ({} chars), expected {}",
                    got.chars().take(40).collect::<String>(),
                    got.chars().count(),
                    match e {
                        Some(e) if e.contains('\0') =>
                            "a refusal (a ROS string cannot hold NUL)".to_owned(),
                        Some(e) => format!("exactly {:?}", e.chars().take(40).collect::<String>()),
                        None => "a refusal".to_owned(),
                    }
                ))
            }
        }
    }
    // Still carrying valid messages, still obeying commands.
    pub_bytes(
        rig.broker.port,
        topic,
        br#"{"data":"hello after all that"}"#,
        1,
        false,
    );
    let ok = notes.recv(Duration::from_secs(5));
    if ok
        .as_ref()
        .is_none_or(|(_, m)| m["data"] != "hello after all that")
    {
        failures.push(format!("a valid note afterwards was not carried: {ok:?}"));
    }
    eprintln!(
        "generic mapping: {} hostile messages: {published} published, {refused} refused, {} mishandled \
         ({broken} broke the bridge: restarted; {skipped} with an escaped NUL not run after {MAX_RESTARTS} restarts)",
        cases.len(),
        failures.len()
    );
    assert!(rig.bridge.proc.alive(), "the bridge is alive");
    rig.assert_obeys_a_valid_move("after hostile generic messages");
    assert!(
        failures.is_empty(),
        "{} generic messages mishandled:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// One fuzzed hostile command for `action` (`move`, `stop`, `emergency`, `junk`): a valid
/// command with hostile text in one field (sometimes two fragments), or a broken whole payload.
/// No line holds `\n` or NUL (they go through `mosquitto_pub -l`).
fn fuzz_payload(
    rng: &mut Rng,
    action: &str,
    frags: &[(&'static str, Vec<u8>)],
    ts: &str,
    seq: usize,
) -> Vec<u8> {
    let bases: &[(&str, &str)] = match action {
        "move" | "junk" => &[
            ("move_forward", r#"{"speed":20,"distance":10}"#),
            ("move_backward", r#"{"speed":20,"distance":10}"#),
            ("rotate_left", r#"{"speed":20,"angle":10}"#),
            ("rotate_right", r#"{"speed":20,"angle":10}"#),
            ("velocity", r#"{"linear":20,"angular":5}"#),
        ],
        "stop" => &[("stop", "{}")],
        _ => &[
            ("engage", "{}"),
            ("emergency_stop", "{}"),
            ("release", "{}"),
        ],
    };
    let (command, params) = *rng.pick(bases);
    let mut frag = rng.pick(frags).1.clone();
    if rng.below(4) == 0 {
        frag.extend_from_slice(&rng.pick(frags).1);
    }
    if rng.below(12) == 0 {
        let valid =
            format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\",\"parameters\":{params}}}");
        let mut p = match rng.below(3) {
            0 => [vec![0xef, 0xbb, 0xbf], valid.into_bytes()].concat(),
            1 => {
                let mut v = valid.into_bytes();
                let cut = 1 + rng.below(v.len() - 1);
                v.truncate(cut);
                v.extend_from_slice(&frag);
                v
            }
            _ => {
                let mut v = valid.into_bytes();
                let at = v.len() - 1;
                v.splice(at..at, splice(",\"id\":\"", &frag, "\",\"id\":\"dup\""));
                v
            }
        };
        p.retain(|b| *b != b'\n' && *b != 0);
        return p;
    }
    let cases = hostile_commands(command, params, &frag, ts);
    let mut p = fill(&rng.pick(&cases).1, ts, seq);
    p.retain(|b| *b != b'\n' && *b != 0);
    p
}

/// Field condition: a misbehaving fleet client (or a fuzzer) sends ~1500 hostile commands as
/// fast as it can over move, junk, stop and emergency. Seeded and deterministic: the seed is
/// printed (FIELD_FUZZ_SEED=<n> replays it). The bridge must stay alive, no hostile command
/// may move the robot, no hostile release may release the e-stop, and a valid move is obeyed
/// afterwards (after a valid release).
#[test]
fn fuzzed_hostile_commands_never_move_the_robot() {
    require_env();
    let seed: u64 = std::env::var("FIELD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00F1_E1D5_EED0_0010);
    eprintln!("fuzz: seed {seed} (FIELD_FUZZ_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let mut rig = FieldRig::start(92, "FLD92", "");
    let mut alerts = MqttSub::start(rig.broker.port, "amr/FLD92/alert/info");
    // Fragments for lines: no NUL byte, nothing over 10 kB.
    let frags: Vec<(&'static str, Vec<u8>)> = hostile_fragments()
        .into_iter()
        .filter(|(_, f)| f.len() <= 10_000 && !f.contains(&0))
        .collect();
    let topic = format!("amr/{}/status/command", rig.id);
    let mut total_sent = 0;
    let mut total_rejected = 0;
    let mut total_other = 0;
    for (phase, plan) in [
        ("move+junk", [("move", 700), ("junk", 300)]),
        ("stop+emergency", [("stop", 200), ("emergency", 300)]),
    ] {
        // Stamped one second ahead (max_future is 2 s): the timestamps stay fresh while sent.
        let ts = rfc3339_in(1.0);
        let t0 = Instant::now();
        let mut procs = Vec::new();
        let mut n = 0;
        for (action, count) in plan {
            let lines: Vec<Vec<u8>> = (0..count)
                .map(|i| fuzz_payload(&mut rng, action, &frags, &ts, total_sent + n + i))
                .collect();
            n += lines.len();
            procs.push(pub_lines(rig.broker.port, &rig.topic(action), lines, 1));
        }
        for (mut child, writer) in procs {
            let _ = writer.join();
            let _ = child.wait();
        }
        let send_s = t0.elapsed().as_secs_f64();
        total_sent += n;
        // Outcomes until quiet.
        let mut rejected = 0;
        let mut other = Vec::new();
        loop {
            let got = rig.outcomes.collect(&topic, Duration::from_millis(1500));
            if got.is_empty() {
                break;
            }
            for m in got {
                let d = serde_json::from_str::<Value>(&m.payload)
                    .map(|v| v["data"].clone())
                    .unwrap_or(Value::Null);
                if d["status"] == "rejected" {
                    rejected += 1;
                } else if d["status"] != "cancelled" {
                    other.push(d);
                }
            }
        }
        total_rejected += rejected;
        total_other += other.len();
        eprintln!(
            "fuzz {phase}: {n} sent in {send_s:.2} s; outcomes: {rejected} rejected, {} other{}",
            other.len(),
            other
                .first()
                .map(|d| format!(" (first: {d})"))
                .unwrap_or_default()
        );
        let bad = nonzero(&rig.twists_for(Duration::from_millis(200)));
        let panic_line = rig
            .bridge
            .log_text()
            .lines()
            .skip_while(|l| !l.contains("panicked at"))
            .take(2)
            .map(|l| l.chars().take(200).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        eprintln!(
            "fuzz {phase}: bridge alive {}, a thread panicked: {} {panic_line}; non-zero Twists so far {}",
            rig.bridge.proc.alive(),
            rig.panicked(),
            bad.len()
        );
        assert!(
            rig.bridge.proc.alive() && !rig.panicked(),
            "the bridge survived the {phase} phase whole: {panic_line}"
        );
    }
    let tw = rig.twists_for(Duration::from_millis(500));
    let bad = nonzero(&rig.seen_twists);
    let released: Vec<_> = alerts
        .collect("amr/FLD92/alert/info", Duration::from_millis(300))
        .into_iter()
        .filter(|m| m.payload.contains("released"))
        .collect();
    eprintln!(
        "fuzz: {total_sent} sent, {total_rejected} rejected, {total_other} other outcomes; {} Twists, {} non-zero; {} e-stop releases",
        tw.len(),
        bad.len(),
        released.len()
    );
    assert!(
        bad.is_empty(),
        "hostile commands moved the robot: {} non-zero Twists, first {:?}",
        bad.len(),
        bad.first()
    );
    assert!(
        released.is_empty(),
        "a hostile release released the e-stop: {}",
        released[0].payload
    );
    // Latched by the hostile emergencies: a valid release, then a valid move is obeyed.
    rig.release();
    rig.outcome("the valid release", |d| d["status"] != "cancelled");
    rig.assert_obeys_a_valid_move("after the fuzzed flood");
    assert_eq!(total_other, 0, "every hostile command is refused");
}

/// Field condition: a fleet client stuck in a loop sends 1,500 malformed commands in about
/// 2 s. The bridge's log (ROS logging, often shipped over a slow link) must stay readable: at
/// most ~12 lines in any second of the log's timestamps (10 refusals a second plus a
/// summary), while every refusal is still reported (1,500 `rejected` outcomes, or the
/// `commands.refused` counter of `status/bridge`).
#[test]
fn a_flood_of_refused_commands_does_not_flood_the_log() {
    require_env();
    let mut rig = FieldRig::start(93, "FLD93", "bridge: {diagnostics_period: 1}\n");
    let mut reports = MqttSub::start(rig.broker.port, "amr/FLD93/status/bridge");
    let before = bridge_report(&mut reports, "FLD93", Duration::from_secs(5))
        .expect("a status/bridge report");
    let refused_before = counter(&before, "commands.refused");
    let n = 1500;
    let t_start = now_unix();
    let mut child = std::process::Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &rig.broker.port.to_string()])
        .args(["-t", "amr/FLD93/command/move", "-q", "1", "-l"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_pub -l");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // 20 batches of 75, 100 ms apart: 1,500 in about 2 s.
        for b in 0..20 {
            let batch: String = (0..75)
                .map(|i| format!("not json {{{}\n", b * 75 + i))
                .collect();
            if stdin.write_all(batch.as_bytes()).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let _ = writer.join();
    let _ = child.wait();
    let t_sent = now_unix();
    let topic = "amr/FLD93/status/command";
    let mut rejected = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while rejected < n && Instant::now() < deadline {
        rejected += rig
            .outcomes
            .collect(topic, Duration::from_millis(500))
            .iter()
            .filter(|m| m.payload.contains("\"rejected\""))
            .count();
    }
    std::thread::sleep(Duration::from_millis(2500));
    let after = bridge_report(&mut reports, "FLD93", Duration::from_secs(5))
        .expect("a status/bridge report");
    let refused = counter(&after, "commands.refused") - refused_before;
    let inbound_dropped = counter(&after, "inbound_dropped");
    // Log lines per second of the log's own timestamps, during and after the flood.
    let lines: Vec<LogLine> = log_lines(&rig.bridge.log_text())
        .into_iter()
        .filter(|l| l.t >= t_start - 0.5 && l.t <= t_sent + 5.0)
        .collect();
    let mut per_second: std::collections::BTreeMap<i64, usize> = Default::default();
    for l in &lines {
        *per_second.entry(l.t.floor() as i64).or_default() += 1;
    }
    let worst = per_second.values().copied().max().unwrap_or(0);
    // Also the worst sliding 1-second window, for information.
    let times: Vec<f64> = lines.iter().map(|l| l.t).collect();
    let sliding = times
        .iter()
        .map(|&t| times.iter().filter(|&&u| u >= t && u < t + 1.0).count())
        .max()
        .unwrap_or(0);
    eprintln!(
        "log flood: {n} bad commands in {:.2} s; {} log lines; per second: {:?}; worst second {worst}, worst sliding 1 s window {sliding}",
        t_sent - t_start,
        lines.len(),
        per_second.values().collect::<Vec<_>>()
    );
    eprintln!(
        "log flood: {rejected} rejected outcomes, commands.refused +{refused}, inbound_dropped {inbound_dropped}"
    );
    assert!(rig.bridge.proc.alive(), "alive after the flood");
    assert!(
        worst <= 12,
        "at most ~12 log lines in any second of the flood, got {worst}: {per_second:?}; e.g.\n{}",
        lines
            .iter()
            .take(15)
            .map(|l| format!("[{}] {:.3} {}", l.level, l.t, l.text))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        rejected == n || refused == n as u64,
        "every refusal reported: {rejected} rejected outcomes, refused counter +{refused}, of {n}"
    );
}

/// Field condition: the robot's safety PLC bridge publishes `emergency_stop` (std_msgs/Bool)
/// true at 10 Hz from a BEST-EFFORT publisher (the usual sensor-data QoS). The e-stop must
/// latch: a move sent then is refused "emergency stop engaged" and nothing moves.
#[test]
fn estop_from_a_best_effort_publisher_latches() {
    require_env();
    let domain = 94;
    let mut rig = FieldRig::start(domain, "FLD94", "");
    let _estop = ros_pub(
        domain,
        BOOL,
        "/emergency_stop",
        &json!({"data": true}),
        10.0,
        600,
        "best_effort",
    );
    estop_refuses_a_move(&mut rig, "best-effort publisher at 10 Hz", "best_effort");
}

/// Field condition: a safety node publishes `emergency_stop` true ONCE on a LATCHED topic
/// (reliable + transient local) and keeps running, started before the bridge (the bridge was
/// restarted by its supervisor, or came up last at boot). After the bridge starts, a move is
/// refused "emergency stop engaged".
#[test]
fn estop_from_a_latched_publisher_started_before_the_bridge_latches() {
    require_env();
    let domain = 95;
    let broker = Broker::start();
    let _estop = ros_pub_args(
        domain,
        BOOL,
        "/emergency_stop",
        &json!({"data": true}),
        10.0,
        1,
        "reliable_transient_local",
        &["--wait-subscribers", "0", "--linger", "120"],
    );
    std::thread::sleep(Duration::from_secs(3));
    let bridge = Bridge::start(domain, broker.port, "FLD95", &config(""), &[]);
    let mut rig = FieldRig::with(broker, bridge, domain, "FLD95", &config(""));
    estop_refuses_a_move(
        &mut rig,
        "latched publisher started before the bridge",
        "reliable_transient_local",
    );
}

/// Field condition (control): the reliable, volatile publisher of a simple e-stop button node
/// keeps working: true at 10 Hz latches, a move is refused.
#[test]
fn estop_from_a_reliable_publisher_latches() {
    require_env();
    let domain = 96;
    let mut rig = FieldRig::start(domain, "FLD96", "");
    let _estop = ros_pub(
        domain,
        BOOL,
        "/emergency_stop",
        &json!({"data": true}),
        10.0,
        600,
        "reliable",
    );
    estop_refuses_a_move(&mut rig, "reliable publisher at 10 Hz", "reliable");
}

/// Waits until an rclpy witness with `witness_qos` sees the e-stop message (so the publisher
/// is up and publishing), gives the bridge a second, then sends a valid move.
fn estop_refuses_a_move(rig: &mut FieldRig, what: &str, witness_qos: &str) {
    let mut witness = RosSub::start(rig.domain, BOOL, "/emergency_stop", witness_qos);
    let seen = witness.recv(Duration::from_secs(20));
    assert!(
        seen.as_ref().is_some_and(|(_, m)| m["data"] == true),
        "the e-stop publisher ({what}) publishes true: {seen:?}"
    );
    let witness_at = seen.as_ref().map(|s| s.0).unwrap_or(0.0);
    // DDS discovery may take a moment (about 1.5 s seen here for a new publisher): give the
    // bridge up to 10 s to latch before the move.
    let latched = wait_log_count(
        &rig.bridge,
        "emergency stop engaged",
        1,
        Duration::from_secs(10),
    );
    eprintln!(
        "e-stop ({what}): the bridge latched {}",
        latched
            .map(|_| "in time".to_owned())
            .unwrap_or("NOT within 10 s of the witness".to_owned())
    );
    std::thread::sleep(Duration::from_millis(300));
    rig.twists_for(Duration::from_millis(300));
    let move_at = now_unix();
    rig.valid_move(20.0);
    let r = rig.outcome("the move's outcome", |d| {
        d["command"] == "move_forward"
            && matches!(d["status"].as_str(), Some("accepted" | "rejected"))
    });
    let tw = rig.twists_for(Duration::from_millis(1500));
    let bad = nonzero(&rig.seen_twists);
    let engaged_at = log_lines(&rig.bridge.log_text())
        .into_iter()
        .find(|l| l.text.contains("emergency stop engaged"))
        .map(|l| format!("{:+.3} s", l.t - witness_at))
        .unwrap_or("never".into());
    eprintln!(
        "e-stop ({what}): move outcome {} ({}); {} Twists after, {} non-zero; relative to the witness's first true: \
         move sent {:+.3} s, bridge engaged {engaged_at}",
        r["status"],
        r["reason"],
        tw.len(),
        bad.len(),
        move_at - witness_at
    );
    assert!(
        r["status"] == "rejected"
            && r["reason"]
                .as_str()
                .unwrap_or("")
                .contains("emergency stop engaged"),
        "e-stop from a {what}: a move must be refused \"emergency stop engaged\", got {r}"
    );
    assert!(
        bad.is_empty(),
        "no motion under an e-stop ({what}): {:?}",
        bad.first()
    );
}
