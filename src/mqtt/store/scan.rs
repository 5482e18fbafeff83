//! Reading a whole segment back after a restart: every intact record, and the damaged
//! ranges between them. A damaged record is passed over by looking for the next position
//! where a whole, checksummed record starts, so one flipped byte costs one record (or, when
//! it hits a length, the records up to the next intact one), never the rest of the segment.

use super::format::{self, FrameError, Header, Record, FRAME_MAGIC};

/// One segment's bytes, taken apart.
#[derive(Debug)]
pub struct Scan<'a> {
    /// The header, or why it is unreadable (the records are still read).
    pub header: Result<Header, &'static str>,
    /// Intact records: where each starts, its length, the record.
    pub records: Vec<(usize, usize, Record<'a>)>,
    pub damaged: Vec<Damage>,
    /// Where the last intact record (or the header) ends: a writer may go on from here when
    /// everything after it is damage (a record torn by a crash).
    pub clean_end: usize,
}

/// Bytes `start..end` of a segment hold no intact record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub start: usize,
    pub end: usize,
    pub why: String,
}

impl Scan<'_> {
    /// Whether the damage, if any, runs to the end of the segment: a torn last record,
    /// which a writer cuts off before it goes on.
    pub fn torn_tail(&self, len: usize) -> bool {
        self.damaged.last().is_some_and(|d| d.end == len)
    }
}

pub fn scan(bytes: &[u8]) -> Scan<'_> {
    let mut damaged = Vec::new();
    let (header, mut pos) = match Header::decode(bytes) {
        Ok((h, len)) => (Ok(h), Some(len)),
        // A segment made but never written (a crash right after its creation).
        Err(why) if bytes.is_empty() => (Err(why), None),
        Err(why) => {
            let next = resync(bytes, 0);
            damaged.push(Damage {
                start: 0,
                end: next.unwrap_or(bytes.len()),
                why: why.to_owned(),
            });
            (Err(why), next)
        }
    };
    let mut records = Vec::new();
    let mut clean_end = match (&header, pos) {
        (Ok(_), Some(p)) => p,
        _ => 0,
    };
    while let Some(p) = pos.filter(|p| *p < bytes.len()) {
        match format::decode(&bytes[p..]) {
            Ok((record, len)) => {
                records.push((p, len, record));
                pos = Some(p + len);
                clean_end = p + len;
            }
            Err(e) => {
                let next = resync(bytes, p + 1);
                damaged.push(Damage {
                    start: p,
                    end: next.unwrap_or(bytes.len()),
                    why: why(e, next.is_none()),
                });
                pos = next;
            }
        }
    }
    Scan {
        header,
        records,
        damaged,
        clean_end,
    }
}

/// The first position at or after `from` where an intact record starts.
fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() {
        let found = bytes[at..]
            .windows(FRAME_MAGIC.len())
            .position(|w| w == FRAME_MAGIC)?;
        let candidate = at + found;
        if format::decode(&bytes[candidate..]).is_ok() {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

fn why(e: FrameError, to_the_end: bool) -> String {
    match e {
        FrameError::Short if to_the_end => "a record cut short (torn write)".to_owned(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::store::format::{encode_message, MessageRef};

    fn segment(ids: &[u64]) -> (Vec<u8>, Vec<usize>) {
        let header = Header {
            base_id: 1,
            owner: "r".into(),
        };
        let mut bytes = header.encode();
        let mut starts = Vec::new();
        for &id in ids {
            starts.push(bytes.len());
            let payload = format!("payload {id}");
            let m = MessageRef {
                id,
                created_ms: 0,
                qos: 1,
                retain: false,
                topic: "t",
                payload: payload.as_bytes(),
            };
            encode_message(&mut bytes, &m);
        }
        (bytes, starts)
    }

    fn ids(s: &Scan<'_>) -> Vec<u64> {
        s.records
            .iter()
            .filter_map(|(_, _, r)| match r {
                Record::Message(m) => Some(m.id),
                Record::Ack(_) => None,
            })
            .collect()
    }

    #[test]
    fn intact_segment() {
        let (bytes, _) = segment(&[1, 2, 3]);
        let s = scan(&bytes);
        assert!(s.header.is_ok() && s.damaged.is_empty());
        assert_eq!(ids(&s), [1, 2, 3]);
        assert_eq!(s.clean_end, bytes.len());
    }

    #[test]
    fn a_flipped_byte_anywhere_costs_at_most_its_own_record() {
        let (bytes, starts) = segment(&[1, 2, 3]);
        for at in starts[1]..starts[2] {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            let s = scan(&b);
            assert_eq!(ids(&s), [1, 3], "byte {at} flipped");
            assert_eq!(s.damaged.len(), 1);
            assert_eq!(
                (s.damaged[0].start, s.damaged[0].end),
                (starts[1], starts[2])
            );
            assert!(!s.torn_tail(b.len()));
        }
    }

    #[test]
    fn a_torn_last_record_is_the_tail() {
        let (bytes, starts) = segment(&[1, 2, 3]);
        for cut in starts[2] + 1..bytes.len() {
            let s = scan(&bytes[..cut]);
            assert_eq!(ids(&s), [1, 2]);
            assert!(s.torn_tail(cut));
            assert_eq!(s.clean_end, starts[2]);
            assert_eq!(s.damaged[0].why, "a record cut short (torn write)");
        }
    }

    #[test]
    fn a_damaged_header_still_gives_the_records() {
        let (mut bytes, starts) = segment(&[5, 6]);
        bytes[3] = b'?';
        let s = scan(&bytes);
        assert!(s.header.is_err());
        assert_eq!(ids(&s), [5, 6]);
        assert_eq!((s.damaged[0].start, s.damaged[0].end), (0, starts[0]));
    }
}
