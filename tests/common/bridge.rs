//! The bridge under test: the real binary with a config file of the test's own, its output
//! in a log file that failures print.

use super::proc::Proc;
use super::require_env;
use super::ros::ros_env;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// A minimal configuration: the seed's keys plus whatever `extra` adds.
pub fn config(extra: &str) -> String {
    format!("mqtt:\n  broker: \"127.0.0.1\"\n  keepalive: 5\n  reconnect: {{enabled: true, max_attempts: 5, delay: 0.2}}\n{extra}")
}

/// Writes `yaml` as `dir/bridge.yaml`.
pub fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let p = dir.join("bridge.yaml");
    std::fs::write(&p, yaml).expect("write config");
    p
}

/// The bridge binary with its own config file.
pub struct Bridge {
    pub proc: Proc,
    pub domain: u32,
    pub log: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Bridge {
    /// Starts the bridge for `robot_id` (none when empty) in `domain` on the broker at
    /// 127.0.0.1:`port`: `yaml` is its config file (written to a temp dir); `args` are more
    /// `--ros-args` arguments. Waits until it is connected to the broker.
    pub fn start(domain: u32, port: u16, robot_id: &str, yaml: &str, args: &[&str]) -> Bridge {
        Bridge::spawn(domain, port, robot_id, yaml, args).connected()
    }

    /// Waits until a spawned bridge is connected (`wait_connected`), as `start` does. The ROS
    /// side is up before MQTT connects; the peers wait for it to match (tests/ros/ros_tool.py).
    pub fn connected(mut self) -> Bridge {
        self.wait_connected(Duration::from_secs(20));
        self
    }

    /// Waits until the bridge says it is connected; panics at once (with its exit code and
    /// log) if it exits instead, or after `timeout`.
    pub fn wait_connected(&mut self, timeout: Duration) {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.log_text().contains("connected to") {
                return;
            }
            if let Some(s) = self.proc.wait_exit(Duration::from_millis(50)) {
                panic!("the bridge exited ({s}) instead of connecting");
            }
        }
        panic!("the bridge did not connect within {timeout:?}");
    }

    /// `start` without waiting for anything.
    pub fn spawn(domain: u32, port: u16, robot_id: &str, yaml: &str, args: &[&str]) -> Bridge {
        Bridge::spawn_with(&Launch::default(), domain, port, robot_id, yaml, args)
    }

    /// `spawn` with another build of the binary, under another command, or with more
    /// environment variables (see [`Launch`]).
    pub fn spawn_with(
        launch: &Launch,
        domain: u32,
        port: u16,
        robot_id: &str,
        yaml: &str,
        args: &[&str],
    ) -> Bridge {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = write_config(dir.path(), yaml);
        let mut ros_args: Vec<String> = vec![
            "--ros-args".into(),
            "-p".into(),
            format!("config_file:={}", cfg.display()),
            "-p".into(),
            format!("port:={port}"),
            "-p".into(),
            "broker:=127.0.0.1".into(),
        ];
        if !robot_id.is_empty() {
            ros_args.push("-p".into());
            ros_args.push(format!("robot_id:={robot_id}"));
        }
        ros_args.extend(args.iter().map(|s| s.to_string()));
        Bridge::spawn_raw_with(launch, domain, dir, &ros_args)
    }

    /// Starts the binary with exactly these arguments; its log goes to `dir/bridge.log`.
    pub fn spawn_raw(domain: u32, dir: tempfile::TempDir, args: &[String]) -> Bridge {
        Bridge::spawn_raw_with(&Launch::default(), domain, dir, args)
    }

    fn spawn_raw_with(
        launch: &Launch,
        domain: u32,
        dir: tempfile::TempDir,
        args: &[String],
    ) -> Bridge {
        require_env();
        let log = dir.path().join("bridge.log");
        let file = std::fs::File::create(&log).expect("log file");
        let exe = launch
            .binary
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_amr_mqtt_bridge")));
        let mut c = match launch.wrap.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        c.args(args)
            .env("RCUTILS_COLORIZED_OUTPUT", "0")
            .env("ROS_LOG_DIR", dir.path())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .envs(launch.env.iter().map(|(k, v)| (k, v)));
        ros_env(&mut c, domain);
        Bridge {
            proc: Proc::spawn(&mut c, "amr_mqtt_bridge"),
            domain,
            log,
            dir,
        }
    }

    /// Everything the bridge wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The bridge's process id.
    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// The lines of the log, each with its level and time.
    pub fn log_lines(&self) -> Vec<LogLine> {
        self.log_text().lines().filter_map(LogLine::parse).collect()
    }

    /// The first line of the log that holds `needle` (empty if none does).
    pub fn log_line(&self, needle: &str) -> String {
        let text = self.log_text();
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or("")
            .to_owned()
    }

    /// How often `needle` occurs in the log.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }

    /// Waits until the log holds `needle` at least `n` times: the time that took, or `None`
    /// after `timeout`.
    pub fn wait_log_count(&self, needle: &str, n: usize, timeout: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self.log_count(needle) >= n {
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Whether a thread of the bridge panicked (the process may live on, half alive).
    pub fn panicked(&self) -> bool {
        self.log_text().contains("panicked at")
    }

    /// The panic (its line and the next) or else the last lines of the log, at most 400
    /// characters: why a bridge died, for a failure message.
    pub fn last_words(&self) -> String {
        let text = self.log_text();
        let words = match text.find("panicked at") {
            Some(i) => {
                let start = text[..i].rfind('\n').map_or(0, |j| j + 1);
                text[start..].lines().take(2).collect::<Vec<_>>().join(" ")
            }
            None => text.lines().rev().take(3).collect::<Vec<_>>().join(" | "),
        };
        words.chars().take(400).collect()
    }

    /// Waits until the log contains `needle`; panics with the log otherwise.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.log_text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "bridge log has no {needle:?} after {timeout:?}:\n{}",
            self.log_text()
        );
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.wait_exit(timeout)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Not eprintln!: a failed write must not panic while panicking.
            let _ = writeln!(
                std::io::stderr(),
                "---- bridge log ----\n{}",
                self.log_text()
            );
        }
    }
}

/// How a bridge is started: `binary` (default: the build cargo made for the tests), run by
/// `wrap` when it is not empty (a command and its arguments, the bridge's command line
/// appended: `unshare ... sh -c '...; exec "$@"' sh`), with `env` added to its environment
/// (`test_types_env`: message packages that only this bridge sees).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub binary: Option<PathBuf>,
    pub wrap: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// One line of the bridge's ROS log: `[WARN] [1712345678.123456789] [amr_mqtt_bridge]: ...`.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub level: String,
    /// Unix seconds, as the line says.
    pub t: f64,
    /// The rest of the line.
    pub text: String,
}

impl LogLine {
    fn parse(l: &str) -> Option<LogLine> {
        let (level, rest) = l.strip_prefix('[')?.split_once("] [")?;
        let (t, rest) = rest.split_once(']')?;
        Some(LogLine {
            level: level.trim().to_owned(),
            t: t.trim().parse().ok()?,
            text: rest.to_owned(),
        })
    }
}
