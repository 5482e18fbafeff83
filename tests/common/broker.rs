//! Mosquitto for one test: its own config file in a temporary directory, a free port on
//! 127.0.0.1 (never 1883), stopped by PID when dropped even if the test fails.

use super::proc::{which, Proc};
use super::require_env;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_port(port: u16, timeout: Duration) {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    panic!("nothing listens on port {port} after {timeout:?}");
}

/// Debian keeps the broker in /usr/sbin, which a non-root PATH may lack.
fn mosquitto_bin() -> PathBuf {
    which("mosquitto")
        .or_else(|| {
            ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
                .map(PathBuf::from)
                .into_iter()
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| "mosquitto".into())
}

/// Mosquitto on 127.0.0.1:<port>.
pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    proc: Proc,
}

impl Broker {
    /// An anonymous listener on a free port.
    pub fn start() -> Broker {
        Broker::start_with("")
    }

    /// `extra` is appended to the generated mosquitto.conf.
    pub fn start_with(extra: &str) -> Broker {
        Broker::start_on(tempdir(), free_port(), extra)
    }

    /// On a given directory and port: how a test restarts a broker it stopped.
    pub fn start_on(dir: tempfile::TempDir, port: u16, extra: &str) -> Broker {
        let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}\n");
        Broker::start_conf(dir, port, &text)
    }

    /// A broker from a whole listener configuration (`port` is the one the bridge uses).
    pub fn start_custom(listeners: impl FnOnce(u16) -> String) -> Broker {
        let port = free_port();
        let text = listeners(port);
        Broker::start_conf(tempdir(), port, &text)
    }

    fn start_conf(dir: tempfile::TempDir, port: u16, listeners: &str) -> Broker {
        require_env();
        let conf = dir.path().join("mosquitto.conf");
        let text = format!(
            "persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n{listeners}\n"
        );
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let proc = Proc::spawn(
            Command::new(mosquitto_bin())
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
            "mosquitto (apt-get install mosquitto)",
        );
        let b = Broker { port, dir, proc };
        wait_port(port, Duration::from_secs(10));
        b
    }

    /// The broker's process id: to hang it (`signal(pid, "STOP")`) or crash it ("KILL").
    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// Stops the broker and hands back its directory and port, so a test can restart it.
    pub fn stop(mut self) -> (tempfile::TempDir, u16) {
        self.proc.terminate(Duration::from_secs(3));
        let dir = std::mem::replace(&mut self.dir, tempdir());
        (dir, self.port)
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}
