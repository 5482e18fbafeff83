//! The broker's bytes on their way to rumqttc, with the acknowledgements of the spin
//! thread's own QoS 1 publishes taken out.
//!
//! rumqttc fails the connection on a PUBACK whose packet id it did not give out itself. The
//! spin thread's publishes use ids above rumqttc's range ([`FIRST_DIRECT_PKID`] and up), so
//! their PUBACKs are recognised by the id alone and never reach rumqttc. Everything else
//! passes as it came: the filter only follows packet boundaries (MQTT 3.1.1, 2.2), holding
//! back at most the start of a packet whose kind it cannot tell yet.

use super::options::INFLIGHT;

/// The first packet id of the spin thread's: rumqttc gives out 1..=[`INFLIGHT`].
pub const FIRST_DIRECT_PKID: u16 = INFLIGHT + 1;

/// PUBACK's fixed header: the packet type, then its remaining length (the packet id).
const PUBACK: [u8; 2] = [0x40, 0x02];

#[derive(Default)]
pub struct AckFilter {
    /// Read from the socket, not given on or taken out yet.
    held: Vec<u8>,
    /// What is left of the packet being given on (its kind was told).
    passing: usize,
}

impl AckFilter {
    /// Bytes held: read, not given on or taken out yet.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Holds what `read` puts into a space of up to `max` bytes (it returns how many).
    pub fn read_with<E>(
        &mut self,
        max: usize,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let len = self.held.len();
        self.held.resize(len + max, 0);
        let n = read(&mut self.held[len..]);
        self.held.truncate(len + *n.as_ref().unwrap_or(&0));
        n
    }

    /// Moves what may go on to rumqttc into `out`, as much as fits; the packet ids of the
    /// spin thread's PUBACKs go into `acked` instead. Returns the bytes written to `out`.
    pub fn take(&mut self, out: &mut [u8], acked: &mut Vec<u16>) -> usize {
        let (mut at, mut written) = (0, 0);
        while written < out.len() && at < self.held.len() {
            let rest = &self.held[at..];
            if self.passing > 0 {
                let n = self.passing.min(rest.len()).min(out.len() - written);
                out[written..written + n].copy_from_slice(&rest[..n]);
                (at, written, self.passing) = (at + n, written + n, self.passing - n);
                continue;
            }
            match packet(rest) {
                Packet::Incomplete => break,
                Packet::Ours(pkid) => {
                    acked.push(pkid);
                    at += 4;
                }
                Packet::Other(len) => self.passing = len,
            }
        }
        self.held.drain(..at);
        written
    }
}

enum Packet {
    /// Too short to tell yet.
    Incomplete,
    /// A PUBACK for the spin thread: its packet id.
    Ours(u16),
    /// Anything else, this long in all.
    Other(usize),
}

/// What the packet at the start of `bytes` is.
fn packet(bytes: &[u8]) -> Packet {
    if bytes.len() >= 4 && bytes[..2] == PUBACK {
        let pkid = u16::from_be_bytes([bytes[2], bytes[3]]);
        if pkid >= FIRST_DIRECT_PKID {
            return Packet::Ours(pkid);
        }
    } else if bytes.len() < 4 && PUBACK.starts_with(&bytes[..bytes.len().min(2)]) {
        return Packet::Incomplete;
    }
    // The remaining length: up to four bytes, seven bits each, lowest first. A malformed one
    // passes as it is (one byte at a time): rumqttc reports it.
    let mut len = 0usize;
    for (i, b) in bytes.iter().skip(1).take(4).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Packet::Other(2 + i + len);
        }
    }
    if bytes.len() >= 5 {
        return Packet::Other(1);
    }
    Packet::Incomplete
}

#[cfg(test)]
mod tests {
    use super::*;

    fn puback(pkid: u16) -> Vec<u8> {
        let [hi, lo] = pkid.to_be_bytes();
        vec![0x40, 0x02, hi, lo]
    }

    /// Feeds `input` in pieces of `piece` bytes, takes into outputs of `out` bytes.
    fn run(input: &[u8], piece: usize, out: usize) -> (Vec<u8>, Vec<u16>) {
        let mut f = AckFilter::default();
        let (mut passed, mut acked) = (Vec::new(), Vec::new());
        let mut buf = vec![0; out];
        for chunk in input.chunks(piece) {
            let copy = |space: &mut [u8]| {
                space.copy_from_slice(chunk);
                Ok::<_, ()>(chunk.len())
            };
            assert_eq!(f.read_with(chunk.len(), copy), Ok(chunk.len()));
            loop {
                let n = f.take(&mut buf, &mut acked);
                if n == 0 {
                    break;
                }
                passed.extend_from_slice(&buf[..n]);
            }
        }
        (passed, acked)
    }

    #[test]
    fn only_the_spin_threads_pubacks_are_taken_out_however_the_bytes_come() {
        let connack = [0x20, 0x02, 0x00, 0x00];
        // A command publish from the fleet whose payload looks like PUBACKs of ours, with a
        // two-byte remaining length (130).
        let mut publish = vec![0x30, 0x82, 0x01, 0x00, 0x03, b'a', b'/', b'b'];
        for _ in 0..(130 - 5) / 4 {
            publish.extend_from_slice(&puback(500));
        }
        publish.resize(3 + 130, 0x40);
        let mut input = connack.to_vec();
        input.extend(puback(FIRST_DIRECT_PKID));
        input.extend(puback(7)); // rumqttc's own
        input.extend(&publish);
        input.extend(puback(u16::MAX));
        input.extend([0xd0, 0x00]); // PINGRESP
        input.extend(puback(FIRST_DIRECT_PKID + 1));
        let mut expected = connack.to_vec();
        expected.extend(puback(7));
        expected.extend(&publish);
        expected.extend([0xd0, 0x00]);
        let ours = [FIRST_DIRECT_PKID, u16::MAX, FIRST_DIRECT_PKID + 1];
        for piece in [1, 2, 3, 5, 7, 64, input.len()] {
            for out in [1, 3, 16, 4096] {
                let (passed, acked) = run(&input, piece, out);
                assert_eq!(passed, expected, "pieces of {piece}, reads of {out}");
                assert_eq!(acked, ours, "pieces of {piece}, reads of {out}");
            }
        }
    }

    #[test]
    fn a_malformed_length_passes_on_for_rumqttc_to_report() {
        let junk = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
        let (passed, acked) = run(&junk, 1, 16);
        assert_eq!(passed, junk);
        assert!(acked.is_empty());
    }
}
