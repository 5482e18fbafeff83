//! Wiring: builds both flows from the configuration and runs them until a signal.
//!
//! Threads: one spins ROS and converts (ros_link); a small tokio runtime runs the MQTT link,
//! the command runner (fleet to cmd_vel), the state and diagnostics publishers. They meet only
//! through bounded channels and the small shared `Telemetry` and `Stats`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use r2r::Node;
use tokio::sync::{mpsc, watch};

use crate::command::{AlertLevel, CommandCore, Effects, Mode, Odom2, Twist2};
use crate::config::{Config, ConfigError, Direction, Qos, RosQos};
use crate::convert::generic;
use crate::diagnostics::{Counters, Stats};
use crate::envelope::{self, Envelope};
use crate::mapping::{self, Mapping};
use crate::mqtt_link::{self, Inbound, MqttError, MqttSettings, Outbound};
use crate::ros_link::{self, Outbox, Pump, RosError};
use crate::state::{self, Telemetry};
use crate::topic::{Category, TopicError, TopicTree};

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ros(#[from] RosError),
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error("robot id from {source_name}: {error}")]
    RobotId {
        source_name: &'static str,
        error: TopicError,
    },
    #[error("no robot id: set the parameter robot_id (-p robot_id:=AMR001), the key robot_id in the configuration, or start the node in a namespace")]
    NoRobotId,
    #[error("{0}")]
    Runtime(String),
}

impl From<r2r::Error> for BridgeError {
    fn from(e: r2r::Error) -> Self {
        BridgeError::Ros(RosError::Rcl(e))
    }
}

/// Name of the node (before any `__node:=` remap).
pub const NODE_NAME: &str = "amr_mqtt_bridge";

/// Everything decided at start, before anything runs.
pub struct Plan {
    pub config: Config,
    pub file: String,
    pub tree: TopicTree,
    pub mappings: Vec<Mapping>,
    pub host: String,
    pub port: u16,
}

/// The robot id: parameter, file, then the last segment of the node namespace.
fn robot_id(
    params: &ros_link::Params,
    config: &Config,
    namespace: &str,
) -> Result<String, BridgeError> {
    let (id, source_name) = if let Some(id) = &params.robot_id {
        (id.clone(), "parameter robot_id")
    } else if let Some(id) = &config.robot_id {
        (id.clone(), "configuration key robot_id")
    } else {
        let last = namespace.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
        if last.is_empty() {
            return Err(BridgeError::NoRobotId);
        }
        (last.to_owned(), "node namespace")
    };
    crate::topic::validate_robot_id(&id)
        .map_err(|error| BridgeError::RobotId { source_name, error })?;
    Ok(id)
}

/// Reads the parameters and the configuration into a plan.
pub fn plan(node: &Node) -> Result<Plan, BridgeError> {
    let params = ros_link::read_params(node)?;
    let (config, file) = match &params.config_file {
        Some(path) => (Config::load(std::path::Path::new(path))?, path.clone()),
        None => {
            let file = "(built-in defaults)".to_owned();
            (Config::parse("mqtt: {}\n", &file)?, file)
        }
    };
    let namespace = node.namespace()?;
    let id = robot_id(&params, &config, &namespace)?;
    let tree = TopicTree::new(&config, &id).map_err(|error| BridgeError::RobotId {
        source_name: "topic templates",
        error,
    })?;
    let mappings = mapping::resolve(&config, &tree, &file)?;
    let host = params
        .broker
        .clone()
        .unwrap_or_else(|| config.mqtt.broker.clone());
    let port = params.port.unwrap_or_else(|| config.mqtt.port());
    Ok(Plan {
        config,
        file,
        tree,
        mappings,
        host,
        port,
    })
}

/// A fleet-to-ROS generic mapping, ready to publish.
struct Sink {
    name: String,
    publisher: r2r::PublisherUntyped,
    skeleton: serde_json::Value,
    counters: Arc<Counters>,
}

