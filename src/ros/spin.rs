//! The spin thread: one `spin_once`, then every drain, until told to stop. It owns the node;
//! the node (and with it every publisher) lives until the thread ends.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use r2r::Node;

use super::to_mqtt::Drain;

/// The longest a spin waits for DDS when nothing comes: also how late a rate-limited or
/// batched message can go out.
const SPIN_PERIOD: Duration = Duration::from_millis(5);

pub fn spin(mut node: Node, mut drains: Vec<Box<dyn Drain>>, stop: Arc<AtomicBool>) {
    let has_waitables = !drains.is_empty();
    while !stop.load(Relaxed) {
        if has_waitables {
            node.spin_once(SPIN_PERIOD);
        } else {
            // r2r issue 93: an empty wait set returns at once; do not burn a core.
            std::thread::sleep(SPIN_PERIOD);
        }
        let now = Instant::now();
        for d in &mut drains {
            d.drain(now);
        }
    }
}
