//! The converters against rclpy: `tests/fixtures/dyntype/rclpy_cases.json` holds messages
//! covering every field kind (test_msgs, visualization_msgs), serialized by rclpy, with the
//! JSON that `tests/ros/dyntype_peer.py` computes from rclpy's own message objects and the
//! `.msg` texts of their types (regenerate: `dyntype_peer.py fixture FILE` with those packages
//! installed). tests/dyntype.rs repeats this against freshly made bytes, and checks the other
//! direction in rclpy.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

use super::json_schema::{message_schema, Side};
use super::{encode, to_value, write_json, Octets, Registry};

#[derive(Deserialize)]
struct Fixture {
    definitions: BTreeMap<String, String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    cdr: String,
    json: Value,
}

fn fixture() -> (Fixture, Registry) {
    let text = include_str!("../../tests/fixtures/dyntype/rclpy_cases.json");
    let f: Fixture = serde_json::from_str(text).expect("fixture");
    let texts = f.definitions.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let types = Registry::from_texts(texts).expect("names");
    (f, types)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn every_rclpy_case_decodes_encodes_and_fits_its_schema() {
    let (f, mut types) = fixture();
    assert!(f.cases.len() >= 20);
    for c in &f.cases {
        let ty = types
            .load(&c.ty)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let cdr = hex(&c.cdr);
        let got = to_value(&ty, &cdr, Octets::Base64).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(got, c.json, "{}: rclpy's bytes", c.name);
        let mut text = Vec::new();
        write_json(&ty, &cdr, Octets::Base64, &mut text).expect("decodes");
        assert_eq!(
            serde_json::from_slice::<Value>(&text).ok().as_ref(),
            Some(&c.json)
        );
        let again = encode(&ty, &c.json, 1 << 20).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let back = to_value(&ty, &again, Octets::Base64).expect("decodes");
        assert_eq!(back, c.json, "{}: JSON -> CDR -> JSON", c.name);
        // Padding may hold garbage in rclpy's bytes, so only the length is compared.
        assert!(
            again.len() <= cdr.len(),
            "{}: {} > {}",
            c.name,
            again.len(),
            cdr.len()
        );
        let schema = message_schema(&ty, Side::Published(Octets::Base64));
        assert!(
            jsonschema::draft202012::is_valid(&schema, &c.json),
            "{}: schema",
            c.name
        );
        let accepted = message_schema(&ty, Side::Accepted);
        assert!(
            jsonschema::draft202012::is_valid(&accepted, &c.json),
            "{}: accepted",
            c.name
        );
    }
}

#[test]
fn defaults_of_an_empty_object_equal_rclpys_default_messages() {
    let (f, mut types) = fixture();
    let defaults = f.cases.iter().filter(|c| {
        c.name.ends_with("_default")
            || ["defaults", "constants", "empty"].contains(&c.name.as_str())
    });
    let mut n = 0;
    for c in defaults {
        let ty = types.load(&c.ty).expect("loads");
        let cdr = encode(&ty, &serde_json::json!({}), 1 << 20).expect("encodes");
        assert_eq!(
            to_value(&ty, &cdr, Octets::Base64).ok().as_ref(),
            Some(&c.json),
            "{}",
            c.name
        );
        n += 1;
    }
    assert!(n >= 8, "{n} default cases");
}

#[test]
fn mutated_bytes_are_refused_or_read_into_their_schema_never_a_panic() {
    let (f, mut types) = fixture();
    let mut rng = fastrand::Rng::with_seed(19);
    let (mut read, mut refused) = (0, 0);
    for c in &f.cases {
        let ty = types.load(&c.ty).expect("loads");
        let schema = message_schema(&ty, Side::Published(Octets::Base64));
        let valid = jsonschema::draft202012::new(&schema).expect("schema");
        let cdr = hex(&c.cdr);
        for _ in 0..100 {
            let mut m = cdr.clone();
            let at = 4 + rng.usize(0..(m.len() - 4) / 4) * 4;
            let byte = rng.usize(4..m.len());
            match rng.u8(0..3) {
                0 => m[byte] = rng.u8(..),
                1 => m.truncate(rng.usize(0..m.len())),
                // A count (or anything 4-aligned) made arbitrary.
                _ => m[at..at + 4].copy_from_slice(&rng.u32(..).to_le_bytes()),
            }
            match to_value(&ty, &m, Octets::Base64) {
                Ok(v) => {
                    read += 1;
                    assert!(valid.is_valid(&v), "{}: {v}", c.name);
                }
                Err(_) => refused += 1,
            }
        }
    }
    assert!(
        read > 100 && refused > 100,
        "read {read}, refused {refused}"
    );
}
