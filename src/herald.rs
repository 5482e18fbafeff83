//! How the bridge's own messages reach the fleet: outcomes, `status/state`, `status/bridge`
//! (with its twin on ROS `/diagnostics`) and alerts, each built by `envelope` and handed to
//! the MQTT link through the [`Outbox`]. (Presence is the link's own: it belongs to the
//! connection.)

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Category, Qos, TopicTree};
use crate::diagnostics::{self, Stats};
use crate::envelope::{self, AlertEvent};
use crate::mqtt::{Outbound, Outbox};
use crate::shutdown::Shutdown;

/// Sends the bridge's own messages; cheap to clone into every task.
#[derive(Clone)]
pub struct Herald {
    tree: Arc<TopicTree>,
    alerts_enabled: bool,
    out: Outbox,
}

impl Herald {
    pub fn new(tree: Arc<TopicTree>, alerts_enabled: bool, out: Outbox) -> Self {
        Herald {
            tree,
            alerts_enabled,
            out,
        }
    }

    pub fn robot_id(&self) -> &str {
        self.tree.robot_id()
    }

    /// `<status prefix>/<action>` at the status QoS.
    pub fn status<D: Serialize>(&self, action: &str, data: &D, retain: bool) {
        self.out
            .send(status_message(&self.tree, action, data, retain));
    }

    /// `<alert prefix>/<level>` at the alert QoS, unless alerts are off.
    pub fn alert(&self, event: &AlertEvent) {
        if !self.alerts_enabled {
            return;
        }
        let payload = envelope::alert(self.tree.robot_id(), event);
        self.send(Category::Alert, event.level().as_str(), false, payload);
    }

    fn send(&self, c: Category, action: &str, retain: bool, payload: Vec<u8>) {
        self.out
            .send(message(&self.tree, c, action, retain, payload));
    }
}

/// `<status prefix>/<action>` at the status QoS, for whoever sends it.
pub fn status_message<D: Serialize>(
    tree: &TopicTree,
    action: &str,
    data: &D,
    retain: bool,
) -> Outbound {
    let payload = envelope::status(tree.robot_id(), data);
    message(tree, Category::Status, action, retain, payload)
}

fn message(tree: &TopicTree, c: Category, action: &str, retain: bool, p: Vec<u8>) -> Outbound {
    let qos: Qos = tree.qos(c);
    let topic: Arc<str> = Arc::from(tree.topic(c, action));
    Outbound::new(topic, qos, retain, p)
}

/// The bridge's own report: `status/bridge` and `/diagnostics` every `period` seconds until
/// shutdown.
pub async fn report(
    herald: Herald,
    stats: Arc<Stats>,
    ros: r2r::Publisher<r2r::diagnostic_msgs::msg::DiagnosticArray>,
    period: f64,
    mut shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(period));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tick.tick() => {
                let report = stats.report();
                herald.status("bridge", &report, false);
                if let Err(e) = ros.publish(&diagnostics::to_ros(&report, herald.robot_id())) {
                    log::debug!("/diagnostics: {e}");
                }
            }
        }
    }
}
