//! The protocol header every message the vehicle writes starts with: `headerId` (per topic,
//! +1 per message, wrapping as the uint32 it is), `timestamp` (ISO 8601 UTC with
//! milliseconds, the bridge's clock), `version`, `manufacturer`, `serialNumber`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::topics::Outgoing;
use super::version::Version;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub header_id: u32,
    pub timestamp: String,
    pub version: &'static str,
    pub manufacturer: String,
    pub serial_number: String,
}

/// `2024-05-01T12:00:00.000Z`.
pub fn timestamp(wall: DateTime<Utc>) -> String {
    wall.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Hands out headers, one `headerId` sequence per topic.
#[derive(Debug, Clone)]
pub struct Stamper {
    version: Version,
    manufacturer: String,
    serial_number: String,
    next: [u32; Outgoing::ALL.len()],
}

impl Stamper {
    pub fn new(version: Version, manufacturer: &str, serial_number: &str) -> Stamper {
        Stamper {
            version,
            manufacturer: manufacturer.to_owned(),
            serial_number: serial_number.to_owned(),
            next: [0; Outgoing::ALL.len()],
        }
    }

    /// The header of the next message on `topic`.
    pub fn next(&mut self, topic: Outgoing, wall: DateTime<Utc>) -> Header {
        let h = self.ahead(topic, 0, wall);
        self.skip(topic, 1);
        h
    }

    /// The header `ahead` messages after the next one on `topic`, without taking it.
    pub fn ahead(&self, topic: Outgoing, ahead: u32, wall: DateTime<Utc>) -> Header {
        Header {
            header_id: self.next[topic.index()].wrapping_add(ahead),
            timestamp: timestamp(wall),
            version: self.version.full(),
            manufacturer: self.manufacturer.clone(),
            serial_number: self.serial_number.clone(),
        }
    }

    /// Takes `n` ids on `topic` without a message (one the broker sends for us: the Will).
    pub fn skip(&mut self, topic: Outgoing, n: u32) {
        let id = &mut self.next[topic.index()];
        *id = id.wrapping_add(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_per_topic_and_millisecond_utc() {
        let wall = DateTime::parse_from_rfc3339("2024-05-01T14:00:00.5+02:00")
            .expect("time")
            .with_timezone(&Utc);
        let mut s = Stamper::new(Version::V2_1, "KIT", "0001");
        let ids: Vec<u32> = [
            Outgoing::State,
            Outgoing::State,
            Outgoing::Factsheet,
            Outgoing::State,
        ]
        .into_iter()
        .map(|t| s.next(t, wall).header_id)
        .collect();
        assert_eq!(ids, [0, 1, 0, 2]);
        let h = s.next(Outgoing::Visualization, wall);
        assert_eq!(h.timestamp, "2024-05-01T12:00:00.500Z");
        assert_eq!((h.version, h.manufacturer.as_str()), ("2.1.0", "KIT"));
        assert_eq!(s.ahead(Outgoing::State, 1, wall).header_id, 4);
        s.skip(Outgoing::State, u32::MAX - 3);
        assert_eq!(s.next(Outgoing::State, wall).header_id, u32::MAX);
        assert_eq!(s.next(Outgoing::State, wall).header_id, 0, "uint32 wraps");
        let text = serde_json::to_string(&h).expect("json");
        assert!(text.starts_with(r#"{"headerId":0,"timestamp":"#), "{text}");
    }
}
