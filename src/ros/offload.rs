//! Conversions that must not hold up the spin thread. A generic mapping turns any message
//! into JSON, and for a big message that takes milliseconds (a 640x480 rgb8 camera frame: a
//! 1.2 MB base64 string). Done on the spin thread, every odometry and IMU message that
//! arrives meanwhile waits (and with a shallow ROS history, is lost). So the run-time types'
//! thread (`types`) only takes the serialized message (CDR bytes, one copy) into the mapping's
//! queue and rings; the `ros-convert` thread converts and publishes it.
//!
//! The queue of a mapping holds at most its ROS history depth in messages and
//! `bridge.queue_bytes` in bytes (`dyntype::queue`): when the converter falls behind, a message
//! is dropped and counted (`dropped` of the mapping), never lost silently and never waited for.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use super::drain::Drain;
use super::spin::next_wait;
use crate::mqtt::Outbox;

/// The `ros-convert` thread: runs the offloaded routes whenever a subscription rings or a
/// deadline comes, and, as the spin thread does, wakes the MQTT link through `bell` once what
/// they sent has lingered (`bridge.linger`). Ends once every doorbell is gone (the run-time
/// types' context stopped), after one last round for what was already queued.
pub fn run(mut routes: Vec<Box<dyn Drain>>, ring: Receiver<()>, bell: Outbox) {
    loop {
        let wait = next_wait(&routes, &bell, Instant::now());
        let gone = matches!(ring.recv_timeout(wait), Err(RecvTimeoutError::Disconnected));
        while ring.try_recv().is_ok() {}
        let now = Instant::now();
        for r in &mut routes {
            r.drain(now);
        }
        bell.wake(Instant::now());
        if gone {
            return;
        }
    }
}