/// Starts the node from the process arguments and runs it until SIGINT/SIGTERM.
pub fn run() -> Result<(), BridgeError> {
    let args: Vec<String> = std::env::args().collect();
    let ctx = r2r::Context::create()?;
    let mut node = Node::create(ctx, NODE_NAME, "")?;
    let level = crate::logging::level_from_args(&args).unwrap_or(log::LevelFilter::Info);
    crate::logging::init(node.logger(), level);

    let Plan {
        config,
        file,
        tree,
        mappings,
        host,
        port,
    } = plan(&node)?;
    log::info!(
        "robot {} from {file}; broker {host}:{port}; {} mapping(s)",
        tree.robot_id(),
        mappings.len()
    );

    let stats = Arc::new(Stats::default());
    let telemetry = Arc::new(Telemetry::default());
    let robot_id: Arc<str> = Arc::from(tree.robot_id());
    let (out_tx, out_rx) = mpsc::channel::<Outbound>(config.bridge.queue_size);
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(256);
    let (prio_tx, prio_rx) = mpsc::channel::<Inbound>(64);
    let (estop_tx, estop_rx) = mpsc::channel::<bool>(16);
    let outbox = Outbox {
        tx: out_tx.clone(),
        stats: stats.clone(),
    };

    // Every subscription and publisher exists before the first spin.
    let mut pumps: Vec<Box<dyn Pump>> = Vec::new();
    let mut sinks: HashMap<String, Sink> = HashMap::new();
    let mut extra_subscriptions = Vec::new();
    for m in &mappings {
        match m.direction {
            Direction::RosToMqtt => {
                pumps.push(ros_link::route(
                    &mut node, m, &robot_id, &outbox, &telemetry,
                )?);
                log::info!(
                    "mapping `{}`: ROS {} ({}) -> MQTT {}",
                    m.name,
                    m.ros_topic,
                    m.ros_type,
                    m.mqtt_topic
                );
            }
            Direction::MqttToRos => {
                let wrap = |source| RosError::mapping(m, source);
                let publisher = node
                    .create_publisher_untyped(
                        &m.ros_topic,
                        &m.ros_type,
                        ros_link::qos_profile(m.ros_qos),
                    )
                    .map_err(wrap)?;
                let skeleton = generic::skeleton(&m.ros_type).map_err(wrap)?;
                extra_subscriptions.push((m.mqtt_topic.clone(), m.qos));
                sinks.insert(
                    m.mqtt_topic.clone(),
                    Sink {
                        name: m.name.clone(),
                        publisher,
                        skeleton,
                        counters: stats.route(&m.name),
                    },
                );
                log::info!(
                    "mapping `{}`: MQTT {} -> ROS {} ({})",
                    m.name,
                    m.mqtt_topic,
                    m.ros_topic,
                    m.ros_type
                );
            }
        }
    }
    let cmd_vel = if config.commands.enabled {
        let p = node.create_publisher::<r2r::geometry_msgs::msg::Twist>(
            &config.commands.cmd_vel_topic,
            ros_link::qos_profile(RosQos::RELIABLE),
        )?;
        let tx = estop_tx.clone();
        pumps.push(ros_link::forward(
            &mut node,
            &config.commands.estop_topic,
            RosQos::RELIABLE,
            move |m: r2r::std_msgs::msg::Bool| {
                if tx.try_send(m.data).is_err() {
                    log::error!("e-stop message could not be handed to the command runner");
                }
            },
        )?);
        log::info!(
            "commands: MQTT {} -> ROS {} (e-stop latch also on ROS {})",
            tree.command_filter(),
            config.commands.cmd_vel_topic,
            config.commands.estop_topic
        );
        Some(p)
    } else {
        None
    };
    let diagnostics_pub = node.create_publisher::<r2r::diagnostic_msgs::msg::DiagnosticArray>(
        "/diagnostics",
        ros_link::qos_profile(RosQos::RELIABLE),
    )?;

    let password = config.password(&file)?;
    let settings = MqttSettings::new(
        &config,
        &tree,
        password,
        &host,
        port,
        &extra_subscriptions,
        &file,
    )?;

    // ROS spins on its own thread from here on.
    let stop = Arc::new(AtomicBool::new(false));
    let has_waitables = !pumps.is_empty();
    let spin_stop = stop.clone();
    let spinner = std::thread::Builder::new()
        .name("ros-spin".into())
        .spawn(move || ros_link::spin(node, pumps, has_waitables, spin_stop))
        .map_err(|e| BridgeError::Runtime(format!("cannot start the ROS thread: {e}")))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("bridge")
        .build()
        .map_err(|e| BridgeError::Runtime(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(async move {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let ctx = Ctx {
            tree: Arc::new(tree),
            config: Arc::new(config),
            out: out_tx,
            stats: stats.clone(),
            telemetry: telemetry.clone(),
        };
        let mqtt = tokio::spawn(mqtt_link::run(
            settings,
            out_rx,
            mqtt_link::InboundTx {
                normal: in_tx,
                priority: prio_tx,
            },
            stats.clone(),
            shutdown_rx.clone(),
        ));
        let runner = Runner {
            ctx: ctx.clone(),
            core: CommandCore::new(&ctx.config.commands),
            counters: stats.route("commands"),
            sinks,
            cmd_vel,
            refusal_log: LogThrottle::new(),
        };
        tokio::spawn(command_runner(
            runner,
            prio_rx,
            in_rx,
            estop_rx,
            shutdown_rx.clone(),
        ));
        if ctx.config.state.enabled {
            tokio::spawn(state_publisher(ctx.clone(), shutdown_rx.clone()));
        }
        if ctx.config.alerts.enabled {
            let streams = mappings
                .iter()
                .filter(|m| m.direction == Direction::RosToMqtt)
                .map(|m| Watched {
                    name: m.name.clone(),
                    topic: m.ros_topic.clone(),
                    counters: stats.route(&m.name),
                    watch: crate::alerts::StaleWatch::new(ctx.config.alerts.stale_after),
                })
                .collect();
            tokio::spawn(alert_watcher(ctx.clone(), streams, shutdown_rx.clone()));
        }
        if ctx.config.bridge.diagnostics_period > 0.0 {
            tokio::spawn(diagnostics_publisher(
                ctx.clone(),
                diagnostics_pub,
                shutdown_rx.clone(),
            ));
        }
        let outcome = tokio::select! {
            _ = shutdown_signal() => { log::info!("shutting down"); Ok(()) }
            r = mqtt => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(BridgeError::Mqtt(e)),
                Err(e) => Err(BridgeError::Runtime(format!("MQTT task failed: {e}"))),
            },
        };
        let _ = shutdown_tx.send(true);
        // Give the link its moment to say `offline` and the runner to send a last zero Twist.
        tokio::time::sleep(Duration::from_millis(300)).await;
        outcome
    });
    stop.store(true, Relaxed);
    let _ = spinner.join();
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// What the async tasks share.
#[derive(Clone)]
struct Ctx {
    tree: Arc<TopicTree>,
    config: Arc<Config>,
    out: mpsc::Sender<Outbound>,
    stats: Arc<Stats>,
    telemetry: Arc<Telemetry>,
}

impl Ctx {
    /// Sends to MQTT; the link never blocks, so a full queue means a drop, counted.
    fn publish(&self, topic: String, qos: Qos, retain: bool, payload: Vec<u8>) {
        let m = Outbound::new(Arc::from(topic), qos, retain, payload);
        if self.out.try_send(m).is_err() {
            self.stats.outbound_dropped.fetch_add(1, Relaxed);
        }
    }

    /// Publishes on `<category prefix>/<action>` at the category's QoS.
    fn to_category(&self, c: Category, action: &str, retain: bool, payload: Vec<u8>) {
        self.publish(
            self.tree.topic(c, action),
            self.tree.qos(c),
            retain,
            payload,
        );
    }

    fn status<D: serde::Serialize>(&self, action: &str, data: &D, retain: bool) {
        let payload = envelope::to_json(&Envelope {
            timestamp: envelope::now_rfc3339(),
            robot_id: self.tree.robot_id(),
            kind: "status",
            data,
        });
        self.to_category(Category::Status, action, retain, payload);
    }

    fn alert(&self, level: AlertLevel, message: &str, data: &serde_json::Value) {
        if !self.config.alerts.enabled {
            return;
        }
        let level = match level {
            AlertLevel::Info => "info",
            AlertLevel::Warning => "warning",
            AlertLevel::Error => "error",
        };
        let payload = envelope::to_json(&envelope::Alert {
            timestamp: envelope::now_rfc3339(),
            robot_id: self.tree.robot_id(),
            level,
            message,
            data,
        });
        self.to_category(Category::Alert, level, false, payload);
    }
}

/// Fleet to ROS: commands through the safety core to cmd_vel, generic mappings to their topic.
struct Runner {
    ctx: Ctx,
    core: CommandCore,
    counters: Arc<Counters>,
    sinks: HashMap<String, Sink>,
    cmd_vel: Option<r2r::Publisher<r2r::geometry_msgs::msg::Twist>>,
    /// A flood of bad commands must not become a flood of log lines.
    refusal_log: LogThrottle,
}

/// At most `LogThrottle::PER_SECOND` lines a second; then one line says how many were left out.
struct LogThrottle {
    window: std::cell::Cell<Option<Instant>>,
    count: std::cell::Cell<u32>,
}

impl LogThrottle {
    const PER_SECOND: u32 = 10;

    fn new() -> Self {
        LogThrottle {
            window: std::cell::Cell::new(None),
            count: std::cell::Cell::new(0),
        }
    }

    fn allow(&self, now: Instant) -> bool {
        let fresh = self
            .window
            .get()
            .is_none_or(|w| now.saturating_duration_since(w) >= Duration::from_secs(1));
        if fresh {
            let left_out = self.count.get().saturating_sub(Self::PER_SECOND);
            if left_out > 0 {
                log::warn!(
                    "{left_out} more refused commands in the last second (not logged one by one)"
                );
            }
            self.window.set(Some(now));
            self.count.set(0);
        }
        self.count.set(self.count.get() + 1);
        self.count.get() <= Self::PER_SECOND
    }
}

impl Runner {
    fn apply(&self, fx: Effects) {
        for t in &fx.twists {
            if let Some(p) = &self.cmd_vel {
                let mut msg = r2r::geometry_msgs::msg::Twist::default();
                msg.linear.x = t.linear;
                msg.angular.z = t.angular;
                match p.publish(&msg) {
                    Ok(()) => Counters::add(&self.counters.published),
                    Err(e) => log::error!("cmd_vel: cannot publish: {e}"),
                }
            }
        }
        for o in &fx.outcomes {
            if o.status == crate::command::OutcomeStatus::Rejected {
                Counters::add(&self.counters.refused);
                if self.refusal_log.allow(Instant::now()) {
                    log::warn!(
                        "command refused: {} ({})",
                        o.reason.as_deref().unwrap_or("no reason"),
                        o.command.as_deref().unwrap_or("?")
                    );
                }
            } else {
                log::info!(
                    "command {}: {:?} {}",
                    o.command.as_deref().unwrap_or("?"),
                    o.status,
                    o.reason.as_deref().unwrap_or("")
                );
            }
            self.ctx.status("command", o, false);
        }
        for a in &fx.alerts {
            self.ctx.alert(a.level, &a.message, &a.data);
        }
        let mode = self.core.mode();
        self.ctx.telemetry.update(|s| {
            s.emergency = mode == Mode::Emergency;
            s.commanded_motion = matches!(mode, Mode::Moving | Mode::Velocity);
        });
    }

    fn on_inbound(&mut self, m: Inbound) {
        if let Some(sink) = self.sinks.get(&m.topic) {
            to_ros(&self.ctx, sink, &m.payload);
        } else if let Some(action) = self.ctx.tree.command_action(&m.topic) {
            Counters::add(&self.counters.received);
            let fx = if m.retain && !matches!(action, "stop" | "emergency") {
                // A retained command is an old command: it is never obeyed.
                refused(action, "retained messages are not obeyed as commands")
            } else {
                self.core
                    .on_mqtt(action, &m.payload, Instant::now(), chrono::Utc::now())
            };
            self.apply(fx);
        }
    }

    fn on_tick(&mut self, last_odom: &mut Option<Instant>) {
        if let Some(p) = self.ctx.telemetry.snapshot().pose {
            if *last_odom != Some(p.at) {
                *last_odom = Some(p.at);
                self.core.on_odom(Odom2 {
                    x: p.x,
                    y: p.y,
                    yaw: p.yaw,
                    at: p.at,
                });
            }
        }
        let fx = self.core.tick(Instant::now());
        self.apply(fx);
    }
}

async fn command_runner(
    mut runner: Runner,
    mut priority: mpsc::Receiver<Inbound>,
    mut inbound: mpsc::Receiver<Inbound>,
    mut estop: mpsc::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let rate = runner.ctx.config.commands.rate_hz;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // Burst: after a stall the missed ticks run at once, so the motion plan stays on the
    // wall clock and the robot is not commanded longer than planned.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut last_odom: Option<Instant> = None;
    loop {
        // In this order: stopping, the ROS e-stop, fleet stops, the motion tick, then the rest;
        // a flood of other fleet messages can delay none of the first four.
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                // Leave the robot still.
                if runner.core.mode() != Mode::Idle {
                    runner.apply(Effects { twists: vec![Twist2::ZERO], ..Default::default() });
                }
                return;
            }
            Some(engaged) = estop.recv() => {
                let fx = runner.core.on_ros_estop(engaged, Instant::now());
                runner.apply(fx);
            }
            Some(m) = priority.recv() => runner.on_inbound(m),
            _ = tick.tick() => runner.on_tick(&mut last_odom),
            Some(m) = inbound.recv() => {
                let was_idle = runner.core.mode() == Mode::Idle;
                runner.on_inbound(m);
                // A motion that starts from rest gets its first Twist now, not up to one
                // period later: the tick grid restarts here (no extra tick, so the motion
                // plan keeps its timing).
                if was_idle && matches!(runner.core.mode(), Mode::Moving | Mode::Velocity) {
                    tick.reset_immediately();
                }
            }
        }
    }
}

