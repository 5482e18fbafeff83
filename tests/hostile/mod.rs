//! Hostile input for the field tests of the input side (`tests/field_input.rs`): text that
//! a broken or malicious fleet client puts into a command (escaped NUL, controls, bidi
//! overrides, non-characters, lone surrogates, huge strings, invalid UTF-8), payload templates
//! with that text in every string field of an otherwise valid command, and a seeded generator
//! so that a fuzzed run can be replayed. Everything else comes from the harness (`common`).
#![allow(dead_code)]

/// A piece of hostile text, already in JSON string syntax (`\u0000` is the escape, six
/// characters; raw bytes are raw).
pub struct Fragment {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Decoded, it is printable text (letters, combining marks, emoji): a fine command `id`
    /// (the bridge's rule: no control, invisible format character or non-character). Anywhere
    /// else in a command it is still refused.
    pub printable: bool,
}

/// Every fragment the tests send.
pub fn hostile_fragments() -> Vec<Fragment> {
    let raw = |s: &str| s.as_bytes().to_vec();
    let list: Vec<(&str, Vec<u8>)> = vec![
        ("escaped NUL", raw(r"\u0000")),
        ("escaped NUL x3", raw(r"\u0000\u0000\u0000")),
        ("escaped ESC sequence", raw(r"\u001b[2J\u001b[31m")),
        ("escaped C0 controls", raw(r"\u0001\u0007\b\f\r\t")),
        ("RTL override (raw)", raw("\u{202e}")),
        ("RTL mark (escaped)", raw(r"\u200f")),
        ("zero-width space + joiner (raw)", raw("\u{200b}\u{200d}")),
        (
            "combining marks (raw)",
            raw("e\u{0301}\u{0308}\u{0327}\u{0301}\u{0301}"),
        ),
        (
            "combining marks (escaped)",
            raw(r"a\u0301\u0301\u0301\u0301"),
        ),
        ("emoji (raw)", raw("\u{1F916}\u{1F680}")),
        ("emoji (escaped pair)", raw(r"\ud83e\udd16")),
        ("C1 controls (raw)", raw("\u{0085}\u{009b}")),
        ("C1 controls (escaped)", raw(r"\u0085\u009b\u0080")),
        ("U+FFFF (escaped)", raw(r"\uffff\ufffe")),
        ("U+FFFF (raw)", raw("\u{ffff}")),
        ("BOM (escaped)", raw(r"\ufeff")),
        ("BOM (raw)", raw("\u{feff}")),
        ("lone high surrogate", raw(r"\ud800")),
        ("lone low surrogate", raw(r"\udfff")),
        ("reversed surrogate pair", raw(r"\udc00\ud800")),
        ("10 kB string", raw(&"W".repeat(10_000))),
        ("100 kB string", raw(&"L".repeat(100_000))),
        ("invalid UTF-8 0xff 0xfe", vec![0xff, 0xfe]),
        ("overlong NUL 0xc0 0x80", vec![0xc0, 0x80]),
        ("CESU surrogate 0xed 0xa0 0x80", vec![0xed, 0xa0, 0x80]),
        ("truncated sequence 0xe2 0x82", vec![0xe2, 0x82]),
        ("raw NUL byte", vec![0x00]),
        ("raw ESC byte", vec![0x1b]),
    ];
    list.into_iter()
        .map(|(name, bytes)| Fragment {
            name,
            bytes,
            printable: name.starts_with("combining marks") || name.starts_with("emoji"),
        })
        .collect()
}

/// Stands for a fresh timestamp in a payload template (`fill`).
pub const TS: &str = "@@TS@@";
/// Stands for a number unique to each message (`fill`): ids must not repeat, or a refusal
/// as "duplicate id" would hide how the bridge treats the hostile text.
pub const SEQ: &str = "@@SEQ@@";

/// The template with `TS` and `SEQ` replaced.
pub fn fill(template: &[u8], ts: &str, seq: usize) -> Vec<u8> {
    fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(hay.len());
        let mut i = 0;
        while i < hay.len() {
            if hay[i..].starts_with(needle) {
                out.extend_from_slice(with);
                i += needle.len();
            } else {
                out.push(hay[i]);
                i += 1;
            }
        }
        out
    }
    let t = replace(template, TS.as_bytes(), ts.as_bytes());
    replace(&t, SEQ.as_bytes(), seq.to_string().as_bytes())
}

