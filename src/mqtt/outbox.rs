//! The way from everything that publishes to the MQTT link: a queue bounded in messages and
//! in bytes, and a doorbell.
//!
//! Producers never wait on the network: a full queue is a drop, counted. The spin thread
//! hands over what one spin brought as a group: its sends ring no bell, it rings once after
//! the spin (`wake`). Each ring wakes the link's thread, and on a VM a wake-up across cores
//! costs about as much as the whole conversion of a message; the link then takes the group
//! at once and writes it to the socket in one go (see `link`). While the link has caught up,
//! the spin thread's QoS 0 and 1 sends skip the queue: it writes them after the spin (see
//! `wire`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::wire::Wire;
use super::Outbound;
use crate::diagnostics::Stats;

/// A producer's end. Cloning makes another producer; the link sees the end of the queue
/// once every producer is gone.
pub struct Outbox {
    shared: Arc<Shared>,
    /// Sends leave the bell to [`Outbox::wake`].
    deferred: bool,
}

/// The link's end of the [`Outbox`].
pub struct OutboxRx {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queued>,
    /// Keeps a permit when the link is not waiting: no ring is lost.
    bell: Notify,
    /// A deferred send since the last ring.
    unrung: AtomicBool,
    producers: AtomicUsize,
    capacity: usize,
    max_bytes: usize,
    stats: Arc<Stats>,
    /// Where the spin thread's sends go first.
    wire: Wire,
}

#[derive(Default)]
struct Queued {
    items: VecDeque<Outbound>,
    bytes: usize,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queued> {
        // A producer that panicked while holding the lock ends the process anyway (the panic
        // policy); the queue itself is always whole between two statements.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Outbox {
    /// The outbox and the link's end of it, `capacity` messages and `max_bytes` deep.
    pub fn channel(capacity: usize, max_bytes: usize, stats: Arc<Stats>) -> (Outbox, OutboxRx) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queued::default()),
            bell: Notify::new(),
            unrung: AtomicBool::new(false),
            producers: AtomicUsize::new(1),
            capacity,
            max_bytes,
            wire: Wire::new(stats.clone()),
            stats,
        });
        let outbox = Outbox {
            shared: shared.clone(),
            deferred: false,
        };
        (outbox, OutboxRx { shared })
    }

    /// Another producer whose sends wait for [`Outbox::wake`] to ring.
    pub fn deferred(&self) -> Outbox {
        let mut o = self.clone();
        o.deferred = true;
        o
    }

    /// Queues `m` for the link, or writes it to the socket if this is the spin thread's and
    /// the wire is open; false when the queue was full and `m` was dropped (counted).
    pub fn send(&self, m: Outbound) -> bool {
        let s = &self.shared;
        // Held while queueing too: the link opens the wire only with nothing of ours queued.
        let (m, _wire) = if self.deferred {
            let mut w = s.wire.lock();
            match w.publish(m) {
                Ok(()) => return true,
                Err(m) => (m, Some(w)),
            }
        } else {
            (m, None)
        };
        let size = m.payload.len();
        {
            let mut q = s.queue();
            // One message bigger than the bound may go when nothing else waits.
            let fits = q.bytes == 0 || q.bytes + size <= s.max_bytes;
            if !fits || q.items.len() >= s.capacity {
                drop(q);
                s.stats.outbound_dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            q.bytes += size;
            q.items.push_back(m);
        }
        if self.deferred {
            s.unrung.store(true, Ordering::Release);
        } else {
            s.bell.notify_one();
        }
        true
    }

    /// Rings for the deferred sends since the last ring, if there were any.
    /// Then writes what went to the wire meanwhile (while the link works on the rest).
    pub fn wake(&self) {
        if self.shared.unrung.swap(false, Ordering::AcqRel) {
            self.shared.bell.notify_one();
        }
        if self.deferred {
            self.shared.wire.flush();
        }
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.shared.producers.fetch_add(1, Ordering::AcqRel);
        Outbox {
            shared: self.shared.clone(),
            deferred: self.deferred,
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.wake();
        if self.shared.producers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.bell.notify_one();
        }
    }
}

