//! The link's state, without I/O (as rumqttc keeps `state.rs` apart from its event loop):
//! whether the broker is there, which publishes were written and still wait for the broker's
//! acknowledgement, what to send again after a reconnect, the offline queue, and when to try
//! again.
//!
//! rumqttc's own state (`MqttState`) gives every QoS 1/2 publish its packet id and keeps it
//! until PUBACK / PUBCOMP; the session keeps a copy of each such message beside it, by packet
//! id, so that nothing handed to the link is forgotten: when the connection dies, a broker
//! that kept the session gets rumqttc's record again with the original packet ids (as MQTT
//! requires: a QoS 2 message sent anew under an id the broker still holds would be taken for
//! a duplicate and never delivered), and a broker that lost it gets every unacknowledged
//! message again as a new one, in the order they were made (at least once).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rumqttc::Request;

use super::offline_queue::{OfflineQueue, Pushed};
use super::{LinkEvent, Outbound};
use crate::config::ReconnectConfig;

#[derive(Debug)]
pub struct Session {
    connected: bool,
    ever_connected: bool,
    /// Failed connection attempts since the last success.
    failures: u32,
    /// When and why the connection was lost: told to the fleet once it is back.
    lost: Option<Lost>,
    /// Written QoS 1/2 publishes waiting for their acknowledgement, oldest first.
    unacked: VecDeque<Unacked>,
    /// The ticket of the next copy made for the durable store.
    next_copy: u64,
    /// Their bytes: what rumqttc holds, bounded like the queues.
    unacked_bytes: usize,
    max_unacked_bytes: usize,
    /// How many of them are QoS 2 (see [`MAX_QOS2_IN_FLIGHT`]).
    unacked_qos2: usize,
    /// rumqttc's in-flight publishes and releases of the connection that died, with their
    /// packet ids: sent again as they were if the broker kept the session.
    resume: Vec<Request>,
    pub queue: OfflineQueue,
    reconnect: ReconnectConfig,
}

/// A written QoS 1/2 publish waiting for its acknowledgement.
#[derive(Debug)]
struct Unacked {
    pkid: u16,
    m: Outbound,
    /// A copy of it is on its way to the durable store, under this ticket: its store id
    /// comes with the store's answer.
    copy: Option<u64>,
}

/// What the broker's acknowledgement delivered.
#[derive(Debug)]
pub struct Delivered {
    pub m: Outbound,
    /// The ticket of its copy on its way to the store (see [`Session::copy_unstored`]).
    pub copy: Option<u64>,
}

#[derive(Debug, Clone)]
struct Lost {
    at_rfc3339: String,
    at: Instant,
    error: String,
}

/// What the broker's CONNACK means for what was in flight.
#[derive(Debug)]
pub struct Connected {
    /// The outage to tell the fleet about, if this ends one.
    pub restored: Option<LinkEvent>,
    /// rumqttc's record to write again first, original packet ids (the session was kept).
    pub resend: Vec<Request>,
}

impl Session {
    /// `queue`: the offline queue's bounds (messages, bytes); `max_unacked_bytes`: what may
    /// wait for acknowledgements at once (one bigger message may go alone).
    pub fn new(
        reconnect: ReconnectConfig,
        queue: (usize, usize),
        max_unacked_bytes: usize,
    ) -> Self {
        Session {
            connected: false,
            ever_connected: false,
            failures: 0,
            lost: None,
            unacked: VecDeque::new(),
            next_copy: 0,
            unacked_bytes: 0,
            max_unacked_bytes,
            unacked_qos2: 0,
            resume: Vec::new(),
            queue: OfflineQueue::new(queue.0, queue.1),
            reconnect,
        }
    }

    pub fn connected(&self) -> bool {
        self.connected
    }

    pub fn ever_connected(&self) -> bool {
        self.ever_connected
    }

    /// Whether QoS 1/2 message `m` may be written now, as far as the session goes: bytes,
    /// and for QoS 2 the broker's receive maximum.
    pub fn may_write(&self, m: &Outbound) -> bool {
        self.room().fits(m)
    }