/// `prefix + fragment + suffix` as bytes.
pub fn splice(prefix: &str, frag: &[u8], suffix: &str) -> Vec<u8> {
    let mut v = prefix.as_bytes().to_vec();
    v.extend_from_slice(frag);
    v.extend_from_slice(suffix.as_bytes());
    v
}

/// Command payloads with `frag` in every string field of a command whose other fields are
/// valid: (field, payload). `command` is the valid command name of the action, `params`
/// its valid parameters as JSON object text (`{}` for none); `ts` the timestamp text (`TS`
/// in a template to `fill` when sent). Ids hold `SEQ`.
pub fn hostile_commands(
    command: &str,
    params: &str,
    frag: &[u8],
    ts: &str,
) -> Vec<(String, Vec<u8>)> {
    let (c_head, c_tail) = command.split_at(command.len() / 2);
    let with_params = |p: &str| format!(",\"parameters\":{p}");
    let params_part = if params == "{}" {
        String::new()
    } else {
        with_params(params)
    };
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |field: &str, v: Vec<u8>| out.push((field.to_owned(), v));
    // command
    add(
        "command (inside)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{c_head}"),
            frag,
            &format!("{c_tail}\"{params_part}}}"),
        ),
    );
    add(
        "command (after)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}"),
            frag,
            &format!("\"{params_part}}}"),
        ),
    );
    add(
        "command (only)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\""),
            frag,
            &format!("\"{params_part}}}"),
        ),
    );
    // id (unique per message through SEQ)
    add(
        "id",
        splice(
            &format!(
                "{{\"timestamp\":\"{ts}\",\"command\":\"{command}\"{params_part},\"id\":\"job-{SEQ}-"
            ),
            frag,
            "\"}",
        ),
    );
    add(
        "id (fragment first)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\"{params_part},\"id\":\""),
            frag,
            &format!("-{SEQ}\"}}"),
        ),
    );
    // timestamp
    add(
        "timestamp (after)",
        splice(
            &format!("{{\"timestamp\":\"{ts}"),
            frag,
            &format!("\",\"command\":\"{command}\"{params_part}}}"),
        ),
    );
    add(
        "timestamp (before)",
        splice(
            "{\"timestamp\":\"",
            frag,
            &format!("{ts}\",\"command\":\"{command}\"{params_part}}}"),
        ),
    );
    // parameter names and values
    let inner = params.trim_start_matches('{').trim_end_matches('}');
    let sep = if inner.is_empty() { "" } else { "," };
    add(
        "parameter name (extra)",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\",\"parameters\":{{{inner}{sep}\""),
            frag,
            "\":1}}",
        ),
    );
    if let Some((first, rest)) = inner.split_once(':') {
        // `"speed":20,...` -> `"spe<frag>ed":20,...` and `"speed":"20<frag>",...`
        let name = first.trim_matches('"');
        let (n_head, n_tail) = name.split_at(name.len() / 2);
        add(
            "parameter name (inside)",
            splice(
                &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\",\"parameters\":{{\"{n_head}"),
                frag,
                &format!("{n_tail}\":{rest}}}}}"),
            ),
        );
        let (value, more) = rest
            .split_once(',')
            .map(|(v, m)| (v, format!(",{m}")))
            .unwrap_or((rest, String::new()));
        add(
            "parameter value",
            splice(
                &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\",\"parameters\":{{\"{name}\":\"{value}"),
                frag,
                &format!("\"{more}}}}}"),
            ),
        );
    }
    // unknown keys
    add(
        "unknown key",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\"{params_part},\""),
            frag,
            "\":\"x\"}",
        ),
    );
    add(
        "unknown key's value",
        splice(
            &format!("{{\"timestamp\":\"{ts}\",\"command\":\"{command}\"{params_part},\"note\":\""),
            frag,
            "\"}",
        ),
    );
    out
}

/// Deterministic pseudo-random numbers (SplitMix64): a printed seed replays a run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Checks the JSON of the message rclpy got: what is wrong with it, if anything.
pub type Check = Box<dyn Fn(&serde_json::Value) -> Result<(), String>>;

/// What the bridge must do with a hostile message of a generic MQTT to ROS mapping.
pub enum Expect {
    /// Refused, and the reason (the alert's) says this: the field's path and what is wrong.
    Refused(String),
    /// Published into ROS; the check of the message rclpy got (its JSON).
    Published(Check),
}

