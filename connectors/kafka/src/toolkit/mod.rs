//! The Kafka toolkit, apart from the runtime's transport: a typed producer, and topic
//! and group administration.

mod admin;
mod produce;

pub use admin::{
    check_topic_name, lag_json, BrokerInfo, CleanupPolicy, ClusterDescription, ClusterHealth, ClusterHealthCheck,
    Created, Drift, GroupDescription, GroupMember, GroupSummary, KafkaAdmin, NamingRule, OffsetChange,
    PartitionDescription, PartitionLag, PartitionProblem, PartitionStats, ResetTo, TopicDescription, TopicSet,
    TopicSetReport, TopicSettings, TopicStats, TopicSummary, TopicTemplate, UnhealthyPartition,
};
pub use produce::{Acks, Compression, Delivered, Partitioning, ProduceRecord, ProducerOptions, TypedProducer};
