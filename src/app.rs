//! The bridge assembled: [`start`] builds both flows from the settings on a node (the ROS
//! side made by `ros::side`) and runs them (a spin thread and a conversion thread for ROS, a
//! small tokio runtime for the MQTT link and the tasks); [`Running::wait`] stops them in order
//! once the shutdown signal comes. A panic anywhere ends the process ([`exit_on_panic`]).
//!
//! With `vda5050.enabled`, the VDA 5050 profile runs beside: its own MQTT connection (a
//! second link, its own Will) and its task, which pauses through the command runner.
//!
//! Stopping, in order: every task is told; the command runner sends its last zero Twist and
//! the tasks return (the VDA 5050 task with its last state, its connection with OFFLINE and a
//! clean disconnect); the spin thread ends (and with it the node and the ROS to MQTT routes),
//! then the generic mappings' ROS context, whose end ends the conversion thread; once nothing
//! can publish any more, the MQTT link sends what is left, then `offline`, and disconnects.
//! Nothing waits on a fixed sleep.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2r::Node;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::alerts;
use crate::command::runner::{Inputs, Runner, TwistSink};
use crate::command::Twist2;
use crate::config::{ConfigError, Settings};
use crate::convert::generic;
use crate::diagnostics::Stats;
use crate::dyntype::Runtime;
use crate::herald::Herald;
use crate::inbox::{Inbox, Queues};
use crate::mqtt::{self, options::LinkSettings, LinkEvent, MqttError, Outbox};
use crate::ros::drain::Drain;
use crate::ros::side::{self, Offloaded, RosSide, With};
use crate::ros::{offload, spin, RosError};
use crate::shutdown::{self, Shutdown, Trigger};
use crate::state::{self, Feeds, View};
use crate::vda5050::profile::{Profile, Shared};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A generic mapping's type that cannot be used (`convert::generic::resolve`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ros(#[from] RosError),
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error("{0}")]
    Runtime(String),
}

impl From<r2r::Error> for AppError {
    fn from(e: r2r::Error) -> Self {
        AppError::Ros(RosError::Rcl(e))
    }
}

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A bridge that runs, until [`Running::wait`] has seen it stop.
pub struct Running {
    runtime: tokio::runtime::Runtime,
    signal: Signal,
    trigger: Trigger,
    tasks: Vec<JoinHandle<()>>,
    link: JoinHandle<Result<(), MqttError>>,
    spin_stop: Arc<AtomicBool>,
    spin: std::thread::JoinHandle<()>,
    /// The `ros-convert` thread, when a mapping needs it; it ends with `types`.
    convert: Option<std::thread::JoinHandle<()>>,
    /// The generic mappings' ROS context, when one is needed.
    types: Option<Runtime>,
}

