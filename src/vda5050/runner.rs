//! The profile's task: the one that feeds the [`VdaCore`] and carries out its effects, as the
//! command runner does for the command core.
//!
//! In: master control's messages (from the profile's own connection), the connection's life
//! (`LinkEvent::Connected`, `Lost`), the robot as the bridge sees it (odometry and battery of
//! the `odom` and `battery_state` mappings, who holds the e-stop latch), the optional ROS
//! inputs (operating mode, protective field, the navigation's progress) and the core's own
//! wake-ups. Out, in this order: the pause to the command core (a level on a watch), messages
//! on the profile's connection, messages to the robot's navigation.
//!
//! Order of service: shutdown, the connection, master control's messages, the e-stop latch,
//! the navigation's progress, then the robot's readings. Odometry is taken at most every
//! [`ODOM_EVERY`]: a 1 kHz driver does not wake the task a thousand times a second, and every
//! other event takes the latest one first.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, watch};

use super::connection::Message;
use super::words::OperatingMode;
use super::{Battery, Effects, Estop, Gate, NavTopic, Odometry, VdaCore};
use crate::command::safety::{Latch, Source};
use crate::config::Qos;
use crate::diagnostics::VdaStats;
use crate::logging::{printable, Throttle};
use crate::mqtt::{LinkEvent, Outbound, Outbox};
use crate::shutdown::Shutdown;
use crate::state::{self, Pose};

/// The shortest time between two odometry readings the core takes.
pub const ODOM_EVERY: Duration = Duration::from_millis(20);

/// Where messages for the robot's navigation go (`std_msgs/String` publishers): a trait, so
/// that the task needs no ROS graph in tests.
pub trait NavSink: Send {
    fn publish(&self, topic: NavTopic, data: &str) -> Result<(), String>;
}

/// What the profile hears from ROS besides the bridge's shared readings: made on the node by
/// `ros::vda5050`. A watch whose topic is not configured never changes.
pub struct RosInputs {
    /// `vda5050.operating_mode_topic`: the last word.
    pub operating_mode: watch::Receiver<Option<String>>,
    /// `vda5050.field_violation_topic`: the last value.
    pub field_violation: watch::Receiver<Option<bool>>,
    /// `vda5050.navigation.progress_topic`: every message, in order.
    pub progress: mpsc::Receiver<String>,
    /// `vda5050.navigation.order_topic` and `control_topic`.
    pub navigation: Option<Box<dyn NavSink>>,
}

/// Everything the task listens to.
pub struct Inputs {
    pub messages: mpsc::Receiver<Message>,
    pub link: mpsc::Receiver<LinkEvent>,
    pub pose: watch::Receiver<Option<Pose>>,
    pub battery: watch::Receiver<Option<state::Battery>>,
    pub latch: watch::Receiver<Latch>,
    pub ros: RosInputs,
}

pub struct Runner {
    core: VdaCore,
    out: Outbox,
    /// The pause for the command core.
    pause: watch::Sender<bool>,
    navigation: Option<Box<dyn NavSink>>,
    stats: Arc<VdaStats>,
    log: Throttle,
}

/// Log lines a second about the robot's inputs the profile cannot use.
const LOG_PER_SECOND: u32 = 5;

impl Runner {
    pub fn new(
        core: VdaCore,
        out: Outbox,
        pause: watch::Sender<bool>,
        stats: Arc<VdaStats>,
    ) -> Runner {
        Runner {
            core,
            out,
            pause,
            navigation: None,
            stats,
            log: Throttle::new("VDA 5050 inputs ignored", LOG_PER_SECOND),
        }
    }

