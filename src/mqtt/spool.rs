//! The link's side of the durable offline store (`store`): which QoS 1/2 messages go to
//! disk, the replay of what is there (oldest first, before anything newer), and the store's
//! answers. The disk itself is the store thread's (`store::worker`): nothing here waits on
//! it, every request is a `try_send` and every answer an event for the link's select loop.
//!
//! The rules, with a store that can be written:
//! - While the broker is away, every QoS 1/2 message that would wait in the offline queue
//!   goes to the store instead; so does one that comes while the store still has a backlog
//!   (so that the order holds). Once the replay has caught up, messages take the memory path
//!   again (no disk write while the broker is there). Presence messages and QoS 0 never go
//!   to disk: a stored `offline` replayed after a restart would mark a running robot offline.
//! - When a connection is lost, what memory held (in flight, queued) goes to the store too,
//!   so that a crash during the outage loses none of it. The messages in flight stay with
//!   the session (a broker that kept the session gets them again under their packet ids):
//!   their copies are known by a ticket until the store's answer gives their ids. Whichever
//!   comes first, that answer, the CONNACK or the broker's acknowledgement, a copy is never
//!   read while the session holds its message (a QoS 2 message sent twice would arrive
//!   twice), and it leaves the store once the broker has acknowledged the message.
//! - Replay: connected, the link reads from the store what its in-flight window takes, ids
//!   above the `cursor`, skipping those in flight already and those acknowledged while the
//!   read was under way (the store may have read them before it took the acknowledgement;
//!   acknowledgements always go before the next read). A message leaves the store when the
//!   broker acknowledges it. A broker that lost the session gets the in-flight ones again
//!   from the store (the cursor goes back, copies still on their way are the store's), as
//!   new messages.
//! - A store that cannot be written (full or read-only disk, an I/O error) fails: its
//!   messages come back to memory, an alert is raised once, and the link goes on without it;
//!   what it held is still read and sent.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::options::StoreSettings;
use super::session::{Delivered, Session};
use super::store::{StoreError, StoreEvent, StoreWorker};
use super::{LinkEvent, Outbound};
use crate::diagnostics::{Stats, StoreState};

/// Requests (and answers) that may wait for the store's thread.
const CAPACITY: usize = 64;

/// What an append was for, answered in order.
enum Append {
    Plain,
    /// Made when the connection was lost: its first messages are copies of what was in
    /// flight, with these tickets (see [`Session::copy_unstored`]).
    InFlight(Vec<u64>),
}

pub struct Spool {
    worker: Option<StoreWorker>,
    events: Option<mpsc::Receiver<StoreEvent>>,
    /// The directory, for messages.
    dir: String,
    stats: Arc<Stats>,
    /// The store takes appends (open, and no write failed).
    writable: bool,
    /// Messages on this topic never go to disk (the connection's presence).
    presence: Option<Arc<str>>,
    /// Nothing in the store that the link has not handed on: new messages take the memory
    /// path while connected.
    caught_up: bool,
    /// Ids up to here were read (or are in memory).
    cursor: u64,
    /// The newest id the store took.
    newest: u64,
    outstanding: VecDeque<Append>,
    /// Tickets of copies whose message the broker acknowledged before the store answered:
    /// they leave the store as soon as their ids come.
    delivered_copies: BTreeSet<u64>,
    reading: bool,
    /// The read under way was asked before the cursor went back: its answer is ignored.
    stale_read: bool,
    /// Ids acknowledged while a read was under way: the store may have read them before it
    /// took the acknowledgement.
    acked_in_read: BTreeSet<u64>,
    /// Read, not written yet.
    replay: VecDeque<Outbound>,
    /// Ids of stored messages that the session holds unacknowledged: never read again.
    in_flight: BTreeSet<u64>,
    /// To append at the end of this turn of the link.
    staged: Vec<Outbound>,
    /// Acknowledged by the broker, to remove from the store.
    acks: Vec<u64>,
    /// An alert to raise: the store failed.
    failure: Option<LinkEvent>,
    alerted: bool,
    /// A stop: nothing more is read.
    stopped: bool,
}

