//! The VDA 5050 side of the vehicle as a pure state machine: no ROS, no broker, time injected
//! (`now` for periods, `wall` for timestamps and message ages), like the command core.
//!
//! Inputs: master control's `order` and `instantActions` bytes (`on_message`); odometry;
//! battery; the e-stop latch; the protective field; the operating mode; the navigation's
//! progress; the MQTT connection's life (`on_connected`, `on_disconnected`, `on_shutdown`;
//! the `connection` topic itself is the link's, through [`Presence`]); and `tick` (call it at
//! [`VdaCore::next_wake`]). Every call returns [`Effects`]: messages to publish, a change of
//! the pause gate for the safety core, messages for the robot's navigation.
//!
//! `state` goes out on every event (an order accepted or refused, an instant action, an
//! action state or error that changes, the pause, the e-stop, the operating mode, driving
//! starting or stopping, the position becoming (un)known, the battery moving
//! `vda5050.battery_step` or (not) charging, a node reached), events closer than
//! `min_state_interval` sharing one message, and at least every `state_period`; only while
//! connected (the first after a connect is the current state).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::action_states::{ActionRecord, ActionStates, Origin};
use super::config::{Invalid, VdaConfig};
use super::errors::{ActiveError, ErrorKind, Errors, Scope};
use super::header::Stamper;
use super::input::{self, Identity, Source};
use super::instant::Request;
use super::msg::factsheet::{Body, Factsheet};
use super::msg::instant_actions::InstantActions;
use super::msg::navigation::{Command, Control, Progress};
use super::msg::order::{Action, Order};
use super::msg::state::{self, AgvPosition, BatteryState, SafetyState, State, Velocity};
use super::msg::visualization::Visualization;
use super::msg::Headed;
use super::order::{OrderBook, Verdict};
use super::presence::Presence;
use super::topics::{Incoming, Outgoing, Publish, Topics};
use super::validate::{self, Rules};
use super::version::Version;
use super::words::{ActionStatus, EstopType, OperatingMode};
use crate::envelope::to_json;
use crate::logging::{printable, Throttle};

/// What the caller must do after a call, in this order: apply `gate`, publish `publish`,
/// hand `navigation` to the robot's navigation.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    pub publish: Vec<Publish>,
    /// A change of the pause gate, for the safety core (the command core); `None`: unchanged.
    pub gate: Option<Gate>,
    pub navigation: Vec<NavMessage>,
}

/// The pause, as a level the safety core holds until told otherwise.
///
/// `Hold` (startPause): at once, within the current command tick, a zero Twist on `cmd_vel`
/// and whatever motion runs cancelled; then a zero Twist on every tick, and every motion
/// command refused ("paused by VDA 5050 master control"), until `Release` (stopPause). `Release`
/// never starts a motion by itself. The e-stop latch is independent of it: either holds the
/// robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Hold,
    Release,
}

/// Which navigation topic a message is for (`vda5050.navigation.order_topic` or
/// `control_topic`; `std_msgs/String` with `data` = the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NavTopic {
    Order,
    Control,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NavMessage {
    pub topic: NavTopic,
    pub data: String,
}

/// Odometry in the frame `vda5050.map_id` names: metres, radians; velocity in vehicle
/// coordinates (m/s forward and left, rad/s counter-clockwise: `nav_msgs/Odometry.twist`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Odometry {
    pub x: f64,
    pub y: f64,
    pub yaw: f64,
    pub vx: f64,
    pub vy: f64,
    pub omega: f64,
}

/// The battery: percent 0-100 (`None` when unknown), charging (power supply status).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battery {
    pub percent: Option<f64>,
    pub charging: bool,
}

/// Who holds the e-stop latch: the robot's own (ROS) e-stop, the fleet's (MQTT).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estop {
    pub robot: bool,
    pub fleet: bool,
}

/// For the bridge's diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    /// Messages from master control refused whole, or actions of them refused.
    pub refused: u64,
    /// Navigation progress messages refused.
    pub progress_refused: u64,
    /// The oldest errors dropped to keep `limits.max_errors`.
    pub errors_evicted: u64,
    /// Finished action states dropped to keep `limits.max_action_states`.
    pub action_states_evicted: u64,
}

/// What the last `state` said, to tell events apart from noise.
#[derive(Debug, Clone, Copy, Default)]
struct Reported {
    driving: bool,
    position_initialized: bool,
    battery: Option<f64>,
}

