//! Topic administration: create (idempotently), delete, list and describe, with configs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kflow_core::transport::NewTopic;
use kflow_core::{Error, Result};
use rdkafka::admin::{AdminOptions, NewTopic as RdNewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaAdmin;

/// What `cleanup.policy` does with old records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// Delete segments older than the retention.
    Delete,
    /// Keep the latest record per key.
    Compact,
    /// Both.
    CompactDelete,
}

impl CleanupPolicy {
    /// The Kafka value.
    pub fn name(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
}

/// How a topic is made: partitions, replication and configs (no name, so one value can
/// describe many topics, as [`crate::TopicSet`] rules do).
///
/// ```
/// use std::time::Duration;
/// use kflow_kafka::{CleanupPolicy, TopicSettings};
/// let topic = TopicSettings::new()
///     .partitions(6)
///     .replication(3)
///     .retention(Duration::from_secs(7 * 24 * 3600))
///     .cleanup(CleanupPolicy::Compact)
///     .topic("customers");
/// assert_eq!(topic.partitions, 6);
/// assert!(topic.configs.contains(&("retention.ms".into(), "604800000".into())));
/// assert!(topic.configs.contains(&("cleanup.policy".into(), "compact".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSettings {
    /// Partition count (default 1).
    pub partitions: i32,
    /// Replication factor (default 1).
    pub replication: i16,
    /// Topic configs, by name.
    pub configs: BTreeMap<String, String>,
}

impl Default for TopicSettings {
    fn default() -> Self {
        TopicSettings {
            partitions: 1,
            replication: 1,
            configs: BTreeMap::new(),
        }
    }
}

impl TopicSettings {
    /// One partition, replication 1, the broker's default configs.
    pub fn new() -> Self {
        Self::default()
    }

    /// The partition count.
    pub fn partitions(mut self, partitions: i32) -> Self {
        self.partitions = partitions;
        self
    }

    /// The replication factor.
    pub fn replication(mut self, replication: i16) -> Self {
        self.replication = replication;
        self
    }

    /// `retention.ms`.
    pub fn retention(self, retention: Duration) -> Self {
        self.config("retention.ms", &retention.as_millis().to_string())
    }

    /// `retention.ms=-1`: records are never deleted for their age.
    pub fn retain_forever(self) -> Self {
        self.config("retention.ms", "-1")
    }

    /// `cleanup.policy`.
    pub fn cleanup(self, policy: CleanupPolicy) -> Self {
        self.config("cleanup.policy", policy.name())
    }

    /// Any topic config.
    pub fn config(mut self, name: &str, value: &str) -> Self {
        self.configs.insert(name.to_string(), value.to_string());
        self
    }

    /// A topic with these settings.
    pub fn topic(&self, name: impl Into<String>) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions: self.partitions,
            replication: self.replication,
            configs: self.configs.clone().into_iter().collect(),
        }
    }
}

/// Whether [`KafkaAdmin::create_topics`] made a topic or found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The topic was created.
    New,
    /// A topic of that name was already there (left as it was).
    Existed,
}

/// A topic in [`KafkaAdmin::list_topics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSummary {
    /// The name.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
}

/// A partition in a [`TopicDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition number.
    pub id: i32,
    /// The leader's broker id.
    pub leader: i32,
    /// Broker ids holding a replica.
    pub replicas: Vec<i32>,
    /// Broker ids of the in-sync replicas.
    pub isr: Vec<i32>,
}

/// A topic's partitions and configs, from [`KafkaAdmin::describe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The name.
    pub name: String,
    /// Partitions, by id.
    pub partitions: Vec<PartitionDescription>,
    /// The topic's effective configs (set on it, or the broker's defaults), by name.
    /// Empty when the broker does not answer `DescribeConfigs` (the embedded broker).
    pub configs: BTreeMap<String, String>,
    /// The names of the configs the broker says were set on the topic itself.
    pub overrides: BTreeSet<String>,
}

impl KafkaAdmin {
    /// Creates topics; a topic that already exists is reported as [`Created::Existed`]
    /// and left alone. Each topic is visible in metadata before this returns.
    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<Vec<(String, Created)>> {
        let mut out = Vec::with_capacity(topics.len());
        for topic in topics {
            out.push((topic.name.clone(), self.create_one(topic).await?));
        }
        Ok(out)
    }

    pub(crate) async fn create_one(&self, topic: &NewTopic) -> Result<Created> {
        if let Some(embedded) = &self.embedded {
            if self.partitions_async(&topic.name).await?.is_some() {
                return Ok(Created::Existed);
            }
            embedded.create_topic(&topic.name, topic.partitions)?;
            return Ok(Created::New);
        }
        let mut new = RdNewTopic::new(
            &topic.name,
            topic.partitions,
            TopicReplication::Fixed(i32::from(topic.replication)),
        );
        for (k, v) in &topic.configs {
            new = new.set(k, v);
        }
        let results = self
            .client
            .create_topics([&new], &self.options())
            .await
            .map_err(|e| topic_error(&topic.name, e))?;
        let mut created = Created::New;
        for result in results {
            match result {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => created = Created::Existed,
                Err((name, code)) => return Err(Error::topic(name, code.to_string())),
            }
        }
        if self.metadata_shows(&topic.name, |p| p.is_some()).await {
            return Ok(created);
        }
        Err(Error::topic(
            topic.name.clone(),
            "created, but not visible in metadata in time",
        ))
    }

