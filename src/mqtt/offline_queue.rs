//! What waits for the broker: QoS 1/2 messages in order, up to a bound (the oldest dropped
//! first, counted); QoS 0 sensor streams as their latest value per topic (an older value
//! replaced, counted).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::Outbound;

#[derive(Debug)]
pub struct OfflineQueue {
    ordered: VecDeque<Outbound>,
    latest: HashMap<Arc<str>, Outbound>,
    capacity: usize,
}

/// What a push cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Kept,
    /// The oldest QoS 1/2 message was dropped to make room.
    DroppedOldest,
    /// An older QoS 0 value of the same topic was replaced.
    Replaced,
}

impl OfflineQueue {
    pub fn new(capacity: usize) -> Self {
        OfflineQueue {
            ordered: VecDeque::new(),
            latest: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, m: Outbound) -> Pushed {
        if m.qos.0 == 0 {
            return match self.latest.insert(m.topic.clone(), m) {
                Some(_) => Pushed::Replaced,
                None => Pushed::Kept,
            };
        }
        let dropped = self.ordered.len() >= self.capacity;
        if dropped {
            self.ordered.pop_front();
        }
        self.ordered.push_back(m);
        if dropped {
            Pushed::DroppedOldest
        } else {
            Pushed::Kept
        }
    }

    /// Puts messages that were sent but not acknowledged back in front, oldest first: they
    /// go out again before anything newer. They are never dropped for them being back.
    pub fn requeue(&mut self, unacked: impl DoubleEndedIterator<Item = Outbound>) {
        for m in unacked.rev() {
            if m.qos.0 == 0 {
                // A newer value of the same stream wins over the one in flight.
                self.latest.entry(m.topic.clone()).or_insert(m);
            } else {
                self.ordered.push_front(m);
            }
        }
    }

    /// The next message to send: QoS 1/2 in order first, then the latest sensor values.
    pub fn pop(&mut self) -> Option<Outbound> {
        if let Some(m) = self.ordered.pop_front() {
            return Some(m);
        }
        let topic = self.latest.keys().next()?.clone();
        self.latest.remove(&topic)
    }

    /// Puts back a message that could not be handed on after `pop`.
    pub fn unpop(&mut self, m: Outbound) {
        if m.qos.0 == 0 {
            self.latest.entry(m.topic.clone()).or_insert(m);
        } else {
            self.ordered.push_front(m);
        }
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
        let mut q = OfflineQueue::new(2);
        assert_eq!(q.push(msg("s", 1, "a")), Pushed::Kept);
        assert_eq!(q.push(msg("s", 1, "b")), Pushed::Kept);
        assert_eq!(q.push(msg("s", 2, "c")), Pushed::DroppedOldest);
        assert_eq!(q.push(msg("imu", 0, "1")), Pushed::Kept);
        assert_eq!(q.push(msg("imu", 0, "2")), Pushed::Replaced);
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|m| body(&m)).collect();
        assert_eq!(order, ["b", "c", "2"]);
    }

    #[test]
    fn unacknowledged_go_first_in_their_order() {
        let mut q = OfflineQueue::new(10);
        q.push(msg("s", 1, "new"));
        q.push(msg("imu", 0, "newer"));
        q.requeue(vec![msg("s", 1, "u1"), msg("s", 2, "u2"), msg("imu", 0, "older")].into_iter());
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|m| body(&m)).collect();
        assert_eq!(order, ["u1", "u2", "new", "newer"]);
    }
}
