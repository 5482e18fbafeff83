//! `mqtt.failover: [{broker, port}, ...]`: more addresses of the broker (a cluster's other
//! nodes), tried in order after `mqtt.broker`/`mqtt.port` when the current one cannot be
//! reached (`mqtt::failover`). With TLS, each node's certificate must name its own address.

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerAddress {
    pub broker: String,
    /// Unset: the broker's port (`mqtt.port` or the `port` parameter; 1883, or 8883 with
    /// `use_ssl`, when both are unset).
    #[serde(default)]
    pub port: Option<u16>,
}

/// Checks the list; `file` names the configuration in errors.
pub fn validate(list: &[BrokerAddress], file: &str) -> Result<(), ConfigError> {
    for (i, a) in list.iter().enumerate() {
        let key = |k: &str| format!("mqtt.failover[{i}].{k}");
        if a.broker.trim().is_empty() {
            return Err(ConfigError::invalid(
                file,
                key("broker"),
                "must not be empty",
            ));
        }
        if a.port == Some(0) {
            return Err(ConfigError::invalid(file, key("port"), "must be 1-65535"));
        }
    }
    Ok(())
}

/// The addresses as `(host, port)`, with `port` (the main broker's, resolved) where unset.
pub fn resolve(list: &[BrokerAddress], port: u16) -> Vec<(String, u16)> {
    list.iter()
        .map(|a| (a.broker.trim().to_owned(), a.port.unwrap_or(port)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Mqtt {
        failover: Vec<BrokerAddress>,
    }

    /// The list, or the key path that serde refused.
    fn parse(yaml: &str) -> Result<Vec<BrokerAddress>, String> {
        let de = serde_yaml_ng::Deserializer::from_str(yaml);
        let m: Result<Mqtt, _> = serde_path_to_error::deserialize(de);
        m.map(|m| m.failover).map_err(|e| e.path().to_string())
    }

    #[test]
    fn addresses_load_with_the_main_port_where_unset() {
        let list = parse("failover: [{broker: b2, port: 1884}, {broker: ' b3 '}]").expect("loads");
        assert!(validate(&list, "f.yaml").is_ok());
        assert_eq!(
            resolve(&list, 8883),
            [("b2".to_owned(), 1884), ("b3".to_owned(), 8883)]
        );
    }

    #[test]
    fn mistakes_name_the_entry_and_key() {
        assert_eq!(
            parse("failover: [{broker: b2}, {host: b3}]")
                .err()
                .as_deref(),
            Some("failover[1].host")
        );
        assert_eq!(
            parse("failover: [{broker: b2, port: 70000}]")
                .err()
                .as_deref(),
            Some("failover[0].port")
        );
        for (yaml, key) in [
            (
                "failover: [{broker: b2}, {broker: ' '}]",
                "mqtt.failover[1].broker",
            ),
            ("failover: [{broker: b2, port: 0}]", "mqtt.failover[0].port"),
        ] {
            let list = parse(yaml).expect("parses");
            let e = validate(&list, "f.yaml").expect_err(yaml).to_string();
            assert!(e.starts_with(&format!("f.yaml: key `{key}`")), "{e}");
        }
    }
}