    /// The oldest queued QoS 1/2 message, if it may be written now (`window_open`: rumqttc
    /// takes another one).
    pub fn pop_sendable(&mut self, window_open: bool) -> Option<Outbound> {
        if !window_open {
            return None;
        }
        let room = self.room();
        self.queue.pop_ordered_if(|m| room.fits(m))
    }

    fn room(&self) -> Room {
        Room {
            connected: self.connected,
            used: self.unacked_bytes,
            max: self.max_unacked_bytes,
            qos2: self.unacked_qos2,
        }
    }

    /// QoS 1/2 messages written and not acknowledged yet.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Queues a message; what it cost, for the counters.
    pub fn enqueue(&mut self, m: Outbound) -> Pushed {
        self.queue.push(m)
    }

    /// A QoS 1/2 message went to rumqttc's state under `pkid` (written now, or held back by
    /// rumqttc until an older message of the same id is acknowledged).
    pub fn on_written(&mut self, pkid: u16, m: Outbound) {
        self.unacked_bytes += m.payload.len();
        self.unacked_qos2 += usize::from(m.qos.0 == 2);
        self.unacked.push_back(Unacked {
            pkid,
            m,
            copy: None,
        });
    }

    /// The broker acknowledged `pkid` (PUBACK for QoS 1, PUBCOMP for QoS 2): the oldest
    /// message of that id is delivered, and returned.
    pub fn on_acked(&mut self, pkid: u16) -> Option<Delivered> {
        let i = self.unacked.iter().position(|u| u.pkid == pkid)?;
        let u = self.unacked.remove(i)?;
        self.forget(&u.m);
        Some(Delivered {
            m: u.m,
            copy: u.copy,
        })
    }

    fn forget(&mut self, m: &Outbound) {
        self.unacked_bytes -= m.payload.len();
        self.unacked_qos2 -= usize::from(m.qos.0 == 2);
    }

    /// Copies of the unacknowledged messages that are neither in the durable store nor on
    /// their way there and that `storable` takes, oldest first, each under a ticket of its
    /// own: the message is known by it until the store's answer (packet ids are used again).
    pub fn copy_unstored(&mut self, storable: impl Fn(&Outbound) -> bool) -> Vec<(u64, Outbound)> {
        let mut copies = Vec::new();
        for u in &mut self.unacked {
            if u.m.stored.is_none() && u.copy.is_none() && storable(&u.m) {
                self.next_copy += 1;
                u.copy = Some(self.next_copy);
                copies.push((self.next_copy, u.m.clone()));
            }
        }
        copies
    }

    /// The store took copy `ticket` as `id`: acknowledged there when the broker acknowledges
    /// the message. False when the session no longer holds it.
    pub fn set_stored(&mut self, ticket: u64, id: u64) -> bool {
        match self.copied_mut(ticket) {
            Some(u) => {
                u.m.stored = Some(id);
                u.copy = None;
                true
            }
            None => false,
        }
    }

    /// Copy `ticket` did not reach the store: the message stays in memory only. False when
    /// the session no longer holds it.
    pub fn not_stored(&mut self, ticket: u64) -> bool {
        self.copied_mut(ticket).map(|u| u.copy = None).is_some()
    }

    fn copied_mut(&mut self, ticket: u64) -> Option<&mut Unacked> {
        self.unacked.iter_mut().find(|u| u.copy == Some(ticket))
    }

    /// Forgets the unacknowledged messages that the durable store holds or is taking (a
    /// broker that lost the session gets them again from there); the ids of those it holds.
    pub fn take_stored(&mut self) -> Vec<u64> {
        let mut ids = Vec::new();
        let mut kept = VecDeque::with_capacity(self.unacked.len());
        for u in std::mem::take(&mut self.unacked) {
            if u.m.stored.is_none() && u.copy.is_none() {
                kept.push_back(u);
                continue;
            }
            self.forget(&u.m);
            ids.extend(u.m.stored);
        }
        self.unacked = kept;
        ids
    }

