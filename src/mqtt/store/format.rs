//! The bytes on disk: a segment's header, and the framed records that follow it.
//!
//! ```text
//! segment = header record*
//! header  = "AMRMQSEG" | version u16 | owner_len u16 | base_id u64 | owner | crc32 u32
//! record  = magic "\xA5MQR" | len u32 | crc32(len ++ body) u32 | body (len bytes)
//! body    = 1 | id u64 | created_ms i64 | qos u8 | retain u8 | topic_len u16 | topic | payload
//!         | 2 | id u64 ...                                   (acknowledged message ids)
//! ```
//!
//! Integers are little endian. The header's crc covers everything before it. A record's crc
//! covers its length too, so a flipped bit in the length is caught like one in the body; the
//! magic lets a reader find the next record after a damaged one.

use crate::config::MAX_PAYLOAD;

pub const SEGMENT_MAGIC: &[u8; 8] = b"AMRMQSEG";
pub const VERSION: u16 = 1;
pub const FRAME_MAGIC: &[u8; 4] = b"\xA5MQR";
/// magic, len, crc.
pub const FRAME_HEADER: usize = 12;
/// kind, id, created_ms, qos, retain, topic_len.
const MESSAGE_FIXED: usize = 1 + 8 + 8 + 1 + 1 + 2;
pub const MAX_TOPIC: usize = u16::MAX as usize;
/// The longest body a reader accepts: a longer length is damage, never an allocation.
pub const MAX_BODY: usize = MESSAGE_FIXED + MAX_TOPIC + MAX_PAYLOAD;
/// The longest owner name (the robot id) a header can carry.
pub const MAX_OWNER: usize = 1024;

const KIND_MESSAGE: u8 = 1;
const KIND_ACK: u8 = 2;

/// What every segment starts with: who wrote it, and the first id it may hold (so that ids
/// keep growing even when every older segment is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub base_id: u64,
    pub owner: String,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let owner = self.owner.as_bytes();
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(SEGMENT_MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        // The store refuses longer owners before it writes a header.
        out.extend_from_slice(&(owner.len().min(MAX_OWNER) as u16).to_le_bytes());
        out.extend_from_slice(&self.base_id.to_le_bytes());
        out.extend_from_slice(&owner[..owner.len().min(MAX_OWNER)]);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn encoded_len(&self) -> usize {
        header_len(&self.owner)
    }

    /// The header at the start of `bytes` and its length, or why there is none.
    pub fn decode(bytes: &[u8]) -> Result<(Header, usize), &'static str> {
        let mut r = Reader(bytes);
        if r.take(8) != Some(SEGMENT_MAGIC) {
            return Err("no segment header");
        }
        let version = r.u16().ok_or("torn header")?;
        let owner_len = usize::from(r.u16().ok_or("torn header")?);
        let base_id = r.u64().ok_or("torn header")?;
        let owner = r.take(owner_len).ok_or("torn header")?;
        let end = bytes.len() - r.0.len();
        let crc = r.u32().ok_or("torn header")?;
        if crc32fast::hash(&bytes[..end]) != crc {
            return Err("header checksum mismatch");
        }
        if version != VERSION {
            return Err("unknown segment version");
        }
        let owner = std::str::from_utf8(owner).map_err(|_| "owner is not UTF-8")?;
        let header = Header {
            base_id,
            owner: owner.to_owned(),
        };
        Ok((header, end + 4))
    }
}

/// The length of a header naming `owner`.
pub fn header_len(owner: &str) -> usize {
    8 + 2 + 2 + 8 + owner.len().min(MAX_OWNER) + 4
}

/// A stored message as it lies in a record (borrowed from the bytes read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRef<'a> {
    pub id: u64,
    /// Unix time in milliseconds, when the message was made.
    pub created_ms: i64,
    pub qos: u8,
    pub retain: bool,
    pub topic: &'a str,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    Message(MessageRef<'a>),
    /// Ids acknowledged by the broker, 8 bytes each.
    Ack(AckIds<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckIds<'a>(&'a [u8]);

impl<'a> AckIds<'a> {
    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a {
        self.0
            .chunks_exact(8)
            .filter_map(|c| c.try_into().ok().map(u64::from_le_bytes))
    }
}

/// Why the bytes at a position are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("no record starts here")]
    Magic,
    #[error("record length {0} is beyond any record")]
    Length(u64),
    #[error("record cut short")]
    Short,
    #[error("record checksum mismatch")]
    Checksum,
    #[error("record body malformed: {0}")]
    Body(&'static str),
}

/// Appends one message record to `out`; its length.
pub fn encode_message(out: &mut Vec<u8>, m: &MessageRef<'_>) -> usize {
    frame(out, |body| {
        body.push(KIND_MESSAGE);
        body.extend_from_slice(&m.id.to_le_bytes());
        body.extend_from_slice(&m.created_ms.to_le_bytes());
        body.push(m.qos);
        body.push(u8::from(m.retain));
        // The store refuses longer topics before it encodes (MQTT's own limit).
        body.extend_from_slice(&(m.topic.len().min(MAX_TOPIC) as u16).to_le_bytes());
        body.extend_from_slice(&m.topic.as_bytes()[..m.topic.len().min(MAX_TOPIC)]);
        body.extend_from_slice(m.payload);
    })
}

/// Appends one acknowledgement record to `out`; its length.
pub fn encode_ack(out: &mut Vec<u8>, ids: &[u64]) -> usize {
    frame(out, |body| {
        body.push(KIND_ACK);
        for id in ids {
            body.extend_from_slice(&id.to_le_bytes());
        }
    })
}