    /// Runs until shutdown; the last thing it does is the core's last word (an active order
    /// cancelled in the navigation, a last state). Its connection then says OFFLINE.
    pub async fn run(mut self, mut inputs: Inputs, mut shutdown: Shutdown) {
        self.navigation = inputs.ros.navigation.take();
        let stop = shutdown.wait();
        tokio::pin!(stop);
        let mut odom_from = Instant::now();
        loop {
            let now = Instant::now();
            let take_odom = now >= odom_from;
            let wake = [self.core.next_wake(now), (!take_odom).then_some(odom_from)]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                biased;
                _ = &mut stop => break,
                Some(event) = inputs.link.recv() => self.on_link(event),
                Some(m) = inputs.messages.recv() => {
                    self.latest_odom(&mut inputs.pose);
                    self.on_message(m);
                }
                Ok(()) = inputs.latch.changed() => {
                    let l = *inputs.latch.borrow_and_update();
                    let e = Estop {
                        robot: l.held_by(Source::Ros),
                        fleet: l.held_by(Source::Mqtt),
                    };
                    let fx = self.core.on_estop(e, Instant::now(), Utc::now());
                    self.apply(fx);
                }
                Some(p) = inputs.ros.progress.recv() => {
                    self.latest_odom(&mut inputs.pose);
                    let fx = self.core.on_progress(p.as_bytes(), Instant::now(), Utc::now());
                    self.apply(fx);
                }
                Ok(()) = inputs.pose.changed(), if take_odom => {
                    odom_from = Instant::now() + ODOM_EVERY;
                    self.take_odom(&mut inputs.pose);
                }
                Ok(()) = inputs.battery.changed() => {
                    let b = *inputs.battery.borrow_and_update();
                    if let Some(b) = b {
                        let b = Battery { percent: b.percent, charging: b.charging };
                        let fx = self.core.on_battery(b, Instant::now(), Utc::now());
                        self.apply(fx);
                    }
                }
                Ok(()) = inputs.ros.operating_mode.changed() => {
                    let word = inputs.ros.operating_mode.borrow_and_update().clone();
                    self.on_operating_mode(word);
                }
                Ok(()) = inputs.ros.field_violation.changed() => {
                    let v = *inputs.ros.field_violation.borrow_and_update();
                    let fx = self.core.on_field_violation(v == Some(true), Instant::now(), Utc::now());
                    self.apply(fx);
                }
                _ = sleep_until(wake) => {
                    self.latest_odom(&mut inputs.pose);
                    let fx = self.core.tick(Instant::now(), Utc::now());
                    self.apply(fx);
                }
            }
        }
        let fx = self.core.on_shutdown(Instant::now(), Utc::now());
        self.apply(fx);
    }

    fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Connected => {
                let fx = self.core.on_connected(Instant::now(), Utc::now());
                self.apply(fx);
            }
            LinkEvent::Lost => self.core.on_disconnected(),
            LinkEvent::Restored { .. } | LinkEvent::StoreFailed { .. } => {}
        }
    }

    fn on_message(&mut self, m: Message) {
        let (now, wall) = (Instant::now(), Utc::now());
        // An oversized message reaches the task without its bytes (see `connection::Inbox`).
        let fx = if m.payload.is_empty() && m.size > 0 {
            self.core.on_oversized(m.topic, m.size, now, wall)
        } else {
            self.core
                .on_message(m.topic, &m.payload, m.retained, now, wall)
        };
        self.apply(fx);
    }

    /// Hands the core the latest odometry, if there is a new one.
    fn latest_odom(&mut self, pose: &mut watch::Receiver<Option<Pose>>) {
        if pose.has_changed().unwrap_or(false) {
            self.take_odom(pose);
        }
    }

    /// Hands the core the odometry there is (`changed()` has marked it seen already).
    fn take_odom(&mut self, pose: &mut watch::Receiver<Option<Pose>>) {
        let Some(p) = *pose.borrow_and_update() else {
            return;
        };
        let o = Odometry {
            x: p.x,
            y: p.y,
            yaw: p.yaw,
            vx: p.vx,
            vy: p.vy,
            omega: p.angular,
        };
        let fx = self.core.on_odometry(o, Instant::now(), Utc::now());
        self.apply(fx);
    }

    fn on_operating_mode(&mut self, word: Option<String>) {
        let Some(word) = word else {
            return;
        };
        match OperatingMode::from_word(&word) {
            Some(mode) => {
                let fx = self
                    .core
                    .on_operating_mode(mode, Instant::now(), Utc::now());
                self.apply(fx);
            }
            None if self.log.allow(Instant::now()) => log::warn!(
                "VDA 5050: operating mode `{}` is none of AUTOMATIC, SEMIAUTOMATIC, MANUAL, \
                 SERVICE, TEACHIN: ignored",
                printable(&word, 64)
            ),
            None => {}
        }
    }

    /// Carries out what the core decided: the pause first, then messages, then the
    /// navigation's.
    fn apply(&mut self, fx: Effects) {
        if let Some(gate) = fx.gate {
            self.pause.send_replace(gate == Gate::Hold);
        }
        for p in fx.publish {
            let m = Outbound::new(Arc::from(p.topic), Qos(p.qos), p.retain, p.payload);
            if self.out.send(m) {
                self.stats.published.fetch_add(1, Relaxed);
            }
        }
        for n in fx.navigation {
            let sent = match &self.navigation {
                Some(nav) => nav.publish(n.topic, &n.data),
                None => Err("no navigation is configured".into()),
            };
            if let Err(e) = sent {
                log::error!(
                    "VDA 5050: cannot publish to the navigation ({:?}): {e}",
                    n.topic
                );
            }
        }
        let c = self.core.counters();
        self.stats.received.store(c.received, Relaxed);
        self.stats.refused.store(c.refused, Relaxed);
        self.stats
            .progress_refused
            .store(c.progress_refused, Relaxed);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
