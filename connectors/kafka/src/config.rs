//! Connection settings: brokers, security, and librdkafka properties passed through.

use std::time::Duration;

use kflow_core::{Error, Result};
use rdkafka::ClientConfig;

/// How to reach a Kafka cluster.
///
/// ```
/// use kflow_kafka::KafkaConfig;
/// let config = KafkaConfig::new("127.0.0.1:9092").property("compression.type", "lz4");
/// assert_eq!(config.brokers(), "127.0.0.1:9092");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    brokers: String,
    properties: Vec<(String, String)>,
    connect_timeout: Duration,
    max_buffered_records: usize,
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
            connect_timeout: Duration::from_secs(10),
            max_buffered_records: 50_000,
        }
    }

    /// From the environment: `KAFKA_BROKERS` (`None` when unset), the security variables
    /// in [`ENV_PROPERTIES`], and `KAFKA_PROPERTIES` (`key=value` pairs separated by
    /// commas or newlines) for any other librdkafka property.
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
        let mut config = KafkaConfig::new(brokers.trim());
        for (var, key) in ENV_PROPERTIES {
            if let Ok(value) = std::env::var(var) {
                config = config.property(key, &value);
            }
        }
        if let Ok(list) = std::env::var("KAFKA_PROPERTIES") {
            for pair in list.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').ok_or_else(|| Error::Config {
                    key: "KAFKA_PROPERTIES".into(),
                    reason: format!("`{pair}` is not key=value"),
                })?;
                config = config.property(key.trim(), value.trim());
            }
        }
        config.validate()?;
        Ok(Some(config))
    }

    /// Sets a librdkafka property for every client (consumers, producer, admin).
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
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

    pub(crate) fn has_property(&self, key: &str) -> bool {
        self.properties.iter().any(|(k, _)| k == key)
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
        self.client_config(&[]).map(|_| ())
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
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in self.properties.iter().chain(extra) {
            config.set(key, value);
            // librdkafka checks names and values when the native config is built.
            let mut single = ClientConfig::new();
            single.set(key, value);
            if let Err(e) = single.create_native_config() {
                return Err(Error::Config {
                    key: key.clone(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(config)
    }
}
