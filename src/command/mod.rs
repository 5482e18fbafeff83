//! PLACEHOLDER until the command core lands: move_forward/backward, rotate_left/right and stop,
//! open loop, no acceleration limits. Replaced by the full safety state machine.

use std::time::Instant;

use crate::config::CommandConfig;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Twist2 {
    pub linear: f64,
    pub angular: f64,
}

impl Twist2 {
    pub const ZERO: Twist2 = Twist2 {
        linear: 0.0,
        angular: 0.0,
    };
}

#[derive(Debug, Clone, Copy)]
pub struct Odom2 {
    pub x: f64,
    pub y: f64,
    pub yaw: f64,
    pub at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Accepted,
    Rejected,
    Completed,
    Preempted,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub id: Option<String>,
    pub command: Option<String>,
    pub status: OutcomeStatus,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertLevel {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertOut {
    pub level: AlertLevel,
    pub message: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    pub twists: Vec<Twist2>,
    pub outcomes: Vec<Outcome>,
    pub alerts: Vec<AlertOut>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Idle,
    Moving,
    Velocity,
    Emergency,
}

pub struct CommandCore {
    cfg: CommandConfig,
    remaining_ticks: u32,
    twist: Twist2,
    command: Option<String>,
}

impl CommandCore {
    pub fn new(cfg: &CommandConfig) -> Self {
        CommandCore {
            cfg: cfg.clone(),
            remaining_ticks: 0,
            twist: Twist2::ZERO,
            command: None,
        }
    }

    pub fn on_mqtt(
        &mut self,
        action: &str,
        payload: &[u8],
        _now: Instant,
        _wall: chrono::DateTime<chrono::Utc>,
    ) -> Effects {
        let mut fx = Effects::default();
        let reject = |fx: &mut Effects, why: &str| {
            fx.outcomes.push(Outcome {
                id: None,
                command: None,
                status: OutcomeStatus::Rejected,
                reason: Some(why.into()),
            })
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
            reject(&mut fx, "not JSON");
            return fx;
        };
        if action == "stop" {
            self.remaining_ticks = 0;
            fx.twists.push(Twist2::ZERO);
            return fx;
        }
        let cmd = v["command"].as_str().unwrap_or("").to_owned();
        let speed = v["parameters"]["speed"].as_f64().unwrap_or(0.0);
        let extent = v["parameters"]["distance"]
            .as_f64()
            .or(v["parameters"]["angle"].as_f64())
            .unwrap_or(0.0);
        let (lin, ang) = (
            self.cfg.linear_unit.to_meters(),
            self.cfg.angular_unit.to_radians(),
        );
        let (twist, secs) = match cmd.as_str() {
            "move_forward" => (
                Twist2 {
                    linear: speed * lin,
                    angular: 0.0,
                },
                extent / speed,
            ),
            "move_backward" => (
                Twist2 {
                    linear: -speed * lin,
                    angular: 0.0,
                },
                extent / speed,
            ),
            "rotate_left" => (
                Twist2 {
                    linear: 0.0,
                    angular: speed * ang,
                },
                extent / speed,
            ),
            "rotate_right" => (
                Twist2 {
                    linear: 0.0,
                    angular: -speed * ang,
                },
                extent / speed,
            ),
            _ => {
                reject(&mut fx, "unknown command");
                return fx;
            }
        };
        if !(secs.is_finite() && secs > 0.0) {
            reject(&mut fx, "bad parameters");
            return fx;
        }
        self.twist = twist;
        self.remaining_ticks = (secs * self.cfg.rate_hz).round() as u32;
        self.command = Some(cmd.clone());
        fx.outcomes.push(Outcome {
            id: None,
            command: Some(cmd),
            status: OutcomeStatus::Accepted,
            reason: None,
        });
        fx
    }

    pub fn on_ros_estop(&mut self, _engaged: bool, _now: Instant) -> Effects {
        Effects::default()
    }

    pub fn on_odom(&mut self, _odom: Odom2) {}

    pub fn tick(&mut self, _now: Instant) -> Effects {
        let mut fx = Effects::default();
        if self.remaining_ticks > 0 {
            self.remaining_ticks -= 1;
            fx.twists.push(self.twist);
            if self.remaining_ticks == 0 {
                fx.twists.push(Twist2::ZERO);
                fx.outcomes.push(Outcome {
                    id: None,
                    command: self.command.take(),
                    status: OutcomeStatus::Completed,
                    reason: None,
                });
            }
        }
        fx
    }

    pub fn mode(&self) -> Mode {
        if self.remaining_ticks > 0 {
            Mode::Moving
        } else {
            Mode::Idle
        }
    }
}
