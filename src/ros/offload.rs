//! Conversions that must not hold up the spin thread. A generic mapping turns any message
//! into JSON through `serde_json::Value`, and for a big message that takes milliseconds (a
//! 640x480 rgb8 camera frame: about 6 ms, 3 MB of JSON). Done on the spin thread, every
//! odometry and IMU message that arrives meanwhile waits (and with a shallow ROS history, is
//! lost). So the spin thread only takes the serialized message (CDR bytes, one copy) and
//! queues it; the `ros-convert` thread decodes, converts and publishes it.
//!
//! The queue of a mapping holds at most its ROS history depth in messages and
//! `bridge.queue_bytes` in bytes: when the converter falls behind, a message is dropped and
//! counted (`dropped` of the mapping), never lost silently and never waited for.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::{FutureExt, Stream, StreamExt};

use super::drain::Drain;
use super::spin::next_wait;
use crate::diagnostics::Counters;

/// Serialized messages of one mapping, between the spin thread and the converter.
pub struct Queue {
    inner: Mutex<(VecDeque<Vec<u8>>, usize)>,
    max_messages: usize,
    max_bytes: usize,
}

impl Queue {
    pub fn new(max_messages: usize, max_bytes: usize) -> Arc<Queue> {
        Arc::new(Queue {
            inner: Mutex::new((VecDeque::new(), 0)),
            max_messages: max_messages.max(1),
            max_bytes,
        })
    }

    /// Queues `m`; false when the queue is full (the caller counts the drop). One message
    /// bigger than the byte bound may wait when nothing else does.
    pub fn push(&self, m: Vec<u8>) -> bool {
        let mut q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (items, bytes) = &mut *q;
        let fits = items.is_empty() || *bytes + m.len() <= self.max_bytes;
        if items.len() >= self.max_messages || !fits {
            return false;
        }
        *bytes += m.len();
        items.push_back(m);
        true
    }

    pub fn pop(&self) -> Option<Vec<u8>> {
        let mut q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (items, bytes) = &mut *q;
        let m = items.pop_front()?;
        *bytes -= m.len();
        Some(m)
    }
}

type RawStream = Box<dyn Stream<Item = Vec<u8>> + Unpin + Send>;

/// The spin thread's part of an offloaded mapping: takes, counts, queues, rings.
pub struct Handoff {
    pub stream: RawStream,
    pub queue: Arc<Queue>,
    pub counters: Arc<Counters>,
    pub doorbell: Sender<()>,
}

impl Drain for Handoff {
    fn drain(&mut self, now: Instant) {
        let mut any = false;
        while let Some(Some(m)) = self.stream.next().now_or_never() {
            any = true;
            Counters::add(&self.counters.received);
            if !self.queue.push(m) {
                Counters::add(&self.counters.dropped);
            }
        }
        if any {
            self.counters.seen(now);
            // The converter may be gone only at shutdown, when nothing more matters.
            let _ = self.doorbell.send(());
        }
    }
}

/// The `ros-convert` thread: runs the offloaded routes whenever the spin thread rings or a
/// route's deadline comes. Ends once the spin thread is gone (every doorbell dropped), after
/// one last round for what was already queued.
pub fn run(mut routes: Vec<Box<dyn Drain>>, ring: Receiver<()>) {
    loop {
        let wait = next_wait(&routes, Instant::now());
        let gone = matches!(ring.recv_timeout(wait), Err(RecvTimeoutError::Disconnected));
        while ring.try_recv().is_ok() {}
        let now = Instant::now();
        for r in &mut routes {
            r.drain(now);
        }
        if gone {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_bounds_messages_and_bytes() {
        let q = Queue::new(2, 10);
        assert!(q.push(vec![0; 4]));
        assert!(q.push(vec![0; 4]));
        assert!(!q.push(vec![0; 1]), "two messages at most");
        assert_eq!(q.pop().map(|m| m.len()), Some(4));
        assert!(!q.push(vec![0; 7]), "4 + 7 bytes is over 10");
        assert!(q.pop().is_some() && q.pop().is_none());
        assert!(q.push(vec![0; 50]), "alone, a big message may wait");
    }
}
