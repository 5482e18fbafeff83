//! The durable offline store (opt-in, `mqtt.offline_store`): the QoS 1/2 messages that
//! wait for the broker, on disk, so that a crash, a watchdog kill or a reboot during an
//! outage loses none of them. QoS 0 is never stored (its latest value per topic stays in
//! memory).
//!
//! # Why a segment log of our own
//!
//! What waits for the broker is a FIFO: appended at the tail, read in order, acknowledged
//! (mostly in order), removed from the head. A log of numbered segment files is exactly
//! that: an append is one `write` (and one `fdatasync` per batch), removing acknowledged
//! messages is unlinking whole files, and recovery is one sequential read with a CRC per
//! record, so a torn or flipped record costs that record and nothing else. The embedded
//! stores weighed against it: redb (maintained, ACID) rewrites a copy-on-write B-tree path
//! and a commit slot per durable commit (one fsync), keeps freed pages inside its file
//! (`compact` to give them back), and recovers whole commits, not records; sled is
//! unmaintained beta; RocksDB is a C++ build on every robot; fjall (an LSM tree) does
//! far more than a queue needs. The log, its recovery and its thread are about 1,700
//! lines with their comments, on `crc32fast` alone.
//!
//! # Files
//!
//! `<dir>/LOCK` (flock, the holder's pid) and `<dir>/<number:020>.seg`, oldest first. A
//! segment is a header (owner = robot id, first id) then framed records: length + CRC32
//! (of length and body) + body, the body a message (id, created time, topic, QoS, retain,
//! payload) or an acknowledgement (ids); see [`format`]. Ids grow by one per stored message
//! (only the id of a record torn by a crash, whose append never returned, is given again).
//! A store that holds another robot's messages is refused.
//!
//! # Durability (fsync policy)
//!
//! [`Durability::Fsync`] (what the bridge uses): an append returns after its records are
//! written and `fdatasync`ed; a new segment's name is made durable by syncing the
//! directory. Acknowledgements are written (page cache) but not synced on their own: the
//! next append's sync carries them.
//! - Killed (SIGKILL, a panic, the watchdog): everything written survives, appended and
//!   acknowledged alike (it is in the kernel's page cache). Nothing is sent twice beyond the
//!   usual at-least-once of messages in flight.
//! - Power cut: every append that returned survives. Acknowledgements since the last sync
//!   may be lost: those messages are sent once more (at least once, never zero times). A
//!   record torn by the cut is detected by its CRC and cut off at the next open.
//!
//! [`Durability::PageCache`] skips every sync: it survives a kill, not a power cut.
//!
//! Cost (`target/release/examples/store_bench target 2000`, release build, ext4 on a VM's
//! virtual disk, a machine shared with other builds: indicative only): 0.85 ms per message
//! appended one at a time (one `fdatasync` each), 19 µs in batches of 10, 2.8 µs in batches
//! of 100; page cache only, 0.3-1.1 µs per message. (A debug build on a busier machine: 4-5 ms
//! per sync.) The store's thread writes whatever
//! queued up during a sync as the next batch (see [`worker`]), so the syncs per second are
//! bounded by the disk, not by the message rate.
//!
//! # Bounds
//!
//! `max_bytes` bounds the segment files together. Segments are a sixteenth of it (4 KiB to
//! 8 MiB); over the bound the oldest segment goes whole, and every pending message in it is
//! counted as dropped. A segment is deleted once nothing in it (or before it) is pending; a
//! drained store is one empty segment. In memory: 32 bytes per stored message, never the
//! payloads.
//!
//! # Failure
//!
//! Damage found when opening (a torn last record, a flipped byte anywhere, a damaged
//! header, an unreadable file) is skipped with a `log::warn!` naming file and bytes, never
//! returned: a record is used only when its CRC and its fields check. A write error (full
//! or read-only disk, I/O error) fails the store: the append's messages are the caller's
//! again (all or nothing), later writes fail at once with [`StoreError::Failed`], reads
//! still work so that what was stored can still be sent. [`StoreError::is_no_space`] and
//! [`StoreError::is_read_only`] tell the usual causes apart.
//!
//! # Threads
//!
//! [`Store`] is synchronous. The link uses it through [`StoreWorker`]: its own thread, with
//! requests that never wait and outcomes as events (see [`worker`]).

mod error;
pub mod format;
mod lock;
mod queue;
mod recover;
mod scan;
mod segment;
pub mod worker;

#[cfg(test)]
mod tests;

pub use error::StoreError;
pub use queue::{
    Acked, AppendError, Appended, Durability, Options, ReadBatch, Recovery, Store, StoredMessage,
};
pub use worker::{StoreEvent, StoreWorker};