impl Spool {
    /// No store: every message waits in memory. (The gauge's state stays as it is: `off`,
    /// unless another link of the bridge has a store.)
    pub fn off(stats: Arc<Stats>) -> Spool {
        Spool {
            worker: None,
            events: None,
            dir: String::new(),
            stats,
            writable: false,
            presence: None,
            caught_up: true,
            cursor: 0,
            newest: 0,
            outstanding: VecDeque::new(),
            delivered_copies: BTreeSet::new(),
            reading: false,
            stale_read: false,
            acked_in_read: BTreeSet::new(),
            replay: VecDeque::new(),
            in_flight: BTreeSet::new(),
            staged: Vec::new(),
            acks: Vec::new(),
            failure: None,
            alerted: false,
            stopped: false,
        }
    }

    /// Opens the store of `settings` on its thread. An error only when this bridge may not
    /// use it (another process holds it, or another robot's messages are in it); a store
    /// that cannot be opened otherwise (a read-only or full disk) leaves the link in memory,
    /// with an alert.
    pub async fn open(
        settings: Option<StoreSettings>,
        stats: Arc<Stats>,
    ) -> Result<Spool, StoreError> {
        let mut spool = Spool::off(stats);
        let Some(s) = settings else {
            return Ok(spool);
        };
        spool.dir = s.dir.display().to_string();
        let gauge = spool.stats.offline_store.clone();
        match StoreWorker::open(s.dir, s.options, CAPACITY, gauge).await {
            Ok((worker, events, recovery)) => {
                if recovery.pending > 0 {
                    log::info!(
                        "offline store {}: {} messages from before, sent first",
                        spool.dir,
                        recovery.pending
                    );
                }
                spool.count_dropped(recovery.dropped);
                spool.count_damaged(recovery.damaged);
                spool.newest = recovery.newest.unwrap_or(0);
                spool.caught_up = recovery.pending == 0;
                spool.worker = Some(worker);
                spool.events = Some(events);
                spool.writable = true;
                spool.stats.offline_store.set_state(StoreState::Ok);
                Ok(spool)
            }
            Err(e @ (StoreError::Locked { .. } | StoreError::Foreign { .. })) => Err(e),
            Err(e @ StoreError::OwnerTooLong { .. }) => Err(e),
            Err(e) => {
                spool.failed(&e);
                Ok(spool)
            }
        }
    }

    /// The store's answers, for the link's select loop (once).
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<StoreEvent>> {
        self.events.take()
    }

    /// Messages on `topic` never go to disk.
    pub fn never_store(&mut self, topic: Arc<str>) {
        self.presence = Some(topic);
    }

    /// The alert to raise, once, when the store failed.
    pub fn take_failure(&mut self) -> Option<LinkEvent> {
        self.failure.take()
    }

    /// Whether `m` goes to disk rather than memory: QoS 1/2, not presence, not stored yet,
    /// a store that takes it, and the broker away or a backlog on disk.
    pub fn diverts(&self, m: &Outbound, connected: bool) -> bool {
        self.writable && (!connected || !self.caught_up) && self.storable(m)
    }

    fn storable(&self, m: &Outbound) -> bool {
        m.qos.0 > 0 && m.stored.is_none() && self.presence.as_ref() != Some(&m.topic)
    }

    /// `m` goes to disk with the next [`Spool::flush`].
    pub fn stage(&mut self, m: Outbound) {
        self.caught_up = false;
        self.staged.push(m);
    }

