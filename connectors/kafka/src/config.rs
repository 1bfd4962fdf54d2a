//! Connection settings: brokers, security, and librdkafka properties passed through.

use std::time::Duration;

use kflow_core::{Error, Result};
use rdkafka::ClientConfig;

/// How to reach a Kafka cluster.
///
/// Secret properties (passwords, client secrets, private keys: see [`is_secret`]) never
/// appear in its `Debug` output or in errors.
///
/// ```
/// use kflow_kafka::KafkaConfig;
/// let config = KafkaConfig::new("127.0.0.1:9092")
///     .property("compression.type", "lz4")
///     .property("sasl.password", "hunter2");
/// assert_eq!(config.brokers(), "127.0.0.1:9092");
/// assert!(!format!("{config:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    brokers: String,
    properties: Vec<(String, String)>,
    producer_properties: Vec<(String, String)>,
    consumer_properties: Vec<(String, String)>,
    connect_timeout: Duration,
    max_buffered_records: usize,
    weak_durability: bool,
}

/// What stands in for a secret in `Debug` output and errors.
pub const REDACTED: &str = "[redacted]";

/// True for librdkafka properties whose values are secrets: passwords, client secrets,
/// private keys and the OAuth bearer configuration.
///
/// ```
/// use kflow_kafka::is_secret;
/// assert!(is_secret("sasl.password") && is_secret("ssl.keystore.password") && is_secret("ssl.key.pem"));
/// assert!(!is_secret("sasl.username"));
/// ```
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key.ends_with("key.pem")
        || key == "ssl_key"
        || key == "sasl.oauthbearer.config"
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |list: &[(String, String)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.clone(), if is_secret(k) { REDACTED.to_string() } else { v.clone() }))
                .collect()
        };
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("properties", &shown(&self.properties))
            .field("producer_properties", &shown(&self.producer_properties))
            .field("consumer_properties", &shown(&self.consumer_properties))
            .field("connect_timeout", &self.connect_timeout)
            .field("max_buffered_records", &self.max_buffered_records)
            .field("weak_durability", &self.weak_durability)
            .finish()
    }
}

