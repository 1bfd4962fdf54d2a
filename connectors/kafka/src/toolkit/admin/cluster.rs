//! The cluster and its topics' health: brokers, cluster id, a ping, and partitions that
//! are under-replicated, leaderless or below `min.insync.replicas`.

use std::time::{Duration, Instant};

use kflow_core::{Error, Result};

use super::{KafkaAdmin, PartitionDescription};

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokerInfo {
    /// The broker id.
    pub id: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: i32,
}

/// The cluster, from [`KafkaAdmin::describe_cluster`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterDescription {
    /// The cluster id (`None` if the broker does not say).
    pub cluster_id: Option<String>,
    /// The id of the controller broker (`None` if the cluster does not say).
    pub controller: Option<i32>,
    /// The brokers, by id.
    pub brokers: Vec<BrokerInfo>,
    /// How many topics the cluster has (internal ones included).
    pub topics: usize,
}

/// What is wrong with a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionProblem {
    /// No leader: nobody can read or write it.
    Leaderless,
    /// Fewer in-sync replicas than replicas.
    UnderReplicated,
    /// Fewer in-sync replicas than the topic's `min.insync.replicas`: writes with
    /// `acks=all` fail.
    BelowMinInsync,
}

/// One partition with a problem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnhealthyPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// What is wrong with it (one or more).
    pub problems: Vec<PartitionProblem>,
    /// The leader (`-1`: none), replicas and in-sync replicas.
    pub leader: i32,
    /// Broker ids holding a replica.
    pub replicas: Vec<i32>,
    /// Broker ids of the in-sync replicas.
    pub isr: Vec<i32>,
}

/// The cluster's health, from [`KafkaAdmin::cluster_health`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterHealth {
    /// How long one metadata round trip took (the ping).
    pub ping_ms: f64,
    /// How many brokers the metadata lists.
    pub brokers: usize,
    /// Partitions checked.
    pub partitions: usize,
    /// The partitions with a problem, by topic and partition.
    pub unhealthy: Vec<UnhealthyPartition>,
}

impl ClusterHealth {
    /// True when no partition has a problem.
    pub fn is_healthy(&self) -> bool {
        self.unhealthy.is_empty()
    }
}

/// One partition's statistics, in [`TopicStats`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionStats {
    /// The partition.
    pub partition: i32,
    /// The leader's broker id (`-1`: none).
    pub leader: i32,
    /// Broker ids holding a replica.
    pub replicas: Vec<i32>,
    /// Broker ids of the in-sync replicas.
    pub isr: Vec<i32>,
    /// The first offset still kept.
    pub low: i64,
    /// The end offset (high watermark).
    pub high: i64,
    /// `high - low`: the records kept (compaction and transaction markers make the real
    /// count smaller).
    pub messages: i64,
}

/// A topic's partitions with their offsets, from [`KafkaAdmin::topic_stats`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TopicStats {
    /// The topic.
    pub topic: String,
    /// Its partitions, by id.
    pub partitions: Vec<PartitionStats>,
    /// The sum of the partitions' `messages`.
    pub messages: i64,
}

