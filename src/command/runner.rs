//! The command runner: the one task that feeds the [`CommandCore`] and carries out its
//! effects. Fleet commands, the ROS e-stop, odometry and the motion tick come in; Twists go
//! to `cmd_vel`, outcomes and alerts to the fleet.
//!
//! Order of service, always: shutdown, the ROS e-stop, the pause of VDA 5050 master control,
//! fleet stops and e-stops, the motion tick, odometry, then other fleet commands; a flood of
//! the last kind can delay none of the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::safety::Latch;
use super::{Action, CommandCore, Effects, FleetCommand, Mode, OutcomeStatus, Pose, Twist2};
use crate::diagnostics::Counters;
use crate::herald::Herald;
use crate::shutdown::Shutdown;

/// Where Twists go: `cmd_vel`. A trait, so that the runner needs no ROS graph in tests.
pub trait TwistSink: Send {
    fn publish(&self, t: Twist2) -> Result<(), String>;
}

/// The last value heard on each of the ROS e-stop subscriptions (`None`: nothing yet). One
/// listens best effort and volatile (it matches every publisher), one reliable and transient
/// local (it also gets a latched value published before the bridge started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RosEstop {
    pub volatile: Option<bool>,
    pub latched: Option<bool>,
}

impl RosEstop {
    /// Engaged while either subscription's last word is true: the two may deliver one
    /// publisher's messages in different order, and a stale `false` must not release.
    pub fn engaged(&self) -> bool {
        self.volatile == Some(true) || self.latched == Some(true)
    }
}

/// What the runner listens to.
pub struct Inputs {
    /// Stops and e-stops from the fleet.
    pub priority: mpsc::Receiver<FleetCommand>,
    /// Every other fleet command.
    pub commands: mpsc::Receiver<FleetCommand>,
    pub estop: watch::Receiver<RosEstop>,
    pub odom: watch::Receiver<Option<Pose>>,
    /// The pause of VDA 5050 master control, a level (no sender: it never changes).
    pub pause: watch::Receiver<bool>,
}

pub struct Runner {
    core: CommandCore,
    rate_hz: f64,
    /// None when `commands.enabled` is false: nothing is published on `cmd_vel` then.
    cmd_vel: Option<Box<dyn TwistSink>>,
    herald: Herald,
    counters: Arc<Counters>,
    mode: watch::Sender<Mode>,
    latch: watch::Sender<Latch>,
}

impl Runner {
    pub fn new(
        cfg: &crate::config::CommandConfig,
        cmd_vel: Option<Box<dyn TwistSink>>,
        herald: Herald,
        counters: Arc<Counters>,
        mode: watch::Sender<Mode>,
    ) -> Runner {
        Runner {
            core: CommandCore::new(cfg),
            rate_hz: cfg.rate_hz,
            cmd_vel,
            herald,
            counters,
            mode,
            latch: watch::channel(Latch::default()).0,
        }
    }

    /// Who holds the e-stop latch, as the core changes it (for VDA 5050's `safetyState`).
    pub fn latch(&self) -> watch::Receiver<Latch> {
        self.latch.subscribe()
    }

    /// Runs until shutdown; the last thing it does is send a zero Twist.
    pub async fn run(mut self, mut inputs: Inputs, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate_hz));
        // Burst: after a stall the missed ticks run at once, so the motion plan stays on the
        // wall clock and the robot is not commanded longer than planned.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        // The tick runs only while the core needs it: an idle bridge does not wake 20 times a
        // second for nothing.
        let mut armed = false;
        // One wait for the whole run: made anew on every wake-up it cost as much as the rest.
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            // Every odometry sample matters only to a running motion (its progress); else the
            // latest is read when a command comes, and odometry at any rate wakes nobody.
            let follow_odom = self.core.mode() == Mode::Moving;
            tokio::select! {
                biased;
                _ = &mut stop => break,
                Ok(()) = inputs.estop.changed() => {
                    let engaged = inputs.estop.borrow_and_update().engaged();
                    let fx = self.core.on_ros_estop(engaged, Instant::now());
                    self.apply(fx);
                }
                Ok(()) = inputs.pause.changed() => {
                    let hold = *inputs.pause.borrow_and_update();
                    let fx = self.core.on_pause(hold, Instant::now());
                    self.apply(fx);
                }
                Some(c) = inputs.priority.recv() => {
                    self.latest_odom(&mut inputs.odom);
                    self.on_command(c);
                }
                _ = tick.tick(), if armed => {
                    let fx = self.core.tick(Instant::now());
                    self.apply(fx);
                }
                Ok(()) = inputs.odom.changed(), if follow_odom => self.take_odom(&mut inputs.odom),
                Some(c) = inputs.commands.recv() => {
                    self.latest_odom(&mut inputs.odom);
                    let was_idle = self.core.mode() == Mode::Idle;
                    self.on_command(c);
                    // A motion that starts from rest gets its first Twist now, not up to one
                    // period later: the tick grid restarts here (no extra tick, so the
                    // motion plan keeps its timing).
                    if was_idle && matches!(self.core.mode(), Mode::Moving | Mode::Velocity) {
                        tick.reset_immediately();
                        armed = true;
                    }
                }
            }
            let needed = self.core.needs_tick();
            if needed && !armed {
                // Re-armed: the grid starts now (a Burst of the ticks missed while idle
                // would send stale Twists at once).
                tick.reset();
            }
            armed = needed;
        }
        // Leave the robot still, whatever ran.
        let fx = self.core.on_shutdown();
        self.apply(fx);
    }

    /// Hands the core the latest odometry, if there is a new one.
    fn latest_odom(&mut self, odom: &mut watch::Receiver<Option<Pose>>) {
        if odom.has_changed().unwrap_or(false) {
            self.take_odom(odom);
        }
    }

    /// Hands the core the odometry there is (`changed()` has marked it seen already, so
    /// `latest_odom` would not see it as new).
    fn take_odom(&mut self, odom: &mut watch::Receiver<Option<Pose>>) {
        if let Some(pose) = *odom.borrow_and_update() {
            self.core.on_odom(pose);
        }
    }

    fn on_command(&mut self, c: FleetCommand) {
        fault_injection(&c);
        Counters::add(&self.counters.received);
        let fx = self.core.on_mqtt(&c, Instant::now(), chrono::Utc::now());
        self.apply(fx);
    }

    /// Carries out what the core decided: Twists in order, then outcomes and alerts.
    fn apply(&mut self, fx: Effects) {
        if let Some(p) = &self.cmd_vel {
            for t in &fx.twists {
                match p.publish(*t) {
                    Ok(()) => Counters::add(&self.counters.published),
                    Err(e) => log::error!("cmd_vel: cannot publish: {e}"),
                }
            }
        }
        for o in &fx.outcomes {
            if o.status == OutcomeStatus::Rejected {
                Counters::add(&self.counters.refused);
            }
            self.herald.status("command", o, false);
        }
        for a in &fx.alerts {
            self.herald.alert(a);
        }
        let mode = self.core.mode();
        self.mode
            .send_if_modified(|m| std::mem::replace(m, mode) != mode);
        let latch = self.core.latch();
        self.latch
            .send_if_modified(|l| std::mem::replace(l, latch) != latch);
    }
}

