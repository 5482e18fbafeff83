//! The bridge's durable offline store as a test sees it from outside: its config lines, its
//! segment files (`<dir>/<number>.seg`, README "Reliability"), whether a message is on disk
//! yet, and the damage a power cut does (a record torn at the end, a flipped byte).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What starts every record of a segment (the store's format, `src/mqtt/store/format.rs`).
pub const RECORD_MAGIC: &[u8] = b"\xA5MQR";

/// The `mqtt.offline_store` lines of a config (to put inside the `mqtt:` block of
/// `config()`): the store of each robot in `<dir>/<robot_id>`.
pub fn store_yaml(dir: &Path, max_bytes: Option<u64>) -> String {
    let bound = max_bytes.map_or(String::new(), |b| format!(", max_bytes: {b}"));
    format!(
        "  offline_store: {{path: '{}/{{robot_id}}'{bound}}}\n",
        dir.display()
    )
}

/// The segment files of the store in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether some segment holds `needle` (a payload's bytes: written, at least to the page
/// cache, which survives the process being killed).
pub fn store_holds(dir: &Path, needle: &str) -> bool {
    segments(dir).iter().any(|p| {
        std::fs::read(p)
            .ok()
            .is_some_and(|b| find(&b, needle.as_bytes()).is_some())
    })
}

/// Waits until the store holds `needle`; panics after `timeout`.
pub fn wait_stored(dir: &Path, needle: &str, timeout: Duration) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if store_holds(dir, needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "the store {} never held {needle:?}: {:?}",
        dir.display(),
        segments(dir)
    );
}

/// Cuts the newest segment in the middle of its last record, as a power cut during a write
/// would. Returns the bytes cut off.
pub fn tear_last_record(dir: &Path) -> u64 {
    let newest = segments(dir).pop().expect("a segment");
    let bytes = std::fs::read(&newest).expect("read the segment");
    let last = bytes
        .windows(RECORD_MAGIC.len())
        .rposition(|w| w == RECORD_MAGIC)
        .expect("a record");
    let keep = last + (bytes.len() - last) / 2;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .expect("open the segment");
    f.set_len(keep as u64).expect("cut the segment");
    (bytes.len() - keep) as u64
}

/// Flips one bit of the first byte of `needle` in the segment that holds it: the record
/// around it no longer checks.
pub fn flip_byte(dir: &Path, needle: &str) {
    for p in segments(dir) {
        let mut bytes = std::fs::read(&p).expect("read the segment");
        if let Some(i) = find(&bytes, needle.as_bytes()) {
            bytes[i] ^= 0x01;
            std::fs::write(&p, bytes).expect("write the segment");
            return;
        }
    }
    panic!("no segment holds {needle:?}");
}
