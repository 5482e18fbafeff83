//! The ROS side: the rclpy peer `tests/ros/ros_tool.py` publishing or recording any message
//! type, and other Python run with the environment's interpreter. Every ROS process gets its
//! test's ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST.

use super::proc::{Lines, Proc};
use super::repo;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The message types the tests use, by their ROS names.
pub mod ros_type {
    pub const ODOMETRY: &str = "nav_msgs/msg/Odometry";
    pub const IMU: &str = "sensor_msgs/msg/Imu";
    pub const BATTERY: &str = "sensor_msgs/msg/BatteryState";
    pub const JOINTS: &str = "sensor_msgs/msg/JointState";
    pub const SCAN: &str = "sensor_msgs/msg/LaserScan";
    pub const TWIST: &str = "geometry_msgs/msg/Twist";
    pub const POSE: &str = "geometry_msgs/msg/PoseStamped";
    pub const STRING: &str = "std_msgs/msg/String";
    pub const BOOL: &str = "std_msgs/msg/Bool";
    pub const DIAGNOSTICS: &str = "diagnostic_msgs/msg/DiagnosticArray";
}

/// The Python of the environment (`AMR_BRIDGE_PY`, set by scripts/env.sh).
pub fn python() -> String {
    std::env::var("AMR_BRIDGE_PY").unwrap_or_else(|_| "python3".into())
}

/// The environment of a ROS process in `domain`: that domain, and DDS kept on this host.
pub fn ros_env(c: &mut Command, domain: u32) -> &mut Command {
    c.env("ROS_DOMAIN_ID", domain.to_string())
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
}

/// The Python of the environment running `script` (relative to the repo), with the ROS
/// environment of `domain` when given.
pub fn python_cmd(script: &str, domain: Option<u32>) -> Command {
    let mut c = Command::new(python());
    c.arg(repo().join(script));
    if let Some(d) = domain {
        ros_env(&mut c, d);
    }
    c
}

/// A ROS topic of type `ty` in a domain: what the rclpy peer publishes to or records.
pub struct RosTopic {
    pub domain: u32,
    pub ty: String,
    pub name: String,
    /// More environment variables of the peer (`test_types_env`).
    pub env: Vec<(String, String)>,
}

impl RosTopic {
    pub fn new(domain: u32, ty: &str, name: &str) -> RosTopic {
        RosTopic {
            domain,
            ty: ty.to_owned(),
            name: name.to_owned(),
            env: Vec::new(),
        }
    }

    /// The rclpy peer publishing `count` messages `data` at `rate` Hz with `qos` ("reliable"
    /// or "best_effort"); it waits up to 5 s for a subscriber first.
    pub fn publish(&self, data: &Value, rate: f64, count: u32, qos: &str) -> Proc {
        self.publish_args(data, rate, count, qos, &[])
    }

    /// `publish` with more `ros_tool.py pub` options (`--counter a.b`, `--stamp now`).
    pub fn publish_args(
        &self,
        data: &Value,
        rate: f64,
        count: u32,
        qos: &str,
        extra: &[&str],
    ) -> Proc {
        Proc::spawn(
            python_cmd("tests/ros/ros_tool.py", Some(self.domain))
                .args(["pub", &self.ty, &self.name, &data.to_string()])
                .args(["--rate", &rate.to_string(), "--count", &count.to_string()])
                .args(["--qos", qos])
                .args(extra)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
            "ros_tool.py pub",
        )
    }

    /// `publish`, and waits until the peer is done.
    pub fn publish_wait(&self, data: &Value, rate: f64, count: u32, qos: &str) {
        let mut p = self.publish(data, rate, count, qos);
        let s = p.child.wait().expect("ros_tool.py pub");
        assert!(s.success(), "ros_tool.py pub failed");
    }

    /// A recording rclpy subscriber on this topic (`RosSub::start`).
    pub fn subscribe(&self, qos: &str) -> RosSub {
        RosSub::start_env(self.domain, &self.ty, &self.name, qos, &self.env)
    }
}

/// A recording rclpy subscriber; `recv` gives (arrival unix time, message JSON).
pub struct RosSub {
    proc: Proc,
    lines: Lines,
}

impl RosSub {
    /// Subscribes and waits until the peer says it is ready (a publisher matched, or 5 s).
    pub fn start(domain: u32, ty: &str, topic: &str, qos: &str) -> RosSub {
        RosSub::start_env(domain, ty, topic, qos, &[])
    }

    /// `start` with more environment variables.
    pub fn start_env(
        domain: u32,
        ty: &str,
        topic: &str,
        qos: &str,
        env: &[(String, String)],
    ) -> RosSub {
        let mut proc = Proc::spawn(
            python_cmd("tests/ros/ros_tool.py", Some(domain))
                .args(["sub", ty, topic, "--qos", qos])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
            "ros_tool.py sub",
        );
        let stdout = proc.child.stdout.take().expect("ros_tool.py sub stdout");
        let mut s = RosSub {
            proc,
            lines: Lines::from(stdout),
        };
        let ready = s
            .lines
            .next(Duration::from_secs(20))
            .expect("ros_tool.py sub did not start");
        assert!(ready.contains("ready"), "{ready}");
        s
    }

    pub fn recv(&mut self, timeout: Duration) -> Option<(f64, Value)> {
        let line = self.lines.next(timeout)?;
        let v: Value = serde_json::from_str(&line).expect("ros_tool line");
        Some((v["t"].as_f64().unwrap_or(0.0), v["msg"].clone()))
    }

    pub fn collect_for(&mut self, d: Duration) -> Vec<(f64, Value)> {
        self.lines
            .collect_for(d)
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| (v["t"].as_f64().unwrap_or(0.0), v["msg"].clone()))
            .collect()
    }
}
