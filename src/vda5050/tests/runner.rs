//! The profile's task without ROS or a broker: link events, master control's messages and the
//! robot's readings in; the pause, messages and the navigation's messages out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::fixtures::*;
use crate::command::safety::{Latch, Source};
use crate::diagnostics::VdaStats;
use crate::mqtt::{LinkEvent, Outbound, Outbox, OutboxRx};
use crate::shutdown;
use crate::state::Pose;
use crate::vda5050::connection::Message;
use crate::vda5050::runner::{Inputs, NavSink, RosInputs, Runner};
use crate::vda5050::{Incoming, NavTopic, VdaCore};

/// What the navigation was sent.
#[derive(Clone, Default)]
struct Nav(Arc<Mutex<Vec<(NavTopic, String)>>>);

impl NavSink for Nav {
    fn publish(&self, topic: NavTopic, data: &str) -> Result<(), String> {
        let mut sent = self.0.lock().map_err(|e| e.to_string())?;
        sent.push((topic, data.to_owned()));
        Ok(())
    }
}

/// What the task published, read in order.
struct Published {
    rx: OutboxRx,
    got: VecDeque<Outbound>,
}

impl Published {
    /// The next message on `topic` (the last level) satisfying `pred`; the ones before it are
    /// passed over.
    async fn next(&mut self, topic: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let wait = async {
            loop {
                while let Some(m) = self.got.pop_front() {
                    let v: Value = serde_json::from_slice(&m.payload).expect("JSON");
                    if m.topic.ends_with(&format!("/{topic}")) && pred(&v) {
                        return v;
                    }
                }
                self.rx.recv_all(&mut self.got).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .unwrap_or_else(|_| panic!("no {topic} within 5 s"))
    }
}

fn instant_actions(actions: Value) -> Message {
    let wall = chrono::Utc::now();
    let m = json!({"headerId": 1, "timestamp": crate::vda5050::header::timestamp(wall),
                   "version": "2.1.0", "manufacturer": "KIT", "serialNumber": ROBOT,
                   "actions": actions});
    let payload = Bytes::from(m.to_string());
    Message {
        topic: Incoming::InstantActions,
        size: payload.len(),
        payload,
        retained: false,
    }
}

#[tokio::test]
async fn the_task_publishes_while_connected_pauses_and_says_its_last_word() {
    let core = VdaCore::new(&config(), ROBOT).expect("core");
    let stats = Arc::new(VdaStats::default());
    let (out, rx) = Outbox::channel(100, 1 << 20, Duration::ZERO, stats.link.clone());
    let mut outbound = Published {
        rx,
        got: VecDeque::new(),
    };
    let (pause, mut paused) = watch::channel(false);
    let (to_task, messages) = mpsc::channel(8);
    let (link_tx, link) = mpsc::channel(8);
    let (pose_tx, pose) = watch::channel(None::<Pose>);
    let (_battery, battery) = watch::channel(None);
    let (latch_tx, latch) = watch::channel(Latch::default());
    let (_mode, operating_mode) = watch::channel(None);
    let (_field, field_violation) = watch::channel(None);
    let (_progress, progress) = mpsc::channel(8);
    let nav = Nav::default();
    let ros = RosInputs {
        operating_mode,
        field_violation,
        progress,
        navigation: Some(Box::new(nav.clone())),
    };
    let inputs = Inputs {
        messages,
        link,
        pose,
        battery,
        latch,
        ros,
    };
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(Runner::new(core, out, pause, stats.clone()).run(inputs, shutdown));

    link_tx.send(LinkEvent::Connected).await.expect("task");
    outbound.next("factsheet", |_| true).await;
    outbound.next("state", |s| s["headerId"] == 0).await;
    pose_tx.send_replace(Some(Pose {
        vx: -0.5,
        ..Pose::planar(1.0, 2.0, 0.5, std::time::Instant::now())
    }));
    let s = outbound.next("state", |s| s["driving"] == true).await;
    assert_eq!(s["velocity"]["vx"], -0.5);

    let start = instant_actions(json!([action("startPause", "p1")]));
    to_task.send(start).await.expect("task");
    paused.changed().await.expect("the pause");
    assert!(*paused.borrow(), "held");
    outbound.next("state", |s| s["paused"] == true).await;
    let said = nav.0.lock().map(|n| n.clone()).unwrap_or_default();
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].0, NavTopic::Control);

    let mut l = Latch::default();
    l.engage(Source::Ros);
    latch_tx.send_replace(l);
    outbound
        .next("state", |s| s["safetyState"]["eStop"] == "MANUAL")
        .await;

    let oversized = Message {
        topic: Incoming::InstantActions,
        payload: Bytes::new(),
        size: 3 << 20,
        retained: false,
    };
    to_task.send(oversized).await.expect("task");
    let s = outbound
        .next("state", |s| s["errors"].to_string().contains("3145728"))
        .await;
    assert_eq!(s["paused"], true);
    assert_eq!(stats.refused.load(std::sync::atomic::Ordering::Relaxed), 1);

    link_tx.send(LinkEvent::Lost).await.expect("task");
    trigger.fire();
    task.await.expect("the task ends");
    // Every producer is gone: what is left, then the end.
    let mut rest = std::mem::take(&mut outbound.got);
    let mut more = VecDeque::new();
    while outbound.rx.recv_all(&mut more).await {
        rest.append(&mut more);
    }
    assert!(
        rest.iter().all(|m| !m.topic.ends_with("/state")),
        "nothing published while disconnected: {rest:?}"
    );
}
