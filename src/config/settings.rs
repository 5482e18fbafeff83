//! Settings: the node's parameters and the configuration file made into one validated value
//! before anything runs. Robot id, broker address, topic tree, mappings, credentials and TLS
//! material are all read and checked here, together with the safety rules that no single key
//! can express (a command subtree per robot, no mapping around the safety layer). A bridge
//! that gets a `Settings` can start; `--check-config` stops right after making one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::failover;
use super::mappings::{self, Mapping};
use super::offline_store::OfflineStore;
use super::ros_names::resolve_ros_name;
use super::topics::{self, Category, COMMAND_ACTIONS};
use super::tree::TopicTree;
use super::{Config, ConfigError, Direction, ReconnectConfig};

/// The node's own parameters (`--ros-args -p name:=value`): each overrides the file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Overrides {
    pub config_file: Option<String>,
    pub robot_id: Option<String>,
    pub broker: Option<String>,
    pub port: Option<u16>,
}

/// Everything the bridge runs on, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration file's name, for messages (`(built-in defaults)` without one).
    pub file: String,
    pub config: Config,
    pub tree: TopicTree,
    pub mappings: Vec<Mapping>,
    pub broker: BrokerSettings,
}

/// How to reach the broker: decided once, so that a reconnect never meets a new error.
#[derive(Clone)]
pub struct BrokerSettings {
    pub host: String,
    pub port: u16,
    /// With `{robot_id}` replaced (or `_<robot_id>` appended): unique per robot.
    pub client_id: String,
    pub keepalive: Duration,
    pub credentials: Option<(String, String)>,
    /// The TLS client configuration, certificates and key already parsed.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub reconnect: ReconnectConfig,
    /// The offline queue's bounds: messages, bytes.
    pub offline_queue: (usize, usize),
    /// More addresses of the broker, tried in order after `host:port` (`mqtt.failover`).
    pub failover: Vec<(String, u16)>,
    /// The durable offline store (`mqtt.offline_store`), when there is one.
    pub offline_store: Option<OfflineStore>,
}

impl std::fmt::Debug for BrokerSettings {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("tls", &self.tls.is_some())
            .field("failover", &self.failover)
            .field("offline_store", &self.offline_store)
            .finish_non_exhaustive()
    }
}

/// Without `ca_file`, TLS trusts the system's CA bundle.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

impl Settings {
    /// Loads the configuration file named by the parameters (or the built-in defaults) and
    /// resolves it for a node in `namespace`.
    pub fn load(o: &Overrides, namespace: &str) -> Result<Settings, ConfigError> {
        let (config, file) = match &o.config_file {
            Some(path) => (Config::load(Path::new(path))?, path.clone()),
            None => {
                let file = "(built-in defaults)".to_owned();
                (Config::parse("mqtt: {}\n", &file)?, file)
            }
        };
        Settings::resolve(config, file, o, namespace)
    }

    /// Resolves a parsed configuration: robot id, topics, mappings, broker, safety rules.
    pub fn resolve(
        config: Config,
        file: String,
        o: &Overrides,
        namespace: &str,
    ) -> Result<Settings, ConfigError> {
        let id = robot_id(o, &config, namespace)?;
        check_topic_layout(&config, &file)?;
        let tree = TopicTree::new(&config, &id).map_err(|error| ConfigError::RobotId {
            source_name: "the topic templates (mqtt.topics)",
            error,
        })?;
        let mappings = mappings::resolve(&config, &tree, &file)?;
        let guard = SafetyGuard::new(&config, &tree, namespace);
        for m in &mappings {
            guard.check(m, &file)?;
        }
        super::vda5050::check(&config, &tree, &mappings, namespace, &file)?;
        let broker = broker(&config, o, &id, &file)?;
        Ok(Settings {
            file,
            config,
            tree,
            mappings,
            broker,
        })
    }
}

/// The robot id: parameter, file, then the last segment of the node namespace.
fn robot_id(o: &Overrides, config: &Config, namespace: &str) -> Result<String, ConfigError> {
    let (id, source_name) = if let Some(id) = &o.robot_id {
        (id.clone(), "parameter robot_id")
    } else if let Some(id) = &config.robot_id {
        (id.clone(), "configuration key robot_id")
    } else {
        let last = namespace.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
        if last.is_empty() {
            return Err(ConfigError::NoRobotId);
        }
        (last.to_owned(), "node namespace")
    };
    topics::validate_robot_id(&id).map_err(|error| ConfigError::RobotId { source_name, error })?;
    Ok(id)
}