/// Debug builds only, and only with `AMR_BRIDGE_FAULT_INJECTION` set: a message on
/// `<command prefix>/__panic__` panics the runner, so that a test can prove that a fault
/// leaves no half-alive node (zero Twist, non-zero exit).
fn fault_injection(c: &FleetCommand) {
    if cfg!(debug_assertions)
        && matches!(&c.action, Action::Other(a) if a == "__panic__")
        && std::env::var_os("AMR_BRIDGE_FAULT_INJECTION").is_some()
    {
        panic!("fault injection: the command runner panics on request");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::config::{CommandConfig, Config, TopicTree};
    use crate::diagnostics::Stats;
    use crate::mqtt::Outbox;

    /// Twists, kept.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Twist2>>>);

    impl TwistSink for Recorder {
        fn publish(&self, t: Twist2) -> Result<(), String> {
            self.0.lock().map_err(|e| e.to_string())?.push(t);
            Ok(())
        }
    }

    /// Odometry that comes while a motion runs reaches the core: the motion ends "completed
    /// by odometry" as soon as it shows the target, long before the time plan would.
    #[tokio::test]
    async fn odometry_during_a_motion_reaches_the_core() {
        let config = Config::parse("mqtt: {}\n", "t.yaml").expect("config");
        let tree = Arc::new(TopicTree::new(&config, "R1").expect("tree"));
        let stats = Arc::new(Stats::default());
        let (outbox, mut outbound) = Outbox::channel(100, 1 << 20, Duration::ZERO, stats.clone());
        let herald = Herald::new(tree, false, outbox);
        let cfg = CommandConfig::default();
        let twists = Recorder::default();
        let (mode, _) = watch::channel(Mode::Idle);
        let runner = Runner::new(
            &cfg,
            Some(Box::new(twists)),
            herald,
            stats.register("c"),
            mode,
        );
        let (odom_tx, odom) = watch::channel(None);
        odom_tx.send_replace(Some(Pose::planar(0.0, 0.0, 0.0, Instant::now())));
        let (commands_tx, commands) = mpsc::channel(4);
        let (_priority, priority) = mpsc::channel(4);
        let (_estop, estop) = watch::channel(RosEstop::default());
        let (_pause, pause) = watch::channel(false);
        let inputs = Inputs {
            priority,
            commands,
            estop,
            odom,
            pause,
        };
        let (trigger, shutdown) = crate::shutdown::channel();
        let task = tokio::spawn(runner.run(inputs, shutdown));
        // 1 m at 0.5 m/s: about 2.5 s by time.
        let text = format!(
            r#"{{"timestamp":"{}","command":"move_forward","parameters":{{"speed":50,"distance":100}}}}"#,
            crate::envelope::now_rfc3339()
        );
        let m = FleetCommand::new(Action::parse("move"), text.into_bytes().into(), false);
        commands_tx.send(m).await.expect("runner");
        let mut got = VecDeque::new();
        let status = |got: &mut VecDeque<crate::mqtt::Outbound>, want: &str| {
            while let Some(m) = got.pop_front() {
                let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
                if v["data"]["status"] == want {
                    return Some(v["data"]["reason"].clone());
                }
            }
            None
        };
        // Started from where odometry put the robot before the command.
        while status(&mut got, "accepted").is_none() {
            outbound.recv_all(&mut got).await;
        }
        let reason = async {
            loop {
                // The robot is there: odometry says so, fresh, every 20 ms.
                odom_tx.send_replace(Some(Pose::planar(1.0, 0.0, 0.0, Instant::now())));
                let wait = outbound.recv_all(&mut got);
                let _ = tokio::time::timeout(Duration::from_millis(20), wait).await;
                if let Some(reason) = status(&mut got, "completed") {
                    return reason;
                }
            }
        };
        let reason = tokio::time::timeout(Duration::from_secs(1), reason)
            .await
            .expect("completed within 1 s, long before the 2.5 s plan");
        assert_eq!(reason, "completed by odometry");
        trigger.fire();
        task.await.expect("the runner ends");
    }
}
