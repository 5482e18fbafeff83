//! The messages of one subscription between the runtime thread that takes them from DDS and
//! the thread that converts them: bounded in messages and in bytes, so that a converter that
//! falls behind a stream of big messages (camera frames) costs a counted drop, never memory
//! without bound and never a wait on the runtime thread.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Serialized messages, oldest first.
#[derive(Debug)]
pub struct Queue {
    inner: Mutex<(VecDeque<Vec<u8>>, usize)>,
    max_messages: usize,
    max_bytes: usize,
}

impl Queue {
    pub fn new(max_messages: usize, max_bytes: usize) -> Queue {
        Queue {
            inner: Mutex::new((VecDeque::new(), 0)),
            max_messages: max_messages.max(1),
            max_bytes,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_messages_and_bytes() {
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