/// One hostile message for a generic mapping of a run-time type: its action (`markers`:
/// visualization_msgs/msg/MarkerArray, `seqs`: test_msgs/msg/BoundedSequences, `arrays`:
/// test_msgs/msg/Arrays), what it is, its bytes, what must become of it.
pub struct GenericCase {
    pub action: &'static str,
    pub what: String,
    pub payload: Vec<u8>,
    pub expect: Expect,
}

/// The largest payload the tests' mapping takes (`commands.max_payload`); the ROS message
/// may be 8 times as big.
pub const GENERIC_MAX_PAYLOAD: usize = 1 << 20;

/// Malformed JSON, wrong types, huge arrays and deep nesting for run-time types, each with
/// the outcome the bridge owes it.
pub fn hostile_generic_cases() -> Vec<GenericCase> {
    let mut out = Vec::new();
    let mut add = |action: &'static str, what: &str, payload: Vec<u8>, expect: Expect| {
        out.push(GenericCase {
            action,
            what: what.to_owned(),
            payload,
            expect,
        })
    };
    let refused = |why: &str| Expect::Refused(why.to_owned());
    let text = |s: &str| s.as_bytes().to_vec();
    // Malformed JSON: never gets as far as the type.
    for (what, payload) in [
        ("truncated", text(r#"{"markers": [{"ns": "a"}"#)),
        ("not JSON at all", text("markers = 1")),
        ("empty", Vec::new()),
        (
            "NaN literal",
            text(r#"{"markers": [{"pose": {"position": {"x": NaN}}}]}"#),
        ),
        ("trailing bytes", text(r#"{"markers": []} {"markers": []}"#)),
        ("a stray comma", text(r#"{"markers": [{},]}"#)),
        ("a single-quoted key", text(r#"{'markers': []}"#)),
        (
            "invalid UTF-8",
            splice(r#"{"markers": [{"text": ""#, &[0xff, 0xfe], r#""}]}"#),
        ),
        (
            "a lone surrogate",
            text(r#"{"markers": [{"text": "\ud800"}]}"#),
        ),
    ] {
        add(
            "markers",
            &format!("malformed: {what}"),
            payload,
            refused("not JSON"),
        );
    }
    // The wrong JSON type, anywhere in the message: refused with the field's path.
    for (action, what, payload, why) in [
        (
            "markers",
            "root an array",
            "[]",
            "`(message)` must be an object",
        ),
        (
            "markers",
            "root a string",
            r#""markers""#,
            "`(message)` must be an object",
        ),
        (
            "markers",
            "root null",
            "null",
            "`(message)` must be an object",
        ),
        (
            "markers",
            "sequence an object",
            r#"{"markers": {"0": {}}}"#,
            "`markers` must be an array",
        ),
        (
            "markers",
            "int32 a string",
            r#"{"markers": [{"id": "7"}]}"#,
            "`markers[0].id` must be an integer in",
        ),
        (
            "markers",
            "int32 a float",
            r#"{"markers": [{"id": 1.5}]}"#,
            "`markers[0].id` must be an integer in",
        ),
        (
            "markers",
            "int32 too big",
            r#"{"markers": [{"id": 2147483648}]}"#,
            "`markers[0].id` must be an integer in",
        ),
        (
            "markers",
            "float64 a bool",
            r#"{"markers": [{"pose": {"position": {"x": true}}}]}"#,
            "`markers[0].pose.position.x` must be a number",
        ),
        (
            "markers",
            "in a sequence of messages",
            r#"{"markers": [{"points": [{"x": 1}, {"y": "2"}]}]}"#,
            "`markers[0].points[1].y` must be a number",
        ),
        (
            "markers",
            "bool a number",
            r#"{"markers": [{"frame_locked": 1}]}"#,
            "`markers[0].frame_locked` must be true or false",
        ),
        (
            "markers",
            "string a number",
            r#"{"markers": [{"text": 5}]}"#,
            "`markers[0].text` must be a string",
        ),
        (
            "markers",
            "uint8 a string",
            r#"{"markers": [{"type": "cube"}]}"#,
            "`markers[0].type` must be an integer in",
        ),
        (
            "markers",
            "unknown field",
            r#"{"markers": [{"idd": 1}]}"#,
            "unknown field `markers[0].idd`",
        ),
        (
            "markers",
            "escaped NUL",
            r#"{"markers": [{"text": "a\u0000b"}]}"#,
            "`markers[0].text` contains a NUL",
        ),
        (
            "markers",
            "bytes not base64",
            r#"{"markers": [{"mesh_file": {"data": "%%%"}}]}"#,
            "`markers[0].mesh_file.data` is not base64",
        ),
        (
            "markers",
            "byte over 255",
            r#"{"markers": [{"mesh_file": {"data": [1, 256]}}]}"#,
            "`markers[0].mesh_file.data[1]` must be an integer in 0..=255",
        ),
        (
            "markers",
            "bytes an object",
            r#"{"markers": [{"texture": {"data": {}}}]}"#,
            "`markers[0].texture.data` must be an array or a base64 string",
        ),
        (
            "seqs",
            "int64 over its range",
            r#"{"int64_values": [9223372036854775808]}"#,
            "`int64_values[0]` must be an integer in",
        ),
        (
            "seqs",
            "uint64 negative",
            r#"{"uint64_values": [-1]}"#,
            "`uint64_values[0]` must be an integer in",
        ),
        (
            "seqs",
            "uint64 over its range",
            r#"{"uint64_values": [18446744073709551616]}"#,
            "`uint64_values[0]` must be an integer in",
        ),
        (
            "seqs",
            "float32 over its range",
            r#"{"float32_values": [1e39]}"#,
            "`float32_values[0]` must be a number within the range of float32",
        ),
        (
            "seqs",
            "a nested message's wrong type",
            r#"{"basic_types_values": [{"int8_value": -129}]}"#,
            "`basic_types_values[0].int8_value` must be an integer in",
        ),
        (
            "arrays",
            "a fixed array too short",
            r#"{"int64_values": [1, 2]}"#,
            "`int64_values` must have exactly 3 elements, not 2",
        ),
        (
            "arrays",
            "a fixed array of messages too long",
            r#"{"basic_types_values": [{}, {}, {}, {}]}"#,
            "`basic_types_values` must have exactly 3 elements, not 4",
        ),
    ] {
        add(
            action,
            &format!("wrong type: {what}"),
            text(payload),
            refused(why),
        );
    }
    // Huge arrays: over a sequence's bound, over the payload limit, defaults that would make
    // a message too big; and one huge array that is fine.
    let many = |item: &str, n: usize| vec![item; n].join(",");
    add(
        "seqs",
        "huge: 100000 elements in a sequence of at most 3",
        text(&format!(r#"{{"int32_values": [{}]}}"#, many("7", 100_000))),
        refused("`int32_values` has 100000 elements, more than its bound of 3"),
    );
    add(
        "markers",
        "huge: over commands.max_payload",
        text(&format!(
            r#"{{"markers": [{{"points": [{}]}}]}}"#,
            many(r#"{"x": 1.5}"#, 120_000)
        )),
        refused("is over the limit of"),
    );
    add(
        "markers",
        "huge: 60000 empty markers, whose defaults would be over 8 MiB of ROS message",
        text(&format!(r#"{{"markers": [{}]}}"#, many("{}", 60_000))),
        refused("the message would be over"),
    );
    add(
        "markers",
        "huge: 100000 points (a valid 0.8 MB message)",
        text(&format!(
            r#"{{"markers": [{{"ns": "big", "points": [{}]}}]}}"#,
            many(r#"{"x": 2}"#, 100_000)
        )),
        Expect::Published(Box::new(|v| {
            let points = v["markers"][0]["points"].as_array().map_or(0, Vec::len);
            let ok = points == 100_000
                && v["markers"][0]["ns"] == "big"
                && v["markers"][0]["points"][99_999]["x"] == 2.0;
            if ok {
                Ok(())
            } else {
                Err(format!("{points} points"))
            }
        })),
    );
    // Deep nesting: deeper than the type (refused where it stops fitting) and deeper than
    // any parser should go (refused as not JSON, the stack never at risk).
    let nested = |open: &str, close: &str, n: usize, inner: &str| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    add(
        "markers",
        "deep: 100 arrays where a message is",
        text(&format!(
            r#"{{"markers": [{}]}}"#,
            nested("[", "]", 100, "1")
        )),
        refused("`markers[0]` must be an object"),
    );
    add(
        "markers",
        "deep: objects below a number",
        text(r#"{"markers": [{"pose": {"position": {"x": {"y": {"z": {"w": 1}}}}}}]}"#),
        refused("`markers[0].pose.position.x` must be a number"),
    );
    add(
        "markers",
        "deep: 100000 arrays",
        text(&nested("[", "]", 100_000, "")),
        refused("not JSON"),
    );
    add(
        "markers",
        "deep: 50000 objects",
        text(&nested(r#"{"a":"#, "}", 50_000, "1")),
        refused("not JSON"),
    );
    out
}
