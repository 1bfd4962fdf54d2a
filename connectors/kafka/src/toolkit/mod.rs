//! The Kafka toolkit, apart from the runtime's transport: a typed producer, and topic
//! and group administration.

mod admin;
mod produce;

pub use admin::{
    check_topic_name, CleanupPolicy, Created, Drift, GroupDescription, GroupMember, GroupSummary, KafkaAdmin,
    NamingRule, OffsetChange, PartitionDescription, PartitionLag, ResetTo, TopicDescription, TopicSet, TopicSetReport,
    TopicSettings, TopicSummary, TopicTemplate,
};
pub use produce::{Acks, Compression, Delivered, Partitioning, ProduceRecord, ProducerOptions, TypedProducer};
