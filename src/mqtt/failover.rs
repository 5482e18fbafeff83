//! Several addresses of one broker cluster (`mqtt.broker`/`port`, then `mqtt.failover` in
//! order): which one the next connection attempt goes to. Pure: the link asks it after each
//! attempt, and waits as long as the session says (`Session::on_lost`), so the backoff and
//! its jitter are the same whichever address comes next.
//!
//! The rule: a connection that was up and is lost is tried again at the same address first
//! (a restarted broker comes back there, with the robot's session); every attempt that
//! fails moves on to the next address, round the list. Once connected the bridge stays
//! where it is: it never goes back to the first address on its own, so a flapping node
//! cannot pull the fleet back and forth.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone)]
pub struct Failover {
    /// Never empty: the main address first.
    addresses: Vec<Address>,
    current: usize,
}

impl Failover {
    /// The main address, then the others in order; an address given twice is tried once a
    /// round.
    pub fn new(main: Address, others: impl IntoIterator<Item = Address>) -> Failover {
        let mut addresses = vec![main];
        for a in others {
            if !addresses.contains(&a) {
                addresses.push(a);
            }
        }
        Failover {
            addresses,
            current: 0,
        }
    }

    /// Where the next attempt goes.
    pub fn current(&self) -> &Address {
        // `current` is always an index into the non-empty list.
        &self.addresses[self.current % self.addresses.len()]
    }

    pub fn count(&self) -> usize {
        self.addresses.len()
    }

    /// The connection (or the attempt) at the current address ended; `was_connected`: the
    /// broker had accepted it (CONNACK). Returns the address of the next attempt.
    pub fn after(&mut self, was_connected: bool) -> &Address {
        if !was_connected {
            self.current = (self.current + 1) % self.addresses.len();
        }
        self.current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReconnectConfig;
    use crate::mqtt::session::{backoff, Session};
    use std::time::{Duration, Instant};

    fn addr(host: &str) -> Address {
        Address {
            host: host.into(),
            port: 11883,
        }
    }

    #[test]
    fn lost_stays_failed_moves_on_round_the_list() {
        let mut f = Failover::new(addr("a"), [addr("b"), addr("a"), addr("c")]);
        assert_eq!(f.count(), 3, "a given twice is tried once a round");
        assert_eq!(f.current(), &addr("a"));
        let hosts: Vec<String> = [true, false, false, false, true, false]
            .into_iter()
            .map(|was_connected| f.after(was_connected).host.clone())
            .collect();
        assert_eq!(hosts, ["a", "b", "c", "a", "a", "b"]);
        let mut single = Failover::new(addr("only"), []);
        assert_eq!(single.after(false), &addr("only"));
    }

    /// With the session's waits: the broker at `a` dies and refuses; `b` answers. The first
    /// wait is within [0, delay) (the fleet spread), then the session's backoff.
    #[test]
    fn the_schedule_is_the_sessions_backoff_across_addresses() {
        let r = ReconnectConfig::default();
        let mut s = Session::new(r.clone(), (10, 1 << 20), 1 << 20);
        let mut f = Failover::new(addr("a"), [addr("b")]);
        let t = Instant::now();
        s.on_connected(t, false);
        let mut plan = Vec::new();
        for _ in 0..2 {
            // The link asks before telling the session, which forgets it was connected.
            let next = f.after(s.connected()).host.clone();
            let wait = s.on_lost("gone", (t, "t".into()), Vec::new(), false, 0.9);
            plan.push((next, wait));
        }
        let first = Duration::from_secs_f64(r.delay * 0.9);
        assert_eq!(
            plan,
            [("a".into(), first), ("b".into(), backoff(&r, 2, 0.9))]
        );
        s.on_connected(t, false);
        assert_eq!(
            f.after(s.connected()),
            &addr("b"),
            "stays where it connected"
        );
    }
}
