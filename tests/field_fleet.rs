//! Field failure of a fleet (issue 10, "Field-ready"): 20 robots lose the broker at the same
//! moment and must come back without reconnecting in lockstep.
//!
//! 20 real bridges (namespaces /flt00../flt19, in one ROS domain from the harness) ->
//! fault-injection proxy -> one real Mosquitto. Numbers are printed with `eprintln!`
//! (`--nocapture`).

mod common;
use common::proxy::*;
use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Field condition: a fleet of 20 robots on one broker; the broker crashes and comes back on
/// the same port. Every robot must be back within 15 s (`online` on `status/connection`),
/// and the reconnects must be spread by jitter, not in lockstep (a thundering herd that
/// brings a recovering broker down again): the 20 `online` moments spread over more than
/// 500 ms, no more than 5 within any 20 ms. The seed's reconnect settings (`delay: 1.0`,
/// `max_attempts: 5`): the first attempt after the loss waits a random time in [0, 1 s), each
/// later one 1 s x [0.5, 1.5), so the attempts that find the new broker are spread over about
/// a second. Without jitter the bridges, which all lost the broker within a few ms of each
/// other (checked), would all come back within a few ms.
#[test]
fn a_fleet_of_20_reconnects_spread_by_jitter() {
    let domain = Domain::new();
    let n = 20;
    let broker = Broker::start();
    let proxy = Proxy::start(broker.port);
    let yaml = "mqtt:\n  broker: \"127.0.0.1\"\n  keepalive: 5\n  reconnect: {enabled: true, max_attempts: 5, delay: 1.0}\n";
    let ids: Vec<String> = (0..n).map(|i| format!("FLT{i:02}")).collect();
    let t0 = Instant::now();
    let bridges: Vec<Bridge> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let ns = format!("__ns:=/flt{i:02}");
            Bridge::spawn(domain.id(), proxy.port, id, yaml, &["-r", &ns])
        })
        .collect();
    for b in &bridges {
        b.wait_log("connected to", Duration::from_secs(120));
    }
    eprintln!(
        "fleet: {n} bridges connected {:.1} s after the first was started",
        t0.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(3));
    let rss_before: Vec<u64> = bridges.iter().filter_map(|b| rss_kib(b.pid())).collect();
    // The crash: every connection drops at the same moment.
    let restored_before: Vec<usize> = bridges.iter().map(|b| b.log_count("restored")).collect();
    proxy.refuse(true);
    let kill_unix = now_unix();
    signal(broker.pid(), "KILL");
    let t_kill = Instant::now();
    let (dir, port) = broker.stop();
    for b in &bridges {
        b.wait_log("lost", Duration::from_secs(15));
    }
    // When each bridge saw the loss, by its log: the herd that jitter must spread.
    let mut losses: Vec<f64> = bridges
        .iter()
        .filter_map(|b| {
            let lines = b.log_lines();
            let lost = lines
                .iter()
                .find(|l| l.t >= kill_unix - 0.5 && l.text.contains("lost"));
            lost.map(|l| l.t)
        })
        .collect();
    losses.sort_by(f64::total_cmp);
    let _broker2 = Broker::start_on(dir, port, "");
    let mut sub = MqttSub::start(port, "amr/+/status/connection");
    std::thread::sleep(Duration::from_millis(200));
    // The new broker is up and watched: the bridges may come back from now on.
    proxy.refuse(false);
    let t_open = Instant::now();
    let mut back: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let end = t_open + Duration::from_secs(20);
    while back.len() < n && Instant::now() < end {
        // Reads (and stamps) every line that arrives within 100 ms into `got`.
        let _ = sub.wait_for("", Duration::from_millis(100), |_| false);
        for m in std::mem::take(&mut sub.got) {
            let Ok(v) = serde_json::from_str::<Value>(&m.payload) else {
                continue;
            };
            if v["data"]["state"] == "online" {
                let robot = v["robot_id"].as_str().unwrap_or("?").to_owned();
                let stamped = unix_of(v["timestamp"].as_str().unwrap_or(""));
                back.entry(robot)
                    .or_insert((m.at.duration_since(t_open).as_secs_f64(), stamped));
            }
        }
    }
    let restored = bridges
        .iter()
        .zip(&restored_before)
        .filter(|(b, n)| b.log_count("restored") > **n)
        .count();
    let rss_after: Vec<u64> = bridges.iter().filter_map(|b| rss_kib(b.pid())).collect();
    let mut arrivals: Vec<f64> = back.values().map(|v| v.0).collect();
    arrivals.sort_by(f64::total_cmp);
    let mut stamps: Vec<f64> = back.values().map(|v| v.1).collect();
    stamps.sort_by(f64::total_cmp);
    let spread = |v: &[f64]| v.last().zip(v.first()).map(|(a, b)| a - b).unwrap_or(0.0);
    let burst = |v: &[f64]| {
        v.iter()
            .map(|&t| v.iter().filter(|&&u| u >= t && u < t + 0.020).count())
            .max()
            .unwrap_or(0)
    };
    let all_back = arrivals.last().copied();
    let mib = |v: &[u64]| {
        let avg = v.iter().sum::<u64>() as f64 / v.len().max(1) as f64 / 1024.0;
        let max = v.iter().copied().max().unwrap_or(0) as f64 / 1024.0;
        format!("avg {avg:.1} MiB, max {max:.1} MiB ({} bridges)", v.len())
    };
    eprintln!(
        "fleet: broker killed; proxy opened {:.2} s later; {} of {n} online again ({restored} logged `restored`); \
         all back {} after the proxy opened",
        t_open.duration_since(t_kill).as_secs_f64(),
        back.len(),
        all_back
            .map(|t| format!("{t:.2} s"))
            .unwrap_or("never".into())
    );
    eprintln!(
        "fleet: the {} bridges saw the loss within {:.0} ms of each other (by their logs)",
        losses.len(),
        spread(&losses) * 1000.0
    );
    eprintln!(
        "fleet: spread of the `online` moments: {:.0} ms by the bridges' timestamps, {:.0} ms by arrival; \
         most within 20 ms: {} (timestamps), {} (arrival)",
        spread(&stamps) * 1000.0,
        spread(&arrivals) * 1000.0,
        burst(&stamps),
        burst(&arrivals)
    );
    eprintln!(
        "fleet: arrival times after the proxy opened (s): {:?}",
        arrivals
            .iter()
            .map(|t| (t * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    eprintln!(
        "fleet: RSS per bridge: before the crash {}; after the reconnect {}",
        mib(&rss_before),
        mib(&rss_after)
    );
    assert_eq!(back.len(), n, "every robot is back online within 20 s");
    assert!(
        all_back.is_some_and(|t| t <= 15.0),
        "all back within 15 s: {all_back:?}"
    );
    assert_eq!(losses.len(), n, "every bridge logged the loss");
    assert!(
        spread(&losses) < 0.25,
        "the crash hit the fleet at once (within 250 ms), as a herd: {:.0} ms",
        spread(&losses) * 1000.0
    );
    assert!(
        spread(&stamps) > 0.5,
        "reconnects spread by jitter over more than 500 ms: {:.0} ms",
        spread(&stamps) * 1000.0
    );
    assert!(
        burst(&stamps) <= 5,
        "no more than 5 reconnects within 20 ms: {}",
        burst(&stamps)
    );
}
