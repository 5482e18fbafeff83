//! The link's state, without I/O (as rumqttc keeps `state.rs` apart from its event loop):
//! whether the broker is there, which publishes were handed to rumqttc and which of those
//! still wait for the broker's acknowledgement, the offline queue, and when to try again.
//!
//! rumqttc reports every publish it writes as `Outgoing::Publish(pkid)`, in the order the
//! requests were made, and its acknowledgement as `PubAck(pkid)` / `PubComp(pkid)`. So the
//! session keeps the handed publishes in order, learns each one's packet id when it is
//! written, and forgets it when it is acknowledged. What is left when the connection dies
//! was maybe not delivered: it goes back to the front of the queue.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
    /// Handed to rumqttc, not written yet, in order: the size, and the message unless it is
    /// QoS 0 (nothing to keep).
    handed: VecDeque<(usize, Option<Outbound>)>,
    /// Bytes handed to rumqttc and not acknowledged (or, for QoS 0, not written) yet.
    in_flight_bytes: usize,
    max_in_flight_bytes: usize,
    /// The packet id of a publish that rumqttc holds back until an older one is acked.
    collided: Option<u16>,
    /// Written QoS 1/2 publishes waiting for their acknowledgement, oldest first.
    unacked: VecDeque<(u16, Outbound)>,
    pub queue: OfflineQueue,
    reconnect: ReconnectConfig,
}

#[derive(Debug, Clone)]
struct Lost {
    at_rfc3339: String,
    at: Instant,
    error: String,
}

