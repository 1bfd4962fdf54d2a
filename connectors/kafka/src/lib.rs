//! kflow-kafka: runs kflow apps on Apache Kafka (or any Kafka-protocol broker) through
//! rdkafka, with the commit, ordering and backpressure guarantees of the runtime.
//!
//! - [`KafkaTransport::connect`] for a cluster, [`KafkaTransport::embedded`] for an
//!   in-process broker, [`KafkaTransport::from_env`] for whichever the environment says.
//! - [`AppFromEnv`] adds `App::from_env()`: `KAFKA_BROKERS` and friends, or the embedded
//!   broker.

mod admin;
mod config;
mod consumer;
mod embedded;
mod produce;
mod producer;

use std::sync::Arc;
use std::time::Duration;

use kflow_core::transport::{Admin, Consumer, ConsumerConfig, Producer, StartFrom, Transport};
use kflow_core::{App, Result};

pub use admin::{
    check_topic_name, CleanupPolicy, Created, Drift, GroupDescription, GroupMember, GroupSummary, KafkaAdmin,
    NamingRule, OffsetChange, PartitionDescription, PartitionLag, ResetTo, TopicDescription, TopicSet, TopicSetReport,
    TopicSettings, TopicSummary, TopicTemplate,
};
pub use config::{KafkaConfig, ENV_PROPERTIES};
pub use consumer::{KafkaConsumer, SourceStats};
pub use embedded::EmbeddedBroker;
pub use produce::{Acks, Compression, Delivered, Partitioning, ProduceRecord, ProducerOptions, TypedProducer};
pub use producer::KafkaProducer;

/// Consumer settings kflow starts from (the user's properties override them). Statistics
/// every 5 s feed the consumer-lag gauge.
const CONSUMER_DEFAULTS: [(&str, &str); 4] = [
    ("enable.partition.eof", "false"),
    // kflow bounds what it buffers itself (`max_buffered_records`). librdkafka's default
    // (1 s) leaves a partition unfetched for a whole second whenever one large fetch
    // response fills its queue, which brokers that ignore `max.partition.fetch.bytes`
    // (tansu) do on every backlog.
    ("fetch.queue.backoff.ms", "20"),
    ("session.timeout.ms", "10000"),
    ("statistics.interval.ms", "5000"),
];

/// Kafka as a kflow transport. Cheap to clone.
///
/// ```no_run
/// use kflow_kafka::{KafkaConfig, KafkaTransport};
/// let transport = KafkaTransport::connect(KafkaConfig::new("127.0.0.1:9092")).unwrap();
/// ```
#[derive(Clone)]
pub struct KafkaTransport {
    config: KafkaConfig,
    producer: KafkaProducer,
    admin: KafkaAdmin,
    embedded: Option<Arc<EmbeddedBroker>>,
    stats: Arc<SourceStats>,
}

impl KafkaTransport {
    /// Connects to a cluster: checks every property (an error names the bad key) and that
    /// the brokers answer within the connect timeout (an error names the address).
    pub fn connect(config: KafkaConfig) -> Result<Self> {
        Self::build(config, None)
    }

    /// Starts an embedded Kafka-protocol broker (librdkafka's mock cluster) in this
    /// process and connects to it. Nothing is persisted.
    pub fn embedded() -> Result<Self> {
        let broker = Arc::new(EmbeddedBroker::start()?);
        let config = KafkaConfig::new(broker.bootstrap_servers());
        Self::build(config, Some(broker))
    }

    /// [`KafkaTransport::connect`] with [`KafkaConfig::from_env`], or
    /// [`KafkaTransport::embedded`] when `KAFKA_BROKERS` is unset (logged once).
    pub fn from_env() -> Result<Self> {
        match KafkaConfig::from_env()? {
            Some(config) => Self::connect(config),
            None => {
                let t = Self::embedded()?;
                tracing::info!(
                    brokers = t.config.brokers(),
                    "KAFKA_BROKERS is not set: running on an embedded Kafka-protocol broker (librdkafka's mock cluster); nothing is persisted"
                );
                Ok(t)
            }
        }
    }

    fn build(config: KafkaConfig, embedded: Option<Arc<EmbeddedBroker>>) -> Result<Self> {
        config.validate()?;
        let admin = KafkaAdmin::new(&config, embedded.clone())?;
        admin.check_reachable()?;
        let producer = KafkaProducer::new(&config)?;
        Ok(KafkaTransport {
            config,
            producer,
            admin,
            embedded,
            stats: Arc::default(),
        })
    }

    /// The connection settings.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// The embedded broker, when running on one (to inject errors in tests).
    pub fn embedded_broker(&self) -> Option<&EmbeddedBroker> {
        self.embedded.as_deref()
    }

    /// What this transport's consumers did (pauses, peak buffered records).
    pub fn source_stats(&self) -> &SourceStats {
        &self.stats
    }

    /// The admin client, typed.
    pub fn kafka_admin(&self) -> &KafkaAdmin {
        &self.admin
    }
}

impl Transport for KafkaTransport {
    fn describe(&self) -> String {
        match &self.embedded {
            Some(_) => format!("embedded Kafka broker at {}", self.config.brokers()),
            None => format!("Kafka at {}", self.config.brokers()),
        }
    }

    fn transactions(&self) -> bool {
        true
    }

    fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        let reset = match config.start {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        let mut props: Vec<(String, String)> = CONSUMER_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        props.extend([
            ("group.id".to_string(), config.group_id.clone()),
            ("client.id".to_string(), config.client_id.clone()),
            ("auto.offset.reset".to_string(), reset.to_string()),
        ]);
        props.extend(config.properties.iter().cloned());
        let transactional = match &config.transactional_id {
            Some(id) => {
                // Only committed records feed an exactly-once pipeline.
                props.push(("isolation.level".into(), "read_committed".into()));
                Some(KafkaProducer::transactional(&self.config, id)?)
            }
            None => None,
        };
        // kflow commits; these must hold whatever else is configured.
        props.extend([
            ("enable.auto.commit".to_string(), "false".to_string()),
            ("enable.auto.offset.store".to_string(), "false".to_string()),
        ]);
        let client = self.config.client_config(&props)?;
        let revoke_timeout = Duration::from_secs(60);
        Ok(Box::new(KafkaConsumer::new(
            client,
            config.group_id,
            self.config.buffer(),
            revoke_timeout,
            self.stats.clone(),
            transactional,
        )?))
    }

    fn producer(&self) -> Result<Arc<dyn Producer>> {
        Ok(Arc::new(self.producer.clone()))
    }

    fn admin(&self) -> Arc<dyn Admin> {
        Arc::new(self.admin.clone())
    }
}

/// `App::from_env()`: the app id from `KFLOW_APP_ID` (default `kflow-app`), runtime
/// settings from `KFLOW_*`, and the transport from [`KafkaTransport::from_env`].
pub trait AppFromEnv: Sized {
    /// Builds the app from the environment.
    fn from_env() -> Result<Self>;
}

impl AppFromEnv for App {
    fn from_env() -> Result<App> {
        Ok(App::new_from_env()?.transport(KafkaTransport::from_env()?))
    }
}
