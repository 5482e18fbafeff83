//! The profile assembled at start: its core, its own MQTT connection (`connection`) and its
//! task (`runner`), made from the settings before anything runs and spawned beside the
//! bridge's other tasks.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::config::Invalid;
use super::connection::{self, Inbox, Message};
use super::runner::{Inputs, RosInputs, Runner};
use super::VdaCore;
use crate::command::safety::Latch;
use crate::config::Settings;
use crate::diagnostics::{Stats, VdaStats};
use crate::mqtt::options::LinkSettings;
use crate::mqtt::{self, OutboxRx};
use crate::shutdown::Shutdown;
use crate::state::{self, Pose};

/// Link events that may wait for the task: it takes them at once.
const LINK_EVENTS: usize = 16;

/// The profile, ready to run.
pub struct Profile {
    runner: Runner,
    link: LinkSettings,
    outbound: OutboxRx,
    inbox: Inbox,
    messages: mpsc::Receiver<Message>,
    paused: watch::Receiver<bool>,
    stats: Arc<VdaStats>,
}

/// What the profile reads of the bridge's shared view of the robot.
pub struct Shared {
    pub pose: watch::Receiver<Option<Pose>>,
    pub battery: watch::Receiver<Option<state::Battery>>,
    /// From the command runner.
    pub latch: watch::Receiver<Latch>,
}

impl Profile {
    /// `None` while `vda5050.enabled` is false; counted in `stats` (`status/bridge`).
    pub fn new(settings: &Settings, stats: &Stats) -> Result<Option<Profile>, Invalid> {
        let cfg = &settings.config.vda5050;
        if !cfg.enabled {
            return Ok(None);
        }
        let core = VdaCore::new(cfg, settings.tree.robot_id())?;
        let stats = stats.vda5050();
        let topics = core.topics().clone();
        let link = connection::link_settings(settings, &topics, core.presence());
        let b = &settings.config.bridge;
        // Every message of the profile is an event or a period of its own: none lingers.
        let (out, outbound) = crate::mqtt::Outbox::channel(
            b.queue_size,
            b.queue_bytes,
            Duration::ZERO,
            stats.link.clone(),
        );
        let (inbox, messages) = Inbox::new(
            topics,
            b.inbound_queue,
            cfg.limits.max_payload,
            stats.clone(),
        );
        let (pause, paused) = watch::channel(false);
        Ok(Some(Profile {
            runner: Runner::new(core, out, pause, stats.clone()),
            link,
            outbound,
            inbox,
            messages,
            paused,
            stats,
        }))
    }

    /// The pause for the command runner (`command::runner::Inputs::pause`).
    pub fn pause(&self) -> watch::Receiver<bool> {
        self.paused.clone()
    }

    /// Starts the profile's connection and its task, until `shutdown`: the task says its
    /// last state, then the connection OFFLINE and DISCONNECT.
    pub fn spawn(
        self,
        rt: &Runtime,
        shared: Shared,
        ros: RosInputs,
        shutdown: Shutdown,
    ) -> [JoinHandle<()>; 2] {
        let (events, link_events) = mpsc::channel(LINK_EVENTS);
        let run = mqtt::run(
            self.link,
            self.outbound,
            self.inbox,
            events,
            self.stats.link.clone(),
            shutdown.clone(),
        );
        let link = rt.spawn(async move {
            // Only with `mqtt.reconnect.enabled: false`; the Will tells master control.
            if let Err(e) = run.await {
                log::error!("VDA 5050: {e}");
            }
        });
        let inputs = Inputs {
            messages: self.messages,
            link: link_events,
            pose: shared.pose,
            battery: shared.battery,
            latch: shared.latch,
            ros,
        };
        [link, rt.spawn(self.runner.run(inputs, shutdown))]
    }
}
