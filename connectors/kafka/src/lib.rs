//! kflow-kafka: runs kflow apps on Apache Kafka (or any Kafka-protocol broker) through
//! rdkafka, with the commit, ordering and backpressure guarantees of the runtime, and the
//! everyday Kafka tools beside it.
//!
//! - The transport: [`KafkaTransport::connect`] for a cluster,
//!   [`KafkaTransport::embedded`] for an in-process broker, [`KafkaTransport::from_env`]
//!   for the cluster the environment names (`KAFKA_BROKERS`; the embedded broker only
//!   with `KFLOW_EMBEDDED=1`). The `kflow` facade's `App::from_env()` builds on it.
//! - The toolkit, for application code and tools: [`TypedProducer`], [`KafkaAdmin`]
//!   (topics, topic sets, groups, lag, offset resets).
//!
//! Inside, modules point down: `config`, `convert` (records, headers, offsets between
//! rdkafka and kflow) and `embedded` at the bottom; `toolkit` on them; `transport` on
//! top, whose admin side is the toolkit's [`KafkaAdmin`].

mod config;
mod convert;
mod embedded;
mod toolkit;
mod transport;

pub use config::{is_secret, KafkaConfig, ENV_PROPERTIES, REDACTED};
pub use convert::message_headers;
pub use embedded::EmbeddedBroker;
pub use toolkit::{
    check_topic_name, lag_json, Acks, BrokerInfo, CleanupPolicy, ClusterDescription, ClusterHealth, ClusterHealthCheck,
    Compression, Created, Delivered, Drift, GroupDescription, GroupMember, GroupSummary, KafkaAdmin, NamingRule,
    OffsetChange, PartitionDescription, PartitionLag, PartitionProblem, PartitionStats, Partitioning, ProduceRecord,
    ProducerOptions, ResetTo, TopicDescription, TopicSet, TopicSetReport, TopicSettings, TopicStats, TopicSummary,
    TopicTemplate, TypedProducer, UnhealthyPartition,
};
pub use transport::{Faults, KafkaConsumer, KafkaProducer, KafkaTransport, SourceStats};