    /// Hands what this turn staged and acknowledged to the store's thread. What the thread
    /// cannot take now comes back, to wait in memory.
    pub fn flush(&mut self) -> Vec<Outbound> {
        self.send_acks();
        let Some(worker) = &self.worker else {
            return std::mem::take(&mut self.staged);
        };
        if self.staged.is_empty() {
            return Vec::new();
        }
        let batch = std::mem::take(&mut self.staged);
        match worker.append(batch) {
            Ok(()) => {
                self.outstanding.push_back(Append::Plain);
                Vec::new()
            }
            Err(back) => back,
        }
    }

    /// Hands the acknowledgements to the store's thread; false when it cannot take them now.
    fn send_acks(&mut self) -> bool {
        let Some(worker) = &self.worker else {
            return true;
        };
        if self.acks.is_empty() || worker.ack(self.acks.clone()) {
            self.acks.clear();
            return true;
        }
        false
    }

    /// The connection is gone: what the session and the offline queue held goes to disk,
    /// oldest first (copies of the unacknowledged, which the session keeps; the queued
    /// themselves), ahead of what this turn staged. What was read and not written is read
    /// again later. Returns what must stay in memory after all.
    pub fn on_lost(&mut self, session: &mut Session) -> Vec<Outbound> {
        if let Some(first) = self.replay.front().and_then(|m| m.stored) {
            self.cursor = self.cursor.min(first.saturating_sub(1));
        }
        self.replay.clear();
        self.stale_read = self.reading;
        if !self.writable {
            return std::mem::take(&mut self.staged);
        }
        let copies = session.copy_unstored(|m| self.storable(m));
        let queued = session.queue.take_ordered(|m| self.storable(m));
        let tickets: Vec<u64> = copies.iter().map(|(t, _)| *t).collect();
        let later = std::mem::take(&mut self.staged);
        self.staged = copies.into_iter().map(|(_, m)| m).collect();
        self.staged.extend(queued);
        self.staged.extend(later);
        if self.staged.is_empty() {
            return Vec::new();
        }
        log::info!(
            "offline store {}: {} messages in flight and {} waiting go to disk",
            self.dir,
            tickets.len(),
            self.staged.len() - tickets.len()
        );
        self.caught_up = false;
        let copies = tickets.len();
        let back = self.flush();
        if !back.is_empty() {
            // Refused: the in-flight ones stay in memory only.
            for t in tickets {
                session.not_stored(t);
            }
        } else if let Some(last) = self.outstanding.back_mut().filter(|_| copies > 0) {
            *last = Append::InFlight(tickets);
        }
        // The copies of the in-flight messages come back too: the session has them.
        back.into_iter().skip(copies).collect()
    }

    /// The broker accepted a connection. A broker that lost the session gets what was in
    /// flight again as new messages: those the store has, or is taking, are read from it.
    pub fn on_connack(&mut self, session: &mut Session, session_present: bool) {
        if session_present {
            return;
        }
        let ids = session.take_stored();
        for id in &ids {
            self.in_flight.remove(id);
        }
        if let Some(first) = ids.iter().min() {
            self.cursor = self.cursor.min(first.saturating_sub(1));
            self.caught_up = false;
        }
    }

    /// A stored message went to the broker.
    pub fn written(&mut self, m: &Outbound) {
        if let Some(id) = m.stored {
            self.in_flight.insert(id);
        }
    }

    /// The broker acknowledged `d.m`: it leaves the store (its copy too, once there).
    pub fn acked(&mut self, d: &Delivered) {
        if let Some(ticket) = d.copy {
            self.delivered_copies.insert(ticket);
        }
        if let Some(id) = d.m.stored {
            self.remove(id);
        }
    }

    /// The broker has stored message `id`: off the disk, and out of a read under way.
    fn remove(&mut self, id: u64) {
        self.in_flight.remove(&id);
        if self.reading {
            self.acked_in_read.insert(id);
        }
        if self.worker.is_some() {
            self.acks.push(id);
        }
    }