fn refused(action: &str, reason: &str) -> Effects {
    Effects {
        outcomes: vec![crate::command::Outcome {
            id: None,
            command: Some(action.to_owned()),
            status: crate::command::OutcomeStatus::Rejected,
            reason: Some(reason.to_owned()),
        }],
        ..Default::default()
    }
}

/// A generic MQTT to ROS message: checked against the type, then published.
fn to_ros(ctx: &Ctx, sink: &Sink, payload: &[u8]) {
    let refuse = |why: String| {
        Counters::add(&sink.counters.refused);
        log::warn!("mapping `{}`: message refused: {why}", sink.name);
        ctx.alert(
            AlertLevel::Warning,
            "MQTT message refused",
            &serde_json::json!({"mapping": sink.name, "reason": why}),
        );
    };
    Counters::add(&sink.counters.received);
    if payload.len() > ctx.config.commands.max_payload {
        return refuse(format!(
            "payload of {} bytes is over the limit",
            payload.len()
        ));
    }
    let value: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => generic::unwrap_envelope(v),
        Err(e) => return refuse(format!("not JSON: {e}")),
    };
    if let Err(why) = generic::check(&value, &sink.skeleton) {
        return refuse(why);
    }
    match sink.publisher.publish(value) {
        Ok(()) => Counters::add(&sink.counters.published),
        Err(e) => refuse(format!("does not fit the message type: {e}")),
    }
}

