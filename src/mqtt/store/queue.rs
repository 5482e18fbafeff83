//! [`Store`]: the durable queue itself. Messages are appended to the newest segment, read
//! back by id, acknowledged by id; a segment goes once every message in it (and in every
//! older one) is acknowledged or dropped, and the oldest go whole when the store is over
//! its bound.
//!
//! In memory: one small entry per stored message (id, segment, offset, length: 32 bytes),
//! never the payloads. Synchronous and single-owner: the link drives it from a thread of its
//! own ([`super::worker`]), never from the ROS spin thread or a tokio worker.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::format::{self, FrameError, Header, MessageRef, Record, MAX_OWNER, MAX_TOPIC};
use super::lock::DirLock;
use super::recover::recover;
use super::segment::{self, Entry, Segment};
use super::StoreError;
use crate::config::{Qos, MAX_PAYLOAD};
use crate::mqtt::Outbound;

/// Segments are about a sixteenth of the bound (the oldest go whole), within these sizes.
const MIN_SEGMENT: u64 = 4 * 1024;
const MAX_SEGMENT: u64 = 8 * 1024 * 1024;

/// When an append is on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` before an append returns (and the directory synced when a segment is
    /// made): what was appended survives a power cut.
    Fsync,
    /// Written to the page cache only: survives the process being killed, not a power cut.
    PageCache,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Whose messages these are (the robot id): a store of another robot is refused.
    pub owner: String,
    /// The segment files' bound, in bytes; over it the oldest messages go.
    pub max_bytes: u64,
    pub durability: Durability,
}

/// A message read back from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: u64,
    /// When it was made (the bridge's clock then).
    pub created: SystemTime,
    pub topic: Arc<str>,
    pub qos: Qos,
    pub retain: bool,
    pub payload: Bytes,
}

impl StoredMessage {
    /// As the link sends it; `since` (for the latency) is when it was made, as far as this
    /// process's clock reaches back.
    pub fn into_outbound(self) -> (u64, Outbound) {
        let age = SystemTime::now()
            .duration_since(self.created)
            .unwrap_or(Duration::ZERO);
        let now = Instant::now();
        let mut m = Outbound::new(self.topic, self.qos, self.retain, self.payload);
        m.since = now.checked_sub(age).unwrap_or(now);
        m.stored = Some(self.id);
        (self.id, m)
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Per message of the batch, its id in the store; None for QoS 0 (never stored) and for
    /// a message too big for the store alone (counted in `dropped`).
    pub ids: Vec<Option<u64>>,
    /// Messages dropped to stay within `max_bytes`: the oldest stored ones (maybe some of
    /// this batch, when it alone is over the bound) and the ones too big.
    pub dropped: usize,
}

/// An append that failed: none of its messages is in the store (they are the caller's to
/// keep in memory), and the store is failed. `dropped` older ones went before the failure.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct AppendError {
    #[source]
    pub error: StoreError,
    pub dropped: usize,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Acked {
    /// Ids that were pending (others: unknown, dropped, or acknowledged before).
    pub removed: usize,
    /// Messages dropped to make room for the acknowledgement record (rarely any).
    pub dropped: usize,
}

/// A read: the messages, and how many pending ones were found damaged on the way (skipped
/// with a warning and forgotten).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadBatch {
    pub messages: Vec<StoredMessage>,
    pub damaged: usize,
}

/// What opening found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Messages stored and never acknowledged: to be sent first.
    pub pending: usize,
    /// The newest of them: replay has caught up once it is read (or dropped).
    pub newest: Option<u64>,
    pub disk_bytes: u64,
    /// Damaged ranges skipped (each warned about), and their bytes.
    pub damaged: usize,
    pub damaged_bytes: u64,
    /// Dropped because the store was over `max_bytes` (the bound was lowered).
    pub dropped: usize,
}

pub struct Store {
    dir: PathBuf,
    options: Options,
    segment_bytes: u64,
    _lock: DirLock,
    segments: BTreeMap<u64, Segment>,
    /// The newest segment, opened for appending.
    active: u64,
    writer: File,
    /// Every stored message not yet forgotten, in id order (acknowledged ones stay as marks
    /// until everything older is gone).
    entries: VecDeque<Entry>,
    pending: usize,
    next_id: u64,
    /// Bytes of all segment files.
    total: u64,
    failed: Option<String>,
}