/// The command subtree is the robot's alone and apart from the rest: a template without
/// `{robot_id}` would let every robot obey every robot, and one that shares a prefix with
/// another category would make the bridge read its own messages as commands.
fn check_topic_layout(config: &Config, file: &str) -> Result<(), ConfigError> {
    let t = &config.mqtt.topics;
    let bad = |why: String| Err(ConfigError::invalid(file, "mqtt.topics.command", why));
    if !t.command.contains("{robot_id}") {
        return bad(format!(
            "{:?} has no {{robot_id}}: every robot would obey every robot's commands",
            t.command
        ));
    }
    let level = |s: &str| s.trim_end_matches('/').to_owned();
    let command = level(&t.command);
    for c in topics::ALL.into_iter().filter(|c| *c != Category::Command) {
        let other = level(t.get(c));
        let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
        if nested(&command, &other) || nested(&other, &command) {
            return bad(format!(
                "{command:?} overlaps mqtt.topics.{c} {other:?}: the bridge would read its own {c} messages as commands"
            ));
        }
    }
    Ok(())
}

/// The rules that keep every path to `cmd_vel` and to the e-stop inside the safety layer.
struct SafetyGuard {
    namespace: String,
    cmd_vel: String,
    estop: String,
    command_prefix: String,
    /// Topics the bridge publishes itself: no MQTT to ROS mapping may read them.
    own_topics: Vec<String>,
    alert_prefix: String,
}

impl SafetyGuard {
    fn new(config: &Config, tree: &TopicTree, namespace: &str) -> SafetyGuard {
        let status = |a: &str| tree.topic(Category::Status, a);
        SafetyGuard {
            namespace: namespace.to_owned(),
            cmd_vel: resolve_ros_name(&config.commands.cmd_vel_topic, namespace),
            estop: resolve_ros_name(&config.commands.estop_topic, namespace),
            command_prefix: tree.prefix(Category::Command).to_owned(),
            own_topics: vec![
                status("connection"),
                status("command"),
                status("bridge"),
                status(&config.state.action),
            ],
            alert_prefix: format!("{}/", tree.prefix(Category::Alert)),
        }
    }

    fn check(&self, m: &Mapping, file: &str) -> Result<(), ConfigError> {
        let bad = |k: &str, why: String| {
            Err(ConfigError::invalid(file, format!("{}.{k}", m.origin), why))
        };
        let topic = &m.mqtt_topic;
        let in_command_tree = topic == &self.command_prefix
            || topic.starts_with(&format!("{}/", self.command_prefix));
        match m.direction {
            Direction::RosToMqtt if in_command_tree => bad(
                m.topic_key,
                format!("{topic} is in the robot's command subtree: the bridge would obey its own messages"),
            ),
            Direction::RosToMqtt => Ok(()),
            Direction::MqttToRos => {
                let ros = resolve_ros_name(&m.ros_topic, &self.namespace);
                if ros == self.cmd_vel || ros == self.estop {
                    return bad(
                        "ros_topic",
                        format!("`{}` is the safety layer's topic (commands.cmd_vel_topic / commands.estop_topic): only checked fleet commands reach it", m.ros_topic),
                    );
                }
                let action = topic.strip_prefix(&format!("{}/", self.command_prefix));
                if action.is_some_and(|a| COMMAND_ACTIONS.contains(&a)) {
                    return bad(
                        m.topic_key,
                        format!("{topic} is a command topic of the safety layer (move, stop, emergency)"),
                    );
                }
                if self.own_topics.contains(topic) || topic.starts_with(&self.alert_prefix) {
                    return bad(
                        m.topic_key,
                        format!("{topic} is published by the bridge itself"),
                    );
                }
                Ok(())
            }
        }
    }
}