/// The brokers of `metadata`, by id.
fn brokers_of(metadata: &rdkafka::metadata::Metadata) -> Vec<BrokerInfo> {
    let mut brokers: Vec<BrokerInfo> = metadata
        .brokers()
        .iter()
        .map(|b| BrokerInfo {
            id: b.id(),
            host: b.host().to_string(),
            port: b.port(),
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    brokers
}

/// The problems of one partition, given its topic's `min.insync.replicas`.
pub(crate) fn problems(p: &PartitionDescription, min_insync: Option<usize>) -> Vec<PartitionProblem> {
    let mut out = Vec::new();
    if p.leader < 0 {
        out.push(PartitionProblem::Leaderless);
    }
    if p.isr.len() < p.replicas.len() {
        out.push(PartitionProblem::UnderReplicated);
    }
    if min_insync.is_some_and(|min| p.isr.len() < min) {
        out.push(PartitionProblem::BelowMinInsync);
    }
    out
}

impl KafkaAdmin {
    /// The cluster: its id, its brokers and how many topics it has.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let this = self.clone();
        super::groups::blocking(move || {
            let metadata = this.fetch_metadata(None)?;
            Ok(ClusterDescription {
                cluster_id: this.client.inner().fetch_cluster_id(this.config.timeout()),
                controller: super::controller::controller_id(this.client.inner(), this.config.timeout()),
                brokers: brokers_of(&metadata),
                topics: metadata.topics().len(),
            })
        })
        .await
    }

    /// A topic's partitions: leader, replicas, in-sync replicas, low and high watermarks
    /// and the records between them. An unknown topic is an error naming it.
    pub async fn topic_stats(&self, topic: &str) -> Result<TopicStats> {
        let described = self.describe(topic).await?;
        let this = self.clone();
        let name = topic.to_string();
        super::groups::blocking(move || {
            use rdkafka::consumer::Consumer as _;
            let consumer = this.group_consumer("kflow-admin-stats")?;
            let mut partitions = Vec::with_capacity(described.partitions.len());
            for p in described.partitions {
                let (low, high) = consumer
                    .fetch_watermarks(&name, p.id, this.config.timeout())
                    .map_err(|e| Error::topic(name.clone(), format!("offsets of partition {}: {e}", p.id)))?;
                partitions.push(PartitionStats {
                    partition: p.id,
                    leader: p.leader,
                    replicas: p.replicas,
                    isr: p.isr,
                    low,
                    high,
                    messages: (high - low).max(0),
                });
            }
            let messages = partitions.iter().map(|p| p.messages).sum();
            Ok(TopicStats {
                topic: name,
                partitions,
                messages,
            })
        })
        .await
    }

    /// One metadata round trip to the cluster: how long it took. An error if the
    /// cluster does not answer within the connect timeout.
    pub async fn ping(&self) -> Result<Duration> {
        let this = self.clone();
        super::groups::blocking(move || {
            let started = Instant::now();
            this.check_reachable()?;
            Ok(started.elapsed())
        })
        .await
    }

    /// Every partition of `topics` (every non-internal topic when empty) checked for a
    /// missing leader, missing in-sync replicas and fewer in-sync replicas than the
    /// topic's `min.insync.replicas` (read from its configs; the embedded broker has
    /// none, and then that check is skipped), with the ping.
    pub async fn cluster_health(&self, topics: &[&str]) -> Result<ClusterHealth> {
        // One metadata round trip: the ping, the brokers and the partitions.
        let this = self.clone();
        let (ping, brokers, metadata) = super::groups::blocking(move || {
            let started = Instant::now();
            let metadata = this.fetch_metadata(None)?;
            Ok((
                started.elapsed(),
                metadata.brokers().len(),
                super::topics::topics_of(&metadata),
            ))
        })
        .await?;
        if let Some(missing) = topics.iter().find(|t| !metadata.iter().any(|(name, _)| name == *t)) {
            return Err(Error::topic(missing.to_string(), "does not exist"));
        }
        let mut unhealthy = Vec::new();
        let mut checked = 0;
        for (topic, partitions) in metadata {
            let wanted = if topics.is_empty() {
                !topic.starts_with("__")
            } else {
                topics.contains(&topic.as_str())
            };
            if !wanted {
                continue;
            }
            let min_insync = match &self.embedded {
                Some(_) => None,
                None => self
                    .topic_configs(&topic)
                    .await
                    .ok()
                    .and_then(|(configs, _)| configs.get("min.insync.replicas").and_then(|v| v.parse().ok())),
            };
            for p in &partitions {
                checked += 1;
                let problems = problems(p, min_insync);
                if !problems.is_empty() {
                    unhealthy.push(UnhealthyPartition {
                        topic: topic.clone(),
                        partition: p.id,
                        problems,
                        leader: p.leader,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                    });
                }
            }
        }
        unhealthy.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(ClusterHealth {
            ping_ms: ping.as_secs_f64() * 1000.0,
            brokers,
            partitions: checked,
            unhealthy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionDescription {
        PartitionDescription {
            id: 0,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        }
    }

    #[test]
    fn problems_of_a_partition() {
        assert!(problems(&partition(1, &[1, 2, 3], &[1, 2, 3]), Some(2)).is_empty());
        assert_eq!(
            problems(&partition(1, &[1, 2, 3], &[1, 2]), Some(2)),
            [PartitionProblem::UnderReplicated]
        );
        assert_eq!(
            problems(&partition(1, &[1, 2, 3], &[1]), Some(2)),
            [PartitionProblem::UnderReplicated, PartitionProblem::BelowMinInsync]
        );
        assert_eq!(
            problems(&partition(-1, &[1], &[]), None),
            [PartitionProblem::Leaderless, PartitionProblem::UnderReplicated]
        );
    }
}
