//! What waits for the broker: QoS 1/2 messages in order, up to a bound in messages and one in
//! bytes (the oldest dropped first, counted); QoS 0 sensor streams as their latest value per
//! topic (an older value replaced, counted).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::Outbound;

#[derive(Debug)]
pub struct OfflineQueue {
    ordered: VecDeque<Outbound>,
    latest: HashMap<Arc<str>, Outbound>,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
}

/// What a push cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Kept,
    /// This many of the oldest messages were dropped to make room (the new one among them
    /// when it alone is over the byte bound).
    Dropped(usize),
    /// An older QoS 0 value of the same topic was replaced.
    Replaced,
}

impl OfflineQueue {
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        OfflineQueue {
            ordered: VecDeque::new(),
            latest: HashMap::new(),
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(1),
            bytes: 0,
        }
    }

    pub fn push(&mut self, m: Outbound) -> Pushed {
        self.bytes += m.payload.len();
        if m.qos.0 == 0 {
            let replaced = self.latest.insert(m.topic.clone(), m);
            if let Some(old) = &replaced {
                self.bytes -= old.payload.len();
            }
            let dropped = self.shed();
            return match (replaced, dropped) {
                (_, n) if n > 0 => Pushed::Dropped(n),
                (Some(_), _) => Pushed::Replaced,
                (None, _) => Pushed::Kept,
            };
        }
        self.ordered.push_back(m);
        match self.shed() {
            0 => Pushed::Kept,
            n => Pushed::Dropped(n),
        }
    }

    /// Drops the oldest until both bounds hold; how many went.
    fn shed(&mut self) -> usize {
        let mut dropped = 0;
        while self.ordered.len() > self.capacity || self.bytes > self.max_bytes {
            let oldest = match self.ordered.pop_front() {
                Some(m) => m,
                // Only latest values left, over the byte bound: drop one of them.
                None => match self.latest.keys().next().cloned() {
                    Some(t) => self.latest.remove(&t).expect("key just seen"),
                    None => break,
                },
            };
            self.bytes -= oldest.payload.len();
            dropped += 1;
        }
        dropped
    }

    /// Puts messages that were sent but not acknowledged back in front, oldest first: they
    /// go out again before anything newer. They are never dropped for them being back.
    pub fn requeue(&mut self, unacked: impl DoubleEndedIterator<Item = Outbound>) {
        for m in unacked.rev() {
            self.unpop(m);
        }
    }

    /// The next message to send: QoS 1/2 in order first, then the latest sensor values.
    pub fn pop(&mut self) -> Option<Outbound> {
        let m = match self.ordered.pop_front() {
            Some(m) => m,
            None => {
                let topic = self.latest.keys().next()?.clone();
                self.latest.remove(&topic)?
            }
        };
        self.bytes -= m.payload.len();
        Some(m)
    }

    /// The oldest QoS 1/2 message, if `may_go` lets it go now.
    pub fn pop_ordered_if(&mut self, may_go: impl FnOnce(&Outbound) -> bool) -> Option<Outbound> {
        if !may_go(self.ordered.front()?) {
            return None;
        }
        let m = self.ordered.pop_front()?;
        self.bytes -= m.payload.len();
        Some(m)
    }

    /// A waiting sensor value (QoS 0): these need no room in the in-flight window.
    pub fn pop_latest(&mut self) -> Option<Outbound> {
        let topic = self.latest.keys().next()?.clone();
        let m = self.latest.remove(&topic)?;
        self.bytes -= m.payload.len();
        Some(m)
    }

    /// Takes the QoS 1/2 messages that `take` wants out, oldest first; the others stay in
    /// their order.
    pub fn take_ordered(&mut self, take: impl Fn(&Outbound) -> bool) -> Vec<Outbound> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.ordered.len());
        for m in self.ordered.drain(..) {
            if take(&m) {
                self.bytes -= m.payload.len();
                taken.push(m);
            } else {
                kept.push_back(m);
            }
        }
        self.ordered = kept;
        taken
    }

    /// QoS 1/2 messages waiting: anything newer of QoS 1/2 must go behind them.
    pub fn ordered_len(&self) -> usize {
        self.ordered.len()
    }

    /// Puts back in front a message that could not be handed on after `pop`.
    pub fn unpop(&mut self, m: Outbound) {
        if m.qos.0 == 0 {
            // A newer value of the same stream wins over the one put back.
            if let std::collections::hash_map::Entry::Vacant(e) = self.latest.entry(m.topic.clone())
            {
                self.bytes += m.payload.len();
                e.insert(m);
            }
        } else {
            self.bytes += m.payload.len();
            self.ordered.push_front(m);
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.ordered.len() + self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty() && self.latest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Qos;

    fn msg(topic: &str, qos: u8, body: &str) -> Outbound {
        Outbound::new(Arc::from(topic), Qos(qos), false, body.as_bytes().to_vec())
    }

    fn body(m: &Outbound) -> String {
        String::from_utf8_lossy(&m.payload).into_owned()
    }

    #[test]
    fn ordered_up_to_the_bound_then_oldest_dropped() {
        let mut q = OfflineQueue::new(2, 1000);
        assert_eq!(q.push(msg("s", 1, "a")), Pushed::Kept);
        assert_eq!(q.push(msg("s", 1, "b")), Pushed::Kept);
        assert_eq!(q.push(msg("s", 2, "c")), Pushed::Dropped(1));
        assert_eq!(q.push(msg("imu", 0, "1")), Pushed::Kept);
        assert_eq!(q.push(msg("imu", 0, "2")), Pushed::Replaced);
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|m| body(&m)).collect();
        assert_eq!(order, ["b", "c", "2"]);
    }

    #[test]
    fn bounded_in_bytes_too() {
        let mut q = OfflineQueue::new(100, 10);
        assert_eq!(q.push(msg("s", 1, "aaaa")), Pushed::Kept);
        assert_eq!(q.push(msg("s", 1, "bbbb")), Pushed::Kept);
        assert_eq!(q.push(msg("s", 1, "cccc")), Pushed::Dropped(1));
        assert_eq!(q.bytes(), 8);
        assert_eq!(q.push(msg("big", 1, "0123456789X")), Pushed::Dropped(3));
        assert!(
            q.is_empty() && q.bytes() == 0,
            "over the bound alone: dropped too"
        );
        q.push(msg("imu", 0, "12345678"));
        assert_eq!(q.push(msg("imu", 0, "1234")), Pushed::Replaced);
        assert_eq!(q.bytes(), 4);
        let m = q.pop().expect("imu");
        q.unpop(m);
        assert_eq!(q.bytes(), 4);
    }

    #[test]
    fn unacknowledged_go_first_in_their_order() {
        let mut q = OfflineQueue::new(10, 1000);
        q.push(msg("s", 1, "new"));
        q.push(msg("imu", 0, "newer"));
        q.requeue(vec![msg("s", 1, "u1"), msg("s", 2, "u2"), msg("imu", 0, "older")].into_iter());
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|m| body(&m)).collect();
        assert_eq!(order, ["u1", "u2", "new", "newer"]);
    }
}
