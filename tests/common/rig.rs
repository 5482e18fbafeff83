//! Fixtures for the set-ups the tests repeat. A `Site` is a ROS domain and a broker of the
//! test's own (`site.ros(ty, topic)` publishes or records in that domain); a `Rig` is a site
//! with one bridge and a `mosquitto_sub` recording what it sends; a `Robot` (robot.rs) is a
//! rig with a `cmd_vel` recorder.

use super::bridge::{config, Bridge, Launch};
use super::broker::Broker;
use super::domain::Domain;
use super::mqtt::{mqtt_pub, MqttMsg, MqttSub};
use super::proc::Proc;
use super::ros::RosTopic;
use std::ops::Deref;
use std::time::Duration;

/// A ROS domain and a broker of the test's own.
pub struct Site {
    /// Peers that must outlive a bridge (`keep`): stopped before the broker and the domain.
    peers: Vec<Proc>,
    /// More environment variables of its bridges (`with_env`).
    pub env: Vec<(String, String)>,
    pub broker: Broker,
    /// Last: released after everything that runs in it.
    pub domain: Domain,
}

impl Site {
    /// A new domain and `Broker::start()`.
    pub fn start() -> Site {
        let domain = Domain::new();
        Site::on(domain, Broker::start())
    }

    /// A site around a broker started otherwise (`Broker::start_custom`).
    pub fn on(domain: Domain, broker: Broker) -> Site {
        Site {
            peers: Vec::new(),
            env: Vec::new(),
            broker,
            domain,
        }
    }

    /// The site's bridges start with these environment variables too (`test_types_env`).
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Site {
        self.env = env;
        self
    }

    /// Keeps `peer` (a ROS publisher started before the bridge) running as long as the site,
    /// so that it stops before the domain is given back.
    pub fn keep(&mut self, peer: Proc) {
        self.peers.push(peer);
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.broker.port
    }

    /// A bridge for `robot` in this domain on this broker, connected (`Bridge::start`).
    pub fn bridge(&self, robot: &str, yaml: &str, args: &[&str]) -> Bridge {
        self.spawn_bridge(robot, yaml, args).connected()
    }

    /// A bridge started without waiting for it (`Bridge::spawn`).
    pub fn spawn_bridge(&self, robot: &str, yaml: &str, args: &[&str]) -> Bridge {
        let (domain, port) = (self.domain.id(), self.port());
        let launch = Launch {
            env: self.env.clone(),
            ..Launch::default()
        };
        Bridge::spawn_with(&launch, domain, port, robot, yaml, args)
    }

    /// The ROS topic `name` of type `ty` in this domain, to publish to or record.
    pub fn ros(&self, ty: &str, name: &str) -> RosTopic {
        RosTopic {
            env: self.env.clone(),
            ..RosTopic::new(self.domain.id(), ty, name)
        }
    }

    /// `mosquitto_sub` on `filter` at this broker.
    pub fn mqtt_sub(&self, filter: &str) -> MqttSub {
        MqttSub::start(self.port(), filter)
    }

    /// `mosquitto_pub` once to this broker.
    pub fn mqtt_pub(&self, topic: &str, payload: &str, qos: u8, retain: bool) {
        mqtt_pub(self.port(), topic, payload, qos, retain);
    }
}

/// One robot's bridge on a site of its own, and a subscriber on what it sends.
pub struct Rig {
    /// `mosquitto_sub` on `amr/<robot>/#` (or the filter given to `start_with`).
    pub sub: MqttSub,
    pub bridge: Bridge,
    pub robot: String,
    /// The bridge's config file and more `--ros-args`, for `respawn`.
    pub yaml: String,
    args: Vec<String>,
    /// Last: the broker and the domain outlive the bridge.
    pub site: Site,
}

impl Rig {
    /// The usual robot: `config(extra)`, no more arguments, `sub` on `amr/<robot>/#`.
    pub fn start(robot: &str, extra: &str) -> Rig {
        Rig::start_with(robot, &config(extra), &[], &format!("amr/{robot}/#"))
    }

    /// A bridge with the whole config file `yaml` and more `--ros-args` `args`, `sub` on
    /// `filter` (started once the bridge is connected).
    pub fn start_with(robot: &str, yaml: &str, args: &[&str], filter: &str) -> Rig {
        Rig::on(Site::start(), robot, yaml, args, filter)
    }

    /// `start_with` on a site the test prepared (a peer already running, a broker of its own).
    pub fn on(site: Site, robot: &str, yaml: &str, args: &[&str], filter: &str) -> Rig {
        let bridge = site.bridge(robot, yaml, args);
        let sub = site.mqtt_sub(filter);
        Rig {
            sub,
            bridge,
            robot: robot.to_owned(),
            yaml: yaml.to_owned(),
            args: args.iter().map(|a| a.to_string()).collect(),
            site,
        }
    }

    /// Kills the bridge and starts a new one with the same configuration, as a supervisor
    /// respawns a node that died.
    pub fn respawn(&mut self) {
        // The old one first: two bridges with one client id would take the session in turns.
        let _ = self.bridge.proc.child.kill();
        let _ = self.bridge.proc.child.wait();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.bridge = self.site.bridge(&self.robot, &self.yaml, &args);
    }

    /// `amr/<robot>/<path>`.
    pub fn topic(&self, path: &str) -> String {
        format!("amr/{}/{path}", self.robot)
    }

    /// Sends `payload` to `amr/<robot>/command/<action>` at QoS 2, as a fleet does.
    pub fn send(&self, action: &str, payload: &str) {
        let topic = self.topic(&format!("command/{action}"));
        self.site.mqtt_pub(&topic, payload, 2, false);
    }

    /// `sub.expect` on `amr/<robot>/<path>`.
    pub fn expect(
        &mut self,
        path: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&MqttMsg) -> bool,
    ) -> MqttMsg {
        let topic = self.topic(path);
        self.sub.expect(&topic, timeout, what, pred)
    }
}

/// The site's fields and helpers on the rig: `rig.domain`, `rig.port()`, `rig.mqtt_sub(..)`.
impl Deref for Rig {
    type Target = Site;

    fn deref(&self) -> &Site {
        &self.site
    }
}