    /// The next stored message to send, if `fits` lets it go now. Asks the store for more
    /// (up to `want` messages) when none is read.
    pub fn next(
        &mut self,
        want: usize,
        max_bytes: usize,
        fits: impl Fn(&Outbound) -> bool,
    ) -> Option<Outbound> {
        if self.replay.is_empty() {
            self.read(want, max_bytes);
            return None;
        }
        if !fits(self.replay.front()?) {
            return None;
        }
        self.replay.pop_front()
    }

    fn read(&mut self, want: usize, max_bytes: usize) {
        // Acknowledgements first: the store must not read what the broker has.
        if self.caught_up || self.reading || self.stopped || !self.send_acks() {
            return;
        }
        if let Some(w) = &self.worker {
            self.reading = w.read(self.cursor, want.max(1), max_bytes);
        }
    }

    /// Whether stored messages wait to be read or written.
    pub fn backlog(&self) -> bool {
        !self.caught_up
    }

    /// Whether read messages wait to be written.
    pub fn has_replay(&self) -> bool {
        !self.replay.is_empty()
    }

    /// A stop: what is still on disk stays there for the next start.
    pub fn stop_replay(&mut self) {
        if let Some(first) = self.replay.front().and_then(|m| m.stored) {
            self.cursor = self.cursor.min(first.saturating_sub(1));
        }
        self.replay.clear();
        self.stopped = true;
    }

    /// An answer of the store's thread. Returns messages that must wait in memory after all.
    pub fn on_event(&mut self, event: StoreEvent, session: &mut Session) -> Vec<Outbound> {
        match event {
            StoreEvent::Stored { ids, dropped } => {
                self.count_dropped(dropped);
                self.newest = self
                    .newest
                    .max(ids.iter().flatten().copied().max().unwrap_or(0));
                if let Some(Append::InFlight(tickets)) = self.outstanding.pop_front() {
                    for (ticket, id) in tickets.into_iter().zip(ids) {
                        self.copy_stored(ticket, id, session);
                    }
                }
                Vec::new()
            }
            StoreEvent::NotStored {
                messages,
                error,
                dropped,
            } => {
                self.count_dropped(dropped);
                self.failed(&error);
                match self.outstanding.pop_front() {
                    Some(Append::InFlight(tickets)) => {
                        let mut messages = messages.into_iter();
                        let mut back = Vec::new();
                        for (ticket, m) in tickets.into_iter().zip(messages.by_ref()) {
                            // Back unless the broker or the session has it.
                            let delivered = self.delivered_copies.remove(&ticket);
                            if !delivered && !session.not_stored(ticket) {
                                back.push(m);
                            }
                        }
                        back.extend(messages);
                        back
                    }
                    _ => messages,
                }
            }
            StoreEvent::Read { result, .. } => {
                self.reading = false;
                let acked = std::mem::take(&mut self.acked_in_read);
                if std::mem::take(&mut self.stale_read) {
                    return Vec::new();
                }
                match result {
                    Ok(batch) => {
                        self.count_damaged(batch.damaged);
                        self.count_dropped(batch.damaged);
                        self.replayed(batch.messages, &acked);
                    }
                    Err(e) => {
                        // What it holds cannot be sent: it stays on disk for the next start.
                        self.failed(&e);
                        self.caught_up = true;
                    }
                }
                Vec::new()
            }
            StoreEvent::Dropped(n) => {
                self.count_dropped(n);
                Vec::new()
            }
            StoreEvent::Failed(e) => {
                self.failed(&e);
                Vec::new()
            }
        }
    }

    /// The store's answer for copy `ticket` of a message in flight (`id`: None when the
    /// store did not take it).
    fn copy_stored(&mut self, ticket: u64, id: Option<u64>, session: &mut Session) {
        let delivered = self.delivered_copies.remove(&ticket);
        match id {
            Some(id) if delivered => self.remove(id),
            Some(id) => {
                // Otherwise the session gave the message up (a lost session, a stop): the
                // copy is the message now, read like any other.
                if session.set_stored(ticket, id) {
                    self.in_flight.insert(id);
                }
            }
            // Too big for the store (counted): the session keeps it, if it still has it.
            None => {
                session.not_stored(ticket);
            }
        }
    }