/// The length of a message record for this topic and payload.
pub fn message_len(topic: &str, payload: &[u8]) -> usize {
    FRAME_HEADER + MESSAGE_FIXED + topic.len() + payload.len()
}

/// The length of an acknowledgement record for `n` ids.
pub fn ack_len(n: usize) -> usize {
    FRAME_HEADER + 1 + 8 * n
}

fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) -> usize {
    let start = out.len();
    out.extend_from_slice(FRAME_MAGIC);
    out.extend_from_slice(&[0; 8]);
    body(out);
    let len = (out.len() - start - FRAME_HEADER) as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len.to_le_bytes());
    crc.update(&out[start + FRAME_HEADER..]);
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.finalize().to_le_bytes());
    out.len() - start
}

/// The record at the start of `bytes` and its whole length (frame included).
pub fn decode(bytes: &[u8]) -> Result<(Record<'_>, usize), FrameError> {
    let mut r = Reader(bytes);
    match r.take(FRAME_MAGIC.len()) {
        Some(m) if m == FRAME_MAGIC => {}
        None if FRAME_MAGIC.starts_with(bytes) => return Err(FrameError::Short),
        _ => return Err(FrameError::Magic),
    }
    let len = r.u32().ok_or(FrameError::Short)?;
    let crc = r.u32().ok_or(FrameError::Short)?;
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > MAX_BODY || len_usize == 0 {
        return Err(FrameError::Length(u64::from(len)));
    }
    let body = r.take(len_usize).ok_or(FrameError::Short)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(body);
    if h.finalize() != crc {
        return Err(FrameError::Checksum);
    }
    Ok((
        record(body).map_err(FrameError::Body)?,
        FRAME_HEADER + len_usize,
    ))
}

fn record(body: &[u8]) -> Result<Record<'_>, &'static str> {
    let mut r = Reader(body);
    match r.u8() {
        Some(KIND_MESSAGE) => {
            let short = "message record too short";
            let id = r.u64().ok_or(short)?;
            let created_ms = r.array().map(i64::from_le_bytes).ok_or(short)?;
            let qos = r.u8().ok_or(short)?;
            let retain = r.u8().ok_or(short)?;
            let topic_len = usize::from(r.u16().ok_or(short)?);
            let topic = r.take(topic_len).ok_or(short)?;
            if !matches!(qos, 1 | 2) {
                return Err("QoS other than 1 or 2");
            }
            if retain > 1 {
                return Err("retain flag other than 0 or 1");
            }
            let topic = std::str::from_utf8(topic).map_err(|_| "topic is not UTF-8")?;
            if topic.is_empty() {
                return Err("empty topic");
            }
            Ok(Record::Message(MessageRef {
                id,
                created_ms,
                qos,
                retain: retain == 1,
                topic,
                payload: r.0,
            }))
        }
        Some(KIND_ACK) if !r.0.is_empty() && r.0.len() % 8 == 0 => Ok(Record::Ack(AckIds(r.0))),
        Some(KIND_ACK) => Err("acknowledgement record of a broken length"),
        _ => Err("unknown record kind"),
    }
}

/// Little-endian fields off the front of a slice; None when it is too short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64) -> MessageRef<'static> {
        MessageRef {
            id,
            created_ms: 1_700_000_000_123,
            qos: 1,
            retain: true,
            topic: "amr/AMR001/status/position",
            payload: b"{\"x\":1}",
        }
    }

    #[test]
    fn records_round_trip_and_every_single_flipped_bit_is_caught() {
        let mut bytes = Vec::new();
        let n = encode_message(&mut bytes, &message(7));
        assert_eq!(n, message_len(message(7).topic, message(7).payload));
        let a = encode_ack(&mut bytes, &[7, 9]);
        let (rec, len) = decode(&bytes).expect("message");
        assert_eq!((rec, len), (Record::Message(message(7)), n));
        match decode(&bytes[n..]) {
            Ok((Record::Ack(ids), len)) => {
                assert_eq!(ids.iter().collect::<Vec<_>>(), [7, 9]);
                assert_eq!(len, a);
            }
            other => panic!("{other:?}"),
        }
        for bit in 0..n * 8 {
            let mut damaged = bytes[..n].to_vec();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&damaged).is_err(), "bit {bit} flipped went unseen");
        }
        for cut in 0..n {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} went unseen");
        }
    }

    #[test]
    fn header_round_trips_and_damage_is_named() {
        let h = Header {
            base_id: 42,
            owner: "AMR001".into(),
        };
        let bytes = h.encode();
        assert_eq!(bytes.len(), h.encoded_len());
        assert_eq!(Header::decode(&bytes), Ok((h, bytes.len())));
        let mut flipped = bytes.clone();
        flipped[12] ^= 0x10;
        assert_eq!(
            Header::decode(&flipped).map(|_| ()),
            Err("header checksum mismatch")
        );
        assert_eq!(Header::decode(&bytes[..10]).map(|_| ()), Err("torn header"));
    }

    #[test]
    fn a_checksummed_but_meaningless_body_is_refused() {
        // A valid frame around a body no writer of this version makes: QoS 0.
        let mut bytes = Vec::new();
        let mut m = message(1);
        m.qos = 0;
        encode_message(&mut bytes, &m);
        assert_eq!(
            decode(&bytes).map(|_| ()),
            Err(FrameError::Body("QoS other than 1 or 2"))
        );
        let huge = [FRAME_MAGIC.as_slice(), &u32::MAX.to_le_bytes(), &[0; 4]].concat();
        assert_eq!(
            decode(&huge).map(|_| ()),
            Err(FrameError::Length(u64::from(u32::MAX)))
        );
    }
}
