//! The `log` facade wired to ROS logging (rcutils), so the bridge's lines appear like any
//! node's: on the console with the node's logger name, in `~/.ros/log`, and on `/rosout`
//! where the RMW provides it. `--ros-args --log-level <level>` sets the level.
//!
//! Log lines often quote what the fleet sent, so every line is made safe before it reaches
//! rcutils: r2r turns it into a C string with `CString::new(..).unwrap()`, and one escaped NUL
//! from the fleet would panic there and poison r2r's logging mutex for every later line.
//! Per-message lines go through a [`Throttle`], so that a flood of bad input cannot become a
//! flood of log lines.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Metadata, Record};

/// Longest line handed to rcutils, in bytes; the rest is cut with a note.
pub const MAX_LINE: usize = 2048;

struct RosLogger {
    name: String,
}

impl log::Log for RosLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        // Only our own crate's lines at debug and trace; dependencies' chatter stays out.
        if r.level() > Level::Info && !r.target().starts_with("amr_mqtt_bridge") {
            return;
        }
        let severity = match r.level() {
            Level::Error => r2r::LogSeverity::Error,
            Level::Warn => r2r::LogSeverity::Warn,
            Level::Info => r2r::LogSeverity::Info,
            Level::Debug | Level::Trace => r2r::LogSeverity::Debug,
        };
        let text = r.args().to_string();
        r2r::log(
            &printable(&text, MAX_LINE),
            &self.name,
            &printable(r.file().unwrap_or(""), 256),
            r.line().unwrap_or(0),
            severity,
        );
    }

    fn flush(&self) {}
}

