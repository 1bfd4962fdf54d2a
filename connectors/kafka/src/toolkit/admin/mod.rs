//! Topic administration and group offsets on Kafka.

mod cluster;
mod controller;
mod groups;
mod health_check;
mod naming;
mod topic_changes;
mod topic_set;
mod topics;

pub use cluster::{
    BrokerInfo, ClusterDescription, ClusterHealth, PartitionProblem, PartitionStats, TopicStats, UnhealthyPartition,
};
pub use groups::{lag_json, GroupDescription, GroupMember, GroupSummary, OffsetChange, PartitionLag, ResetTo};
pub use health_check::ClusterHealthCheck;
pub use naming::{check_topic_name, NamingRule, TopicTemplate};
pub use topic_set::{Drift, TopicSet, TopicSetReport};
pub use topics::{CleanupPolicy, Created, PartitionDescription, TopicDescription, TopicSettings, TopicSummary};

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use kflow_core::transport::{Admin, CommittedOffsets, NewTopic, TopicInfo};
use kflow_core::{Error, Offset, Result, TopicPartition};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::config::KafkaConfig;
use crate::embedded::EmbeddedBroker;

/// The Kafka [`Admin`]: creates and describes topics, reads group offsets.
#[derive(Clone)]
pub struct KafkaAdmin {
    config: KafkaConfig,
    client: Arc<AdminClient<DefaultClientContext>>,
    /// The embedded broker creates topics itself (its admin API is limited).
    embedded: Option<Arc<EmbeddedBroker>>,
}

impl KafkaAdmin {
    pub(crate) fn new(config: &KafkaConfig, embedded: Option<Arc<EmbeddedBroker>>) -> Result<Self> {
        // Looking up a missing topic must not create it (librdkafka's admin client is a
        // producer underneath, which would ask the broker to).
        let client = config
            .client_config(&[("allow.auto.create.topics".into(), "false".into())])?
            .create()
            .map_err(|e| {
                Error::transport(format!("admin client for {}", config.brokers()), "cannot be created").caused_by(e)
            })?;
        Ok(KafkaAdmin {
            config: config.clone(),
            client: Arc::new(client),
            embedded,
        })
    }

    /// Checks that the cluster answers within the connect timeout; the error names the
    /// address.
    pub(crate) fn check_reachable(&self) -> Result<()> {
        self.client
            .inner()
            .fetch_metadata(None, self.config.timeout())
            .map(|_| ())
            .map_err(|e| {
                Error::transport(
                    format!("Kafka at {}", self.config.brokers()),
                    format!("cannot be reached within {:?}", self.config.timeout()),
                )
                .caused_by(e)
            })
    }

    fn partitions_of(&self, topic: &str) -> Result<Option<i32>> {
        Ok(self
            .metadata(Some(topic))?
            .into_iter()
            .find(|(name, _)| name == topic)
            .map(|(_, partitions)| partitions.len() as i32))
    }
}

impl Admin for KafkaAdmin {
    fn create_topic(&self, topic: NewTopic) -> BoxFuture<'static, Result<()>> {
        let this = self.clone();
        async move { this.create_one(&topic).await.map(|_| ()) }.boxed()
    }

    fn describe_topic(&self, name: &str) -> BoxFuture<'static, Result<Option<TopicInfo>>> {
        let (this, name) = (self.clone(), name.to_string());
        async move {
            let partitions = this.partitions_async(&name).await?;
            Ok(partitions.map(|partitions| TopicInfo { name, partitions }))
        }
        .boxed()
    }

    fn committed(&self, group: &str, partitions: Vec<TopicPartition>) -> BoxFuture<'static, Result<CommittedOffsets>> {
        let (this, group) = (self.clone(), group.to_string());
        async move {
            groups::blocking(move || {
                let consumer = this.group_consumer(&group)?;
                let offsets = this.committed_of(&consumer, &group, &partitions)?;
                Ok(partitions
                    .into_iter()
                    .zip(offsets)
                    .map(|(tp, offset)| (tp, offset.map(Offset)))
                    .collect())
            })
            .await
        }
        .boxed()
    }
}
