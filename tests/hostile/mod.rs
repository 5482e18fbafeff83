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
