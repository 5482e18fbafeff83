//! The way from everything that publishes to the MQTT link: a queue bounded in messages and
//! in bytes, and a doorbell.
//!
//! Producers never wait on the network: a full queue is a drop, counted. Each ring wakes the
//! link's thread, and on a VM a wake-up across cores costs about as much as the whole
//! conversion of a message; the link then takes everything queued at once and writes it with
//! one flush (see `link`). So the spin thread's sends ring no bell themselves: after a spin it
//! calls [`Outbox::wake`], which rings once the oldest of its unrung messages has waited
//! `bridge.linger` (telemetry may wait a few milliseconds to share a write with the next
//! ones). Every other producer (outcomes, alerts, state, the generic converter) rings at once,
//! and its ring takes the lingering telemetry along.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

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
    producers: AtomicUsize,
    capacity: usize,
    max_bytes: usize,
    /// How long a deferred send may wait for its ring.
    linger: Duration,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Queued {
    items: VecDeque<Outbound>,
    bytes: usize,
    /// The oldest deferred send that no ring has covered yet.
    unrung_since: Option<Instant>,
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
    /// The outbox and the link's end of it, `capacity` messages and `max_bytes` deep;
    /// deferred sends wait up to `linger` for their ring.
    pub fn channel(
        capacity: usize,
        max_bytes: usize,
        linger: Duration,
        stats: Arc<Stats>,
    ) -> (Outbox, OutboxRx) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queued::default()),
            bell: Notify::new(),
            producers: AtomicUsize::new(1),
            capacity,
            max_bytes,
            linger,
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

    /// Queues `m` for the link; false when the queue was full and `m` was dropped (counted).
    pub fn send(&self, m: Outbound) -> bool {
        let s = &self.shared;
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
            if self.deferred && q.unrung_since.is_none() {
                q.unrung_since = Some(m.since);
            }
            q.items.push_back(m);
        }
        if !self.deferred {
            s.bell.notify_one();
        }
        true
    }

    /// Rings for the deferred sends once the oldest of them has lingered long enough.
    pub fn wake(&self, now: Instant) {
        if self.deadline().is_some_and(|t| t <= now) {
            self.ring();
        }
    }

    /// When [`Outbox::wake`] must be called again for the deferred sends that wait.
    pub fn deadline(&self) -> Option<Instant> {
        let since = self.shared.queue().unrung_since?;
        Some(since + self.shared.linger)
    }

    fn ring(&self) {
        self.shared.queue().unrung_since = None;
        self.shared.bell.notify_one();
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
        // What a producer leaves behind never waits for a ring that will not come.
        if self.deferred {
            self.ring();
        }
        if self.shared.producers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.bell.notify_one();
        }
    }
}

impl OutboxRx {
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
                    // Taken along with a ring of someone else's: nothing lingers any more.
                    q.unrung_since = None;
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
        let (outbox, mut rx) = Outbox::channel(3, 8, Duration::ZERO, stats.clone());
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

    const LINGER: Duration = Duration::from_millis(10);

    #[tokio::test]
    async fn deferred_sends_ring_once_they_have_lingered() {
        let (outbox, mut rx) = Outbox::channel(10, 1 << 20, LINGER, Arc::new(Stats::default()));
        let spin = outbox.deferred();
        assert!(spin.send(msg("a")) && spin.send(msg("b")));
        assert_eq!(
            take(&mut rx).await,
            ["a", "b"],
            "a link that looks finds them"
        );
        assert_eq!(spin.deadline(), None, "taken: nothing lingers");
        let waiting = take(&mut rx);
        tokio::pin!(waiting);
        let short = Duration::from_millis(50);
        assert!(tokio::time::timeout(short, &mut waiting).await.is_err());
        let c = msg("c");
        let made = c.since;
        assert!(spin.send(c) && spin.send(msg("d")));
        assert_eq!(spin.deadline(), Some(made + LINGER), "the oldest sets it");
        assert!(
            tokio::time::timeout(short, &mut waiting).await.is_err(),
            "a deferred send alone does not wake the link"
        );
        spin.wake(made + LINGER / 2);
        assert!(
            tokio::time::timeout(short, &mut waiting).await.is_err(),
            "nor a wake before the linger is over"
        );
        spin.wake(made + LINGER);
        let got = tokio::time::timeout(Duration::from_secs(5), &mut waiting).await;
        assert_eq!(got.ok(), Some(vec!["c".to_owned(), "d".to_owned()]));
        assert_eq!(spin.deadline(), None);
    }

    #[tokio::test]
    async fn any_other_send_rings_at_once_and_takes_the_lingering_along() {
        let (outbox, mut rx) = Outbox::channel(10, 1 << 20, LINGER, Arc::new(Stats::default()));
        let spin = outbox.deferred();
        assert!(spin.send(msg("telemetry")) && outbox.send(msg("outcome")));
        let got = tokio::time::timeout(Duration::from_secs(5), take(&mut rx)).await;
        assert_eq!(
            got.ok(),
            Some(vec!["telemetry".to_owned(), "outcome".to_owned()])
        );
        assert_eq!(spin.deadline(), None);
    }

    #[tokio::test]
    async fn the_link_sees_the_end_after_the_last_message() {
        let (outbox, mut rx) = Outbox::channel(10, 1 << 20, LINGER, Arc::new(Stats::default()));
        let spin = outbox.deferred();
        drop(outbox);
        assert!(spin.send(msg("last")));
        drop(spin);
        assert_eq!(take(&mut rx).await, ["last"]);
        let mut rest = VecDeque::new();
        assert!(!rx.recv_all(&mut rest).await && rest.is_empty());
    }
}
