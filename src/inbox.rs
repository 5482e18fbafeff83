//! Fleet messages from the MQTT link to whoever handles them: stops and e-stops to the
//! command runner first (a channel of their own), other commands behind them, messages of the
//! generic MQTT to ROS mappings to their publishers. Nothing here waits: a full queue is a
//! drop, counted and logged (throttled); a command dropped so is refused with an outcome
//! (`busy`), so that the fleet hears of every command it sent.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::command::refusal::Refusal;
use crate::command::{self, Action, FleetCommand};
use crate::config::{CommandConfig, TopicTree};
use crate::diagnostics::{Counters, Stats};
use crate::herald;
use crate::logging::Throttle;
use crate::mqtt::{Dispatch, Inbound, Outbound};

/// Stops and e-stops waiting for the runner. Any one of them stops the robot, so a few are
/// plenty; a flood beyond is dropped and counted (the robot is stopping anyway).
pub const PRIORITY_QUEUE: usize = 64;

/// The receiving ends, for the runner and the generic publishers.
pub struct Queues {
    pub priority: mpsc::Receiver<FleetCommand>,
    pub commands: mpsc::Receiver<FleetCommand>,
    pub to_ros: mpsc::Receiver<Inbound>,
}

pub struct Inbox {
    tree: Arc<TopicTree>,
    /// Topics of the MQTT to ROS mappings (some may be under the command prefix).
    generic: HashSet<String>,
    priority: mpsc::Sender<FleetCommand>,
    commands: mpsc::Sender<FleetCommand>,
    to_ros: mpsc::Sender<Inbound>,
    stats: Arc<Stats>,
    /// The runner's counters: a command refused here counts as received and refused too.
    counters: Arc<Counters>,
    /// What reads the `id` of a command refused here (`commands`).
    commands_cfg: CommandConfig,
    /// How many commands of the other kind may wait (`bridge.inbound_queue`).
    depth: usize,
    log: Throttle,
}

impl Inbox {
    /// `depth`: how many messages of each other kind may wait (`bridge.inbound_queue`), each
    /// at most `commands.max_payload` bytes: the queues are bounded in bytes too.
    pub fn new(
        tree: Arc<TopicTree>,
        generic: HashSet<String>,
        depth: usize,
        commands_cfg: CommandConfig,
        stats: Arc<Stats>,
    ) -> (Inbox, Queues) {
        let (priority, priority_rx) = mpsc::channel(PRIORITY_QUEUE);
        let (commands, commands_rx) = mpsc::channel(depth);
        let (to_ros, to_ros_rx) = mpsc::channel(depth);
        let inbox = Inbox {
            tree,
            generic,
            priority,
            commands,
            to_ros,
            counters: stats.register("commands"),
            stats,
            commands_cfg,
            depth,
            // One line a second: the refusals of the runner have a budget of their own.
            log: Throttle::new("dropped fleet messages", 1),
        };
        let queues = Queues {
            priority: priority_rx,
            commands: commands_rx,
            to_ros: to_ros_rx,
        };
        (inbox, queues)
    }

    fn dropped(&mut self) {
        self.stats.inbound_dropped.fetch_add(1, Relaxed);
        if self.log.allow(Instant::now()) {
            log::warn!("mqtt: fleet messages arrive faster than they are handled; one dropped");
        }
    }

    /// A command that found its queue full: dropped, and refused with a `busy` outcome.
    fn busy(&mut self, c: &FleetCommand) -> Outbound {
        self.dropped();
        let waiting = if c.action.is_priority() {
            PRIORITY_QUEUE
        } else {
            self.depth
        };
        let outcome = command::refused_unread(c, Refusal::Busy { waiting }, &self.commands_cfg);
        Counters::add(&self.counters.received);
        Counters::add(&self.counters.refused);
        herald::status_message(&self.tree, "command", &outcome, false)
    }
}

impl Dispatch for Inbox {
    fn dispatch(&mut self, mut m: Inbound) -> Option<Outbound> {
        if m.size > self.commands_cfg.max_payload {
            // Refused by its size alone (`size` is kept): the bytes need not wait in a queue.
            m.payload = Bytes::new();
        }
        if self.generic.contains(&m.topic) {
            if self.to_ros.try_send(m).is_err() {
                self.dropped();
            }
            return None;
        }
        let level = self.tree.command_action(&m.topic)?;
        let action = Action::parse(level);
        let to = if action.is_priority() {
            &self.priority
        } else {
            &self.commands
        };
        let c = FleetCommand {
            action,
            payload: m.payload,
            size: m.size,
            retained: m.retain,
        };
        match to.try_send(c) {
            Ok(()) => None,
            Err(TrySendError::Full(c)) => Some(self.busy(&c)),
            // The runner is gone: the bridge is stopping.
            Err(TrySendError::Closed(_)) => None,
        }
    }
}