fn broker(
    config: &Config,
    o: &Overrides,
    robot_id: &str,
    file: &str,
) -> Result<BrokerSettings, ConfigError> {
    let m = &config.mqtt;
    let client_id = if m.client_id.contains("{robot_id}") {
        m.client_id.replace("{robot_id}", robot_id)
    } else {
        format!("{}_{robot_id}", m.client_id)
    };
    let password = password(config, file)?;
    let credentials = (!m.username.is_empty() || password.is_some())
        .then(|| (m.username.clone(), password.unwrap_or_default()));
    let tls = if m.use_ssl {
        Some(Arc::new(tls(config, file)?))
    } else {
        None
    };
    let port = o.port.unwrap_or_else(|| m.port());
    let offline_store = m.offline_store.as_ref();
    Ok(BrokerSettings {
        host: o.broker.clone().unwrap_or_else(|| m.broker.clone()),
        port,
        client_id,
        keepalive: Duration::from_secs(m.keepalive),
        credentials,
        tls,
        reconnect: m.reconnect.clone(),
        offline_queue: (m.offline_queue, m.offline_queue_bytes),
        failover: failover::resolve(&m.failover, port),
        offline_store: offline_store
            .map(|s| s.resolve(file, robot_id))
            .transpose()?,
    })
}

/// The MQTT password: file, then environment, then the YAML.
fn password(config: &Config, file: &str) -> Result<Option<String>, ConfigError> {
    let m = &config.mqtt;
    if let Some(p) = &m.password_file {
        let text = std::fs::read_to_string(p).map_err(|e| {
            ConfigError::invalid(file, "mqtt.password_file", format!("{}: {e}", p.display()))
        })?;
        return Ok(Some(text.lines().next().unwrap_or("").to_owned()));
    }
    if let Some(var) = &m.password_env {
        return std::env::var(var).map(Some).map_err(|_| {
            ConfigError::invalid(file, "mqtt.password_env", format!("${var} is not set"))
        });
    }
    Ok((!m.password.is_empty()).then(|| m.password.clone()))
}

