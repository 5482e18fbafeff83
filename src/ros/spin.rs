//! The spin thread: one `spin_once`, then every drain, until told to stop. It owns the node;
//! the node (and with it every publisher) lives until the thread ends.
//!
//! A spin waits for DDS until the earliest deadline of a drain (a held rate-limited message,
//! an open batch) and no longer than [`MAX_WAIT`]: the thread wakes for work and for
//! deadlines, not on a fixed grid (a 5 ms grid was 200 wake-ups a second, most of the
//! bridge's idle cost).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use r2r::Node;

use super::drain::Drain;
use crate::mqtt::Outbox;

/// The longest a spin waits when nothing comes and nothing is due: how late the thread sees
/// the stop flag (r2r has no way to wake a waiting spin from another thread).
const MAX_WAIT: Duration = Duration::from_millis(100);

/// `bell` wakes the MQTT link for what the drains queued, once it has lingered long enough.
pub fn spin(mut node: Node, mut drains: Vec<Box<dyn Drain>>, bell: Outbox, stop: Arc<AtomicBool>) {
    let has_waitables = !drains.is_empty();
    while !stop.load(Relaxed) {
        let wait = next_wait(&drains, &bell, Instant::now());
        if has_waitables {
            node.spin_once(wait);
        } else {
            // r2r issue 93: an empty wait set returns at once; do not burn a core.
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        for d in &mut drains {
            d.drain(now);
        }
        bell.wake(Instant::now());
    }
}

/// How long the next wait may be: until the earliest deadline of a drain or of the sends
/// that linger for `bell`, at most [`MAX_WAIT`].
pub(super) fn next_wait(drains: &[Box<dyn Drain>], bell: &Outbox, now: Instant) -> Duration {
    drains
        .iter()
        .filter_map(|d| d.deadline())
        .chain(bell.deadline())
        .min()
        .map_or(MAX_WAIT, |t| t.saturating_duration_since(now).min(MAX_WAIT))
}