/// Starts the bridge on `node` (made, with its parameters read, by the caller) with
/// `settings`; it runs until `shutdown_signal` resolves or the MQTT link gives up.
pub fn start(
    mut node: Node,
    settings: Settings,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, AppError> {
    let types = generic::resolve(&settings.mappings, &settings.file)?;
    let settings = Arc::new(settings);
    let stats = Arc::new(Stats::default());
    let tree = Arc::new(settings.tree.clone());
    let b = &settings.config.bridge;
    let linger = Duration::from_secs_f64(b.linger);
    let (outbox, outbound) = Outbox::channel(b.queue_size, b.queue_bytes, linger, stats.clone());
    let herald = Herald::new(tree.clone(), settings.config.alerts.enabled, outbox.clone());
    let (feeds, view) = state::channels();
    let with = With {
        settings: &settings,
        types: &types,
        stats: &stats,
        outbox: &outbox,
        feeds: &feeds,
        herald: &herald,
    };
    let (mut ros, offloaded) = side::build(&mut node, with)?;
    let types = ros.runtime.take();
    let vda5050 =
        Profile::new(&settings, &stats).map_err(|e| AppError::Runtime(format!("vda5050: {e}")))?;
    let bell = outbox.deferred();
    // From here only the routes, the herald's copies and the spin thread's bell can publish:
    // when they are gone, the link knows that nothing more will come.
    drop(outbox);
    let generic = ros.sinks.topics().cloned().collect();
    let (inbox, queues) = Inbox::new(
        tree,
        generic,
        settings.config.bridge.inbound_queue,
        settings.config.commands.clone(),
        stats.clone(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("bridge")
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the runtime: {e}")))?;
    let (trigger, shutdown) = shutdown::channel();
    let (link_events, link_events_rx) = mpsc::channel(16);
    let link = runtime.spawn(mqtt::run(
        LinkSettings::new(&settings),
        outbound,
        inbox,
        link_events,
        stats.clone(),
        shutdown.clone(),
    ));
    let cx = Tasks {
        settings,
        stats,
        herald,
        view,
        shutdown,
        vda5050,
    };
    let (drains, tasks) = cx.spawn(&runtime, ros, queues, feeds, link_events_rx);
    let Offloaded {
        routes,
        ring,
        bell: convert_bell,
    } = offloaded;
    let convert = (!routes.is_empty())
        .then(|| {
            thread("ros-convert", move || {
                offload::run(routes, ring, convert_bell)
            })
        })
        .transpose()?;
    let spin_stop = Arc::new(AtomicBool::new(false));
    let stop = spin_stop.clone();
    let spin = thread("ros-spin", move || spin::spin(node, drains, bell, stop))?;
    Ok(Running {
        runtime,
        signal: Box::pin(shutdown_signal),
        trigger,
        tasks,
        link,
        spin_stop,
        spin,
        convert,
        types,
    })
}

fn thread(
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, AppError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| AppError::Runtime(format!("cannot start the {name} thread: {e}")))
}

/// What the tasks share.
struct Tasks {
    settings: Arc<Settings>,
    stats: Arc<Stats>,
    herald: Herald,
    view: View,
    shutdown: Shutdown,
    /// The VDA 5050 profile: its own connection and task (`vda5050.enabled`).
    vda5050: Option<Profile>,
}

impl Tasks {
    /// Spawns the runner and the periodic tasks; returns what the spin thread drains.
    fn spawn(
        self,
        rt: &tokio::runtime::Runtime,
        ros: RosSide,
        queues: Queues,
        feeds: Feeds,
        link_events: mpsc::Receiver<LinkEvent>,
    ) -> (Vec<Box<dyn Drain>>, Vec<JoinHandle<()>>) {
        let c = &self.settings.config;
        let cmd_vel = ros.cmd_vel.map(|p| {
            on_panic_stop(p.clone());
            Box::new(p) as Box<dyn TwistSink>
        });
        let runner = Runner::new(
            &c.commands,
            cmd_vel,
            self.herald.clone(),
            self.stats.register("commands"),
            feeds.mode,
        );
        let inputs = Inputs {
            priority: queues.priority,
            commands: queues.commands,
            estop: ros.estop,
            odom: self.view.pose.clone(),
            pause: self
                .vda5050
                .as_ref()
                .map_or_else(|| tokio::sync::watch::channel(false).1, Profile::pause),
        };
        let latch = runner.latch();
        let mut tasks = vec![rt.spawn(runner.run(inputs, self.shutdown.clone()))];
        if let (Some(profile), Some(vda_ros)) = (self.vda5050, ros.vda5050) {
            let shared = Shared {
                pose: self.view.pose.clone(),
                battery: self.view.battery.clone(),
                latch,
            };
            tasks.extend(profile.spawn(rt, shared, vda_ros, self.shutdown.clone()));
        }
        if !ros.sinks.is_empty() {
            tasks.push(rt.spawn(ros.sinks.run(queues.to_ros, self.shutdown.clone())));
        }
        if c.state.enabled {
            let view = self.view.clone();
            let task = state::publish(
                self.herald.clone(),
                view,
                c.state.clone(),
                c.alerts.stale_after,
                self.shutdown.clone(),
            );
            tasks.push(rt.spawn(task));
        }
        if c.alerts.enabled {
            let sources = alerts::Sources {
                battery: self.view.battery.clone(),
                streams: ros.streams,
                link: link_events,
            };
            let task = alerts::watch(
                self.herald.clone(),
                c.alerts.clone(),
                sources,
                self.shutdown.clone(),
            );
            tasks.push(rt.spawn(task));
        }
        if c.bridge.diagnostics_period > 0.0 {
            let period = c.bridge.diagnostics_period;
            let task = crate::herald::report(
                self.herald.clone(),
                self.stats.clone(),
                ros.diagnostics,
                period,
                self.shutdown.clone(),
            );
            tasks.push(rt.spawn(task));
        }
        (ros.drains, tasks)
    }
}

impl Running {
    /// Blocks until the bridge has stopped: after the shutdown signal, or when the MQTT link
    /// gave up (`mqtt.reconnect.enabled: false`).
    pub fn wait(self) -> Result<(), AppError> {
        let Running {
            runtime,
            signal,
            trigger,
            tasks,
            mut link,
            spin_stop,
            spin,
            convert,
            types,
        } = self;
        let ended = runtime.block_on(async {
            tokio::select! {
                _ = signal => { log::info!("shutting down"); None }
                r = &mut link => Some(r),
            }
        });
        trigger.fire();
        let mut failed = None;
        for t in tasks {
            if let Err(e) = runtime.block_on(t) {
                failed = Some(AppError::Runtime(format!("a task failed: {e}")));
            }
        }
        spin_stop.store(true, Relaxed);
        if spin.join().is_err() {
            failed = Some(AppError::Runtime("the ROS thread failed".into()));
        }
        // The run-time types' end (every subscription's doorbell dropped) ends the converter.
        drop(types);
        if convert.is_some_and(|c| c.join().is_err()) {
            failed = Some(AppError::Runtime("the ROS conversion thread failed".into()));
        }
        let link_result = match ended {
            Some(r) => r,
            None => runtime.block_on(link),
        };
        runtime.shutdown_timeout(Duration::from_secs(1));
        match link_result {
            Ok(Ok(())) => failed.map_or(Ok(()), Err),
            Ok(Err(e)) => Err(AppError::Mqtt(e)),
            Err(e) => Err(AppError::Runtime(format!("the MQTT link failed: {e}"))),
        }
    }
}

/// The Twist sink a panic uses to leave the robot still (see [`exit_on_panic`]).
static PANIC_STOP: Mutex<Option<Box<dyn TwistSink>>> = Mutex::new(None);

fn on_panic_stop(sink: impl TwistSink + 'static) {
    if let Ok(mut slot) = PANIC_STOP.lock() {
        *slot = Some(Box::new(sink));
    }
}

/// Exit code of a node that panicked.
pub const PANIC_EXIT: i32 = 70;

/// Makes any panic, in any thread, end the process: a zero Twist first (best effort), then
/// exit with [`PANIC_EXIT`] so that `respawn` starts a whole new node. A panicking task must
/// never leave a node that looks alive but has lost its watchdog or its link.
pub fn exit_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("amr_mqtt_bridge: fatal: {info}; stopping the robot and exiting");
        if let Ok(slot) = PANIC_STOP.try_lock() {
            if let Some(sink) = slot.as_ref() {
                let _ = sink.publish(Twist2::ZERO);
                // DDS may send asynchronously: give the zero Twist a moment to leave.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // SAFETY: _exit ends the process at once, without running atexit handlers that could
        // block on a lock the panicking thread holds.
        unsafe { libc::_exit(PANIC_EXIT) }
    }));
}
