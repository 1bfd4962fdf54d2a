//! Topic administration and group offsets on Kafka.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use kflow_core::transport::{Admin, CommittedOffsets, NewTopic, TopicInfo};
use kflow_core::{Error, Offset, Result, TopicPartition};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic as RdNewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::TopicPartitionList;

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
        let client = config
            .client_config(&[])?
            .create()
            .map_err(|e| Error::Transport(format!("cannot create an admin client for {}: {e}", config.brokers())))?;
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
                Error::Transport(format!(
                    "cannot reach Kafka at {} within {:?}: {e}",
                    self.config.brokers(),
                    self.config.timeout()
                ))
            })
    }

    fn partitions_of(&self, topic: &str) -> Result<Option<i32>> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, self.config.timeout())
            .map_err(|e| Error::Transport(format!("metadata from {}: {e}", self.config.brokers())))?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len() as i32))
    }
}

impl Admin for KafkaAdmin {
    fn create_topic(&self, topic: NewTopic) -> BoxFuture<'static, Result<()>> {
        let this = self.clone();
        async move {
            if let Some(embedded) = &this.embedded {
                return embedded.create_topic(&topic.name, topic.partitions);
            }
            let mut new = RdNewTopic::new(
                &topic.name,
                topic.partitions,
                TopicReplication::Fixed(i32::from(topic.replication)),
            );
            for (k, v) in &topic.configs {
                new = new.set(k, v);
            }
            let options = AdminOptions::new().operation_timeout(Some(this.config.timeout()));
            let results = this
                .client
                .create_topics([&new], &options)
                .await
                .map_err(|e| Error::Topic {
                    topic: topic.name.clone(),
                    reason: e.to_string(),
                })?;
            for result in results {
                if let Err((name, code)) = result {
                    return Err(Error::Topic {
                        topic: name,
                        reason: code.to_string(),
                    });
                }
            }
            // Wait (bounded) until the topic shows up in metadata.
            let deadline = tokio::time::Instant::now() + this.config.timeout();
            while tokio::time::Instant::now() < deadline {
                let (t, name) = (this.clone(), topic.name.clone());
                if tokio::task::spawn_blocking(move || t.partitions_of(&name))
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .flatten()
                    .is_some()
                {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(Error::Topic {
                topic: topic.name,
                reason: "created, but not visible in metadata in time".into(),
            })
        }
        .boxed()
    }

    fn describe_topic(&self, name: &str) -> BoxFuture<'static, Result<Option<TopicInfo>>> {
        let (this, name) = (self.clone(), name.to_string());
        async move {
            let n = name.clone();
            let partitions = tokio::task::spawn_blocking(move || this.partitions_of(&n))
                .await
                .map_err(|e| Error::Transport(e.to_string()))??;
            Ok(partitions.map(|partitions| TopicInfo { name, partitions }))
        }
        .boxed()
    }

    fn committed(&self, group: &str, partitions: Vec<TopicPartition>) -> BoxFuture<'static, Result<CommittedOffsets>> {
        let (config, group) = (self.config.clone(), group.to_string());
        async move {
            tokio::task::spawn_blocking(move || {
                let client = config.client_config(&[("group.id".into(), group.clone())])?;
                let consumer: BaseConsumer = client
                    .create()
                    .map_err(|e| Error::Transport(format!("offsets of group `{group}`: {e}")))?;
                let mut tpl = TopicPartitionList::new();
                for tp in &partitions {
                    tpl.add_partition(&tp.topic, tp.partition.0);
                }
                let got = consumer
                    .committed_offsets(tpl, config.timeout())
                    .map_err(|e| Error::Transport(format!("offsets of group `{group}`: {e}")))?;
                Ok(partitions
                    .into_iter()
                    .map(|tp| {
                        let offset = got
                            .find_partition(&tp.topic, tp.partition.0)
                            .and_then(|e| e.offset().to_raw())
                            .filter(|o| *o >= 0)
                            .map(Offset);
                        (tp, offset)
                    })
                    .collect())
            })
            .await
            .map_err(|e| Error::Transport(e.to_string()))?
        }
        .boxed()
    }
}