/// TLS from the configured files, parsed now: a missing key or a certificate that does not
/// parse stops the start instead of every connection attempt.
fn tls(config: &Config, file: &str) -> Result<rustls::ClientConfig, ConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let t = &config.mqtt.tls;
    let read = |key: &str, path: &Path| {
        std::fs::read(path)
            .map_err(|e| ConfigError::invalid(file, key, format!("{}: {e}", path.display())))
    };
    let certs = |key: &str, path: &Path| -> Result<Vec<CertificateDer<'static>>, ConfigError> {
        let pem = read(key, path)?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| ConfigError::invalid(file, key, format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(ConfigError::invalid(
                file,
                key,
                format!("{}: no PEM certificate in it", path.display()),
            ));
        }
        Ok(certs)
    };
    let ca_key = "mqtt.tls.ca_file";
    let ca_path = t.ca_file.clone().unwrap_or_else(|| SYSTEM_CA_BUNDLE.into());
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs(ca_key, &ca_path)?);
    if added == 0 {
        return Err(ConfigError::invalid(
            file,
            ca_key,
            format!("{}: no usable CA certificate", ca_path.display()),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::invalid(file, "mqtt.use_ssl", e))?
        .with_root_certificates(roots);
    match (&t.cert_file, &t.key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(_), None) => Err(ConfigError::invalid(
            file,
            "mqtt.tls.key_file",
            "is required with cert_file",
        )),
        (None, Some(_)) => Err(ConfigError::invalid(
            file,
            "mqtt.tls.cert_file",
            "is required with key_file",
        )),
        (Some(c), Some(k)) => {
            let chain = certs("mqtt.tls.cert_file", c)?;
            let key =
                PrivateKeyDer::from_pem_slice(&read("mqtt.tls.key_file", k)?).map_err(|e| {
                    ConfigError::invalid(file, "mqtt.tls.key_file", format!("{}: {e}", k.display()))
                })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                ConfigError::invalid(
                    file,
                    "mqtt.tls.key_file",
                    format!("does not fit cert_file: {e}"),
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str, ns: &str) -> Result<Settings, ConfigError> {
        let c = Config::parse(yaml, "s.yaml")?;
        let o = Overrides {
            robot_id: Some("R1".into()),
            ..Default::default()
        };
        Settings::resolve(c, "s.yaml".into(), &o, ns)
    }

    fn refused(yaml: &str, key: &str) {
        let e = settings(yaml, "/").expect_err(yaml);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("s.yaml: key `{key}`")),
            "{yaml}\n -> {text}"
        );
    }

    #[test]
    fn the_seed_resolves() {
        let s = settings("mqtt: {}\n", "/").expect("defaults");
        assert_eq!(s.tree.robot_id(), "R1");
        assert_eq!(s.broker.client_id, "amr_bridge_R1");
        assert_eq!(s.mappings.len(), 5);
        assert!(s.broker.failover.is_empty() && s.broker.offline_store.is_none());
    }

    #[test]
    fn failover_addresses_and_the_store_resolve_per_robot() {
        let yaml = "mqtt:\n  port: 1884\n  failover: [{broker: b2}, {broker: b3, port: 1999}]\n  \
                    offline_store:\n    path: /var/lib/amr/{robot_id}\n    max_bytes: 1000000\n";
        let s = settings(yaml, "/").expect("resolves");
        assert_eq!(
            s.broker.failover,
            [("b2".to_owned(), 1884), ("b3".to_owned(), 1999)]
        );
        let store = s.broker.offline_store.expect("a store");
        assert_eq!(store.dir, std::path::PathBuf::from("/var/lib/amr/R1"));
        assert_eq!(store.max_bytes, 1_000_000);
        refused(
            "mqtt:\n  failover: [{broker: ''}]\n",
            "mqtt.failover[0].broker",
        );
        refused(
            "mqtt:\n  offline_store: {path: relative}\n",
            "mqtt.offline_store.path",
        );
    }

    #[test]
    fn no_mapping_reaches_around_the_safety_layer() {
        let generic = |extra: &str| {
            format!("mqtt: {{}}\nmappings:\n  - {{name: g, direction: mqtt_to_ros, ros_type: std_msgs/msg/Bool, {extra}}}\n")
        };
        for topic in ["cmd_vel", "/cmd_vel", "emergency_stop", "/emergency_stop"] {
            refused(
                &generic(&format!("ros_topic: {topic}, mqtt_action: x")),
                "mappings[0].ros_topic",
            );
        }
        for action in COMMAND_ACTIONS {
            refused(
                &generic(&format!("ros_topic: x, mqtt_action: {action}")),
                "mappings[0].mqtt_action",
            );
        }
        refused(
            &generic("ros_topic: x, mqtt_topic: 'amr/{robot_id}/alert/error'"),
            "mappings[0].mqtt_topic",
        );
        refused(
            "mqtt: {}\nmappings:\n  - {name: odom, mqtt_category: command, mqtt_action: move}\n",
            "mappings[0].mqtt_action",
        );
        assert!(settings(&generic("ros_topic: note, mqtt_action: note"), "/").is_ok());
    }

    #[test]
    fn a_namespaced_cmd_vel_is_still_the_safety_layers() {
        let yaml = "mqtt: {}\nmappings:\n  - {name: g, direction: mqtt_to_ros, ros_type: std_msgs/msg/Bool, ros_topic: /r1/cmd_vel, mqtt_action: x}\n";
        let e = settings(yaml, "/r1").expect_err("namespaced");
        assert!(e.to_string().contains("mappings[0].ros_topic"), "{e}");
        assert!(settings(yaml, "/r2").is_ok());
    }

    #[test]
    fn the_command_subtree_is_per_robot_and_apart() {
        refused(
            "mqtt:\n  topics: {command: amr/all/command}\n",
            "mqtt.topics.command",
        );
        refused(
            "mqtt:\n  topics: {command: 'amr/{robot_id}/status'}\n",
            "mqtt.topics.command",
        );
        refused(
            "mqtt:\n  topics: {command: 'amr/{robot_id}'}\n",
            "mqtt.topics.command",
        );
    }

    #[test]
    fn tls_files_are_read_at_start() {
        refused(
            "mqtt:\n  use_ssl: true\n  tls: {ca_file: /nonexistent/ca.pem}\n",
            "mqtt.tls.ca_file",
        );
        let dir = tempfile::tempdir().expect("dir");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        refused(
            &format!(
                "mqtt:\n  use_ssl: true\n  tls: {{ca_file: {}}}\n",
                junk.display()
            ),
            "mqtt.tls.ca_file",
        );
        refused(
            "mqtt:\n  use_ssl: true\n  tls: {cert_file: /x.pem}\n",
            "mqtt.tls.key_file",
        );
    }
}
