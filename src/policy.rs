//! What happens between a converted message and an MQTT publish: rate limiting (the latest
//! value wins) and batching (up to N messages or T seconds per publish). Pure and
//! time-injected, so it is tested without a clock.

use std::time::{Duration, Instant};

/// At most one message per `period`. A message that comes too early is held, replacing any
/// held one, and goes out as soon as the period has passed: the fleet always ends up with the
/// latest value, at the configured rate, never a burst.
#[derive(Debug)]
pub struct RateLimiter<T> {
    period: Duration,
    next: Option<Instant>,
    held: Option<T>,
}

impl<T> RateLimiter<T> {
    pub fn new(max_hz: f64) -> Self {
        RateLimiter {
            period: Duration::from_secs_f64(1.0 / max_hz),
            next: None,
            held: None,
        }
    }

    /// Offers a message; returns it (or the held one it replaces) when it may go now, and
    /// whether an older held message was replaced (skipped by policy, not lost).
    pub fn offer(&mut self, msg: T, now: Instant) -> (Option<T>, bool) {
        if self.next.is_none_or(|next| now >= next) {
            self.sent(now);
            let replaced = self.held.take().is_some();
            (Some(msg), replaced)
        } else {
            let replaced = self.held.replace(msg).is_some();
            (None, replaced)
        }
    }

    /// The held message, when its time has come.
    pub fn poll(&mut self, now: Instant) -> Option<T> {
        match self.next {
            Some(next) if now >= next && self.held.is_some() => {
                self.sent(now);
                self.held.take()
            }
            _ => None,
        }
    }

    /// When the held message may go: the time to look again without a new message.
    pub fn due(&self) -> Option<Instant> {
        self.held.as_ref().and(self.next)
    }

    fn sent(&mut self, now: Instant) {
        // Keep a steady cadence (next = previous slot + period) unless far behind.
        let next = match self.next {
            Some(n) if now < n + self.period => n + self.period,
            _ => now + self.period,
        };
        self.next = Some(next);
    }
}

/// Collects serialized messages; a batch is full at `max_messages` or `max_interval` after its
/// first message. The payload is a JSON array of the messages, oldest first.
#[derive(Debug)]
pub struct Batcher {
    max_messages: usize,
    max_interval: Duration,
    items: Vec<Vec<u8>>,
    opened: Option<Instant>,
}

impl Batcher {
    pub fn new(max_messages: usize, max_interval_s: f64) -> Self {
        Batcher {
            max_messages: max_messages.max(1),
            max_interval: Duration::from_secs_f64(max_interval_s),
            items: Vec::new(),
            opened: None,
        }
    }

    /// Adds a message; returns the batch payload when it is full.
    pub fn push(&mut self, json: Vec<u8>, now: Instant) -> Option<Vec<u8>> {
        self.opened.get_or_insert(now);
        self.items.push(json);
        (self.items.len() >= self.max_messages).then(|| self.take())
    }

    /// The batch payload when its time is up.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.opened {
            Some(t) if now >= t + self.max_interval && !self.items.is_empty() => Some(self.take()),
            _ => None,
        }
    }

    /// When the open batch is due.
    pub fn due(&self) -> Option<Instant> {
        self.opened
            .filter(|_| !self.items.is_empty())
            .map(|t| t + self.max_interval)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn take(&mut self) -> Vec<u8> {
        self.opened = None;
        let size = self.items.iter().map(|i| i.len() + 1).sum::<usize>() + 1;
        let mut out = Vec::with_capacity(size);
        out.push(b'[');
        for (i, item) in self.items.drain(..).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&item);
        }
        out.push(b']');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_200hz_to_10hz_keeps_latest() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10.0);
        let mut out = Vec::new();
        for i in 0..400u32 {
            // 200 Hz for 2 s, polled every 5 ms as the spin loop does.
            let now = t0 + Duration::from_millis(5 * u64::from(i));
            if let (Some(m), _) = rl.offer(i, now) {
                out.push((now, m));
            }
            if let Some(m) = rl.poll(now) {
                out.push((now, m));
            }
        }
        assert!((19..=21).contains(&out.len()), "{}", out.len());
        // Each emitted value is the newest one offered at that moment.
        for (now, m) in &out {
            assert_eq!(u64::from(*m), (*now - t0).as_millis() as u64 / 5);
        }
    }

    #[test]
    fn held_message_goes_out_after_the_period() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(2.0);
        assert_eq!(rl.offer("a", t0), (Some("a"), false));
        assert_eq!(
            rl.offer("b", t0 + Duration::from_millis(100)),
            (None, false)
        );
        assert_eq!(rl.offer("c", t0 + Duration::from_millis(200)), (None, true));
        assert_eq!(rl.due(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(rl.poll(t0 + Duration::from_millis(400)), None);
        assert_eq!(rl.poll(t0 + Duration::from_millis(500)), Some("c"));
        assert_eq!(rl.due(), None);
        assert_eq!(rl.poll(t0 + Duration::from_millis(2000)), None);
    }

    #[test]
    fn batches_by_count_and_time() {
        let t0 = Instant::now();
        let mut b = Batcher::new(3, 1.0);
        assert_eq!(b.push(b"1".to_vec(), t0), None);
        assert_eq!(b.push(b"2".to_vec(), t0), None);
        assert_eq!(b.push(b"3".to_vec(), t0).as_deref(), Some(&b"[1,2,3]"[..]));
        assert_eq!(b.due(), None);
        assert_eq!(b.push(b"{}".to_vec(), t0), None);
        assert_eq!(b.due(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(b.poll(t0 + Duration::from_millis(999)), None);
        assert_eq!(
            b.poll(t0 + Duration::from_secs(1)).as_deref(),
            Some(&b"[{}]"[..])
        );
        assert!(b.is_empty());
    }
}