/// Periods, from the validated configuration.
#[derive(Debug, Clone, Copy)]
struct Periods {
    state: Duration,
    min_state: Duration,
    visualization: Option<Duration>,
    odom_timeout: Duration,
}

pub struct VdaCore {
    cfg: VdaConfig,
    version: Version,
    identity: Identity,
    topics: Topics,
    stamper: Stamper,
    factsheet: Body,
    periods: Periods,
    connected: bool,
    // The robot.
    odom: Option<(Odometry, Instant)>,
    battery: Option<Battery>,
    estop: Estop,
    field_violation: bool,
    mode: OperatingMode,
    nav_driving: bool,
    // The VDA side.
    paused: bool,
    book: OrderBook,
    actions: ActionStates,
    errors: Errors,
    /// RUNNING startPause and cancelOrder actions: FINISHED once the vehicle stands still.
    settling: Vec<String>,
    // Publishing.
    reported: Reported,
    last_state: Option<Instant>,
    state_pending: bool,
    last_factsheet: Option<Instant>,
    factsheet_pending: bool,
    next_visualization: Option<Instant>,
    counters: Counters,
    refusal_log: Throttle,
}

/// The result of a startPause or cancelOrder that waited for it.
const STANDSTILL: &str = "the vehicle stands still";

/// Longest `resultDescription` taken from the navigation.
const RESULT_LEN: usize = 512;

/// Log lines a second about refused input.
const LOG_PER_SECOND: u32 = 10;

fn seconds(s: f64) -> Duration {
    // The configuration is validated; a fallback keeps a bad one from panicking.
    Duration::try_from_secs_f64(s).unwrap_or(Duration::from_secs(1))
}

fn due(last: Option<Instant>, every: Duration, now: Instant) -> bool {
    last.is_none_or(|t| t.checked_add(every).is_none_or(|at| now >= at))
}

