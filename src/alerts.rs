//! Alerts the bridge raises by itself from what it sees: battery low and critical, with
//! hysteresis so that a battery hovering at a threshold does not flap, and sensor streams
//! that went silent (and came back).

use std::time::{Duration, Instant};

/// Battery band, from the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    Critical,
    Low,
    Normal,
}

/// Raises an alert when the battery enters a worse band, and one when it has climbed
/// `hysteresis` percent above the band it was in.
#[derive(Debug)]
pub struct BatteryAlarm {
    low: f64,
    critical: f64,
    hysteresis: f64,
    band: Band,
}

/// What to raise: (level, message).
pub type Raised = (crate::command::AlertLevel, &'static str);

impl BatteryAlarm {
    pub fn new(low: f64, critical: f64, hysteresis: f64) -> Self {
        BatteryAlarm {
            low,
            critical,
            hysteresis,
            band: Band::Normal,
        }
    }

    pub fn update(&mut self, percent: f64) -> Option<Raised> {
        use crate::command::AlertLevel::*;
        let entered = if percent < self.critical {
            Band::Critical
        } else if percent < self.low {
            Band::Low
        } else {
            Band::Normal
        };
        if entered < self.band {
            self.band = entered;
            return Some(match entered {
                Band::Critical => (Error, "Battery level critical"),
                _ => (Warning, "Battery level low"),
            });
        }
        // Recovering needs the margin above the threshold of the current band.
        let recovered = match self.band {
            Band::Critical if percent >= self.critical + self.hysteresis => Some(entered),
            Band::Low if percent >= self.low + self.hysteresis => Some(Band::Normal),
            _ => None,
        };
        match recovered {
            Some(b) if b > self.band => {
                self.band = b;
                Some((Info, "Battery level recovered"))
            }
            _ => None,
        }
    }
}

/// Watches one ROS to MQTT stream: stale once it has been silent for `after` (only a stream
/// that has delivered at least once: an unused default mapping is not an alarm).
#[derive(Debug)]
pub struct StaleWatch {
    after: Duration,
    stale: bool,
}

impl StaleWatch {
    pub fn new(after_s: f64) -> Self {
        StaleWatch {
            after: Duration::from_secs_f64(after_s.max(0.0)),
            stale: false,
        }
    }

    /// `last`: when the stream last delivered. Returns the alert to raise, if any.
    pub fn update(&mut self, last: Option<Instant>, now: Instant) -> Option<Raised> {
        use crate::command::AlertLevel::*;
        let last = last?;
        if self.after.is_zero() {
            return None;
        }
        let silent = now.saturating_duration_since(last) >= self.after;
        match (self.stale, silent) {
            (false, true) => {
                self.stale = true;
                Some((Warning, "Sensor stream stale"))
            }
            (true, false) => {
                self.stale = false;
                Some((Info, "Sensor stream resumed"))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::AlertLevel::*;

    #[test]
    fn thresholds_with_hysteresis() {
        let mut a = BatteryAlarm::new(20.0, 10.0, 2.0);
        assert_eq!(a.update(50.0), None);
        assert_eq!(a.update(19.9), Some((Warning, "Battery level low")));
        // Hovering around the threshold does not flap.
        assert_eq!(a.update(20.5), None);
        assert_eq!(a.update(19.5), None);
        assert_eq!(a.update(9.0), Some((Error, "Battery level critical")));
        assert_eq!(a.update(10.5), None);
        assert_eq!(a.update(12.5), Some((Info, "Battery level recovered")));
        assert_eq!(a.update(15.0), None);
        assert_eq!(a.update(22.0), Some((Info, "Battery level recovered")));
        assert_eq!(a.update(19.0), Some((Warning, "Battery level low")));
    }

    #[test]
    fn stale_streams() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let mut w = StaleWatch::new(1.0);
        assert_eq!(w.update(None, s(5000)), None, "never seen: no alarm");
        assert_eq!(w.update(Some(s(0)), s(500)), None);
        assert_eq!(
            w.update(Some(s(0)), s(1000)),
            Some((Warning, "Sensor stream stale"))
        );
        assert_eq!(w.update(Some(s(0)), s(3000)), None, "once");
        assert_eq!(
            w.update(Some(s(2900)), s(3000)),
            Some((Info, "Sensor stream resumed"))
        );
        let mut off = StaleWatch::new(0.0);
        assert_eq!(off.update(Some(s(0)), s(9000)), None);
    }
}
