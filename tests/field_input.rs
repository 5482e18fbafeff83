//! Field failures on the input side (issue 10, "Field-ready"): hostile text in fleet commands
//! and generic MQTT to ROS messages, a fuzzed flood of hostile commands, a log flood from
//! refused commands, and the ROS e-stop from publishers of every QoS a safety system uses.
//!
//! Real Mosquitto, real DDS (rclpy peers), mosquitto_pub/sub; each test in a ROS domain of
//! its own (`tests/common`). Hostile text comes from `tests/hostile`. Measured numbers are
//! printed with `eprintln!` (`-- --nocapture`).

mod common;
mod hostile;
use common::*;
use hostile::*;
use std::time::{Duration, Instant};

/// The command actions the bridge knows: a command with a printable id is valid there.
const ACTIONS: [&str; 3] = ["move", "stop", "emergency"];

enum Probe {
    /// As it should be: refused with a reason, or (a printable id) obeyed.
    Right,
    /// Handled, but not as it should be.
    Wrong(String),
    /// No outcome: the bridge died, or a thread of it panicked (half alive), or it hangs.
    Broken(String),
}

/// Sends one command with hostile text and waits for its own outcome. `valid`: the text is
/// printable and stands in the `id` of an otherwise valid command on a known action, so the
/// command must be obeyed (a move `accepted`, a stop or an emergency `completed`); any other
/// must be `rejected` with a reason. A move that was obeyed (rightly or not) is stopped again
/// so the next probe starts from rest; the Twists of a rightly obeyed one go to `obeyed`, apart
/// from those judged (`Robot::seen_twists`).
fn probe(
    robot: &mut Robot,
    (action, what): (&str, &str),
    payload: &[u8],
    valid: bool,
    obeyed: &mut Vec<(f64, Value)>,
) -> Probe {
    if valid && action == "move" {
        // Whatever came before is judged.
        robot.twists_for(Duration::from_millis(100));
    }
    robot.send(action, payload);
    let own = |d: &Value| {
        matches!(
            d["status"].as_str(),
            Some("accepted" | "rejected" | "completed")
        )
    };
    let t0 = Instant::now();
    let mut got = None;
    while got.is_none() && t0.elapsed() < Duration::from_secs(4) {
        got = robot.outcome_within(Duration::from_millis(200), own);
        if got.is_none() && robot.broken() {
            break;
        }
    }
    let Some(d) = got else {
        return Probe::Broken(format!(
            "{action} / {what}: no outcome (process alive: {}, a thread panicked: {})",
            robot.rig.bridge.proc.alive(),
            robot.rig.bridge.panicked()
        ));
    };
    let status = d["status"].as_str().unwrap_or("");
    if status == "accepted" && action == "move" {
        robot.bare("stop", "stop");
        let _ = robot.outcome_within(Duration::from_secs(3), |d| {
            d["command"] == "stop" && d["status"] == "completed"
        });
        if valid {
            let tw = robot.twists.collect_for(Duration::from_millis(500));
            if tw.last().is_some_and(|(_, m)| moving(m)) {
                return Probe::Wrong(format!(
                    "{action} / {what}: obeyed, but not at rest after a stop"
                ));
            }
            obeyed.extend(tw);
        }
    }
    // A refused stop stops all the same, a refused emergency engages (or, a release, keeps
    // the latch as it is): the reason says so.
    let anyway: &[&str] = match action {
        "stop" => &["the robot was stopped anyway"],
        "emergency" => &["emergency stop engaged anyway", "latch is unchanged"],
        _ => &[],
    };
    match (valid, status) {
        (false, "rejected") if reason(&d).trim().is_empty() => {
            Probe::Wrong(format!("{action} / {what}: rejected without a reason: {d}"))
        }
        (false, "rejected")
            if !anyway.is_empty() && !anyway.iter().any(|a| reason(&d).contains(a)) =>
        {
            Probe::Wrong(format!(
                "{action} / {what}: rejected without saying what it did all the same: {d}"
            ))
        }
        (false, "rejected") => Probe::Right,
        (true, "accepted") if action == "move" => Probe::Right,
        (true, "completed") if action != "move" => Probe::Right,
        _ => Probe::Wrong(format!(
            "{action} / {what}: outcome {} (reason {}), expected {}",
            d["status"],
            d["reason"],
            if valid {
                "obeyed (a printable id)"
            } else {
                "rejected"
            }
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
    /// Probes that had to be obeyed (a printable id), and their Twists.
    valid: usize,
    obeyed: Vec<(f64, Value)>,
}

const MAX_RESTARTS: usize = 12;

impl Prober {
    fn new() -> Prober {
        Prober {
            failures: Vec::new(),
            broken: 0,
            skipped: 0,
            seq: 0,
            valid: 0,
            obeyed: Vec::new(),
        }
    }

    fn run(&mut self, robot: &mut Robot, action: &str, what: &str, payload: &[u8], valid: bool) {
        if robot.restarts >= MAX_RESTARTS && payload.windows(6).any(|w| w == br"\u0000") {
            self.skipped += 1;
            return;
        }
        self.seq += 1;
        self.valid += usize::from(valid);
        let payload = fill(payload, &now_rfc3339(), self.seq);
        match probe(robot, (action, what), &payload, valid, &mut self.obeyed) {
            Probe::Right => {}
            Probe::Wrong(e) => self.failures.push(e),
            Probe::Broken(e) => {
                self.broken += 1;
                let why = robot.respawn();
                self.failures.push(format!("BROKEN {e}: {why}"));
            }
        }
    }
}

/// Engages the e-stop again (after a respawn, or a release that had to be obeyed), so that
/// the releases that follow are judged against a latched robot.
fn engage_again(robot: &mut Robot, why: &str) {
    robot.bare("emergency", "engage");
    robot.outcome(&format!("engaged again {why}"), |d| {
        d["command"] == "engage" && d["status"] == "completed"
    });
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
/// The one exception is the bridge's id rule: combining marks and emoji in the `id` of an
/// otherwise valid command on a known action make a printable id, so that command is obeyed
/// (a move runs and is stopped again, a release releases and the latch is engaged again).
/// A bridge found dead or half alive is restarted (counted) so that every case is judged.
#[test]
fn hostile_text_in_every_command_field_is_refused() {
    let mut robot = Robot::start("FLD90", "");
    let mut alerts = robot.rig.mqtt_sub("amr/FLD90/alert/#");
    let frags = hostile_fragments();
    let mut p = Prober::new();
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
        robot.drain_outcomes(Duration::from_millis(300));
        let (f0, b0) = (p.failures.len(), p.broken);
        let mut n = 0;
        for frag in &frags {
            for (field, payload) in hostile_commands(command, params, &frag.bytes, TS) {
                n += 1;
                let valid = ACTIONS.contains(action) && frag.printable && field.starts_with("id");
                let what = format!("{command} {field}: {}", frag.name);
                p.run(&mut robot, action, &what, &payload, valid);
            }
        }
        let valid =
            format!("{{\"timestamp\":\"{TS}\",\"command\":\"{command}\",\"parameters\":{params}}}");
        for (what, payload) in whole_payload_cases(&valid) {
            n += 1;
            p.run(&mut robot, action, &what, &payload, false);
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
        let what = format!("topic level {level:?}");
        p.run(&mut robot, level, &what, valid_move.as_bytes(), false);
    }
    by_action.push((
        "topic levels".into(),
        levels.len(),
        p.failures.len() - f0,
        p.broken - b0,
    ));

    // No motion from any of that (but from the moves that had to be obeyed).
    let tw = robot.twists_for(Duration::from_millis(800));
    let bad_twists = nonzero(&robot.seen_twists);
    eprintln!(
        "hostile commands: {} Twists seen ({} in the last 0.8 s), {} non-zero; {} valid (printable id) \
         commands obeyed, {} Twists of theirs ({} non-zero)",
        robot.seen_twists.len(),
        tw.len(),
        bad_twists.len(),
        p.valid,
        p.obeyed.len(),
        nonzero(&p.obeyed).len()
    );
    if !bad_twists.is_empty() {
        p.failures.push(format!(
            "{} non-zero Twists on /cmd_vel from hostile commands, first: {:?}",
            bad_twists.len(),
            bad_twists.first()
        ));
    }
    if robot.broken() {
        robot.respawn();
    }
    robot.obeys_a_valid_move("after the hostile moves and stops");

    // A hostile stop still stops a running motion.
    for frag in frags
        .iter()
        .filter(|f| !f.printable && (f.name.contains("RTL") || f.name.contains("NUL")))
        .take(4)
    {
        let fname = frag.name;
        robot.forward(20, 300);
        robot.outcome("a long valid move accepted", |d| {
            d["command"] == "move_forward" && d["status"] == "accepted"
        });
        robot.twists_for(Duration::from_millis(400));
        let template = hostile_commands("stop", "{}", &frag.bytes, TS)
            .into_iter()
            .find(|(f, _)| f == "id")
            .expect("id case")
            .1;
        p.seq += 1;
        robot.send("stop", fill(&template, &now_rfc3339(), p.seq));
        let cancelled = robot.outcome_within(Duration::from_secs(3), |d| {
            d["command"] == "move_forward" && d["status"] == "cancelled"
        });
        if cancelled.is_none() {
            p.failures.push(format!(
                "stop with a hostile id ({fname}) did not cancel the running move"
            ));
        }
        // The stop's own outcome (so that the next probe is not judged by it).
        let own = robot.outcome_within(Duration::from_secs(3), |d| {
            d["command"] != "move_forward"
                && matches!(d["status"].as_str(), Some("rejected" | "completed"))
        });
        if own.as_ref().is_none_or(|d| {
            d["status"] != "rejected" || !reason(d).contains("the robot was stopped anyway")
        }) {
            p.failures.push(format!(
                "stop with a hostile id ({fname}): outcome {own:?}, expected rejected (stopped anyway)"
            ));
        }
        robot.twists_for(Duration::from_millis(600));
        if robot.seen_twists.last().is_some_and(|(_, m)| moving(m)) {
            p.failures.push(format!(
                "after a stop with a hostile id ({fname}) the last Twist is not zero"
            ));
        }
        if robot.broken() {
            let why = robot.respawn();
            p.failures.push(format!(
                "BROKEN by a stop with a hostile id ({fname}): {why}"
            ));
        }
    }

    // Nothing left over from before: every probe is judged by its own outcome.
    robot.drain_outcomes(Duration::from_millis(500));
    // Emergency: engages by design; every outcome rejected; a hostile release never releases
    // (a release with a printable id is valid: it must release, then the latch is engaged
    // again so that the next releases are judged).
    let info = "amr/FLD90/alert/info";
    let releases = |alerts: &mut MqttSub, d: Duration| -> Vec<String> {
        (alerts.collect(info, d).into_iter())
            .filter(|m| m.payload.contains("released"))
            .map(|m| m.payload)
            .collect()
    };
    let (f0, b0) = (p.failures.len(), p.broken);
    let mut n = 0;
    let mut released = Vec::new();
    for base in ["engage", "release"] {
        for frag in &frags {
            for (field, payload) in hostile_commands(base, "{}", &frag.bytes, TS) {
                n += 1;
                let valid = frag.printable && field.starts_with("id");
                let what = format!("{base} {field}: {}", frag.name);
                if valid && base == "release" {
                    // Whatever a hostile release did shows before this one is sent.
                    let before = releases(&mut alerts, Duration::from_millis(300));
                    released.extend(before.into_iter().map(|m| format!("before {what}: {m}")));
                }
                let restarts = robot.restarts;
                p.run(&mut robot, "emergency", &what, &payload, valid);
                if robot.restarts != restarts && base == "release" {
                    // A new bridge starts unlatched.
                    engage_again(&mut robot, "after a restart");
                }
                if valid && base == "release" {
                    let own = alerts.wait_for(info, Duration::from_secs(3), |m| {
                        m.payload.contains("released")
                    });
                    if own.is_none() {
                        p.failures
                            .push(format!("{what}: a valid release did not release"));
                    }
                    engage_again(&mut robot, &format!("after {what}"));
                    continue;
                }
                let new = releases(&mut alerts, Duration::from_millis(1));
                released.extend(new.into_iter().map(|m| format!("{what}: {m}")));
            }
        }
    }
    sent += n;
    by_action.push(("emergency".into(), n, p.failures.len() - f0, p.broken - b0));
    released.extend(releases(&mut alerts, Duration::from_millis(300)));
    if !released.is_empty() {
        p.failures.push(format!(
            "{} hostile release(s) released the e-stop latch, first after {}",
            released.len(),
            released[0]
        ));
    }
    // Still latched: a valid move is refused.
    robot.forward(20, 10);
    let r = robot.outcome("a valid move while latched", |d| {
        d["command"] == "move_forward"
            && matches!(d["status"].as_str(), Some("accepted" | "rejected"))
    });
    if !(r["status"] == "rejected" && reason(&r).contains("emergency stop engaged")) {
        p.failures.push(format!(
            "after hostile emergencies a valid move was not refused as latched: {r}"
        ));
    }
    let bad_twists = nonzero(&robot.twists_for(Duration::from_millis(500)));
    if !bad_twists.is_empty() {
        p.failures.push(format!(
            "non-zero Twists while latched: {:?}",
            bad_twists.first()
        ));
    }
    robot.release();
    robot.outcome("the valid release", |d| d["status"] != "cancelled");
    robot.obeys_a_valid_move("after a valid release");

    for f in &p.failures {
        eprintln!(
            "hostile commands: MISHANDLED {}",
            f.chars().take(300).collect::<String>()
        );
    }
    for (a, n, f, b) in &by_action {
        eprintln!("hostile commands: {a}: {n} sent, {f} mishandled, of which {b} broke the bridge");
    }
    let (broken, wrong): (Vec<&String>, Vec<&String>) =
        p.failures.iter().partition(|f| f.starts_with("BROKEN"));
    eprintln!(
        "hostile commands: {sent} sent ({} of them valid: a printable id); {} mishandled: {} broke the bridge \
         (restarts {}), {} otherwise wrong; {} not run after {MAX_RESTARTS} restarts",
        p.valid,
        p.failures.len(),
        broken.len(),
        robot.restarts,
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
    let extra = "alerts: {enabled: true}\nbridge: {diagnostics_period: 1}\nmappings:\n  - {name: note, direction: mqtt_to_ros, ros_topic: note, ros_type: std_msgs/msg/String, mqtt_action: note}\n";
    let mut robot = Robot::start("FLD91", extra);
    let mut notes = robot
        .rig
        .ros(ros_type::STRING, "/note")
        .subscribe("reliable");
    let mut warnings = robot.rig.mqtt_sub("amr/FLD91/alert/warning");
    let topic = "amr/FLD91/command/note";
    let mut failures = Vec::new();
    let (mut published, mut refused) = (0, 0);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for Fragment {
        name: fname,
        bytes: frag,
        ..
    } in hostile_fragments()
    {
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
    let mut reports = robot.rig.mqtt_sub("amr/FLD91/status/bridge");
    let (mut alerts_seen, mut counter_seen, mut attributed) = (0u64, 0u64, 0u64);
    let mut broken = 0;
    let mut skipped = 0;
    for (what, template) in &cases {
        if robot.restarts >= MAX_RESTARTS && template.windows(6).any(|w| w == br"\u0000") {
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
        mqtt_pub_bytes(robot.rig.port(), topic, &payload, 1, false);
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
            } else if robot.broken() {
                break;
            }
        }
        if robot.broken() {
            broken += 1;
            let alive = robot.rig.bridge.proc.alive();
            let why = robot.respawn();
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
    mqtt_pub_bytes(
        robot.rig.port(),
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
    assert!(robot.rig.bridge.proc.alive(), "the bridge is alive");
    robot.obeys_a_valid_move("after hostile generic messages");
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

/// Field condition: generic MQTT to ROS mappings of message types that the build does not know
/// (found at run time: visualization_msgs/MarkerArray, test_msgs BoundedSequences, Arrays and
/// WStrings) get malformed JSON, wrong types at every depth, huge arrays, deep nesting and
/// hostile text (`hostile_generic_cases`, `hostile_fragments`). Each one is refused with a
/// reason naming the field (the alert's), or published exactly; the bridge stays alive, the
/// robot never moves, and a valid message and a valid move still work afterwards.
#[test]
fn hostile_input_to_run_time_types() {
    let robot_id = "FLD92";
    let extra = format!(
        "alerts: {{enabled: true}}\nbridge: {{diagnostics_period: 1}}\ncommands: {{max_payload: {GENERIC_MAX_PAYLOAD}}}\nmappings:\n\
         \x20 - {{name: markers, direction: mqtt_to_ros, ros_topic: rt_markers, ros_type: visualization_msgs/msg/MarkerArray, mqtt_action: markers}}\n\
         \x20 - {{name: seqs, direction: mqtt_to_ros, ros_topic: rt_seqs, ros_type: test_msgs/msg/BoundedSequences, mqtt_action: seqs}}\n\
         \x20 - {{name: arrays, direction: mqtt_to_ros, ros_topic: rt_arrays, ros_type: test_msgs/msg/Arrays, mqtt_action: arrays}}\n\
         \x20 - {{name: words, direction: mqtt_to_ros, ros_topic: rt_words, ros_type: test_msgs/msg/WStrings, mqtt_action: words}}\n"
    );
    let site = Site::start().with_env(test_types_env());
    let filter = format!("amr/{robot_id}/#");
    let mut robot = Robot::on(Rig::on(site, robot_id, &config(&extra), &[], &filter));
    let mut ros: Vec<(&str, TypesPeer)> = [
        ("markers", "visualization_msgs/msg/MarkerArray"),
        ("seqs", "test_msgs/msg/BoundedSequences"),
        ("arrays", "test_msgs/msg/Arrays"),
        ("words", "test_msgs/msg/WStrings"),
    ]
    .into_iter()
    .map(|(action, ty)| {
        let topic = format!("/rt_{action}");
        let mut peer = TypesPeer::start(&robot.rig.domain, &["sub", ty, &topic]);
        peer.wait_for("ready", Duration::from_secs(30));
        (action, peer)
    })
    .collect();
    let mut cases = hostile_generic_cases();
    // Hostile text in a string and in a wstring: published exactly as it decodes, or refused.
    for f in hostile_fragments() {
        for (action, field) in [("markers", "text"), ("words", "wstring_value")] {
            let payload = match action {
                "markers" => splice(r#"{"markers": [{"text": "a"#, &f.bytes, r#"b"}]}"#),
                _ => splice(r#"{"wstring_value": "a"#, &f.bytes, r#"b"}"#),
            };
            let decoded = serde_json::from_slice::<Value>(&payload).ok().map(|v| {
                let v = if action == "markers" {
                    &v["markers"][0]
                } else {
                    &v
                };
                v[field].as_str().unwrap_or_default().to_owned()
            });
            let expect = match decoded {
                None => Expect::Refused("not JSON".into()),
                Some(t) if t.contains('\0') => Expect::Refused("contains a NUL".into()),
                Some(t) => Expect::Published(Box::new(move |v: &Value| {
                    let got = if action == "markers" {
                        &v["markers"][0][field]
                    } else {
                        &v[field]
                    };
                    if got.as_str() == Some(t.as_str()) {
                        Ok(())
                    } else {
                        Err(format!(
                            "{:?}",
                            got.as_str().map(|s| s.chars().take(40).collect::<String>())
                        ))
                    }
                })),
            };
            cases.push(GenericCase {
                action,
                what: format!("text in {action}.{field}: {}", f.name),
                payload,
                expect,
            });
        }
    }
    let mut alerts = robot.rig.mqtt_sub(&format!("amr/{robot_id}/alert/warning"));
    let alert_topic = format!("amr/{robot_id}/alert/warning");
    // The bridge raises at most 10 refusal alerts a second (the rest only counted): keep under.
    let mut alert_times: Vec<Instant> = Vec::new();
    let mut failures = Vec::new();
    let (mut published, mut refused) = (0, 0);
    for c in &cases {
        if matches!(c.expect, Expect::Refused(_)) {
            if let Some(tenth) = alert_times.iter().rev().nth(8) {
                let quiet = (*tenth + Duration::from_millis(1200))
                    .saturating_duration_since(Instant::now());
                alert_times.extend(alerts.collect(&alert_topic, quiet).iter().map(|m| m.at));
            }
        }
        let topic = format!("amr/{robot_id}/command/{}", c.action);
        mqtt_pub_bytes(robot.rig.port(), &topic, &c.payload, 1, false);
        let peer = &mut ros
            .iter_mut()
            .find(|(a, _)| *a == c.action)
            .expect("peer")
            .1;
        match &c.expect {
            Expect::Refused(why) => {
                let got = alerts.wait_for(&alert_topic, Duration::from_secs(10), |m| {
                    let v: Value = serde_json::from_str(&m.payload).unwrap_or_default();
                    v["data"]["mapping"] == c.action
                });
                match got {
                    Some(m) => {
                        alert_times.push(m.at);
                        let reason = m.json()["data"]["reason"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        if reason.contains(why.as_str()) {
                            refused += 1;
                        } else {
                            failures.push(format!(
                                "{}: refused for {reason:?}, not for {why:?}",
                                c.what
                            ));
                        }
                    }
                    None => failures.push(format!("{}: no refusal alert within 10 s", c.what)),
                }
                if let Some(v) = peer.next_with("json", Duration::from_millis(50)) {
                    failures.push(format!(
                        "{}: refused, yet ROS got {}",
                        c.what,
                        v.to_string().chars().take(200).collect::<String>()
                    ));
                }
            }
            Expect::Published(check) => match peer.next_with("json", Duration::from_secs(15)) {
                Some(v) => match check(&v["json"]) {
                    Ok(()) => published += 1,
                    Err(e) => failures.push(format!("{}: published wrong: {e}", c.what)),
                },
                None => failures.push(format!("{}: not in ROS within 15 s", c.what)),
            },
        }
        assert!(
            !robot.broken(),
            "{} broke the bridge: {}",
            c.what,
            robot.rig.bridge.last_words()
        );
    }
    eprintln!(
        "run-time types: {} hostile messages: {published} published, {refused} refused with the right reason, {} mishandled",
        cases.len(),
        failures.len()
    );
    // Still carrying valid messages, never having moved, still obeying commands.
    mqtt_pub_bytes(
        robot.rig.port(),
        &format!("amr/{robot_id}/command/markers"),
        br#"{"markers": [{"ns": "after all that"}]}"#,
        1,
        false,
    );
    let markers = &mut ros[0].1;
    let after = markers.next_with("json", Duration::from_secs(10));
    assert_eq!(
        after.map(|v| v["json"]["markers"][0]["ns"].clone()),
        Some(json!("after all that"))
    );
    assert!(
        nonzero(&robot.twists_for(Duration::from_millis(200))).is_empty(),
        "the robot moved"
    );
    robot.obeys_a_valid_move("after hostile messages of run-time types");
    assert!(
        failures.is_empty(),
        "{} messages mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One fuzzed hostile command for `action` (`move`, `stop`, `emergency`, `junk`): a valid
/// command with hostile text in one field (sometimes two fragments), or a broken whole payload.
/// Printable text alone never goes into the `id` (that is a valid id: the command would not be
/// hostile). No line holds `\n` or NUL (they go through `mosquitto_pub -l`).
fn fuzz_payload(rng: &mut Rng, action: &str, frags: &[Fragment], ts: &str, seq: usize) -> Vec<u8> {
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
    let first = rng.pick(frags);
    let (mut frag, mut printable) = (first.bytes.clone(), first.printable);
    if rng.below(4) == 0 {
        let second = rng.pick(frags);
        frag.extend_from_slice(&second.bytes);
        printable &= second.printable;
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
    let cases: Vec<(String, Vec<u8>)> = hostile_commands(command, params, &frag, ts)
        .into_iter()
        .filter(|(field, _)| !(printable && field.starts_with("id")))
        .collect();
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
    let seed: u64 = std::env::var("FIELD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00F1_E1D5_EED0_0010);
    eprintln!("fuzz: seed {seed} (FIELD_FUZZ_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let mut robot = Robot::start("FLD92", "");
    let mut alerts = robot.rig.mqtt_sub("amr/FLD92/alert/info");
    // Fragments for lines: no NUL byte, nothing over 10 kB.
    let frags: Vec<Fragment> = hostile_fragments()
        .into_iter()
        .filter(|f| f.bytes.len() <= 10_000 && !f.bytes.contains(&0))
        .collect();
    let topic = robot.rig.topic("status/command");
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
        let mut publishers = Vec::new();
        let mut n = 0;
        for (action, count) in plan {
            let lines: Vec<Vec<u8>> = (0..count)
                .map(|i| fuzz_payload(&mut rng, action, &frags, &ts, total_sent + n + i))
                .collect();
            n += lines.len();
            let topic = robot.command_topic(action);
            publishers.push(mqtt_pub_lines(robot.rig.port(), &topic, 1, lines));
        }
        for p in publishers {
            p.wait();
        }
        let send_s = t0.elapsed().as_secs_f64();
        total_sent += n;
        // Outcomes until quiet.
        let mut rejected = 0;
        let mut other = Vec::new();
        loop {
            let got = robot.rig.sub.collect(&topic, Duration::from_millis(1500));
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
        let bad = nonzero(&robot.twists_for(Duration::from_millis(200)));
        let bridge = &mut robot.rig.bridge;
        let panicked = bridge.panicked();
        let panic_line = if panicked {
            bridge.last_words()
        } else {
            String::new()
        };
        let alive = bridge.proc.alive();
        eprintln!(
            "fuzz {phase}: bridge alive {alive}, a thread panicked: {panicked} {panic_line}; non-zero Twists so far {}",
            bad.len()
        );
        assert!(
            alive && !panicked,
            "the bridge survived the {phase} phase whole: {panic_line}"
        );
    }
    let tw = robot.twists_for(Duration::from_millis(500));
    let bad = nonzero(&robot.seen_twists);
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
    robot.release();
    robot.outcome("the valid release", |d| d["status"] != "cancelled");
    robot.obeys_a_valid_move("after the fuzzed flood");
    assert_eq!(total_other, 0, "every hostile command is refused");
}

/// A burst of commands faster than the runner takes them, behind a queue of one
/// (`bridge.inbound_queue: 1`): every command still gets exactly one outcome, by its id; those
/// that found the queue full are refused as `busy` by the link itself, counted in
/// `commands.refused` and `inbound_dropped`. None of them moves the robot (each is stale).
#[test]
fn commands_beyond_a_full_queue_are_refused_as_busy_by_id() {
    let mut rig = Rig::start(
        "FLD97",
        "bridge: {diagnostics_period: 1, inbound_queue: 1}\n",
    );
    let mut reports = rig.mqtt_sub("amr/FLD97/status/bridge");
    let before = (reports.bridge_report("FLD97", Duration::from_secs(5))).expect("a report");
    let mut twists = rig
        .site
        .ros(ros_type::TWIST, "/cmd_vel")
        .subscribe("reliable");
    let n = 300;
    let lines = (0..n).map(|i| {
        let c = serde_json::json!({"timestamp": "2020-01-01T00:00:00Z", "id": format!("b{i}"),
            "command": "move_forward", "parameters": {"speed": 20, "distance": 1}});
        c.to_string().into_bytes()
    });
    mqtt_pub_lines(rig.port(), &rig.topic("command/move"), 1, lines).wait();
    let topic = "amr/FLD97/status/command";
    let mut outcomes: Vec<serde_json::Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while outcomes.len() < n && Instant::now() < deadline {
        let got = rig.sub.collect(topic, Duration::from_millis(500));
        outcomes.extend(
            got.iter()
                .filter_map(|m| serde_json::from_str(&m.payload).ok()),
        );
    }
    rig.sub.collect(topic, Duration::from_millis(500));
    let ids: Vec<&str> = (outcomes.iter())
        .filter_map(|o| o.pointer("/data/id").and_then(|v| v.as_str()))
        .collect();
    let busy = (outcomes.iter())
        .filter(|o| {
            (o.pointer("/data/reason").and_then(|v| v.as_str())).is_some_and(|r| r.contains("busy"))
        })
        .count();
    let rejected = (outcomes.iter())
        .filter(|o| o.pointer("/data/status").and_then(|v| v.as_str()) == Some("rejected"))
        .count();
    let after = (reports.bridge_report("FLD97", Duration::from_secs(5))).expect("a report");
    let refused = counter(&after, "commands.refused") - counter(&before, "commands.refused");
    let dropped = counter(&after, "inbound_dropped") - counter(&before, "inbound_dropped");
    eprintln!("burst of {n} behind a queue of 1: {} outcomes, {rejected} rejected, {busy} busy; refused +{refused}, inbound_dropped +{dropped}", outcomes.len());
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        (ids.len(), unique.len()),
        (n, n),
        "one outcome per command, by its id"
    );
    assert_eq!(rejected, n, "every command rejected (stale, or busy)");
    assert!(busy > 0, "the burst overflowed a queue of one");
    assert_eq!(
        refused, n as u64,
        "commands.refused counts the busy ones too"
    );
    assert_eq!(dropped, busy as u64, "inbound_dropped counts the busy ones");
    let moved = nonzero(&twists.collect_for(Duration::from_millis(300)));
    assert!(moved.is_empty(), "nothing moved: {moved:?}");
}

/// Field condition: a fleet client stuck in a loop sends 1,500 malformed commands in about
/// 2 s. The bridge's log (ROS logging, often shipped over a slow link) must stay readable: at
/// most 13 lines in any second of the log's timestamps (10 refusals a second and their
/// summary, one line about a full queue and its summary, on a machine too slow to keep up),
/// while every refusal is still reported (1,500 `rejected` outcomes, or the
/// `commands.refused` counter of `status/bridge`).
#[test]
fn a_flood_of_refused_commands_does_not_flood_the_log() {
    let mut rig = Rig::start("FLD93", "bridge: {diagnostics_period: 1}\n");
    let mut reports = rig.mqtt_sub("amr/FLD93/status/bridge");
    let before =
        (reports.bridge_report("FLD93", Duration::from_secs(5))).expect("a status/bridge report");
    let refused_before = counter(&before, "commands.refused");
    let n = 1500;
    let t_start = now_unix();
    // 20 batches of 75, 100 ms apart: 1,500 in about 2 s.
    let lines = (0..n).map(|i| {
        if i > 0 && i % 75 == 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        format!("not json {{{i}").into_bytes()
    });
    mqtt_pub_lines(rig.port(), &rig.topic("command/move"), 1, lines).wait();
    let t_sent = now_unix();
    let topic = "amr/FLD93/status/command";
    let mut rejected = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while rejected < n && Instant::now() < deadline {
        rejected += (rig.sub.collect(topic, Duration::from_millis(500)))
            .iter()
            .filter(|m| m.payload.contains("\"rejected\""))
            .count();
    }
    std::thread::sleep(Duration::from_millis(2500));
    let after =
        (reports.bridge_report("FLD93", Duration::from_secs(5))).expect("a status/bridge report");
    let refused = counter(&after, "commands.refused") - refused_before;
    let inbound_dropped = counter(&after, "inbound_dropped");
    // Log lines per second of the log's own timestamps, during and after the flood.
    let lines: Vec<LogLine> = (rig.bridge.log_lines().into_iter())
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
        worst <= 13,
        "at most 13 log lines in any second of the flood, got {worst}: {per_second:?}; e.g.\n{}",
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
    estop_at_10_hz_refuses_a_move("FLD94", "best_effort");
}

/// Field condition: a safety node publishes `emergency_stop` true ONCE on a LATCHED topic
/// (reliable + transient local) and keeps running, started before the bridge (the bridge was
/// restarted by its supervisor, or came up last at boot). After the bridge starts, a move is
/// refused "emergency stop engaged".
#[test]
fn estop_from_a_latched_publisher_started_before_the_bridge_latches() {
    let mut site = Site::start();
    let estop = site.ros(ros_type::BOOL, "/emergency_stop").publish_args(
        &json!({"data": true}),
        10.0,
        1,
        "reliable_transient_local",
        &["--wait-subscribers", "0", "--linger", "120"],
    );
    site.keep(estop);
    std::thread::sleep(Duration::from_secs(3));
    let rig = Rig::on(site, "FLD95", &config(PATIENT), &[], "amr/FLD95/#");
    estop_refuses_a_move(
        &mut Robot::on(rig),
        "latched publisher started before the bridge",
        "reliable_transient_local",
    );
}

/// Field condition (control): the reliable, volatile publisher of a simple e-stop button node
/// keeps working: true at 10 Hz latches, a move is refused.
#[test]
fn estop_from_a_reliable_publisher_latches() {
    estop_at_10_hz_refuses_a_move("FLD96", "reliable");
}

/// A command's freshness window wide enough that a loaded machine (a slow `mosquitto_pub`)
/// cannot turn the e-stop's refusal into a stale one: these tests are about the latch.
const PATIENT: &str = "commands: {max_age: 10}\n";

/// A publisher of `qos` sends `emergency_stop` true at 10 Hz to a running bridge.
fn estop_at_10_hz_refuses_a_move(robot: &str, qos: &str) {
    let mut robot = Robot::start(robot, PATIENT);
    let estop = robot.rig.ros(ros_type::BOOL, "/emergency_stop");
    let _estop = estop.publish(&json!({"data": true}), 10.0, 600, qos);
    estop_refuses_a_move(&mut robot, &format!("{qos} publisher at 10 Hz"), qos);
}

/// Waits until an rclpy witness with `witness_qos` sees the e-stop message (so the publisher
/// is up and publishing), gives the bridge a second, then sends a valid move.
fn estop_refuses_a_move(robot: &mut Robot, what: &str, witness_qos: &str) {
    let estop = robot.rig.ros(ros_type::BOOL, "/emergency_stop");
    let mut witness = estop.subscribe(witness_qos);
    let seen = witness.recv(Duration::from_secs(20));
    assert!(
        seen.as_ref().is_some_and(|(_, m)| m["data"] == true),
        "the e-stop publisher ({what}) publishes true: {seen:?}"
    );
    let witness_at = seen.as_ref().map(|s| s.0).unwrap_or(0.0);
    // DDS discovery may take a moment (about 1.5 s seen here for a new publisher): give the
    // bridge up to 10 s to latch before the move.
    let latched =
        (robot.rig.bridge).wait_log_count("emergency stop engaged", 1, Duration::from_secs(10));
    eprintln!(
        "e-stop ({what}): the bridge latched {}",
        latched
            .map(|_| "in time".to_owned())
            .unwrap_or("NOT within 10 s of the witness".to_owned())
    );
    std::thread::sleep(Duration::from_millis(300));
    robot.twists_for(Duration::from_millis(300));
    let move_at = now_unix();
    robot.forward(20, 20);
    let r = robot.outcome("the move's outcome", |d| {
        d["command"] == "move_forward"
            && matches!(d["status"].as_str(), Some("accepted" | "rejected"))
    });
    let tw = robot.twists_for(Duration::from_millis(1500));
    let bad = nonzero(&robot.seen_twists);
    let engaged_at = (robot.rig.bridge.log_lines().into_iter())
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
        r["status"] == "rejected" && reason(&r).contains("emergency stop engaged"),
        "e-stop from a {what}: a move must be refused \"emergency stop engaged\", got {r}"
    );
    assert!(
        bad.is_empty(),
        "no motion under an e-stop ({what}): {:?}",
        bad.first()
    );
}
