//! The `log` facade wired to ROS logging (rcutils), so the bridge's lines appear like any
//! node's: on the console with the node's logger name, in `~/.ros/log`, and on `/rosout`
//! where the RMW provides it. `--ros-args --log-level <level>` sets the level.

use log::{Level, LevelFilter, Metadata, Record};

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
        r2r::log(
            &r.args().to_string(),
            &self.name,
            r.file().unwrap_or(""),
            r.line().unwrap_or(0),
            severity,
        );
    }

    fn flush(&self) {}
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
        name: name.to_owned(),
    });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
        ACTIVE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    // rcutils filters by its own level too; follow ours so debug lines are not lost.
    let severity = match level {
        LevelFilter::Debug | LevelFilter::Trace => 10,
        LevelFilter::Info => 20,
        LevelFilter::Warn => 30,
        LevelFilter::Error | LevelFilter::Off => 40,
    };
    if let Ok(c) = std::ffi::CString::new(name) {
        // SAFETY: rcutils copies the name; logging was initialised by r2r's context.
        unsafe {
            r2r_rcl::rcutils_logging_set_logger_level(c.as_ptr(), severity);
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
}