    /// The broker accepted the connection. `session_present`: it kept the session, so what
    /// was in flight goes again under its packet ids; otherwise it goes again as new
    /// messages, before anything that waited.
    pub fn on_connected(&mut self, now: Instant, session_present: bool) -> Connected {
        self.connected = true;
        self.failures = 0;
        let reconnect = self.ever_connected;
        self.ever_connected = true;
        let resend = std::mem::take(&mut self.resume);
        let resend = if session_present {
            resend
        } else {
            self.unacked_bytes = 0;
            self.unacked_qos2 = 0;
            self.queue.requeue(self.unacked.drain(..).map(|u| u.m));
            Vec::new()
        };
        let restored = self.lost.take().filter(|_| reconnect).map(|lost| {
            let down = now.saturating_duration_since(lost.at).as_secs_f64();
            LinkEvent::Restored {
                lost_at: lost.at_rfc3339,
                down_seconds: (down * 1000.0).round() / 1000.0,
                error: lost.error,
            }
        });
        Connected { restored, resend }
    }

    /// The connection died or an attempt failed. `in_flight`: rumqttc's record of what it
    /// had written and not seen acknowledged (`EventLoop::clean`); `fresh`: rumqttc's state
    /// was reset, so that record means nothing any more (everything unacknowledged then goes
    /// again as new). Returns how long to wait before the next attempt; `jitter` is a random
    /// number in [0, 1).
    pub fn on_lost(
        &mut self,
        error: &str,
        (now, now_rfc3339): (Instant, String),
        in_flight: impl IntoIterator<Item = Request>,
        fresh: bool,
        jitter: f64,
    ) -> Duration {
        if self.connected {
            self.lost = Some(Lost {
                at_rfc3339: now_rfc3339,
                at: now,
                error: error.to_owned(),
            });
        }
        self.connected = false;
        let kept = in_flight
            .into_iter()
            .filter(|r| matches!(r, Request::Publish(_) | Request::PubRel(_)));
        self.resume.extend(kept);
        if fresh {
            self.resume.clear();
        }
        self.failures = self.failures.saturating_add(1);
        // The first attempt after a loss is spread over [0, delay): a fleet that lost one
        // broker must not come back to it in the same few milliseconds.
        if self.failures == 1 && self.ever_connected {
            return Duration::from_secs_f64(self.reconnect.delay * jitter);
        }
        backoff(&self.reconnect, self.failures, jitter)
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// QoS 1/2 messages that were handed to the link and are not delivered: unacknowledged or
    /// still queued, oldest first. What a stop that cannot wait any longer leaves behind
    /// (those whose copy is on its way to the store are the store's).
    pub fn take_undelivered(&mut self) -> Vec<Outbound> {
        self.unacked_bytes = 0;
        self.unacked_qos2 = 0;
        let unacked = self.unacked.drain(..).filter(|u| u.copy.is_none());
        let mut left: Vec<Outbound> = unacked.map(|u| u.m).collect();
        left.extend(self.queue.take_ordered(|_| true));
        left
    }
}

/// QoS 2 messages in flight at most. A broker holds each until PUBREL and takes only so many
/// at once from a client (Mosquitto: `max_inflight_messages`, 20 by default; HiveMQ's receive
/// maximum: 10); MQTT 3.1.1 has no way to say so, and Mosquitto loses what comes beyond it.
pub const MAX_QOS2_IN_FLIGHT: usize = 10;

/// What may still be written as far as the session goes.
#[derive(Clone, Copy)]
struct Room {
    connected: bool,
    /// Bytes waiting for acknowledgements, and their bound.
    used: usize,
    max: usize,
    qos2: usize,
}

impl Room {
    /// Connected, `m`'s bytes fit (always, when nothing waits), and for QoS 2 the count.
    fn fits(self, m: &Outbound) -> bool {
        let bytes = self.used == 0 || self.used + m.payload.len() <= self.max;
        self.connected && bytes && (m.qos.0 < 2 || self.qos2 < MAX_QOS2_IN_FLIGHT)
    }
}

/// `max_attempts` tries about `delay` apart, then doubling up to `max_delay`; each delay is
/// spread by ±50 % (`jitter` in [0, 1)).
pub fn backoff(r: &ReconnectConfig, failures: u32, jitter: f64) -> Duration {
    let extra = failures.saturating_sub(r.max_attempts.max(1)).min(20);
    let base = (r.delay * f64::from(1u32 << extra)).min(r.max_delay);
    Duration::from_secs_f64(base * (0.5 + jitter.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Qos;
    use rumqttc::{PubRel, Publish, QoS};
    use std::sync::Arc;

    fn msg(qos: u8, body: &str) -> Outbound {
        Outbound::new(Arc::from("t"), Qos(qos), false, body.as_bytes().to_vec())
    }

    fn drained(s: &mut Session) -> Vec<String> {
        std::iter::from_fn(|| s.queue.pop())
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect()
    }

    fn record(pkid: u16) -> Request {
        let mut p = Publish::new("t", QoS::AtLeastOnce, vec![]);
        p.pkid = pkid;
        Request::Publish(p)
    }

    #[test]
    fn backoff_grows_after_the_quick_attempts_and_is_spread() {
        let r = ReconnectConfig::default();
        let mid = |n| backoff(&r, n, 0.5);
        assert_eq!(mid(1), Duration::from_secs(1));
        assert_eq!(mid(5), Duration::from_secs(1));
        assert_eq!(mid(6), Duration::from_secs(2));
        assert_eq!(mid(8), Duration::from_secs(8));
        assert_eq!(mid(100), Duration::from_secs(30));
        assert_eq!(backoff(&r, 1, 0.0), Duration::from_millis(500));
        assert!(backoff(&r, 1, 0.999) > Duration::from_millis(1490));
    }

    /// A session with "a" (1), "b" (2), "c" (3) written, "a" acknowledged, "queued" waiting.
    fn with_three_written() -> Session {
        let mut s = Session::new(ReconnectConfig::default(), (100, 1 << 20), 1 << 20);
        s.on_connected(Instant::now(), false);
        for (pkid, body) in [(1, "a"), (2, "b"), (3, "c")] {
            s.on_written(pkid, msg(1, body));
        }
        s.on_acked(1);
        s.enqueue(msg(1, "queued"));
        s
    }

    #[test]
    fn a_broker_that_lost_the_session_gets_the_unacknowledged_again_as_new_messages() {
        let mut s = with_three_written();
        assert_eq!(s.unacked(), 2);
        assert_eq!(s.unacked_bytes, 2, "one byte each");
        assert_eq!(
            s.unacked() + s.queue.ordered_len(),
            3,
            "b, c unacknowledged; queued"
        );
        let now = Instant::now();
        let wait = s.on_lost(
            "gone",
            (now, "t".into()),
            [record(2), record(3)],
            false,
            0.5,
        );
        assert!(wait <= Duration::from_secs(1));
        assert_eq!(
            s.unacked() + s.queue.ordered_len(),
            3,
            "nothing forgotten while offline"
        );
        let c = s.on_connected(now, false);
        assert!(
            c.resend.is_empty(),
            "the old ids mean nothing to this broker"
        );
        assert!(matches!(c.restored, Some(LinkEvent::Restored { .. })));
        assert_eq!(s.unacked(), 0);
        assert_eq!(s.unacked_bytes, 0);
        assert_eq!(drained(&mut s), ["b", "c", "queued"]);
    }

    #[test]
    fn a_broker_that_kept_the_session_gets_rumqttcs_record_with_the_same_ids() {
        let mut s = with_three_written();
        let now = Instant::now();
        let pubrel = Request::PubRel(PubRel::new(3));
        let noise = Request::PingReq(rumqttc::PingReq);
        s.on_lost(
            "cut",
            (now, "t".into()),
            [record(2), pubrel, noise],
            false,
            0.5,
        );
        // A second failed attempt adds nothing of its own.
        s.on_lost("refused", (now, "t".into()), [], false, 0.5);
        let c = s.on_connected(now, true);
        let ids: Vec<u16> = c
            .resend
            .iter()
            .map(|r| match r {
                Request::Publish(p) => p.pkid,
                Request::PubRel(r) => r.pkid,
                other => panic!("{other:?} is not resent"),
            })
            .collect();
        assert_eq!(ids, [2, 3]);
        assert_eq!(s.unacked(), 2, "still awaited under the same ids");
        s.on_acked(2);
        s.on_acked(3);
        assert_eq!(s.unacked(), 0);
        assert_eq!(drained(&mut s), ["queued"]);
    }

    #[test]
    fn after_a_reset_of_rumqttcs_state_everything_goes_again_as_new() {
        let mut s = with_three_written();
        let now = Instant::now();
        s.on_lost("unsolicited", (now, "t".into()), [record(2)], true, 0.5);
        let c = s.on_connected(now, false);
        assert!(c.resend.is_empty());
        assert_eq!(drained(&mut s), ["b", "c", "queued"]);
    }

    #[test]
    fn an_id_used_again_is_acknowledged_oldest_first() {
        let mut s = Session::new(ReconnectConfig::default(), (10, 1 << 20), 1 << 20);
        s.on_connected(Instant::now(), false);
        s.on_written(7, msg(1, "old"));
        // rumqttc holds "new" back until 7 is free (a collision), then writes it as 7.
        s.on_written(7, msg(1, "new"));
        s.on_acked(7);
        assert_eq!(s.unacked(), 1);
        assert_eq!(
            s.unacked.front().map(|u| &u.m.payload[..]),
            Some(&b"new"[..])
        );
    }

    #[test]
    fn bytes_bound_what_waits_for_acknowledgements() {
        let mut s = Session::new(ReconnectConfig::default(), (10, 1 << 20), 4);
        assert!(!s.may_write(&msg(1, "a")), "not connected");
        s.on_connected(Instant::now(), false);
        assert!(
            s.may_write(&msg(1, &"x".repeat(100))),
            "alone, one bigger message may go"
        );
        s.on_written(1, msg(1, "abc"));
        assert!(s.may_write(&msg(1, "d")) && !s.may_write(&msg(1, "de")));
    }

    #[test]
    fn qos2_in_flight_stays_within_what_brokers_take() {
        let mut s = Session::new(ReconnectConfig::default(), (100, 1 << 20), 1 << 20);
        s.on_connected(Instant::now(), false);
        for pkid in 1..=MAX_QOS2_IN_FLIGHT as u16 {
            assert!(s.may_write(&msg(2, "a")));
            s.on_written(pkid, msg(2, "a"));
        }
        assert!(!s.may_write(&msg(2, "b")), "the QoS 2 window is full");
        assert!(s.may_write(&msg(1, "c")), "QoS 1 is not held back by it");
        s.enqueue(msg(2, "queued"));
        assert!(s.pop_sendable(true).is_none());
        s.on_acked(1);
        assert!(s.pop_sendable(true).is_some(), "one came back");
    }

    #[test]
    fn an_outage_is_told_once_it_is_over() {
        let mut s = Session::new(ReconnectConfig::default(), (10, 1 << 20), 1 << 20);
        let t0 = Instant::now();
        s.on_connected(t0, false);
        s.on_lost("reset", (t0, "2024-01-01T00:00:00Z".into()), [], false, 0.0);
        s.on_lost("refused", (t0, "later".into()), [], false, 0.0);
        match s
            .on_connected(t0 + Duration::from_millis(1500), true)
            .restored
        {
            Some(LinkEvent::Restored {
                lost_at,
                down_seconds,
                error,
            }) => {
                assert_eq!(lost_at, "2024-01-01T00:00:00Z");
                assert_eq!(down_seconds, 1.5);
                assert_eq!(error, "reset");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.failures(), 0);
    }
}
