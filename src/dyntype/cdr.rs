//! CDR (XCDR1) as Fast DDS writes ROS 2 messages: a 4-byte encapsulation header (`00 01`
//! little endian, `00 00` big endian, two option bytes), then the fields, each primitive
//! aligned to its own size counted from the first byte after the header. Strings: a u32 length
//! that counts a closing NUL, the bytes, the NUL. Wstrings: a u32 count of UTF-16 code units,
//! each in a 4-byte slot (Fast DDS's wchar), no terminator. Sequences: a u32 count, then the
//! elements. Padding bytes are not zeroed by the writers: never compare raw CDR.

/// Why bytes are not a message of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    #[error("{0} bytes are too short for a CDR message")]
    NoHeader(usize),
    #[error("encapsulation {0:#06x} is not plain CDR (XCDR2 and parameter lists are not read)")]
    Encapsulation(u16),
    #[error("the message ends at byte {at}, {need} more needed")]
    Short { at: usize, need: usize },
    #[error("a count of {count} at byte {at} is more than the {left} bytes left")]
    Count {
        at: usize,
        count: usize,
        left: usize,
    },
    #[error("{count} elements at byte {at} are over the bound of {bound}")]
    Bound {
        at: usize,
        count: usize,
        bound: usize,
    },
    #[error("cannot write JSON: {0}")]
    Json(String),
}

/// Plain CDR, little endian, no options: what this side writes.
pub const HEADER_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// Reads a CDR message from its header on.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    little: bool,
}

macro_rules! read_num {
    ($($name:ident: $t:ty),*) => {$(
        pub fn $name(&mut self) -> Result<$t, CdrError> {
            const N: usize = std::mem::size_of::<$t>();
            self.align(N)?;
            let b: [u8; N] = self.take(N)?.try_into().map_err(|_| self.short(N))?;
            Ok(if self.little { <$t>::from_le_bytes(b) } else { <$t>::from_be_bytes(b) })
        }
    )*};
}