/// `status/state` at its rate.
async fn state_publisher(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let cfg = ctx.config.state.clone();
    let stale = Duration::from_secs_f64(ctx.config.alerts.stale_after.max(0.5));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / cfg.rate_hz));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let data = state::derive(&ctx.telemetry.snapshot(), Instant::now(), cfg.moving_threshold, stale);
                ctx.status(&cfg.action, &data, true);
            }
        }
    }
}

/// One ROS to MQTT stream watched for silence.
struct Watched {
    name: String,
    topic: String,
    counters: Arc<Counters>,
    watch: crate::alerts::StaleWatch,
}

/// Alerts from what the bridge sees, checked once a second: battery low/critical, streams stale.
async fn alert_watcher(ctx: Ctx, mut streams: Vec<Watched>, mut shutdown: watch::Receiver<bool>) {
    let a = ctx.config.alerts.clone();
    let mut battery =
        crate::alerts::BatteryAlarm::new(a.battery_low, a.battery_critical, a.battery_hysteresis);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let now = Instant::now();
                if let Some(p) = ctx.telemetry.snapshot().battery.and_then(|b| b.percent) {
                    if let Some((level, message)) = battery.update(p) {
                        ctx.alert(level, message, &serde_json::json!({"battery_level": p}));
                    }
                }
                for s in &mut streams {
                    let last = s.counters.last_seen();
                    if let Some((level, message)) = s.watch.update(last, now) {
                        let silent = last.map(|t| now.saturating_duration_since(t).as_secs_f64()).unwrap_or(0.0);
                        log::warn!("mapping `{}`: {message} ({} silent for {silent:.1} s)", s.name, s.topic);
                        ctx.alert(level, message, &serde_json::json!({
                            "mapping": s.name, "ros_topic": s.topic,
                            "silent_seconds": (silent * 10.0).round() / 10.0,
                        }));
                    }
                }
            }
        }
    }
}

/// `status/bridge` and `/diagnostics` at their period.
async fn diagnostics_publisher(
    ctx: Ctx,
    publisher: r2r::Publisher<r2r::diagnostic_msgs::msg::DiagnosticArray>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(
        ctx.config.bridge.diagnostics_period,
    ));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let report = ctx.stats.report();
                ctx.status("bridge", &report, false);
                if let Err(e) = publisher.publish(&crate::diagnostics::to_ros(&report, ctx.tree.robot_id())) {
                    log::debug!("/diagnostics: {e}");
                }
            }
        }
    }
}