impl OutboxRx {
    /// The write side that the spin thread shares with the link (see [`Wire`]).
    pub fn wire(&self) -> &Wire {
        &self.shared.wire
    }

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.shared.queue().items.is_empty()
    }

    /// Waits until something is queued and moves all of it into `into` (which must be
    /// empty) with one lock: the queue and `into` swap their buffers, nothing is copied or
    /// allocated. False once every [`Outbox`] is gone and nothing is left.
    pub async fn recv_all(&mut self, into: &mut VecDeque<Outbound>) -> bool {
        debug_assert!(into.is_empty());
        loop {
            // Read before the queue: what the last producer queued is then seen below.
            let closed = self.shared.producers.load(Ordering::Acquire) == 0;
            {
                let mut q = self.shared.queue();
                if !q.items.is_empty() {
                    std::mem::swap(&mut q.items, into);
                    q.bytes = 0;
                    return true;
                }
            }
            if closed {
                return false;
            }
            self.shared.bell.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Qos;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;

    fn msg(body: &str) -> Outbound {
        Outbound::new(Arc::from("t"), Qos(1), false, body.as_bytes().to_vec())
    }

    /// The payloads of everything queued (waits for something).
    async fn take(rx: &mut OutboxRx) -> Vec<String> {
        let mut got = VecDeque::new();
        rx.recv_all(&mut got).await;
        got.iter()
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn the_outbox_is_bounded_in_messages_and_in_bytes() {
        let stats = Arc::new(Stats::default());
        let (outbox, mut rx) = Outbox::channel(3, 8, stats.clone());
        assert!(
            outbox.send(msg("0123456789")),
            "alone, one bigger message may go"
        );
        assert!(!outbox.send(msg("x")), "over the byte bound");
        assert_eq!(take(&mut rx).await, ["0123456789"]);
        assert!(outbox.send(msg("aaaa")) && outbox.send(msg("bbbb")));
        assert!(!outbox.send(msg("c")), "8 bytes wait: full");
        assert_eq!(take(&mut rx).await, ["aaaa", "bbbb"]);
        assert!(outbox.send(msg("cc")) && outbox.send(msg("d")) && outbox.send(msg("e")));
        assert!(!outbox.send(msg("f")), "3 messages wait: full");
        assert_eq!(
            stats.outbound_dropped.load(Relaxed),
            3,
            "every drop counted"
        );
    }

    #[tokio::test]
    async fn deferred_sends_wake_the_link_once_it_is_rung() {
        let (outbox, mut rx) = Outbox::channel(10, 1 << 20, Arc::new(Stats::default()));
        let spin = outbox.deferred();
        assert!(spin.send(msg("a")) && spin.send(msg("b")));
        assert_eq!(
            take(&mut rx).await,
            ["a", "b"],
            "a link that looks finds them"
        );
        let waiting = take(&mut rx);
        tokio::pin!(waiting);
        let short = Duration::from_millis(50);
        assert!(tokio::time::timeout(short, &mut waiting).await.is_err());
        assert!(spin.send(msg("c")));
        assert!(
            tokio::time::timeout(short, &mut waiting).await.is_err(),
            "a deferred send alone does not wake the link"
        );
        spin.wake();
        let got = tokio::time::timeout(Duration::from_secs(5), &mut waiting).await;
        assert_eq!(got.ok(), Some(vec!["c".to_owned()]));
    }

    #[tokio::test]
    async fn the_link_sees_the_end_after_the_last_message() {
        let (outbox, mut rx) = Outbox::channel(10, 1 << 20, Arc::new(Stats::default()));
        let spin = outbox.deferred();
        drop(outbox);
        assert!(spin.send(msg("last")));
        drop(spin);
        assert_eq!(take(&mut rx).await, ["last"]);
        let mut rest = VecDeque::new();
        assert!(!rx.recv_all(&mut rest).await && rest.is_empty());
    }
}