/// Environment variables read by [`KafkaConfig::from_env`] and the librdkafka property each
/// sets.
pub const ENV_PROPERTIES: [(&str, &str); 9] = [
    ("KAFKA_SECURITY_PROTOCOL", "security.protocol"),
    ("KAFKA_SASL_MECHANISM", "sasl.mechanism"),
    ("KAFKA_SASL_USERNAME", "sasl.username"),
    ("KAFKA_SASL_PASSWORD", "sasl.password"),
    ("KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
    ("KAFKA_SSL_CERTIFICATE_LOCATION", "ssl.certificate.location"),
    ("KAFKA_SSL_KEY_LOCATION", "ssl.key.location"),
    ("KAFKA_SSL_KEY_PASSWORD", "ssl.key.password"),
    ("KAFKA_CLIENT_ID", "client.id"),
];

impl KafkaConfig {
    /// Brokers as `host:port[,host:port...]`. Connect timeout 10 s; at most 50 000
    /// records buffered per partition (pausing a partition makes librdkafka drop what it
    /// prefetched and fetch again, so a small buffer costs throughput: with 10 000, a
    /// backlog on tansu was read at half the speed of a plain rdkafka loop).
    pub fn new(brokers: &str) -> Self {
        KafkaConfig {
            brokers: brokers.to_string(),
            properties: Vec::new(),
            producer_properties: Vec::new(),
            consumer_properties: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            max_buffered_records: 50_000,
            weak_durability: false,
        }
    }

    /// From the environment: `KAFKA_BROKERS` (`None` when unset), the properties of
    /// [`KafkaConfig::with_env_properties`], and `KFLOW_ALLOW_WEAK_DURABILITY=1` for
    /// [`KafkaConfig::allow_weak_durability`].
    pub fn from_env() -> Result<Option<Self>> {
        let Ok(brokers) = std::env::var("KAFKA_BROKERS") else {
            return Ok(None);
        };
        if brokers.trim().is_empty() {
            return Err(Error::Config {
                key: "KAFKA_BROKERS".into(),
                reason: "is empty".into(),
            });
        }
        let mut config = KafkaConfig::new(brokers.trim()).with_env_properties()?;
        if env_flag("KFLOW_ALLOW_WEAK_DURABILITY")? {
            config = config.allow_weak_durability();
        }
        config.validate()?;
        Ok(Some(config))
    }

    /// Adds the properties the environment sets: the security variables in
    /// [`ENV_PROPERTIES`], then `KAFKA_PROPERTIES` for every client and
    /// `KAFKA_PRODUCER_PROPERTIES` / `KAFKA_CONSUMER_PROPERTIES` for one kind (each a list
    /// of `key=value` separated by commas or newlines). A malformed pair is an error
    /// naming the variable.
    pub fn with_env_properties(self) -> Result<Self> {
        let mut config = self;
        for (var, key) in ENV_PROPERTIES {
            if let Ok(value) = std::env::var(var) {
                config = config.property(key, &value);
            }
        }
        type Setter = fn(KafkaConfig, &str, &str) -> KafkaConfig;
        let lists: [(&str, Setter); 3] = [
            ("KAFKA_PROPERTIES", KafkaConfig::property),
            ("KAFKA_PRODUCER_PROPERTIES", KafkaConfig::producer_property),
            ("KAFKA_CONSUMER_PROPERTIES", KafkaConfig::consumer_property),
        ];
        for (var, set) in lists {
            let Ok(list) = std::env::var(var) else { continue };
            for pair in list.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').ok_or_else(|| Error::Config {
                    key: var.into(),
                    reason: format!("`{pair}` is not key=value"),
                })?;
                config = set(config, key.trim(), value.trim());
            }
        }
        Ok(config)
    }

    /// Accepts producer settings that weaken at-least-once (`acks` other than `all`,
    /// `enable.idempotence=false`): without this they are a start-up error naming the
    /// key. With `acks=1` an output the leader acknowledged can be lost in a failover
    /// after its input was committed; without idempotence a retried write can be
    /// duplicated or reordered.
    pub fn allow_weak_durability(mut self) -> Self {
        self.weak_durability = true;
        self
    }

    /// Refuses producer settings that break at-least-once unless
    /// [`KafkaConfig::allow_weak_durability`] was called; the error names the key.
    ///
    /// ```
    /// use kflow_kafka::KafkaConfig;
    /// let err = KafkaConfig::new("127.0.0.1:9092").property("acks", "1").check_durability().unwrap_err();
    /// assert!(err.to_string().contains("`acks`"));
    /// assert!(KafkaConfig::new("127.0.0.1:9092").property("acks", "1").allow_weak_durability().check_durability().is_ok());
    /// ```
    pub fn check_durability(&self) -> Result<()> {
        if self.weak_durability {
            return Ok(());
        }
        for (key, value) in self.for_producers() {
            let value = value.trim().to_ascii_lowercase();
            let reason = match key.as_str() {
                "acks" | "request.required.acks" if !matches!(value.as_str(), "all" | "-1") => format!(
                    "`{value}` lets the broker acknowledge an output before it is replicated, so it can be lost in a leader failover after its input was committed; kflow writes with `all`"
                ),
                "enable.idempotence" if value == "false" => "without idempotence a retried write can be duplicated or land out of order".to_string(),
                _ => continue,
            };
            return Err(Error::Config {
                key: key.clone(),
                reason: format!(
                    "{reason}. To accept that, call KafkaConfig::allow_weak_durability() or set KFLOW_ALLOW_WEAK_DURABILITY=1"
                ),
            });
        }
        Ok(())
    }

    /// Sets a librdkafka property for every client (consumers, producer, admin). A
    /// property of one kind of client only (`linger.ms`, `fetch.min.bytes`) makes
    /// librdkafka warn in every client of the other kind: set those with
    /// [`KafkaConfig::producer_property`] or [`KafkaConfig::consumer_property`].
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets a librdkafka property for producers only (the app's, transactional ones and
    /// typed producers); it wins over [`KafkaConfig::property`].
    ///
    /// ```
    /// use kflow_kafka::KafkaConfig;
    /// let config = KafkaConfig::new("127.0.0.1:9092").producer_property("linger.ms", "20");
    /// assert_eq!(config.producer_config(&[]).unwrap().get("linger.ms"), Some("20"));
    /// assert_eq!(config.consumer_config(&[]).unwrap().get("linger.ms"), None);
    /// ```
    pub fn producer_property(mut self, key: &str, value: &str) -> Self {
        self.producer_properties.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets a librdkafka property for consumers only (the units' group consumers, state
    /// restores, and the group lookups of the admin tools); it wins over
    /// [`KafkaConfig::property`].
    pub fn consumer_property(mut self, key: &str, value: &str) -> Self {
        self.consumer_properties.push((key.to_string(), value.to_string()));
        self
    }

    /// How long start-up waits for the cluster before failing (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many fetched records may wait per partition before it is paused (default 50 000).
    pub fn max_buffered_records(mut self, records: usize) -> Self {
        self.max_buffered_records = records.max(1);
        self
    }

    /// The librdkafka properties set on every client (secrets included: do not log them;
    /// `Debug` redacts them).
    pub fn properties(&self) -> &[(String, String)] {
        &self.properties
    }

    /// The properties producers get: those of every client, then the producer-only ones.
    pub(crate) fn for_producers(&self) -> impl Iterator<Item = &(String, String)> + Clone {
        self.properties.iter().chain(&self.producer_properties)
    }

    /// The properties consumers get: those of every client, then the consumer-only ones.
    pub(crate) fn for_consumers(&self) -> impl Iterator<Item = &(String, String)> + Clone {
        self.properties.iter().chain(&self.consumer_properties)
    }

    /// The bootstrap brokers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.connect_timeout
    }

    pub(crate) fn buffer(&self) -> usize {
        self.max_buffered_records
    }

    /// Checks every property with librdkafka; the error names the first bad key.
    pub fn validate(&self) -> Result<()> {
        self.producer_config(&[])?;
        self.consumer_config(&[]).map(|_| ())
    }

    /// A librdkafka configuration: brokers, the common properties, then `extra` (which
    /// wins), for clients of one's own. Errors name the offending key.
    ///
    /// ```
    /// use kflow_kafka::KafkaConfig;
    /// let config = KafkaConfig::new("127.0.0.1:9092").property("client.id", "tools");
    /// let client = config.client_config(&[("group.id".into(), "g".into())]).unwrap();
    /// assert_eq!(client.get("group.id"), Some("g"));
    /// assert_eq!(client.get("client.id"), Some("tools"));
    /// ```
    pub fn client_config(&self, extra: &[(String, String)]) -> Result<ClientConfig> {
        self.build(&[], extra)
    }

    /// [`KafkaConfig::client_config`] for a producer: the producer-only properties too.
    pub fn producer_config(&self, extra: &[(String, String)]) -> Result<ClientConfig> {
        self.build(&self.producer_properties, extra)
    }

    /// [`KafkaConfig::client_config`] for a consumer: the consumer-only properties too.
    pub fn consumer_config(&self, extra: &[(String, String)]) -> Result<ClientConfig> {
        self.build(&self.consumer_properties, extra)
    }

    fn build(&self, scoped: &[(String, String)], extra: &[(String, String)]) -> Result<ClientConfig> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in self.properties.iter().chain(scoped).chain(extra) {
            config.set(key, value);
            // librdkafka checks names and values when the native config is built.
            let mut single = ClientConfig::new();
            single.set(key, value);
            if let Err(e) = single.create_native_config() {
                return Err(config_error(key, value, &e.to_string()));
            }
        }
        Ok(config)
    }
}