    /// Deletes topics. Deleting a topic that does not exist is an error naming it.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<()> {
        let results = self
            .client
            .delete_topics(names, &self.options())
            .await
            .map_err(|e| Error::transport("admin client", "delete topics").caused_by(e))?;
        for result in results {
            if let Err((name, code)) = result {
                let reason = match code {
                    RDKafkaErrorCode::UnknownTopicOrPartition => "does not exist".to_string(),
                    other => other.to_string(),
                };
                return Err(Error::topic(name, reason));
            }
        }
        Ok(())
    }

    /// Every topic with its partition count, by name; internal topics (`__...`) only
    /// with `internal`.
    pub async fn list_topics(&self, internal: bool) -> Result<Vec<TopicSummary>> {
        let this = self.clone();
        let metadata = tokio::task::spawn_blocking(move || this.metadata(None))
            .await
            .map_err(|e| Error::transport("admin client", "a blocking call did not finish").caused_by(e))??;
        let mut topics: Vec<TopicSummary> = metadata
            .into_iter()
            .filter(|(name, _)| internal || !name.starts_with("__"))
            .map(|(name, partitions)| TopicSummary {
                name,
                partitions: partitions.len() as i32,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// A topic's partitions (leader, replicas, in-sync replicas) and the configs set on
    /// it. An unknown topic is an error naming it.
    pub async fn describe(&self, name: &str) -> Result<TopicDescription> {
        let (this, topic) = (self.clone(), name.to_string());
        let metadata = tokio::task::spawn_blocking(move || this.metadata(Some(&topic)))
            .await
            .map_err(|e| Error::transport("admin client", "a blocking call did not finish").caused_by(e))??;
        let Some((_, partitions)) = metadata.into_iter().find(|(n, _)| n == name) else {
            return Err(Error::topic(name.to_string(), "does not exist"));
        };
        let (configs, overrides) = match &self.embedded {
            Some(_) => Default::default(),
            None => self.topic_configs(name).await.unwrap_or_default(),
        };
        Ok(TopicDescription {
            name: name.to_string(),
            partitions,
            configs,
            overrides,
        })
    }

    /// A topic's effective configs, and which of them were set on it.
    pub(super) async fn topic_configs(&self, name: &str) -> Result<(BTreeMap<String, String>, BTreeSet<String>)> {
        let results = self
            .client
            .describe_configs([&ResourceSpecifier::Topic(name)], &self.options())
            .await
            .map_err(|e| topic_error(name, e))?;
        let (mut configs, mut overrides) = (BTreeMap::new(), BTreeSet::new());
        for result in results {
            let resource = result.map_err(|e| topic_error(name, e))?;
            for entry in resource.entries {
                if !entry.is_default {
                    overrides.insert(entry.name.clone());
                }
                if let Some(value) = entry.value {
                    configs.insert(entry.name, value);
                }
            }
        }
        Ok((configs, overrides))
    }

    pub(super) fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(self.config.timeout()))
            .request_timeout(Some(self.config.timeout()))
    }

    /// Waits (at most the connect timeout) until the partition count metadata gives for
    /// `topic` (`None`: no such topic) satisfies `shows`; false if it never did.
    pub(super) async fn metadata_shows(&self, topic: &str, shows: impl Fn(Option<i32>) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + self.config.timeout();
        while tokio::time::Instant::now() < deadline {
            if let Ok(partitions) = self.partitions_async(topic).await {
                if shows(partitions) {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub(crate) async fn partitions_async(&self, topic: &str) -> Result<Option<i32>> {
        let (this, name) = (self.clone(), topic.to_string());
        tokio::task::spawn_blocking(move || this.partitions_of(&name))
            .await
            .map_err(|e| Error::transport("admin client", "a blocking call did not finish").caused_by(e))?
    }

    /// Topics (all, or one) with their partitions, from the cluster's metadata.
    pub(crate) fn metadata(&self, topic: Option<&str>) -> Result<Vec<(String, Vec<PartitionDescription>)>> {
        Ok(topics_of(&self.fetch_metadata(topic)?))
    }

    /// The cluster's metadata (of all topics, or one).
    pub(super) fn fetch_metadata(&self, topic: Option<&str>) -> Result<rdkafka::metadata::Metadata> {
        self.client
            .inner()
            .fetch_metadata(topic, self.config.timeout())
            .map_err(|e| Error::transport(format!("Kafka at {}", self.config.brokers()), "no metadata").caused_by(e))
    }
}

/// The topics of `metadata` with their partitions, by id.
pub(super) fn topics_of(metadata: &rdkafka::metadata::Metadata) -> Vec<(String, Vec<PartitionDescription>)> {
    metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| {
            let mut partitions: Vec<PartitionDescription> = t
                .partitions()
                .iter()
                .map(|p| PartitionDescription {
                    id: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            (t.name().to_string(), partitions)
        })
        .collect()
}

fn topic_error(topic: &str, e: impl std::fmt::Display) -> Error {
    Error::topic(topic.to_string(), e.to_string())
}
