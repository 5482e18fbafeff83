//! Opening a store: every segment read oldest first, the messages that were never
//! acknowledged found again (in the order they were stored), damage skipped with a warning.
//!
//! Nothing is changed on disk here; the store decides what to cut or delete afterwards.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use super::format::Record;
use super::scan::{scan, Scan};
use super::segment::{self, Entry, Segment};
use super::StoreError;

pub struct Recovered {
    pub segments: BTreeMap<u64, Segment>,
    /// Every message found, in id order; acknowledged ones marked.
    pub entries: VecDeque<Entry>,
    /// Greater than every id seen, in records and in headers.
    pub next_id: u64,
    /// The newest segment, when appends may go on in it: its number and the length to keep
    /// (shorter than the file when its last record is torn).
    pub reusable: Option<(u64, u64)>,
    /// Damaged ranges skipped, and their bytes.
    pub damaged: usize,
    pub damaged_bytes: u64,
}

pub fn recover(dir: &Path, owner: &str) -> Result<Recovered, StoreError> {
    let mut r = Recovered {
        segments: BTreeMap::new(),
        entries: VecDeque::new(),
        next_id: 1,
        reusable: None,
        damaged: 0,
        damaged_bytes: 0,
    };
    let found = segment::list(dir)?;
    let newest = found.last().map(|(n, _)| *n);
    for (number, path) in found {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                // Unreadable: nothing of it can be sent; it goes like an acknowledged one.
                log::warn!(
                    "offline store {}: cannot read it, skipped: {e}",
                    path.display()
                );
                r.damaged += 1;
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                r.segments.insert(number, Segment::new(path, size, 0));
                continue;
            }
        };
        let s = scan(&bytes);
        let start = match &s.header {
            Ok(h) if h.owner != owner => {
                return Err(StoreError::Foreign {
                    dir: dir.to_path_buf(),
                    found: h.owner.clone(),
                    expected: owner.to_owned(),
                })
            }
            Ok(h) => {
                r.next_id = r.next_id.max(h.base_id);
                h.encoded_len() as u64
            }
            Err(_) => 0,
        };
        let last = newest == Some(number);
        let torn = last && s.header.is_ok() && s.torn_tail(bytes.len());
        for (i, d) in s.damaged.iter().enumerate() {
            let tail = torn && i + 1 == s.damaged.len();
            let fate = if tail { "cut off" } else { "skipped" };
            log::warn!(
                "offline store {}: bytes {}..{} damaged ({}), {fate}",
                path.display(),
                d.start,
                d.end,
                d.why
            );
            r.damaged += 1;
            r.damaged_bytes += (d.end - d.start) as u64;
        }
        let mut seg = Segment::new(path, bytes.len() as u64, start);
        r.take(number, &mut seg, &s);
        if last && s.header.is_ok() {
            let keep = if torn { s.clean_end } else { bytes.len() };
            r.reusable = Some((number, keep as u64));
        }
        r.segments.insert(number, seg);
    }
    while r.entries.front().is_some_and(|e| e.acked) {
        r.entries.pop_front();
    }
    Ok(r)
}

impl Recovered {
    /// The records of segment `number`, in order: messages join the entries, acknowledgements
    /// mark theirs.
    fn take(&mut self, number: u64, seg: &mut Segment, s: &Scan<'_>) {
        for (offset, len, record) in &s.records {
            match record {
                Record::Message(m) => {
                    // Ids only grow; an older one here is no record of ours (a payload that
                    // happens to hold one, found after damage).
                    if self.entries.back().is_some_and(|e| e.id >= m.id) {
                        log::warn!(
                            "offline store {}: record at byte {offset} repeats id {}, skipped",
                            seg.path.display(),
                            m.id
                        );
                        self.damaged += 1;
                        continue;
                    }
                    self.entries
                        .push_back(Entry::new(m.id, number, *offset as u64, *len));
                    seg.live += 1;
                    self.next_id = self.next_id.max(m.id.saturating_add(1));
                }
                Record::Ack(ids) => {
                    for id in ids.iter() {
                        self.next_id = self.next_id.max(id.saturating_add(1));
                        let Ok(i) = self.entries.binary_search_by_key(&id, |e| e.id) else {
                            continue;
                        };
                        let Some(e) = self.entries.get_mut(i).filter(|e| !e.acked) else {
                            continue;
                        };
                        e.acked = true;
                        if e.segment == number {
                            seg.live -= 1;
                        } else if let Some(older) = self.segments.get_mut(&e.segment) {
                            older.live -= 1;
                        }
                    }
                }
            }
        }
    }
}