impl Session {
    /// `queue`: the offline queue's bounds (messages, bytes); `max_in_flight_bytes`: what
    /// rumqttc may hold at once, so that its queues are bounded in bytes too.
    pub fn new(
        reconnect: ReconnectConfig,
        queue: (usize, usize),
        max_in_flight_bytes: usize,
    ) -> Self {
        Session {
            connected: false,
            ever_connected: false,
            failures: 0,
            lost: None,
            handed: VecDeque::new(),
            in_flight_bytes: 0,
            max_in_flight_bytes,
            collided: None,
            unacked: VecDeque::new(),
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

    /// Whether a new message may go to rumqttc now, ahead of nothing that waits.
    pub fn may_send_directly(&self, size: usize) -> bool {
        self.queue.is_empty() && self.has_room(size)
    }

    /// Whether rumqttc may take `size` more bytes now (always, when it holds nothing).
    pub fn has_room(&self, size: usize) -> bool {
        self.connected
            && (self.in_flight_bytes == 0
                || self.in_flight_bytes + size <= self.max_in_flight_bytes)
    }

    /// Whether rumqttc holds publishes of ours that it has not written yet.
    pub fn writing(&self) -> bool {
        !self.handed.is_empty()
    }

    /// Messages handed on but not acknowledged yet.
    pub fn in_flight(&self) -> usize {
        self.handed.len() + self.unacked.len()
    }

    /// Queues a message; what it cost, for the counters.
    pub fn enqueue(&mut self, m: Outbound) -> Pushed {
        self.queue.push(m)
    }

    /// `m` is in rumqttc's request channel now.
    pub fn on_handed(&mut self, m: &Outbound) {
        let size = m.payload.len();
        self.in_flight_bytes += size;
        self.handed
            .push_back((size, (m.qos.0 > 0).then(|| m.clone())));
    }

    /// rumqttc wrote the next handed publish with this packet id (0 for QoS 0).
    pub fn on_written(&mut self, pkid: u16) {
        if self.collided == Some(pkid) {
            // Already taken from `handed` when rumqttc held it back.
            self.collided = None;
            return;
        }
        self.take_handed(pkid);
    }

    /// rumqttc holds the next handed publish back until `pkid` is free again.
    pub fn on_collision(&mut self, pkid: u16) {
        self.collided = Some(pkid);
        self.take_handed(pkid);
    }

    fn take_handed(&mut self, pkid: u16) {
        match self.handed.pop_front() {
            Some((_, Some(m))) if pkid != 0 => self.unacked.push_back((pkid, m)),
            Some((size, _)) => self.in_flight_bytes -= size,
            None => {}
        }
    }

    /// The broker acknowledged `pkid` (PUBACK for QoS 1, PUBCOMP for QoS 2).
    pub fn on_acked(&mut self, pkid: u16) {
        if let Some(i) = self.unacked.iter().position(|(p, _)| *p == pkid) {
            if let Some((_, m)) = self.unacked.remove(i) {
                self.in_flight_bytes -= m.payload.len();
            }
        }
    }

    /// The broker accepted the connection; the outage to tell about, if there was one.
    pub fn on_connected(&mut self, now: Instant) -> Option<LinkEvent> {
        self.connected = true;
        self.failures = 0;
        let reconnect = self.ever_connected;
        self.ever_connected = true;
        let lost = self.lost.take().filter(|_| reconnect)?;
        let down = now.saturating_duration_since(lost.at).as_secs_f64();
        Some(LinkEvent::Restored {
            lost_at: lost.at_rfc3339,
            down_seconds: (down * 1000.0).round() / 1000.0,
            error: lost.error,
        })
    }

    /// The connection died or an attempt failed. Everything not acknowledged goes back to
    /// the front of the queue, in the order it was made: what rumqttc had, and `direct`, what
    /// the spin thread wrote itself (the caller has emptied rumqttc's own queues, so nothing
    /// goes twice from there). Returns how long to wait before the next attempt; `jitter` is
    /// a random number in [0, 1).
    pub fn on_lost(
        &mut self,
        error: &str,
        (now, now_rfc3339): (Instant, String),
        direct: Vec<Outbound>,
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
        self.collided = None;
        let unacked = self.unacked.drain(..).map(|(_, m)| m);
        let handed: Vec<Outbound> = self.handed.drain(..).filter_map(|(_, m)| m).collect();
        self.in_flight_bytes = 0;
        let mut back: Vec<Outbound> = unacked.chain(handed).chain(direct).collect();
        // Each part is in order already; a stream's messages were made in its order.
        back.sort_by_key(|m| m.since);
        self.queue.requeue(back.into_iter());
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
    use std::sync::Arc;

    fn msg(qos: u8, body: &str) -> Outbound {
        Outbound::new(Arc::from("t"), Qos(qos), false, body.as_bytes().to_vec())
    }

    fn drained(s: &mut Session) -> Vec<String> {
        std::iter::from_fn(|| s.queue.pop())
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect()
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

    #[test]
    fn what_was_not_acknowledged_goes_again_in_order() {
        let mut s = Session::new(ReconnectConfig::default(), (100, 1 << 20), 1 << 20);
        let t0 = Instant::now();
        assert_eq!(s.on_connected(t0), None);
        let handed: Vec<Outbound> = [(1, "a"), (0, "sensor"), (1, "b"), (2, "c"), (1, "d")]
            .into_iter()
            .map(|(q, body)| msg(q, body))
            .collect();
        for m in &handed {
            s.on_handed(m);
        }
        let b = &handed[2];
        s.on_written(1); // a
        s.on_written(0); // sensor
        s.on_written(2); // b
        s.on_collision(3); // c held back
        s.on_acked(1);
        s.on_written(3); // c written after all: not taken twice
        assert_eq!(s.in_flight(), 3, "b, c unacked; d handed");
        assert_eq!(s.in_flight_bytes, 3, "one byte each");
        assert!(!s.has_room(1 << 20) && s.has_room(100));
        s.enqueue(msg(1, "queued"));
        // Written by the spin thread while b waited for its PUBACK, and after d was made.
        let mut between = msg(1, "direct b2");
        between.since = b.since + Duration::from_nanos(1);
        let after = msg(1, "direct e");
        let direct = vec![between, after];
        let wait = s.on_lost("broker gone", (t0, "t".into()), direct, 0.5);
        assert!(wait <= Duration::from_secs(1));
        assert_eq!(
            drained(&mut s),
            ["b", "direct b2", "c", "d", "direct e", "queued"]
        );
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.in_flight_bytes, 0);
    }

    #[test]
    fn an_outage_is_told_once_it_is_over() {
        let mut s = Session::new(ReconnectConfig::default(), (10, 1 << 20), 1 << 20);
        let t0 = Instant::now();
        s.on_connected(t0);
        s.on_lost(
            "reset",
            (t0, "2024-01-01T00:00:00Z".into()),
            Vec::new(),
            0.0,
        );
        s.on_lost("refused", (t0, "later".into()), Vec::new(), 0.0);
        match s.on_connected(t0 + Duration::from_millis(1500)) {
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