/// The error for a property librdkafka refused with `message`: names the key, and never
/// quotes a secret's value.
fn config_error(key: &str, value: &str, message: &str) -> Error {
    let mut reason = message.to_string();
    if is_secret(key) && !value.is_empty() {
        reason = reason.replace(value, REDACTED);
    }
    Error::Config {
        key: key.to_string(),
        reason,
    }
}

/// A boolean environment variable: unset, `0`, `false` or empty are false; `1` and
/// `true` are true; anything else is an error naming it.
pub(crate) fn env_flag(var: &str) -> Result<bool> {
    match std::env::var(var) {
        Err(_) => Ok(false),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "false" | "no" => Ok(false),
            "1" | "true" | "yes" => Ok(true),
            other => Err(Error::Config {
                key: var.to_string(),
                reason: format!("`{other}` is not 1/true or 0/false"),
            }),
        },
    }
}

/// Refuses consumer settings kflow does not support yet: cooperative assignment and the
/// KIP-848 consumer protocol (kflow's rebalances are eager). The error names the key.
pub(crate) fn check_group_protocol<'a>(properties: impl IntoIterator<Item = &'a (String, String)>) -> Result<()> {
    for (key, value) in properties {
        let v = value.to_ascii_lowercase();
        let reason = match key.as_str() {
            "partition.assignment.strategy" if v.contains("cooperative") => {
                "cooperative (incremental) rebalancing is not supported yet: kflow rebalances eagerly; use `range` or `roundrobin`"
            }
            "group.protocol" if v.trim() == "consumer" => {
                "the KIP-848 consumer group protocol is not supported yet: use `classic`"
            }
            "group.remote.assignor" => "server-side assignors need the KIP-848 protocol, which kflow does not support yet",
            _ => continue,
        };
        return Err(Error::Config {
            key: key.clone(),
            reason: reason.into(),
        });
    }
    Ok(())
}