impl<'a> Reader<'a> {
    /// Checks the encapsulation header; the reader starts at the first field.
    pub fn new(buf: &'a [u8]) -> Result<Reader<'a>, CdrError> {
        let little = match buf {
            [0x00, 0x01, _, _, ..] => true,
            [0x00, 0x00, _, _, ..] => false,
            [a, b, _, _, ..] => return Err(CdrError::Encapsulation(u16::from_be_bytes([*a, *b]))),
            _ => return Err(CdrError::NoHeader(buf.len())),
        };
        Ok(Reader {
            buf,
            pos: 4,
            little,
        })
    }

    fn short(&self, need: usize) -> CdrError {
        CdrError::Short { at: self.pos, need }
    }

    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Skips the padding before a value of `n` bytes (alignment counts from after the header).
    pub fn align(&mut self, n: usize) -> Result<(), CdrError> {
        let off = (self.pos - 4) % n;
        if off != 0 {
            self.take(n - off)?;
        }
        Ok(())
    }

    /// Fails unless `n` more bytes are there; reads nothing.
    pub fn ensure(&self, n: usize) -> Result<(), CdrError> {
        match self.left() {
            left if left >= n => Ok(()),
            left => Err(self.short(n - left)),
        }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CdrError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| self.short(n - self.left().min(n)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, CdrError> {
        Ok(self.take(1)?[0])
    }

    read_num!(u16: u16, u32: u32, u64: u64, i16: i16, i32: i32, i64: i64, f32: f32, f64: f64);

    /// A sequence's count, checked against its bound and against what is left (every element
    /// takes at least `min_size` bytes), so that no count makes anyone allocate for it.
    pub fn count(&mut self, bound: Option<usize>, min_size: usize) -> Result<usize, CdrError> {
        let at = self.pos;
        let count = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        if let Some(bound) = bound.filter(|b| count > *b) {
            return Err(CdrError::Bound { at, count, bound });
        }
        if count.saturating_mul(min_size) > self.left() {
            let left = self.left();
            return Err(CdrError::Count { at, count, left });
        }
        Ok(count)
    }

    /// A string's bytes without the NUL; a length of 0 is `""` too. Its bound is in bytes.
    pub fn string(&mut self, bound: Option<usize>) -> Result<&'a [u8], CdrError> {
        let len = self.count(None, 1)?;
        let bytes = self.take(len)?;
        let text = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        if let Some(b) = bound.filter(|b| text.len() > *b) {
            let at = self.pos - len;
            return Err(CdrError::Bound {
                at,
                count: text.len(),
                bound: b,
            });
        }
        Ok(text)
    }

    /// A wstring's UTF-16 code units; its bound counts them.
    pub fn wstring(&mut self, bound: Option<usize>) -> Result<Vec<u16>, CdrError> {
        let n = self.count(bound, 4)?;
        let mut units = Vec::with_capacity(n);
        for _ in 0..n {
            // Each unit is a 4-byte wchar; only the low 16 bits carry it.
            units.push(self.u32()? as u16);
        }
        Ok(units)
    }
}

/// Writes a CDR message (little endian) up to a size bound.
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
    max: usize,
}

/// The message would be longer than the writer's bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong(pub usize);

macro_rules! write_num {
    ($($name:ident: $t:ty),*) => {$(
        pub fn $name(&mut self, v: $t) -> Result<(), TooLong> {
            self.align(std::mem::size_of::<$t>())?;
            self.bytes(&v.to_le_bytes())
        }
    )*};
}

impl Writer {
    /// A message of at most `max` bytes, header included.
    pub fn new(max: usize, capacity: usize) -> Writer {
        let mut buf = Vec::with_capacity(capacity.min(max).max(HEADER_LE.len()));
        buf.extend_from_slice(&HEADER_LE);
        Writer { buf, max }
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// The bound given to `new`.
    pub fn max(&self) -> usize {
        self.max
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() <= HEADER_LE.len()
    }

    fn room(&self, n: usize) -> Result<(), TooLong> {
        match self.buf.len().checked_add(n) {
            Some(end) if end <= self.max => Ok(()),
            _ => Err(TooLong(self.max)),
        }
    }

    pub fn align(&mut self, n: usize) -> Result<(), TooLong> {
        let off = (self.buf.len() - HEADER_LE.len()) % n;
        if off != 0 {
            self.room(n - off)?;
            self.buf.resize(self.buf.len() + n - off, 0);
        }
        Ok(())
    }

    pub fn bytes(&mut self, b: &[u8]) -> Result<(), TooLong> {
        self.room(b.len())?;
        self.buf.extend_from_slice(b);
        Ok(())
    }

    pub fn u8(&mut self, v: u8) -> Result<(), TooLong> {
        self.bytes(&[v])
    }

    write_num!(u16: u16, u32: u32, u64: u64, i16: i16, i32: i32, i64: i64, f32: f32, f64: f64);

    /// A count; `usize` beyond u32 cannot be a message anyone reads.
    pub fn count(&mut self, n: usize) -> Result<(), TooLong> {
        self.u32(u32::try_from(n).map_err(|_| TooLong(self.max))?)
    }

    pub fn string(&mut self, s: &str) -> Result<(), TooLong> {
        self.count(s.len() + 1)?;
        self.bytes(s.as_bytes())?;
        self.u8(0)
    }

    pub fn wstring(&mut self, s: &str) -> Result<(), TooLong> {
        self.count(s.encode_utf16().count())?;
        for unit in s.encode_utf16() {
            self.u32(u32::from(unit))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_alignment_from_after_it() {
        let mut w = Writer::new(1024, 0);
        w.u8(1).expect("room");
        w.f64(2.5).expect("room");
        let b = w.finish();
        assert_eq!(&b[..4], &HEADER_LE);
        assert_eq!(b.len(), 4 + 8 + 8, "f64 at payload offset 8");
        let mut r = Reader::new(&b).expect("header");
        assert_eq!((r.u8(), r.f64()), (Ok(1), Ok(2.5)));
    }

    #[test]
    fn big_endian_is_read() {
        let b = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0, 0, 0, 2, b'a', 0,
        ];
        let mut r = Reader::new(&b).expect("header");
        assert_eq!(r.u32(), Ok(0x0102));
        assert_eq!(r.string(None), Ok(&b"a"[..]));
    }

    #[test]
    fn other_encapsulations_are_refused() {
        for id in [[0x00, 0x07], [0x00, 0x03], [0x00, 0x0b]] {
            let b = [id[0], id[1], 0, 0, 0, 0, 0, 0];
            assert!(matches!(Reader::new(&b), Err(CdrError::Encapsulation(_))));
        }
        assert_eq!(Reader::new(&[0, 1]).err(), Some(CdrError::NoHeader(2)));
    }

    #[test]
    fn wstring_as_fast_dds_writes_it() {
        // "aé😀" from the verified recipe: 4 UTF-16 units, each in a 4-byte slot.
        let want = [
            0x00, 0x01, 0x00, 0x00, 4, 0, 0, 0, 0x61, 0, 0, 0, 0xe9, 0, 0, 0, 0x3d, 0xd8, 0, 0,
            0x00, 0xde, 0, 0,
        ];
        let mut w = Writer::new(1024, 0);
        w.wstring("aé😀").expect("room");
        assert_eq!(w.finish(), want);
        let mut r = Reader::new(&want).expect("header");
        let units = r.wstring(None).expect("reads");
        assert_eq!(String::from_utf16_lossy(&units), "aé😀");
        assert!(
            Reader::new(&want)
                .expect("header")
                .wstring(Some(3))
                .is_err(),
            "bound"
        );
    }

    #[test]
    fn strings_empty_both_ways_and_bounded() {
        let mut r = Reader::new(&[0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).expect("header");
        assert_eq!(r.string(None), Ok(&b""[..]));
        assert_eq!(r.string(None), Ok(&b""[..]), "length 0");
        let b = [0, 1, 0, 0, 4, 0, 0, 0, b'a', b'b', b'c', 0];
        assert!(matches!(
            Reader::new(&b).expect("h").string(Some(2)),
            Err(CdrError::Bound { .. })
        ));
    }

    #[test]
    fn counts_are_checked_before_anything_is_allocated() {
        let b = [0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let e = Reader::new(&b).expect("header").count(None, 1);
        assert!(
            matches!(
                e,
                Err(CdrError::Count {
                    count: 0xffff_ffff,
                    left: 3,
                    ..
                })
            ),
            "{e:?}"
        );
        let e = Reader::new(&b).expect("header").wstring(None);
        assert!(matches!(e, Err(CdrError::Count { .. })), "{e:?}");
        let e = Reader::new(&b).expect("header").count(Some(2), 1);
        assert!(matches!(e, Err(CdrError::Bound { bound: 2, .. })), "{e:?}");
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let full = {
            let mut w = Writer::new(1024, 0);
            w.string("hello").expect("room");
            w.u64(7).expect("room");
            w.finish()
        };
        for cut in 0..full.len() {
            let mut r = match Reader::new(&full[..cut]) {
                Ok(r) => r,
                Err(_) => continue,
            };
            let ok = r.string(None).is_ok() && r.u64().is_ok();
            assert!(!ok, "cut at {cut}");
        }
    }

    #[test]
    fn the_writer_keeps_to_its_bound() {
        let mut w = Writer::new(10, 0);
        assert_eq!(w.u32(1), Ok(()));
        assert_eq!(w.u32(2), Err(TooLong(10)));
        assert_eq!(w.len(), 8);
    }
}
