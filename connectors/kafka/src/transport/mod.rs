//! Kafka as a kflow transport: group consumers routing records to bounded per-partition
//! queues, the producer whose delivery reports release acks, and the embedded broker.

mod consumer;
mod producer;
mod reader;

use std::sync::Arc;

use kflow_core::transport::{Admin, Consumer, ConsumerConfig, FailureSignal, Producer, StartFrom, Transport};
use kflow_core::{Error, Result};

pub use consumer::{Faults, KafkaConsumer, SourceStats};
pub use producer::KafkaProducer;

use crate::config::{self, KafkaConfig};
use crate::embedded::EmbeddedBroker;
use crate::toolkit::KafkaAdmin;

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
    faults: Arc<Faults>,
    /// The app producer's failures (its delivery thread, fatal errors).
    failure: FailureSignal,
}

/// What to do when `KAFKA_BROKERS` is not set.
const NO_BROKERS: &str = "is not set: set it to your cluster's bootstrap servers (host:port[,host:port]), or set KFLOW_EMBEDDED=1 to run on an embedded broker in this process (development only: it keeps nothing)";

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

    /// [`KafkaTransport::connect`] with [`KafkaConfig::from_env`]. Without
    /// `KAFKA_BROKERS` it is a start-up error saying how to set it, unless
    /// `KFLOW_EMBEDDED=1` asks for the embedded broker ([`KafkaTransport::embedded`]): a
    /// production app never falls back to a broker that keeps nothing.
    pub fn from_env() -> Result<Self> {
        match KafkaConfig::from_env()? {
            Some(config) => Self::connect(config),
            None if config::env_flag("KFLOW_EMBEDDED")? => Self::embedded_logged("KFLOW_EMBEDDED=1"),
            None => Err(Error::Config {
                key: "KAFKA_BROKERS".into(),
                reason: NO_BROKERS.into(),
            }),
        }
    }

    /// The cluster `KAFKA_BROKERS` names, or else the embedded broker: for examples and
    /// development tools that should run with no set-up. An app calls this only when an
    /// in-process broker that keeps nothing is an acceptable default.
    pub fn from_env_or_embedded() -> Result<Self> {
        match KafkaConfig::from_env()? {
            Some(config) => Self::connect(config),
            None => Self::embedded_logged("KAFKA_BROKERS is not set"),
        }
    }

    fn embedded_logged(why: &str) -> Result<Self> {
        let t = Self::embedded()?;
        tracing::warn!(
            brokers = t.config.brokers(),
            "{why}: running on an embedded Kafka-protocol broker (librdkafka's mock cluster); nothing is persisted"
        );
        Ok(t)
    }

    fn build(config: KafkaConfig, embedded: Option<Arc<EmbeddedBroker>>) -> Result<Self> {
        config.validate()?;
        config.check_durability()?;
        config::check_group_protocol(config.properties())?;
        let admin = KafkaAdmin::new(&config, embedded.clone())?;
        admin.check_reachable()?;
        let failure = FailureSignal::default();
        let producer = KafkaProducer::new(&config, failure.clone())?;
        Ok(KafkaTransport {
            config,
            producer,
            admin,
            embedded,
            stats: Arc::default(),
            faults: Arc::default(),
            failure,
        })
    }

    /// Fault injection for tests: faults the transport's consumers will hit.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Fault injection for tests: makes the app producer fail as an idempotent producer
    /// that lost its sequence does (a fatal librdkafka error). False if librdkafka
    /// refused.
    pub fn inject_fatal_producer_error(&self) -> bool {
        self.producer.inject_fatal_error()
    }

    /// A one-line description for logs: `Kafka at host:port` or `embedded Kafka broker at
    /// 127.0.0.1:port`.
    pub fn describe(&self) -> String {
        Transport::describe(self)
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

    fn check_consumer(&self, config: &ConsumerConfig) -> Result<()> {
        self.config.consumer_config(&config.properties)?;
        let consumer = self.config.for_consumers().chain(&config.properties);
        config::check_group_protocol(consumer.clone())?;
        config::check_poll_interval(consumer, config.revoke_wait())
    }

    fn failures(&self) -> Option<FailureSignal> {
        Some(self.failure.clone())
    }

    fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        self.check_consumer(&config)?;
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
        let failure = FailureSignal::default();
        let transactional = match &config.transactional_id {
            Some(id) => {
                // Only committed records feed an exactly-once pipeline.
                props.push(("isolation.level".into(), "read_committed".into()));
                Some(KafkaProducer::transactional(&self.config, id, failure.clone())?)
            }
            None => None,
        };
        // kflow commits; these must hold whatever else is configured.
        props.extend([
            ("enable.auto.commit".to_string(), "false".to_string()),
            ("enable.auto.offset.store".to_string(), "false".to_string()),
        ]);
        let client = self.config.consumer_config(&props)?;
        let settings = consumer::ConsumerSettings {
            group: config.group_id.clone(),
            buffer: self.config.buffer(),
            revoke_wait: config.revoke_wait(),
            commit_timeout: config.commit_timeout,
            start: config.start,
            earliest: config.earliest_topics.iter().cloned().collect(),
            stats: self.stats.clone(),
            faults: self.faults.clone(),
        };
        Ok(Box::new(KafkaConsumer::new(client, settings, failure, transactional)?))
    }

    fn producer(&self) -> Result<Arc<dyn Producer>> {
        Ok(Arc::new(self.producer.clone()))
    }

    fn admin(&self) -> Arc<dyn Admin> {
        Arc::new(self.admin.clone())
    }

    fn reader(&self) -> Option<Arc<dyn kflow_core::transport::PartitionReader>> {
        Some(Arc::new(reader::KafkaReader {
            config: self.config.clone(),
        }))
    }
}
