//! What the ROS side's threads run after each wait: the spin thread every route's part on it
//! (`to_mqtt`, `estop`), the `ros-convert` thread the offloaded routes (generic mappings).

use std::time::Instant;

/// Takes what a subscription (or an offload queue) holds, and acts on it.
pub trait Drain: Send {
    fn drain(&mut self, now: Instant);
    /// When `drain` must run even if no message comes (a held message, an open batch).
    fn deadline(&self) -> Option<Instant> {
        None
    }
}
