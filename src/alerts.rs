//! Alerts the bridge raises by itself from what it sees: battery low and critical, with
//! hysteresis so that a battery hovering at a threshold does not flap; sensor streams that
//! went silent (and came back); and a broker outage, told once the link is back. The rules
//! are pure and time-injected; [`watch`] is the task that applies them once a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch as tokio_watch};

use crate::diagnostics::Counters;
use crate::envelope::{AlertEvent, BatteryLevel, Outage, StoreFailure, StreamSilence};
use crate::herald::Herald;
use crate::mqtt::LinkEvent;
use crate::shutdown::Shutdown;
use crate::state::Battery;

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

impl BatteryAlarm {
    pub fn new(low: f64, critical: f64, hysteresis: f64) -> Self {
        BatteryAlarm {
            low,
            critical,
            hysteresis,
            band: Band::Normal,
        }
    }

    /// The alert to raise at `percent`, if any.
    pub fn update(&mut self, percent: f64) -> Option<AlertEvent> {
        use AlertEvent::*;
        let level = BatteryLevel {
            battery_level: percent,
        };
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
                Band::Critical => BatteryCritical(level),
                _ => BatteryLow(level),
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
                Some(BatteryRecovered(level))
            }
            _ => None,
        }
    }
}

/// A change of a watched stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    Stale,
    Resumed,
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

    /// `last`: when the stream last delivered. Returns the change to tell, if any.
    pub fn update(&mut self, last: Option<Instant>, now: Instant) -> Option<Staleness> {
        let last = last?;
        if self.after.is_zero() {
            return None;
        }
        let silent = now.saturating_duration_since(last) >= self.after;
        match (self.stale, silent) {
            (false, true) => {
                self.stale = true;
                Some(Staleness::Stale)
            }
            (true, false) => {
                self.stale = false;
                Some(Staleness::Resumed)
            }
            _ => None,
        }
    }
}

/// One ROS to MQTT stream watched for silence, with the counters its route keeps.
pub struct Stream {
    pub mapping: String,
    pub ros_topic: String,
    pub counters: Arc<Counters>,
    pub watch: StaleWatch,
}

/// What the watcher looks at.
pub struct Sources {
    pub battery: tokio_watch::Receiver<Option<Battery>>,
    pub streams: Vec<Stream>,
    pub link: mpsc::Receiver<LinkEvent>,
}

/// Checks the battery and the streams once a second, and tells about broker outages, until
/// shutdown.
pub async fn watch(
    herald: Herald,
    cfg: crate::config::AlertConfig,
    mut sources: Sources,
    mut shutdown: Shutdown,
) {
    let mut battery = BatteryAlarm::new(
        cfg.battery_low,
        cfg.battery_critical,
        cfg.battery_hysteresis,
    );
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            Some(event) = sources.link.recv() => outage(&herald, event),
            _ = tick.tick() => {
                let now = Instant::now();
                let percent = sources.battery.borrow().and_then(|b| b.percent);
                if let Some(event) = percent.and_then(|p| battery.update(p)) {
                    herald.alert(&event);
                }
                for s in &mut sources.streams {
                    stale(&herald, s, now);
                }
            }
        }
    }
}

fn stale(herald: &Herald, s: &mut Stream, now: Instant) {
    let last = s.counters.last_seen();
    let Some(change) = s.watch.update(last, now) else {
        return;
    };
    let silent = last
        .map(|t| now.saturating_duration_since(t).as_secs_f64())
        .unwrap_or(0.0);
    let (word, event): (_, fn(StreamSilence) -> AlertEvent) = match change {
        Staleness::Stale => ("stale", AlertEvent::StreamStale),
        Staleness::Resumed => ("resumed", AlertEvent::StreamResumed),
    };
    log::warn!(
        "mapping `{}`: sensor stream {word} ({} silent for {silent:.1} s)",
        s.mapping,
        s.ros_topic
    );
    let data = StreamSilence {
        mapping: s.mapping.clone(),
        ros_topic: s.ros_topic.clone(),
        silent_seconds: (silent * 10.0).round() / 10.0,
    };
    herald.alert(&event(data));
}

/// What the link tells: an outage after the fact (lost: warning, back: info), or a store
/// that fell back to memory (warning).
fn outage(herald: &Herald, event: LinkEvent) {
    match event {
        LinkEvent::Restored {
            lost_at,
            down_seconds,
            error,
        } => {
            let data = Outage {
                lost_at,
                down_seconds,
                error,
            };
            herald.alert(&AlertEvent::BrokerLost(data.clone()));
            herald.alert(&AlertEvent::BrokerRestored(data));
        }
        LinkEvent::StoreFailed { path, error } => {
            herald.alert(&AlertEvent::StoreFailed(StoreFailure { path, error }));
        }
        LinkEvent::Connected | LinkEvent::Lost => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::AlertLevel::{self, *};

    /// The level and the message of what `update` raised.
    fn raised(e: Option<AlertEvent>) -> Option<(AlertLevel, String)> {
        let e = e?;
        let v = serde_json::to_value(&e).expect("json");
        Some((e.level(), v["message"].as_str().unwrap_or("").to_owned()))
    }

    #[test]
    fn thresholds_with_hysteresis() {
        let mut a = BatteryAlarm::new(20.0, 10.0, 2.0);
        let mut at = |p| raised(a.update(p));
        let said = |l, m: &str| Some((l, m.to_owned()));
        assert_eq!(at(50.0), None);
        assert_eq!(at(19.9), said(Warning, "Battery level low"));
        // Hovering around the threshold does not flap.
        assert_eq!(at(20.5), None);
        assert_eq!(at(19.5), None);
        assert_eq!(at(9.0), said(Error, "Battery level critical"));
        assert_eq!(at(10.5), None);
        assert_eq!(at(12.5), said(Info, "Battery level recovered"));
        assert_eq!(at(15.0), None);
        assert_eq!(at(22.0), said(Info, "Battery level recovered"));
        assert_eq!(at(19.0), said(Warning, "Battery level low"));
        let e = BatteryAlarm::new(20.0, 10.0, 2.0).update(5.0);
        assert_eq!(
            e,
            Some(AlertEvent::BatteryCritical(BatteryLevel {
                battery_level: 5.0
            }))
        );
    }

    #[test]
    fn stale_streams() {
        let t0 = Instant::now();
        let s = |ms| t0 + Duration::from_millis(ms);
        let mut w = StaleWatch::new(1.0);
        assert_eq!(w.update(None, s(5000)), None, "never seen: no alarm");
        assert_eq!(w.update(Some(s(0)), s(500)), None);
        assert_eq!(w.update(Some(s(0)), s(1000)), Some(Staleness::Stale));
        assert_eq!(w.update(Some(s(0)), s(3000)), None, "once");
        assert_eq!(w.update(Some(s(2900)), s(3000)), Some(Staleness::Resumed));
        let mut off = StaleWatch::new(0.0);
        assert_eq!(off.update(Some(s(0)), s(9000)), None);
    }
}