/// Checks that a revocation held for `revoke_wait` ends before librdkafka's
/// `max.poll.interval.ms` (default 300 000) would drop the member from its group.
pub(crate) fn check_poll_interval<'a>(
    properties: impl IntoIterator<Item = &'a (String, String)>,
    revoke_wait: Duration,
) -> Result<()> {
    let mut interval = Duration::from_millis(300_000);
    let mut key = "max.poll.interval.ms".to_string();
    for (k, v) in properties {
        if k == "max.poll.interval.ms" {
            let ms: u64 = v.trim().parse().map_err(|_| Error::Config {
                key: k.clone(),
                reason: format!("`{v}` is not a number of milliseconds"),
            })?;
            interval = Duration::from_millis(ms);
            key = k.clone();
        }
    }
    if revoke_wait >= interval {
        return Err(Error::Config {
            key,
            reason: format!(
                "{} ms is not more than the longest wait in a rebalance ({} ms: the drain timeout plus the commit timeout); raise it or lower the drain timeout",
                interval.as_millis(),
                revoke_wait.as_millis()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_reach_debug_output_or_errors() {
        let config = KafkaConfig::new("127.0.0.1:9092")
            .property("sasl.username", "svc")
            .property("sasl.password", "s3cr3t-pw")
            .property("ssl.key.password", "k3y-pw")
            .property("sasl.oauthbearer.client.secret", "cl13nt");
        let shown = format!("{config:?}");
        for secret in ["s3cr3t-pw", "k3y-pw", "cl13nt"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("svc") && shown.contains(REDACTED), "{shown}");
        // librdkafka quotes refused values ("Invalid value \"..\" for configuration
        // property"); for a secret the error names the key, not the value.
        let err = config_error(
            "sasl.password",
            "pw-9f8e",
            "Invalid value \"pw-9f8e\" for configuration property \"sasl.password\"",
        );
        assert!(!err.to_string().contains("pw-9f8e"), "{err}");
        assert!(err.to_string().contains("sasl.password"), "{err}");
        let err = config_error(
            "acks",
            "banana",
            "Invalid value \"banana\" for configuration property \"acks\"",
        );
        assert!(err.to_string().contains("banana"), "other values stay: {err}");
    }

    #[test]
    fn unsupported_group_protocols_and_short_poll_intervals_are_refused_by_key() {
        let props = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let err = check_group_protocol(&props("partition.assignment.strategy", "cooperative-sticky")).unwrap_err();
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "partition.assignment.strategy"),
            "{err}"
        );
        let err = check_group_protocol(&props("group.protocol", "consumer")).unwrap_err();
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "group.protocol"),
            "{err}"
        );
        assert!(check_group_protocol(&props("partition.assignment.strategy", "range,roundrobin")).is_ok());
        let wait = Duration::from_secs(15);
        let err = check_poll_interval(&props("max.poll.interval.ms", "10000"), wait).unwrap_err();
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "max.poll.interval.ms"),
            "{err}"
        );
        assert!(check_poll_interval(&props("max.poll.interval.ms", "60000"), wait).is_ok());
        assert!(check_poll_interval(&[], Duration::from_secs(400)).is_err());
    }
}