impl VdaCore {
    /// From the `vda5050:` block and the robot id (`{robot_id}` of the serial number).
    pub fn new(cfg: &VdaConfig, robot_id: &str) -> Result<VdaCore, Invalid> {
        cfg.validate()?;
        let serial = cfg.serial_number(robot_id)?;
        let missing = |key: &str| Invalid {
            key: format!("vda5050.{key}"),
            message: "required to speak VDA 5050".into(),
        };
        let version = cfg.version().ok_or_else(|| missing("major_version"))?;
        let factsheet = Body::new(cfg).ok_or_else(|| missing("factsheet"))?;
        let mut errors = Errors::new(cfg.limits.max_errors);
        errors.raise(battery_unknown());
        Ok(VdaCore {
            version,
            identity: Identity {
                version,
                manufacturer: cfg.manufacturer.clone(),
                serial_number: serial.clone(),
            },
            topics: Topics::new(&cfg.interface_name, version, &cfg.manufacturer, &serial),
            stamper: Stamper::new(version, &cfg.manufacturer, &serial),
            factsheet,
            periods: Periods {
                state: seconds(cfg.state_period),
                min_state: seconds(cfg.min_state_interval),
                visualization: (cfg.visualization_rate_hz > 0.0)
                    .then(|| seconds(1.0 / cfg.visualization_rate_hz)),
                odom_timeout: seconds(cfg.odom_timeout),
            },
            connected: false,
            odom: None,
            battery: None,
            estop: Estop::default(),
            field_violation: false,
            mode: cfg.operating_mode,
            nav_driving: false,
            paused: false,
            book: OrderBook::default(),
            actions: ActionStates::new(cfg.limits.max_action_states),
            errors,
            settling: Vec::new(),
            reported: Reported::default(),
            last_state: None,
            state_pending: true,
            last_factsheet: None,
            factsheet_pending: true,
            next_visualization: None,
            counters: Counters::default(),
            refusal_log: Throttle::new("refused VDA 5050 messages", LOG_PER_SECOND),
            cfg: cfg.clone(),
        })
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    pub fn counters(&self) -> Counters {
        Counters {
            errors_evicted: self.errors.evicted,
            action_states_evicted: self.actions.evicted,
            ..self.counters
        }
    }

    /// Whether the pause holds (the level of [`Gate`]).
    pub fn paused(&self) -> bool {
        self.paused
    }

    // ----- the connection -----

    /// The presence for the MQTT connection that carries the profile (`connection`: the Will,
    /// ONLINE, OFFLINE): the link owns it, as it owns the seed's `status/connection`.
    pub fn presence(&self) -> Presence {
        Presence::new(
            self.version,
            &self.topics,
            &self.identity.manufacturer,
            &self.identity.serial_number,
        )
    }

    /// After CONNACK (and the presence's ONLINE): the factsheet (retained) and the state.
    pub fn on_connected(&mut self, now: Instant, wall: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        self.connected = true;
        self.send_factsheet(&mut fx, now, wall);
        self.send_state(&mut fx, now, wall);
        self.next_visualization = self.periods.visualization.map(|_| now);
        self.finish(&mut fx, now, wall);
        fx
    }

    /// The connection is gone: nothing is published until the next `on_connected`.
    pub fn on_disconnected(&mut self) {
        self.connected = false;
    }

    /// A graceful stop, before the presence's OFFLINE: an active order is cancelled in the
    /// navigation (nobody could follow or pause it once the bridge is gone), and a last state
    /// says so. Nothing is published after it.
    pub fn on_shutdown(&mut self, now: Instant, wall: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        if self.book.active(self.actions.order_running()) {
            self.drop_order(&mut fx, "the bridge is shutting down");
            if self.connected {
                self.send_state(&mut fx, now, wall);
            }
        }
        self.connected = false;
        fx
    }

    // ----- master control -----

    /// A message from master control on `topic` (see [`Topics::classify`]); `retained` as
    /// the broker flagged it.
    pub fn on_message(
        &mut self,
        topic: Incoming,
        payload: &[u8],
        retained: bool,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Effects {
        self.receive(now, wall, |core, fx| match topic {
            Incoming::Order => core.take_order(fx, payload, retained, wall),
            Incoming::InstantActions => core.take_instant_actions(fx, payload, retained, now, wall),
        })
    }

    /// A message from master control over `limits.max_payload` bytes, whose bytes were not
    /// kept: refused by its size alone.
    pub fn on_oversized(
        &mut self,
        topic: Incoming,
        size: usize,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Effects {
        let max = self.cfg.limits.max_payload;
        self.receive(now, wall, |_, _| {
            Err(input::too_large(Source::of(topic), size, max))
        })
    }

    /// A message from master control: taken, or refused whole; either way an event.
    fn receive(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        take: impl FnOnce(&mut Self, &mut Effects) -> Result<(), ActiveError>,
    ) -> Effects {
        let mut fx = Effects::default();
        self.counters.received += 1;
        if let Err(e) = take(self, &mut fx) {
            self.refuse(e, now);
        }
        self.state_pending = true;
        self.finish(&mut fx, now, wall);
        fx
    }

    fn take_order(
        &mut self,
        fx: &mut Effects,
        payload: &[u8],
        retained: bool,
        wall: DateTime<Utc>,
    ) -> Result<(), ActiveError> {
        let max = self.cfg.limits.max_payload;
        let Some(nav) = self.cfg.navigation.clone() else {
            let e = ActiveError::new(
                ErrorKind::Order,
                Scope::Order,
                "this vehicle takes no orders: no navigation is configured \
                 (vda5050.navigation); nothing moves",
            );
            return Err(match input::read::<Order>(payload, Source::Order, max) {
                Ok(o) => about(e, &o),
                Err(_) => e.refer("topic", "order"),
            });
        };
        let order: Order = input::read(payload, Source::Order, max)?;
        let stamp = input::check_header(order.header(), &self.identity, Source::Order)
            .map_err(|e| about(e, &order))?;
        let stale = retained
            .then(|| "retained messages are not obeyed as orders".to_owned())
            .or_else(|| input::freshness(stamp, wall, self.cfg.max_age, self.cfg.max_future));
        if let Some(why) = stale {
            let e = input::refusal(Source::Order, format!("{why}; the order was not obeyed"));
            return Err(about(e, &order));
        }
        if !self.mode.master_in_control() {
            let e = ActiveError::new(
                ErrorKind::Order,
                Scope::Order,
                format!(
                    "operating mode {}: master control is not in control of this vehicle",
                    self.mode.word()
                ),
            );
            return Err(about(e, &order));
        }
        let rules = Rules {
            limits: &self.cfg.limits,
            map_id: &self.cfg.map_id,
            navigation: &nav,
        };
        validate::check(&order, rules).map_err(|e| about(e, &order))?;
        let running = self.actions.order_running();
        let verdict = self
            .book
            .judge(&order, running, self.cfg.limits.max_nodes)
            .map_err(|e| about(e, &order))?;
        if verdict == Verdict::Repeat {
            log::info!(
                "VDA 5050 order {} update {} received again: ignored",
                printable(&order.order_id, 64),
                order.order_update_id
            );
            return Ok(());
        }
        self.accept(&order, verdict).map_err(|e| about(e, &order))?;
        fx.navigation.push(NavMessage {
            topic: NavTopic::Order,
            data: String::from_utf8_lossy(payload).into_owned(),
        });
        if self.paused {
            self.control(fx, Command::Pause);
        }
        Ok(())
    }

    /// Takes a new order or an update into the book and its actions into the action states,
    /// unless an actionId is taken or they do not fit.
    fn accept(&mut self, order: &Order, verdict: Verdict) -> Result<(), ActiveError> {
        // The stitching node's actions are the first order's.
        let update = verdict == Verdict::Update;
        let actions = order_actions(order, usize::from(update));
        let replaced = if update {
            self.book.horizon()
        } else {
            Vec::new()
        };
        // What stays: a new order keeps only running instant actions, an update all but the
        // replaced horizon's.
        let stays = |r: &ActionRecord| match r.origin {
            Origin::Instant => update || !r.status.is_final(),
            Origin::Order { sequence_id } => update && !replaced.contains(&sequence_id),
        };
        let taken = actions.iter().find(|(a, _)| {
            self.actions
                .iter()
                .any(|r| r.action_id == a.action_id && stays(r))
        });
        if let Some((a, _)) = taken {
            let e = input::refusal(
                Source::Order,
                format!("actionId `{}` is already in use", a.action_id),
            );
            return Err(e.refer("actionId", &a.action_id));
        }
        if !self.actions.has_room(actions.len()) {
            return Err(ActiveError::new(
                ErrorKind::Order,
                Scope::Order,
                format!(
                    "{} more actions do not fit in the vehicle's action states \
                     (vda5050.limits.max_action_states {})",
                    actions.len(),
                    self.cfg.limits.max_action_states
                ),
            ));
        }
        if update {
            self.actions.drop_elements(&replaced);
            self.book.extend(order);
        } else {
            self.actions.new_order();
            self.book.start(order);
        }
        for (a, sequence_id) in actions {
            self.actions.push(record(a, Origin::Order { sequence_id }));
        }
        self.errors.order_accepted();
        log::info!(
            "VDA 5050 order {} update {} accepted ({} nodes to go)",
            printable(&order.order_id, 64),
            order.order_update_id,
            self.book.nodes.len()
        );
        Ok(())
    }

    fn take_instant_actions(
        &mut self,
        fx: &mut Effects,
        payload: &[u8],
        retained: bool,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<(), ActiveError> {
        let source = Source::InstantActions;
        let msg: InstantActions = input::read(payload, source, self.cfg.limits.max_payload)?;
        let stamp = input::check_header(msg.header(), &self.identity, source)?;
        let header_id = msg.header_id.to_string();
        let max = self.cfg.limits.max_instant_actions;
        if msg.actions.len() > max {
            let e = input::refusal(
                source,
                format!(
                    "{} actions in one message are more than this vehicle takes ({max}, \
                     vda5050.limits.max_instant_actions); none was obeyed",
                    msg.actions.len()
                ),
            );
            return Err(e.refer("headerId", &header_id));
        }
        // A retained or stale message may still stop the robot or ask for reports.
        let stale = retained
            .then(|| "a retained message".to_owned())
            .or_else(|| input::freshness(stamp, wall, self.cfg.max_age, self.cfg.max_future));
        let mut whole = true;
        for action in &msg.actions {
            if let Err(e) = self.instant_action(fx, action, stale.as_deref(), now) {
                whole = false;
                let e = e
                    .refer("topic", "instantActions")
                    .refer("headerId", &header_id);
                self.refuse(e, now);
            }
        }
        if whole {
            self.errors.instant_actions_accepted();
        }
        Ok(())
    }

    fn instant_action(
        &mut self,
        fx: &mut Effects,
        action: &Action,
        stale: Option<&str>,
        now: Instant,
    ) -> Result<(), ActiveError> {
        let id = &action.action_id;
        let refused = |why: String| {
            ActiveError::new(ErrorKind::InstantAction, Scope::InstantActions, why)
                .with("actionId", id)
                .with("actionType", &action.action_type)
        };
        validate::id("actionId", id, self.cfg.limits.max_id_len)
            .map_err(|why| refused(format!("{why}; the action was not executed")))?;
        if self.actions.contains(id) {
            return Err(refused(format!(
                "actionId `{id}` is already in use; the action was not executed"
            )));
        }
        if !self.actions.has_room(1) {
            return Err(refused(format!(
                "too many actions in progress (vda5050.limits.max_action_states {}); the \
                 action was not executed",
                self.cfg.limits.max_action_states
            )));
        }
        let request = match Request::of(action) {
            Ok(r) => r,
            Err(why) => {
                self.push_instant(action, ActionStatus::Failed, Some(&why));
                return Err(refused(why));
            }
        };
        if let (Some(why), false) = (stale, request.only_stops_or_reports()) {
            let why = format!(
                "{why} is not obeyed for {}: it would let the robot move",
                action.action_type
            );
            self.push_instant(action, ActionStatus::Failed, Some(&why));
            return Err(
                ActiveError::new(ErrorKind::Validation, Scope::InstantActions, why)
                    .with("actionId", id),
            );
        }
        match request {
            Request::StartPause => {
                if !self.paused {
                    self.paused = true;
                    fx.gate = Some(Gate::Hold);
                    self.control(fx, Command::Pause);
                    log::warn!("VDA 5050 startPause {}: paused", printable(id, 64));
                }
                self.until_standstill(action, now);
            }
            Request::StopPause => {
                let was = self.paused;
                if was {
                    self.paused = false;
                    fx.gate = Some(Gate::Release);
                    self.control(fx, Command::Resume);
                    self.end_pauses("the pause ended (stopPause) before the vehicle stood still");
                    log::info!("VDA 5050 stopPause {}: resumed", printable(id, 64));
                }
                let note = (!was).then_some("the vehicle was not paused");
                self.push_instant(action, ActionStatus::Finished, note);
            }
            Request::CancelOrder => {
                if !self.book.active(self.actions.order_running()) {
                    let why = "no order to cancel";
                    self.push_instant(action, ActionStatus::Failed, Some(why));
                    return Err(
                        ActiveError::new(ErrorKind::NoOrderToCancel, Scope::Order, why)
                            .with("actionId", id),
                    );
                }
                self.drop_order(fx, &format!("cancelled by cancelOrder {id}"));
                self.until_standstill(action, now);
            }
            Request::StateRequest => {
                self.push_instant(action, ActionStatus::Finished, None);
            }
            Request::FactsheetRequest => {
                self.factsheet_pending = true;
                self.push_instant(action, ActionStatus::Finished, None);
            }
        }
        Ok(())
    }

    // ----- the robot -----

    pub fn on_odometry(&mut self, o: Odometry, now: Instant, wall: DateTime<Utc>) -> Effects {
        self.odom = Some((o, now));
        self.after(now, wall)
    }

    pub fn on_battery(&mut self, b: Battery, now: Instant, wall: DateTime<Utc>) -> Effects {
        let percent = b
            .percent
            .filter(|p| p.is_finite() && (0.0..=100.0).contains(p));
        let before = self.battery;
        self.battery = Some(Battery { percent, ..b });
        let changed = match percent {
            Some(_) => self.errors.resolve(ErrorKind::BatteryUnknown),
            None => self.errors.raise(battery_unknown()),
        };
        let moved = match (percent, self.reported.battery) {
            (Some(p), Some(r)) => (p - r).abs() >= self.cfg.battery_step,
            (p, r) => p.is_some() != r.is_some(),
        };
        if changed || moved || before.map(|x| x.charging) != Some(b.charging) {
            self.state_pending = true;
        }
        self.after(now, wall)
    }

    pub fn on_estop(&mut self, e: Estop, now: Instant, wall: DateTime<Utc>) -> Effects {
        if e != self.estop {
            self.estop = e;
            self.state_pending = true;
        }
        self.after(now, wall)
    }

    pub fn on_field_violation(&mut self, v: bool, now: Instant, wall: DateTime<Utc>) -> Effects {
        if v != self.field_violation {
            self.field_violation = v;
            self.state_pending = true;
        }
        self.after(now, wall)
    }

    /// The operating mode changed. Entering or leaving MANUAL, or entering a mode where
    /// master control is not in control, clears the order (the text, 6.10.6 table 1).
    pub fn on_operating_mode(
        &mut self,
        mode: OperatingMode,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Effects {
        let mut fx = Effects::default();
        if mode != self.mode {
            let clears = self.mode == OperatingMode::Manual || !mode.master_in_control();
            if clears && self.book.active(self.actions.order_running()) {
                let why = format!("operating mode {} cleared the order", mode.word());
                self.drop_order(&mut fx, &why);
            }
            log::info!(
                "VDA 5050 operating mode {} -> {}",
                self.mode.word(),
                mode.word()
            );
            self.mode = mode;
            self.state_pending = true;
        }
        self.finish(&mut fx, now, wall);
        fx
    }

    /// A message from the robot's navigation on `navigation.progress_topic`.
    pub fn on_progress(&mut self, payload: &[u8], now: Instant, wall: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        match input::read::<Progress>(payload, Source::Navigation, self.cfg.limits.max_payload) {
            Ok(p) => self.progress(p, now),
            Err(e) => {
                self.counters.progress_refused += 1;
                self.refuse(e, now);
                self.state_pending = true;
            }
        }
        self.finish(&mut fx, now, wall);
        fx
    }

    fn progress(&mut self, p: Progress, now: Instant) {
        if let Some(d) = p.driving {
            self.nav_driving = d;
        }
        if p.order_id != self.book.order_id {
            // About an order that is no longer the vehicle's: only `driving` counts.
            log::debug!("VDA 5050 progress of another order ignored");
            return;
        }
        let max_id = self.cfg.limits.max_id_len;
        let reached = match (p.last_node_id, p.last_node_sequence_id) {
            (Some(id), Some(seq)) => {
                validate::id("lastNodeId", &id, max_id).and_then(|()| self.book.reached(&id, seq))
            }
            (None, None) => Ok(false),
            _ => Err("lastNodeId and lastNodeSequenceId come together".to_owned()),
        };
        match reached {
            Ok(changed) => self.state_pending |= changed,
            Err(why) => {
                self.counters.progress_refused += 1;
                self.refuse(input::refusal(Source::Navigation, why), now);
                self.state_pending = true;
            }
        }
        for a in p.action_states {
            let Some(r) = self.actions.get_mut(&a.action_id) else {
                continue;
            };
            if matches!(r.origin, Origin::Order { .. })
                && !r.status.is_final()
                && (r.status, &r.result) != (a.action_status, &a.result_description)
            {
                r.status = a.action_status;
                r.result = a
                    .result_description
                    .map(|d| printable(&d, RESULT_LEN).into_owned());
                self.state_pending = true;
            }
        }
    }

    // ----- time -----

    /// Called at [`VdaCore::next_wake`] (or later): periodic state and visualization, and
    /// what the passing of time changes (odometry going stale).
    pub fn tick(&mut self, now: Instant, wall: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        if let (true, Some(every), Some(at)) = (
            self.connected,
            self.periods.visualization,
            self.next_visualization,
        ) {
            if now >= at {
                self.send_visualization(&mut fx, now, wall);
                // After a stall the next one is a period from now, not a burst.
                let next = at.checked_add(every).filter(|n| *n > now);
                self.next_visualization = next.or_else(|| now.checked_add(every));
            }
        }
        self.finish(&mut fx, now, wall);
        fx
    }

    /// When `tick` has something to do next.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        let mut wakes = Vec::with_capacity(4);
        if self.connected {
            let every = if self.state_pending {
                self.periods.min_state
            } else {
                self.periods.state
            };
            wakes.push(self.last_state.and_then(|t| t.checked_add(every)));
            wakes.push(self.next_visualization);
            if self.factsheet_pending {
                wakes.push(
                    self.last_factsheet
                        .and_then(|t| t.checked_add(self.periods.min_state)),
                );
            }
        }
        if let Some((_, at)) = self.odom {
            let stale_at = at.checked_add(self.periods.odom_timeout);
            wakes.push(stale_at.filter(|s| *s > now));
        }
        wakes.into_iter().flatten().min()
    }

    // ----- what the state says -----

    fn fresh_odom(&self, now: Instant) -> Option<&Odometry> {
        self.odom
            .as_ref()
            .filter(|(_, at)| now.saturating_duration_since(*at) <= self.periods.odom_timeout)
            .map(|(o, _)| o)
    }

    /// Fresh odometry says whether the wheels turn; without it, the navigation's word.
    fn driving(&self, now: Instant) -> bool {
        let threshold = self.cfg.moving_threshold;
        match self.fresh_odom(now) {
            Some(o) if o.vx.is_finite() && o.vy.is_finite() && o.omega.is_finite() => {
                o.vx.hypot(o.vy) > threshold || o.omega.abs() > threshold
            }
            _ => self.nav_driving,
        }
    }

    fn position(&self, now: Instant) -> Option<AgvPosition> {
        let (o, _) = self.odom.as_ref()?;
        let fresh = self.fresh_odom(now).is_some();
        AgvPosition::new(o.x, o.y, o.yaw, &self.cfg.map_id, fresh)
    }

    fn velocity(&self, now: Instant) -> Option<Velocity> {
        let o = self.fresh_odom(now)?;
        Some(Velocity::new(o.vx, o.vy, o.omega))
    }

    fn safety(&self) -> SafetyState {
        let e_stop = match (self.estop.robot, self.estop.fleet) {
            (true, _) => self.cfg.estop_type,
            (false, true) => EstopType::Remote,
            (false, false) => EstopType::None,
        };
        SafetyState {
            e_stop,
            field_violation: self.field_violation,
        }
    }

    fn state(&mut self, now: Instant, wall: DateTime<Utc>) -> State {
        let battery = self.battery.unwrap_or(Battery {
            percent: None,
            charging: false,
        });
        State {
            header: self.stamper.next(Outgoing::State, wall),
            order_id: self.book.order_id.clone(),
            order_update_id: self.book.order_update_id,
            zone_set_id: self.book.zone_set_id.clone(),
            last_node_id: self.book.last_node_id.clone(),
            last_node_sequence_id: self.book.last_node_sequence_id,
            node_states: self.book.node_states(),
            edge_states: self.book.edge_states(),
            agv_position: self.position(now),
            velocity: self.velocity(now),
            driving: self.driving(now),
            paused: self.paused,
            action_states: self.actions.to_msg(),
            // Required by the schema: 0 while unknown, and a batteryStateUnknown error says so.
            battery_state: BatteryState {
                battery_charge: battery.percent.unwrap_or(0.0),
                charging: battery.charging,
            },
            operating_mode: self.mode,
            errors: self
                .errors
                .iter()
                .map(|e| state::Error {
                    error_type: e.error_type(self.version),
                    error_references: e
                        .references
                        .iter()
                        .map(|(key, value)| state::ErrorReference {
                            reference_key: key,
                            reference_value: value.clone(),
                        })
                        .collect(),
                    error_description: e.description.clone(),
                    error_level: e.level,
                })
                .collect(),
            safety_state: self.safety(),
        }
    }

    // ----- publishing -----

    fn message<T: Serialize>(&self, kind: Outgoing, msg: &T) -> Publish {
        Publish {
            kind,
            topic: self.topics.outgoing(kind),
            qos: kind.qos(),
            retain: kind.retained(),
            payload: to_json(msg),
        }
    }

    fn send_state(&mut self, fx: &mut Effects, now: Instant, wall: DateTime<Utc>) {
        let s = self.state(now, wall);
        self.reported = Reported {
            driving: s.driving,
            position_initialized: s
                .agv_position
                .as_ref()
                .is_some_and(|p| p.position_initialized),
            battery: self.battery.and_then(|b| b.percent),
        };
        fx.publish.push(self.message(Outgoing::State, &s));
        self.last_state = Some(now);
        self.state_pending = false;
    }

    fn send_factsheet(&mut self, fx: &mut Effects, now: Instant, wall: DateTime<Utc>) {
        let f = Factsheet {
            header: self.stamper.next(Outgoing::Factsheet, wall),
            body: self.factsheet.clone(),
        };
        fx.publish.push(self.message(Outgoing::Factsheet, &f));
        self.last_factsheet = Some(now);
        self.factsheet_pending = false;
    }

    fn send_visualization(&mut self, fx: &mut Effects, now: Instant, wall: DateTime<Utc>) {
        let (agv_position, velocity) = (self.position(now), self.velocity(now));
        if agv_position.is_none() && velocity.is_none() {
            return;
        }
        let v = Visualization {
            header: self.stamper.next(Outgoing::Visualization, wall),
            agv_position,
            velocity,
        };
        fx.publish.push(self.message(Outgoing::Visualization, &v));
    }

    /// After an input of the robot.
    fn after(&mut self, now: Instant, wall: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        self.finish(&mut fx, now, wall);
        fx
    }

    /// Ends every call: actions that waited for a standstill, events that time and odometry
    /// make, and whatever state or factsheet is due.
    fn finish(&mut self, fx: &mut Effects, now: Instant, wall: DateTime<Utc>) {
        if !self.settling.is_empty() && !self.driving(now) {
            for id in std::mem::take(&mut self.settling) {
                if let Some(r) = self.actions.get_mut(&id) {
                    if r.status == ActionStatus::Running {
                        r.status = ActionStatus::Finished;
                        r.result = Some(STANDSTILL.into());
                    }
                }
            }
            self.state_pending = true;
        }
        let initialized = self.position(now).is_some_and(|p| p.position_initialized);
        if self.driving(now) != self.reported.driving
            || initialized != self.reported.position_initialized
        {
            self.state_pending = true;
        }
        self.refusal_log.flush(now);
        if !self.connected {
            return;
        }
        let every = if self.state_pending {
            self.periods.min_state
        } else {
            self.periods.state
        };
        if due(self.last_state, every, now) {
            self.send_state(fx, now, wall);
        }
        if self.factsheet_pending && due(self.last_factsheet, self.periods.min_state, now) {
            self.send_factsheet(fx, now, wall);
        }
    }

    // ----- helpers -----

    fn push_instant(&mut self, action: &Action, status: ActionStatus, result: Option<&str>) {
        let mut r = record(action, Origin::Instant);
        r.status = status;
        r.result = result.map(str::to_owned);
        self.actions.push(r);
    }

    /// RUNNING until the vehicle stands still (`finish` ends it), FINISHED if it does now.
    fn until_standstill(&mut self, action: &Action, now: Instant) {
        if self.driving(now) {
            self.push_instant(action, ActionStatus::Running, None);
            self.settling.push(action.action_id.clone());
        } else {
            self.push_instant(action, ActionStatus::Finished, Some(STANDSTILL));
        }
    }

    /// Fails the RUNNING startPause actions: the pause they wait for ended.
    fn end_pauses(&mut self, why: &str) {
        for id in std::mem::take(&mut self.settling) {
            match self.actions.get_mut(&id) {
                Some(r) if r.action_type == "startPause" && r.status == ActionStatus::Running => {
                    r.status = ActionStatus::Failed;
                    r.result = Some(why.to_owned());
                }
                _ => self.settling.push(id),
            }
        }
    }

    /// Cancels the order in the navigation and here: nodes and edges go, its unfinished
    /// actions fail with `why`.
    fn drop_order(&mut self, fx: &mut Effects, why: &str) {
        self.control(fx, Command::Cancel);
        self.book.clear();
        self.actions.fail_order_actions(why);
        self.state_pending = true;
        log::warn!(
            "VDA 5050 order {}: {why}",
            printable(&self.book.order_id, 64)
        );
    }

    fn control(&self, fx: &mut Effects, command: Command) {
        if self.cfg.navigation.is_none() {
            return;
        }
        let msg = Control {
            command,
            order_id: (!self.book.order_id.is_empty()).then(|| self.book.order_id.clone()),
        };
        fx.navigation.push(NavMessage {
            topic: NavTopic::Control,
            data: String::from_utf8_lossy(&to_json(&msg)).into_owned(),
        });
    }

    /// Counts (master control's), logs (throttled) and reports a refusal.
    fn refuse(&mut self, e: ActiveError, now: Instant) {
        if e.kind != ErrorKind::Navigation {
            self.counters.refused += 1;
        }
        if self.refusal_log.allow(now) {
            log::warn!(
                "VDA 5050 {}: {}",
                e.error_type(self.version),
                printable(&e.description, 512)
            );
        }
        self.errors.raise(e);
    }
}

/// The references an error about `order` carries.
fn about(e: ActiveError, o: &Order) -> ActiveError {
    e.refer("topic", "order")
        .refer("headerId", o.header_id.to_string())
        .refer("orderId", &o.order_id)
        .refer("orderUpdateId", o.order_update_id.to_string())
}

fn battery_unknown() -> ActiveError {
    ActiveError::new(
        ErrorKind::BatteryUnknown,
        Scope::Condition,
        "no valid battery charge is known (no battery message, or its percentage is NaN or \
         out of range): batteryCharge 0 stands in for it",
    )
}

/// The actions of an order's nodes (from the `skip`-th on) and edges, with their element's
/// sequence id.
fn order_actions(o: &Order, skip: usize) -> Vec<(&Action, u32)> {
    let nodes = o
        .nodes
        .iter()
        .skip(skip)
        .flat_map(|n| n.actions.iter().map(move |a| (a, n.sequence_id)));
    let edges = o
        .edges
        .iter()
        .flat_map(|e| e.actions.iter().map(move |a| (a, e.sequence_id)));
    nodes.chain(edges).collect()
}

fn record(a: &Action, origin: Origin) -> ActionRecord {
    ActionRecord {
        action_id: a.action_id.clone(),
        action_type: a.action_type.clone(),
        status: ActionStatus::Waiting,
        result: None,
        origin,
    }
}
