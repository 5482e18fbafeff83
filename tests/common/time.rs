//! Timestamps computed here, without the bridge's code: what a fleet stamps a command with,
//! and what a ROS header stamp must read as in RFC 3339.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// A fresh RFC 3339 UTC timestamp to the millisecond, as a fleet would stamp a command.
pub fn now_rfc3339() -> String {
    rfc3339_in(0.0)
}

/// An RFC 3339 UTC timestamp to the millisecond, `offset` seconds from now (negative: in the
/// past): a command queued somewhere for a while, or stamped ahead.
pub fn rfc3339_in(offset: f64) -> String {
    let ms = ((now_unix() + offset) * 1000.0).floor() as i64;
    // Always three digits, so that the strings order like the times.
    let whole = rfc3339(ms.div_euclid(1000), 0);
    format!(
        "{}.{:03}Z",
        whole.trim_end_matches('Z'),
        ms.rem_euclid(1000)
    )
}

/// RFC 3339 UTC of a ROS stamp, with exactly the sub-second digits the stamp has (none, 3, 6
/// or 9).
pub fn rfc3339(sec: i64, nanosec: u32) -> String {
    let (days, rem) = (sec.div_euclid(86400), sec.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    let frac = if nanosec == 0 {
        String::new()
    } else if nanosec.is_multiple_of(1_000_000) {
        format!(".{:03}", nanosec / 1_000_000)
    } else if nanosec.is_multiple_of(1_000) {
        format!(".{:06}", nanosec / 1_000)
    } else {
        format!(".{nanosec:09}")
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Unix seconds of an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn unix_of(ts: &str) -> f64 {
    let b = ts.as_bytes();
    assert!(ts.len() >= 20 && ts.ends_with('Z') && b[10] == b'T', "{ts}");
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().expect(ts);
    let days = days_from_civil(n(0..4), n(5..7), n(8..10));
    let secs = days * 86400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    let frac: f64 = if b[19] == b'.' {
        format!("0{}", &ts[19..ts.len() - 1]).parse().expect(ts)
    } else {
        0.0
    };
    secs as f64 + frac
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A civil date to days since 1970-01-01 (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}