    /// What a read gave, but for `acked` (acknowledged while it was under way).
    fn replayed(&mut self, read: Vec<super::store::StoredMessage>, acked: &BTreeSet<u64>) {
        if read.is_empty() {
            // Nothing above the cursor, and nothing on its way to the disk: caught up.
            if self.outstanding.is_empty() && self.staged.is_empty() {
                self.caught_up = true;
                self.cursor = self.cursor.max(self.newest);
            }
            return;
        }
        for m in read {
            let (id, m) = m.into_outbound();
            self.cursor = self.cursor.max(id);
            if !self.in_flight.contains(&id) && !acked.contains(&id) {
                self.replay.push_back(m);
            }
        }
    }

    /// The store failed: appends stop, an alert is raised once.
    fn failed(&mut self, e: &StoreError) {
        self.writable = false;
        self.stats.offline_store.set_state(StoreState::Failed);
        if !self.alerted {
            self.alerted = true;
            log::error!("{e}; QoS 1/2 messages wait in memory from now on");
            self.failure = Some(LinkEvent::StoreFailed {
                path: self.dir.clone(),
                error: e.to_string(),
            });
        }
    }

    fn count_dropped(&self, n: usize) {
        self.stats.offline_dropped.fetch_add(n as u64, Relaxed);
    }

    fn count_damaged(&self, n: usize) {
        self.stats
            .offline_store
            .damaged
            .fetch_add(n as u64, Relaxed);
    }