/// `text` as one safe log line: NUL and every other control character escaped (`\u{0}`), at
/// most `max` bytes (cut on a character boundary, with a note of the full length).
pub fn printable(text: &str, max: usize) -> Cow<'_, str> {
    let clean = text.len() <= max && !text.chars().any(char::is_control);
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(max) + 32);
    for c in text.chars() {
        if out.len() >= max {
            out.push_str(&format!("... ({} bytes in all)", text.len()));
            break;
        }
        if c.is_control() {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Lets at most `per_second` lines through in each second; when a second with suppressed
/// lines is over, the next call logs one line saying how many were left out. Time is
/// injected, so the owner decides when "now" is (and tests need no clock).
#[derive(Debug)]
pub struct Throttle {
    what: &'static str,
    per_second: u32,
    window: Option<Instant>,
    count: u32,
}

impl Throttle {
    /// `what` names the lines in the summary ("refused commands").
    pub fn new(what: &'static str, per_second: u32) -> Self {
        Throttle {
            what,
            per_second,
            window: None,
            count: 0,
        }
    }

    /// Whether one more line may be logged at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.flush(now);
        if self.window.is_none() {
            self.window = Some(now);
        }
        self.count += 1;
        self.count <= self.per_second
    }

    /// Whether a second is open: `flush` has something to end (and maybe to summarise).
    pub fn pending(&self) -> bool {
        self.window.is_some()
    }

    /// Ends the current second if it is over: logs the summary of what it left out.
    pub fn flush(&mut self, now: Instant) {
        let Some(start) = self.window else { return };
        if now.saturating_duration_since(start) < Duration::from_secs(1) {
            return;
        }
        let left_out = self.count.saturating_sub(self.per_second);
        if left_out > 0 {
            log::warn!(
                "{left_out} more {} in the last second (not logged one by one)",
                self.what
            );
        }
        self.window = None;
        self.count = 0;
    }
}

/// The level asked for with `--ros-args --log-level [name:=]level`, if any.
pub fn level_from_args(args: &[String]) -> Option<LevelFilter> {
    let mut it = args.iter().skip_while(|a| *a != "--ros-args");
    let mut level = None;
    while let Some(a) = it.next() {
        if a == "--log-level" {
            let v = it.next()?;
            // `name:=level` sets one logger's level; ours or the bare form apply.
            let (who, lvl) = v.split_once(":=").unwrap_or(("", v.as_str()));
            if who.is_empty() || who.ends_with("amr_mqtt_bridge") {
                level = match lvl.to_ascii_lowercase().as_str() {
                    "debug" => Some(LevelFilter::Debug),
                    "info" => Some(LevelFilter::Info),
                    "warn" => Some(LevelFilter::Warn),
                    "error" | "fatal" => Some(LevelFilter::Error),
                    _ => level,
                };
            }
        }
    }
    level
}

static ACTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `log` lines reach ROS logging yet.
pub fn active() -> bool {
    ACTIVE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Installs the ROS logger as the `log` backend; `name` is the node's logger name.
pub fn init(name: &str, level: LevelFilter) {
    let logger = Box::new(RosLogger {
        name: printable(name, 256).into_owned(),
    });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
        ACTIVE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    // rcutils filters by its own level too (Info unless `--log-level` said otherwise, which
    // rcl applies itself): only debug lines need our logger's level lowered there. Only then:
    // one logger level set makes every level check in rcl's hot paths (about three per
    // message taken, in rcl_take and rcl_wait) a hash-map walk, 6 % of the spin thread.
    if !matches!(level, LevelFilter::Debug | LevelFilter::Trace) {
        return;
    }
    if let Ok(c) = std::ffi::CString::new(name) {
        // SAFETY: rcutils copies the name; logging was initialised by r2r's context.
        unsafe {
            r2r_rcl::rcutils_logging_set_logger_level(c.as_ptr(), 10); // debug
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_level_arguments() {
        let a = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            level_from_args(&a("x --ros-args --log-level debug")),
            Some(LevelFilter::Debug)
        );
        assert_eq!(
            level_from_args(&a(
                "x --ros-args -r __ns:=/r --log-level amr_mqtt_bridge:=warn"
            )),
            Some(LevelFilter::Warn)
        );
        assert_eq!(
            level_from_args(&a("x --ros-args --log-level other:=debug")),
            None
        );
        assert_eq!(level_from_args(&a("x --log-level debug")), None);
    }

    #[test]
    fn any_text_becomes_a_c_string() {
        let hostile = "move_forw\u{0}ard \u{1b}[2J\r\n\u{85}\u{202e}é😀";
        let line = printable(hostile, MAX_LINE);
        assert!(std::ffi::CString::new(line.as_bytes()).is_ok(), "{line}");
        assert!(!line.chars().any(char::is_control), "{line}");
        assert!(line.contains("move_forw\\u{0}ard"), "{line}");
        assert!(line.contains("\u{202e}é😀"), "printable text stays: {line}");
        assert!(matches!(printable("plain", MAX_LINE), Cow::Borrowed(_)));
    }

    #[test]
    fn random_text_always_makes_a_safe_line() {
        let mut rng = fastrand::Rng::with_seed(0x10_6e);
        for i in 0..2000 {
            let text: String = (0..rng.usize(0..3000))
                .map(|_| match rng.u8(..4) {
                    0 => rng.char('\u{0}'..='\u{9f}'),
                    _ => rng.char(..),
                })
                .collect();
            let line = printable(&text, MAX_LINE);
            assert!(std::ffi::CString::new(line.as_bytes()).is_ok(), "case {i}");
            assert!(!line.chars().any(char::is_control), "case {i}");
            assert!(line.len() <= MAX_LINE + 64, "case {i}: {}", line.len());
        }
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let long = "é".repeat(5000);
        let line = printable(&long, MAX_LINE);
        assert!(line.len() < MAX_LINE + 40, "{}", line.len());
        assert!(line.ends_with("(10000 bytes in all)"), "{line}");
    }

    #[test]
    fn throttle_lets_ten_a_second_through() {
        let t0 = Instant::now();
        let mut t = Throttle::new("lines", 10);
        let allowed = (0..1500)
            .filter(|i| t.allow(t0 + Duration::from_micros(i * 1333)))
            .count();
        // 1500 lines over 2 s: ten in each of the two seconds.
        assert_eq!(allowed, 20);
        assert!(t.allow(t0 + Duration::from_secs(5)));
    }
}