impl Store {
    /// Opens (or makes) the store in `dir`: takes its lock, reads every segment back, cuts a
    /// torn last record off, and drops the oldest if it is over `max_bytes`.
    pub fn open(dir: &Path, options: Options) -> Result<(Store, Recovery), StoreError> {
        if options.owner.len() > MAX_OWNER {
            return Err(StoreError::OwnerTooLong {
                dir: dir.to_path_buf(),
                max: MAX_OWNER,
            });
        }
        std::fs::create_dir_all(dir).map_err(StoreError::io(dir, "create the directory"))?;
        let lock = DirLock::acquire(dir)?;
        let r = recover(dir, &options.owner)?;
        let sync = options.durability == Durability::Fsync;
        let mut segments = r.segments;
        let (active, writer) = match r.reusable {
            Some((n, keep)) => {
                let seg = segments
                    .get_mut(&n)
                    .ok_or_else(|| StoreError::io(dir, "find a segment")(not_found()))?;
                (n, reopen(seg, keep, sync)?)
            }
            None => {
                let n = segments.last_key_value().map_or(1, |(n, _)| n + 1);
                let header = Header {
                    base_id: r.next_id,
                    owner: options.owner.clone(),
                };
                let (file, size) = segment::create(dir, n, &header, sync)?;
                segments.insert(n, Segment::new(segment::path(dir, n), size, size));
                (n, file)
            }
        };
        let mut store = Store {
            dir: dir.to_path_buf(),
            segment_bytes: (options.max_bytes / 16).clamp(MIN_SEGMENT, MAX_SEGMENT),
            options,
            _lock: lock,
            total: segments.values().map(|s| s.size).sum(),
            segments,
            active,
            writer,
            pending: r.entries.iter().filter(|e| !e.acked).count(),
            entries: r.entries,
            next_id: r.next_id,
            failed: None,
        };
        let dropped = store.make_room(0)?;
        store.reclaim()?;
        if dropped > 0 {
            log::warn!(
                "offline store {}: over max_bytes ({}): the {dropped} oldest messages dropped",
                store.dir.display(),
                store.options.max_bytes
            );
        }
        let recovery = Recovery {
            pending: store.pending,
            newest: store.newest_pending(),
            disk_bytes: store.total,
            damaged: r.damaged,
            damaged_bytes: r.damaged_bytes,
            dropped,
        };
        Ok((store, recovery))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Messages stored and not acknowledged.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Bytes of the segment files (what `max_bytes` bounds).
    pub fn disk_bytes(&self) -> u64 {
        self.total
    }

    /// The newest pending message's id.
    pub fn newest_pending(&self) -> Option<u64> {
        self.entries.iter().rev().find(|e| !e.acked).map(|e| e.id)
    }

    /// Why the store is not written any more, once an error made it so.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Stops writing: later appends fail at once (their messages stay the caller's).
    pub fn fail(&mut self, cause: impl Into<String>) {
        if self.failed.is_none() {
            self.failed = Some(cause.into());
        }
    }

    /// Stores the QoS 1/2 messages of `batch` in order, with one write per segment and
    /// (with [`Durability::Fsync`]) one `fdatasync` for the batch. All or nothing: on an
    /// error none of them is stored and the store fails (reads still work).
    pub fn append(&mut self, batch: &[Outbound]) -> Result<Appended, AppendError> {
        let mut ids = Vec::with_capacity(batch.len());
        let mut dropped = 0;
        if let Err(error) = self.writable() {
            return Err(AppendError { error, dropped });
        }
        let first = self.next_id;
        let before = (self.active, self.size(self.active));
        match self.append_all(batch, &mut ids, &mut dropped) {
            Ok(()) => Ok(Appended { ids, dropped }),
            Err(error) => {
                self.fail(error.to_string());
                self.roll_back(first, before);
                Err(AppendError { error, dropped })
            }
        }
    }

    fn append_all(
        &mut self,
        batch: &[Outbound],
        ids: &mut Vec<Option<u64>>,
        dropped: &mut usize,
    ) -> Result<(), StoreError> {
        let mut buf = Vec::new();
        for m in batch {
            if m.qos.0 == 0 {
                ids.push(None);
                continue;
            }
            let len = format::message_len(&m.topic, &m.payload) as u64;
            let fits = m.topic.len() <= MAX_TOPIC
                && m.payload.len() <= MAX_PAYLOAD
                && self.header_len() + len <= self.options.max_bytes;
            if !fits {
                ids.push(None);
                *dropped += 1;
                continue;
            }
            *dropped += self.make_space(&mut buf, len)?;
            let id = self.next_id;
            self.next_id += 1;
            let offset = self.size(self.active) + buf.len() as u64;
            let n = format::encode_message(
                &mut buf,
                &MessageRef {
                    id,
                    created_ms: created_ms(m.since),
                    qos: m.qos.0,
                    retain: m.retain,
                    topic: &m.topic,
                    payload: &m.payload,
                },
            );
            self.entries
                .push_back(Entry::new(id, self.active, offset, n));
            self.pending += 1;
            if let Some(seg) = self.segments.get_mut(&self.active) {
                seg.live += 1;
            }
            ids.push(Some(id));
        }
        self.write(&mut buf)?;
        if self.options.durability == Durability::Fsync {
            self.writer
                .sync_data()
                .map_err(StoreError::io(self.active_path(), "sync a segment"))?;
        }
        Ok(())
    }

    /// Makes room for a record of `len` bytes after `buf` (what is not written yet): a new
    /// segment when the newest is full, the oldest segments dropped when the store would be
    /// over its bound. How many pending messages were dropped.
    fn make_space(&mut self, buf: &mut Vec<u8>, len: u64) -> Result<usize, StoreError> {
        let active = self.size(self.active) + buf.len() as u64;
        let full = active > self.start(self.active) && active + len > self.segment_bytes;
        let over = self.total + buf.len() as u64 + len > self.options.max_bytes;
        if !full && !over {
            return Ok(0);
        }
        self.write(buf)?;
        if full {
            self.roll()?;
        }
        self.make_room(len)
    }

    /// Drops the oldest segments until `extra` more bytes fit within `max_bytes`.
    fn make_room(&mut self, extra: u64) -> Result<usize, StoreError> {
        let mut dropped = 0;
        while self.total + extra > self.options.max_bytes {
            let Some(oldest) = self.segments.keys().next().copied() else {
                break;
            };
            if oldest == self.active {
                if self.size(oldest) <= self.start(oldest) {
                    break;
                }
                self.roll()?;
                continue;
            }
            dropped += self.remove_segment(oldest)?;
        }
        Ok(dropped)
    }

    /// Records that the broker acknowledged `ids`: they are never read again, and never come
    /// back after a restart. Not synced (see the module's notes): a power cut may bring the
    /// latest acknowledged ones back once. In a failed store they are forgotten in memory
    /// only, and the error says so.
    pub fn ack(&mut self, ids: &[u64]) -> Result<Acked, StoreError> {
        let mut removed = Vec::new();
        for &id in ids {
            let Ok(i) = self.entries.binary_search_by_key(&id, |e| e.id) else {
                continue;
            };
            if self.forget(i) {
                removed.push(id);
            }
        }
        self.trim_front();
        if removed.is_empty() {
            return Ok(Acked::default());
        }
        self.writable()?;
        match self.record_ack(&removed) {
            Ok(dropped) => Ok(Acked {
                removed: removed.len(),
                dropped,
            }),
            Err(e) => {
                self.fail(e.to_string());
                Err(e)
            }
        }
    }

    fn record_ack(&mut self, ids: &[u64]) -> Result<usize, StoreError> {
        let mut buf = Vec::new();
        let dropped = self.make_space(&mut buf, format::ack_len(ids.len()) as u64)?;
        format::encode_ack(&mut buf, ids);
        self.write(&mut buf)?;
        self.reclaim()?;
        Ok(dropped)
    }

    /// Pending messages with ids above `after`, oldest first: at most `max_count`, and at
    /// most `max_bytes` of records (but always one, however big).
    pub fn read_after(
        &mut self,
        after: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, StoreError> {
        let mut batch = ReadBatch::default();
        let mut bytes = 0;
        let mut damaged = Vec::new();
        let start = self.entries.partition_point(|e| e.id <= after);
        for i in start..self.entries.len() {
            let Some(e) = self.entries.get(i).copied().filter(|e| !e.acked) else {
                continue;
            };
            let count = batch.messages.len();
            if count >= max_count || (count > 0 && bytes + e.len > max_bytes) {
                break;
            }
            match self.read_entry(&e)? {
                Some(m) => {
                    bytes += e.len;
                    batch.messages.push(m);
                }
                None => damaged.push(i),
            }
        }
        for i in damaged {
            self.forget(i);
            batch.damaged += 1;
        }
        self.trim_front();
        Ok(batch)
    }

    /// `fdatasync` of the newest segment (acknowledgements are not synced on their own).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.writable()?;
        let r = self.writer.sync_data();
        r.map_err(StoreError::io(self.active_path(), "sync a segment"))
            .inspect_err(|e| self.fail(e.to_string()))
    }

    fn read_entry(&mut self, e: &Entry) -> Result<Option<StoredMessage>, StoreError> {
        let Some(seg) = self.segments.get_mut(&e.segment) else {
            return Ok(None);
        };
        if seg.reader.is_none() {
            let f = File::open(&seg.path).map_err(StoreError::io(&seg.path, "open a segment"))?;
            seg.reader = Some(f);
        }
        let mut frame = vec![0; e.len];
        let read = match &seg.reader {
            Some(f) => f.read_exact_at(&mut frame, e.offset),
            None => Ok(()),
        };
        let decoded = match read {
            Ok(()) => format::decode(&frame).map(|(r, _)| r),
            // The file was cut since: damage like any other.
            Err(x) if x.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Short),
            Err(x) => return Err(StoreError::io(&seg.path, "read a segment")(x)),
        };
        match decoded {
            Ok(Record::Message(m)) if m.id == e.id => Ok(Some(stored(&m))),
            other => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(_) => "another record than the one stored there".to_owned(),
                };
                log::warn!(
                    "offline store {}: message {} at byte {} damaged since it was stored ({why}), skipped",
                    seg.path.display(),
                    e.id,
                    e.offset
                );
                Ok(None)
            }
        }
    }

    /// Marks entry `i` acknowledged; whether it was pending.
    fn forget(&mut self, i: usize) -> bool {
        let Some(e) = self.entries.get_mut(i).filter(|e| !e.acked) else {
            return false;
        };
        e.acked = true;
        let segment = e.segment;
        self.pending -= 1;
        if let Some(seg) = self.segments.get_mut(&segment) {
            seg.live = seg.live.saturating_sub(1);
        }
        true
    }

    fn trim_front(&mut self) {
        while self.entries.front().is_some_and(|e| e.acked) {
            self.entries.pop_front();
        }
    }

    /// Deletes the segments that hold nothing pending, oldest first and only those: an
    /// acknowledgement lies in the same segment as its message or a newer one, so a newer
    /// segment never goes before an older one. Once nothing is pending the newest goes too
    /// (a fresh one takes its place): a drained store is one empty segment.
    fn reclaim(&mut self) -> Result<(), StoreError> {
        if self.pending == 0 && self.size(self.active) > self.start(self.active) {
            self.roll()?;
        }
        while let Some((&n, seg)) = self.segments.first_key_value() {
            if n == self.active || seg.live > 0 {
                break;
            }
            self.remove_segment(n)?;
        }
        Ok(())
    }

    /// Deletes segment `n` (the oldest); how many pending messages went with it.
    fn remove_segment(&mut self, n: u64) -> Result<usize, StoreError> {
        let Some(seg) = self.segments.get(&n) else {
            return Ok(0);
        };
        match std::fs::remove_file(&seg.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&seg.path, "delete a segment")(e)),
        }
        self.total -= seg.size;
        self.segments.remove(&n);
        let mut dropped = 0;
        while self.entries.front().is_some_and(|e| e.segment == n) {
            if let Some(e) = self.entries.pop_front() {
                if !e.acked {
                    dropped += 1;
                    self.pending -= 1;
                }
            }
        }
        Ok(dropped)
    }

    /// A new newest segment; the one before is synced first (with `Fsync`).
    fn roll(&mut self) -> Result<(), StoreError> {
        let sync = self.options.durability == Durability::Fsync;
        if sync {
            self.writer
                .sync_data()
                .map_err(StoreError::io(self.active_path(), "sync a segment"))?;
        }
        let n = self.active + 1;
        let header = Header {
            base_id: self.next_id,
            owner: self.options.owner.clone(),
        };
        let (file, size) = segment::create(&self.dir, n, &header, sync)?;
        let path = segment::path(&self.dir, n);
        self.segments.insert(n, Segment::new(path, size, size));
        self.total += size;
        self.active = n;
        self.writer = file;
        Ok(())
    }

    /// Writes `buf` at the end of the newest segment, and empties it.
    fn write(&mut self, buf: &mut Vec<u8>) -> Result<(), StoreError> {
        if buf.is_empty() {
            return Ok(());
        }
        self.writer
            .write_all(buf)
            .map_err(StoreError::io(self.active_path(), "write a segment"))?;
        let n = buf.len() as u64;
        if let Some(seg) = self.segments.get_mut(&self.active) {
            seg.size += n;
        }
        self.total += n;
        buf.clear();
        Ok(())
    }

    /// After a failed append: forgets its messages, and cuts what it wrote off the segments
    /// (best effort: what stays is found again after a restart, a duplicate at worst).
    fn roll_back(&mut self, first: u64, (segment, size): (u64, u64)) {
        while self.entries.back().is_some_and(|e| e.id >= first) {
            if let Some(e) = self.entries.pop_back().filter(|e| !e.acked) {
                self.pending -= 1;
                if let Some(seg) = self.segments.get_mut(&e.segment) {
                    seg.live = seg.live.saturating_sub(1);
                }
            }
        }
        for (&n, seg) in self.segments.range_mut(segment..) {
            let keep = if n == segment { size } else { seg.start };
            let cut = OpenOptions::new()
                .write(true)
                .open(&seg.path)
                .and_then(|f| f.set_len(keep));
            match cut {
                Ok(()) => {
                    self.total = self.total + keep - seg.size;
                    seg.size = keep;
                }
                Err(e) => log::warn!(
                    "offline store {}: a failed append not cut off: {e}",
                    seg.path.display()
                ),
            }
        }
    }

    fn writable(&self) -> Result<(), StoreError> {
        match &self.failed {
            None => Ok(()),
            Some(cause) => Err(StoreError::Failed {
                dir: self.dir.clone(),
                cause: cause.clone(),
            }),
        }
    }

    fn size(&self, n: u64) -> u64 {
        self.segments.get(&n).map_or(0, |s| s.size)
    }

    fn start(&self, n: u64) -> u64 {
        self.segments.get(&n).map_or(0, |s| s.start)
    }

    /// The length of a header of ours (the same for every segment we make).
    fn header_len(&self) -> u64 {
        format::header_len(&self.options.owner) as u64
    }

    fn active_path(&self) -> PathBuf {
        segment::path(&self.dir, self.active)
    }
}

/// Opens the newest segment of a previous run for appending, without its torn last record.
fn reopen(seg: &mut Segment, keep: u64, sync: bool) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(&seg.path)
        .map_err(StoreError::io(&seg.path, "open a segment"))?;
    if keep < seg.size {
        file.set_len(keep)
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) })
            .map_err(StoreError::io(&seg.path, "cut a torn record off"))?;
        seg.size = keep;
    }
    Ok(file)
}

fn not_found() -> std::io::Error {
    std::io::ErrorKind::NotFound.into()
}

fn created_ms(since: Instant) -> i64 {
    let now = SystemTime::now();
    let made = now.checked_sub(since.elapsed()).unwrap_or(now);
    made.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn stored(m: &MessageRef<'_>) -> StoredMessage {
    let ms = u64::try_from(m.created_ms).unwrap_or(0);
    StoredMessage {
        id: m.id,
        created: UNIX_EPOCH + Duration::from_millis(ms),
        topic: Arc::from(m.topic),
        qos: Qos(m.qos),
        retain: m.retain,
        payload: Bytes::copy_from_slice(m.payload),
    }
}