    /// At a stop: stores what memory still holds (`left`: QoS 1/2 not acknowledged), waits
    /// for the answer until `deadline`, and closes the store. How many messages the store
    /// keeps for the next start, and what is left in memory (not delivered, not kept).
    pub async fn close(
        &mut self,
        left: Vec<Outbound>,
        events: &mut Option<mpsc::Receiver<StoreEvent>>,
        session: &mut Session,
        deadline: Instant,
    ) -> (u64, Vec<Outbound>) {
        let mut memory = Vec::new();
        for m in left {
            if self.writable && self.storable(&m) {
                self.staged.push(m);
            } else if m.stored.is_none() {
                memory.push(m);
            }
        }
        memory.extend(self.flush());
        while !self.outstanding.is_empty() {
            let Some(rx) = events.as_mut() else { break };
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => memory.extend(self.on_event(e, session)),
                _ => break,
            }
        }
        // What was not answered is the thread's to write before it closes.
        if let Some(w) = self.worker.take() {
            let _ = tokio::time::timeout_at(deadline, w.close()).await;
        }
        (self.stats.offline_store.pending.load(Relaxed), memory)
    }

    /// Staged and not handed to the store's thread yet.
    pub fn take_staged(&mut self) -> Vec<Outbound> {
        std::mem::take(&mut self.staged)
    }

    pub fn dir(&self) -> &str {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Qos, ReconnectConfig};
    use crate::mqtt::store::{Durability, Options};
    use std::time::Instant as StdInstant;

    fn msg(n: u32) -> Outbound {
        Outbound::new(Arc::from("t"), Qos(1), false, n.to_string().into_bytes())
    }

    fn body(m: &Outbound) -> String {
        String::from_utf8_lossy(&m.payload).into_owned()
    }

    struct Rig {
        spool: Spool,
        events: mpsc::Receiver<StoreEvent>,
        session: Session,
        stats: Arc<Stats>,
        _dir: tempfile::TempDir,
    }

    /// A store of robot R1 in `dir`, 1 MiB.
    fn settings(dir: std::path::PathBuf) -> StoreSettings {
        let options = Options {
            owner: "R1".into(),
            max_bytes: 1 << 20,
            durability: Durability::PageCache,
        };
        StoreSettings { dir, options }
    }

    async fn rig() -> Rig {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = Arc::new(Stats::default());
        let mut spool = Spool::open(Some(settings(dir.path().join("store"))), stats.clone())
            .await
            .expect("open");
        spool.never_store(Arc::from("presence"));
        let events = spool.take_events().expect("events");
        let session = Session::new(ReconnectConfig::default(), (100, 1 << 20), 1 << 20);
        Rig {
            spool,
            events,
            session,
            stats,
            _dir: dir,
        }
    }

    impl Rig {
        /// Waits for the next answer of the store and hands it to the spool.
        async fn answer(&mut self) {
            let e = self.events.recv().await.expect("an answer");
            let back = self.spool.on_event(e, &mut self.session);
            assert!(back.is_empty(), "nothing comes back: {back:?}");
        }

        /// What replay sends now, written and acknowledged as the link does.
        async fn replay_all(&mut self) -> Vec<String> {
            let mut sent = Vec::new();
            loop {
                match self.spool.next(100, 1 << 20, |_| true) {
                    Some(m) => {
                        self.spool.written(&m);
                        sent.push(body(&m));
                        self.spool.acked(&Delivered { m, copy: None });
                    }
                    None if self.spool.reading => {
                        assert!(self.spool.flush().is_empty());
                        self.answer().await;
                    }
                    None => return sent,
                }
            }
        }

        fn connect(&mut self, session_present: bool) {
            self.spool.on_connack(&mut self.session, session_present);
            self.session
                .on_connected(StdInstant::now(), session_present);
        }

        fn lose(&mut self) {
            self.session
                .on_lost("cut", (StdInstant::now(), "t".into()), [], false, 0.5);
            assert!(self.spool.on_lost(&mut self.session).is_empty());
        }

        fn pending(&self) -> u64 {
            self.stats.offline_store.pending.load(Relaxed)
        }

        /// The broker acknowledged `pkid` (PUBACK, PUBCOMP), handed on as the link does.
        fn ack(&mut self, pkid: u16) {
            let d = self.session.on_acked(pkid).expect("in flight");
            self.spool.acked(&d);
        }

        /// Answers every append still outstanding.
        async fn answer_appends(&mut self) {
            while !self.spool.outstanding.is_empty() {
                self.answer().await;
            }
        }

        /// What the store holds once every acknowledgement so far has reached it: an
        /// append's answer comes after everything asked before it.
        async fn pending_in_the_end(&mut self) -> u64 {
            self.spool.stage(msg(99));
            assert!(self.spool.flush().is_empty());
            self.answer().await;
            self.pending() - 1
        }
    }

    #[tokio::test]
    async fn offline_messages_go_to_disk_and_come_back_in_order_once() {
        let mut r = rig().await;
        for n in 1..=3 {
            assert!(r.spool.diverts(&msg(n), false));
            r.spool.stage(msg(n));
        }
        let presence = Outbound::new(Arc::from("presence"), Qos(1), true, "online");
        let sensor = Outbound::new(Arc::from("s"), Qos(0), false, "x");
        assert!(!r.spool.diverts(&presence, false) && !r.spool.diverts(&sensor, false));
        assert!(r.spool.flush().is_empty());
        r.answer().await;
        assert_eq!(r.pending(), 3);
        r.connect(false);
        assert!(
            r.spool.diverts(&msg(4), true),
            "behind the backlog: to disk too"
        );
        assert_eq!(r.replay_all().await, ["1", "2", "3"]);
        assert!(!r.spool.backlog(), "caught up");
        assert!(!r.spool.diverts(&msg(5), true), "then new ones take memory");
        assert!(r.spool.flush().is_empty());
        // The acknowledgements reach the store before anything asked after them.
        r.spool.stage(msg(6));
        assert!(r.spool.flush().is_empty());
        r.answer().await;
        assert_eq!(r.pending(), 1, "1-3 acknowledged, 6 pending");
    }

    /// A session with "1", "2" written (packet ids 1, 2: QoS 2 in the field) and "3"
    /// queued, then lost: the store gets copies of 1 and 2 (the session keeps them) and 3
    /// itself. Its answer is still to come.
    async fn lost_with_two_in_flight_unanswered() -> Rig {
        let mut r = rig().await;
        r.connect(false);
        for (pkid, n) in [(1, 1), (2, 2)] {
            r.spool.written(&msg(n));
            r.session.on_written(pkid, msg(n));
        }
        r.session.enqueue(msg(3));
        r.lose();
        assert_eq!(r.session.queue.ordered_len(), 0, "3 went to disk");
        r
    }

    /// The same, the store's answer in.
    async fn lost_with_two_in_flight() -> Rig {
        let mut r = lost_with_two_in_flight_unanswered().await;
        r.answer().await;
        assert_eq!(r.pending(), 3);
        r
    }

    #[tokio::test]
    async fn a_kept_session_resends_the_in_flight_and_the_store_acknowledges_them() {
        let mut r = lost_with_two_in_flight().await;
        r.connect(true);
        assert_eq!(r.session.unacked(), 2, "resent under their packet ids");
        assert_eq!(r.replay_all().await, ["3"], "not a second time from disk");
        for pkid in [1, 2] {
            r.ack(pkid);
        }
        r.spool.stage(msg(4));
        assert!(r.spool.flush().is_empty());
        r.answer().await;
        assert_eq!(r.pending(), 1, "only 4 left");
    }

    /// What a kept session may see after the loss, in any order.
    #[derive(Debug, PartialEq)]
    enum Step {
        /// The store's answer to the append of the loss.
        Stored,
        /// CONNACK, session present.
        Connack,
        /// The link asks the store for its backlog.
        Read,
        /// PUBCOMP of packet id 1.
        Ack1,
    }

    /// A kept session gets 1 and 2 again under their packet ids: never from the store too,
    /// and their acknowledgements take the copies off the disk, whatever the order of
    /// `steps`.
    async fn kept_session(steps: &[Step]) {
        let mut r = lost_with_two_in_flight_unanswered().await;
        for step in steps {
            match step {
                Step::Stored => r.answer().await,
                Step::Connack => r.connect(true),
                Step::Read => {
                    assert!(r.spool.next(100, 1 << 20, |_| true).is_none());
                    assert!(r.spool.reading, "the store reads 1-3");
                }
                Step::Ack1 => r.ack(1),
            }
        }
        assert_eq!(r.replay_all().await, ["3"], "{steps:?}");
        if !steps.contains(&Step::Ack1) {
            r.ack(1);
        }
        r.ack(2);
        assert_eq!(r.pending_in_the_end().await, 0, "{steps:?}");
    }

    #[tokio::test]
    async fn an_acknowledgement_while_the_store_reads_keeps_the_copy_out_of_that_read() {
        // The store took the read before the acknowledgement: its answer still has 1.
        kept_session(&[Step::Stored, Step::Connack, Step::Read, Step::Ack1]).await;
    }

    #[tokio::test]
    async fn a_store_answer_after_the_connack_still_keeps_the_copies_out_of_the_replay() {
        kept_session(&[Step::Connack]).await;
    }

    #[tokio::test]
    async fn an_acknowledgement_before_the_store_answer_takes_the_copy_off_once_it_is_there() {
        kept_session(&[Step::Connack, Step::Ack1]).await;
        kept_session(&[Step::Connack, Step::Read, Step::Ack1]).await;
    }

    #[tokio::test]
    async fn an_acknowledgement_read_with_the_loss_takes_the_copy_off_too() {
        // Read in the same poll as the end of the connection.
        kept_session(&[Step::Ack1, Step::Stored, Step::Connack]).await;
    }

    #[tokio::test]
    async fn a_second_loss_before_the_store_answer_copies_nothing_twice() {
        let mut r = lost_with_two_in_flight_unanswered().await;
        r.connect(true);
        r.lose();
        r.answer_appends().await;
        assert_eq!(r.pending(), 3);
        r.connect(false);
        assert_eq!(r.replay_all().await, ["1", "2", "3"]);
    }

    #[tokio::test]
    async fn a_lost_session_before_the_store_answer_gets_the_in_flight_once_from_disk() {
        let mut r = lost_with_two_in_flight_unanswered().await;
        r.connect(false);
        assert_eq!(r.session.unacked(), 0);
        assert_eq!(r.session.queue.ordered_len(), 0, "the store has them");
        assert_eq!(r.replay_all().await, ["1", "2", "3"]);
        assert_eq!(r.pending_in_the_end().await, 0);
    }

    #[tokio::test]
    async fn a_stop_before_the_store_answer_keeps_each_in_flight_message_once() {
        let mut r = lost_with_two_in_flight_unanswered().await;
        let left = r.session.take_undelivered();
        let mut events = Some(r.events);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let (kept, memory) = r
            .spool
            .close(left, &mut events, &mut r.session, deadline)
            .await;
        assert_eq!(kept, 3, "1, 2 and 3, each once");
        assert!(memory.is_empty());
    }

    /// The store failed on the append of what was in flight: what the session no longer
    /// holds comes back to memory, once.
    async fn failed_after_a_connack(session_present: bool) -> (Rig, Vec<String>) {
        let mut r = lost_with_two_in_flight_unanswered().await;
        r.connect(session_present);
        // The answer the disk would give, were it full.
        let e = r.events.recv().await.expect("an answer");
        assert!(matches!(e, StoreEvent::Stored { .. }), "{e:?}");
        let failed = StoreEvent::NotStored {
            messages: (1..=3).map(msg).collect(),
            error: Arc::new(StoreError::Stopped { dir: "d".into() }),
            dropped: 0,
        };
        let back = r.spool.on_event(failed, &mut r.session);
        (r, back.iter().map(body).collect())
    }

    #[tokio::test]
    async fn a_failed_append_gives_back_what_the_session_no_longer_holds() {
        let (r, back) = failed_after_a_connack(false).await;
        assert_eq!(back, ["1", "2", "3"]);
        assert_eq!(r.session.queue.ordered_len() + r.session.unacked(), 0);
        let (r, back) = failed_after_a_connack(true).await;
        assert_eq!(back, ["3"], "1 and 2 are in flight");
        assert_eq!(r.session.unacked(), 2);
    }

    #[tokio::test]
    async fn a_lost_session_gets_the_in_flight_again_from_disk_in_order() {
        let mut r = lost_with_two_in_flight().await;
        r.connect(false);
        assert_eq!(r.session.unacked(), 0, "the disk has them");
        assert_eq!(r.session.queue.ordered_len(), 0);
        assert_eq!(r.replay_all().await, ["1", "2", "3"]);
    }

    #[tokio::test]
    async fn without_a_store_nothing_is_diverted() {
        let stats = Arc::new(Stats::default());
        let mut s = Spool::open(None, stats.clone()).await.expect("off");
        assert!(!s.diverts(&msg(1), false));
        assert!(s.take_events().is_none());
        assert_eq!(stats.offline_store.state(), StoreState::Off);
    }

    #[tokio::test]
    async fn a_file_where_the_store_should_be_falls_back_to_memory_with_an_alert() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("store");
        std::fs::write(&file, "not a directory").expect("write");
        let stats = Arc::new(Stats::default());
        let mut s = Spool::open(Some(settings(file.clone())), stats.clone())
            .await
            .expect("memory");
        assert!(!s.diverts(&msg(1), false));
        assert_eq!(stats.offline_store.state(), StoreState::Failed);
        match s.take_failure() {
            Some(LinkEvent::StoreFailed { path, .. }) => {
                assert_eq!(path, file.display().to_string())
            }
            other => panic!("{other:?}"),
        }
        assert!(s.take_failure().is_none(), "once");
    }
}
