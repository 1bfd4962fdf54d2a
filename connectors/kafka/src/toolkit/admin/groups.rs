//! Consumer groups: list, describe (members and assignments), lag per partition, and
//! offset resets for inactive groups.

use std::collections::BTreeSet;
use std::time::Duration;

use kflow_core::{Error, Offset, Result, TopicPartition};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::groups::GroupInfo;
use rdkafka::TopicPartitionList;

use super::KafkaAdmin;
use crate::convert::{offset_in, offset_list};

/// A group in [`KafkaAdmin::list_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The group id.
    pub name: String,
    /// `Stable`, `Empty`, `PreparingRebalance`, `CompletingRebalance` or `Dead`.
    pub state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// Active members.
    pub members: usize,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member id the coordinator gave it.
    pub id: String,
    /// Its `client.id`.
    pub client_id: String,
    /// Its host, as the coordinator saw it.
    pub host: String,
    /// The partitions assigned to it.
    pub assignment: Vec<TopicPartition>,
}

/// A group's state and members, from [`KafkaAdmin::describe_group`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub name: String,
    /// The state (see [`GroupSummary::state`]).
    pub state: String,
    /// The assignment strategy (`range`, `cooperative-sticky`, ...).
    pub protocol: String,
    /// The active members.
    pub members: Vec<GroupMember>,
}

/// How far a group is behind on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The group's committed offset (`None`: nothing committed).
    pub committed: Option<Offset>,
    /// The partition's end (high watermark).
    pub end: Offset,
    /// `end - committed` (all of `end - start` when nothing is committed).
    pub lag: i64,
}

/// A group's lag as JSON: `{"group", "partitions": [{"topic", "partition",
/// "committed", "end", "lag"}], "total"}` (the CLI's `--json` and the admin API).
pub fn lag_json(group: &str, lag: &[PartitionLag]) -> serde_json::Value {
    let partitions: Vec<serde_json::Value> = lag
        .iter()
        .map(|l| {
            serde_json::json!({
                "topic": l.partition.topic.to_string(),
                "partition": l.partition.partition.0,
                "committed": l.committed.map(|c| c.0),
                "end": l.end.0,
                "lag": l.lag,
            })
        })
        .collect();
    let total: i64 = lag.iter().map(|l| l.lag).sum();
    serde_json::json!({"group": group, "partitions": partitions, "total": total})
}

/// Where [`KafkaAdmin::reset_offsets`] moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// The first offset still in the log.
    Earliest,
    /// The end of the log (skip everything not read yet).
    Latest,
    /// This offset, clamped to what is in the log.
    Offset(Offset),
    /// The first record at or after this time (milliseconds since the epoch); the end
    /// of the log when there is none.
    Timestamp(i64),
    /// The committed offset moved by this many records (back when negative), clamped to
    /// the log; from the first offset where nothing is committed.
    ShiftBy(i64),
}

/// One partition's offset before and after a reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetChange {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset before (`None`: nothing committed).
    pub from: Option<Offset>,
    /// The new committed offset.
    pub to: Offset,
}

impl KafkaAdmin {
    /// Every consumer group the cluster knows, by name.
    pub async fn list_groups(&self) -> Result<Vec<GroupSummary>> {
        let this = self.clone();
        let mut groups = blocking(move || {
            let list = this
                .client
                .inner()
                .fetch_group_list(None, this.config.timeout())
                .map_err(|e| Error::transport("admin client", "list groups").caused_by(e))?;
            Ok(list
                .groups()
                .iter()
                .map(|g| GroupSummary {
                    name: g.name().to_string(),
                    state: g.state().to_string(),
                    protocol_type: g.protocol_type().to_string(),
                    members: g.members().len(),
                })
                .collect::<Vec<_>>())
        })
        .await?;
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(groups)
    }

    /// A group's state, strategy and members with their assigned partitions.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        let (this, name) = (self.clone(), group.to_string());
        blocking(move || {
            let list = this
                .client
                .inner()
                .fetch_group_list(Some(&name), this.config.timeout())
                .map_err(|e| group_error(&name, format!("describe: {e}")))?;
            // Kafka describes a group it does not know as `Dead` with no members.
            Ok(list
                .groups()
                .iter()
                .find(|g| g.name() == name)
                .map(describe)
                .unwrap_or_else(|| GroupDescription {
                    name: name.clone(),
                    state: "Dead".into(),
                    protocol: String::new(),
                    members: Vec::new(),
                }))
        })
        .await
    }

    /// The group's lag on every partition of `topics`; with no topics, on every topic it
    /// has committed offsets for.
    pub async fn group_lag(&self, group: &str, topics: &[&str]) -> Result<Vec<PartitionLag>> {
        let (this, name, wanted) = (self.clone(), group.to_string(), owned(topics));
        blocking(move || {
            let consumer = this.group_consumer(&name)?;
            let timeout = this.config.timeout();
            this.group_partitions(&consumer, &name, &wanted)?
                .into_iter()
                .map(|(tp, committed)| {
                    let (low, high) = consumer
                        .fetch_watermarks(&tp.topic, tp.partition.0, timeout)
                        .map_err(|e| group_error(&name, format!("end offsets of {}: {e}", tp)))?;
                    Ok(PartitionLag {
                        lag: (high - committed.unwrap_or(low)).max(0),
                        partition: tp,
                        committed: committed.map(Offset),
                        end: Offset(high),
                    })
                })
                .collect()
        })
        .await
    }

    /// What [`KafkaAdmin::reset_offsets`] would do, without doing it.
    pub async fn plan_reset(&self, group: &str, topics: &[&str], to: ResetTo) -> Result<Vec<OffsetChange>> {
        let (this, name, wanted) = (self.clone(), group.to_string(), owned(topics));
        blocking(move || {
            let consumer = this.group_consumer(&name)?;
            let partitions = this.group_partitions(&consumer, &name, &wanted)?;
            this.targets(&consumer, &name, &partitions, to)
        })
        .await
    }

    /// Moves the group's committed offsets on every partition of `topics` (with no
    /// topics: every topic it has committed offsets for). Kafka only allows this while
    /// the group has no active members: otherwise the error lists them.
    pub async fn reset_offsets(&self, group: &str, topics: &[&str], to: ResetTo) -> Result<Vec<OffsetChange>> {
        match self.describe_group(group).await {
            Ok(d) if !d.members.is_empty() => {
                let clients: Vec<&str> = d.members.iter().map(|m| m.client_id.as_str()).collect();
                return Err(group_error(
                    group,
                    format!(
                        "has {} active member(s) ({}); stop them before resetting its offsets",
                        clients.len(),
                        clients.join(", ")
                    ),
                ));
            }
            Ok(_) => {}
            // A broker without DescribeGroups (the embedded one) still refuses a commit
            // from outside an active group.
            Err(e) if e.to_string().contains("UnsupportedFeature") => {
                tracing::debug!(
                    group,
                    "the broker cannot describe groups; relying on it to refuse a commit to an active group"
                )
            }
            Err(e) => return Err(e),
        }
        let (this, name, wanted) = (self.clone(), group.to_string(), owned(topics));
        blocking(move || {
            let consumer = this.group_consumer(&name)?;
            let partitions = this.group_partitions(&consumer, &name, &wanted)?;
            let changes = this.targets(&consumer, &name, &partitions, to)?;
            let moved: Vec<(TopicPartition, Offset)> = changes.iter().map(|c| (c.partition.clone(), c.to)).collect();
            let tpl = offset_list(&moved).map_err(|e| group_error(&name, e))?;
            consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|e| group_error(&name, format!("commit the new offsets: {e}")))?;
            tracing::info!(group = %name, partitions = changes.len(), ?to, "offsets reset");
            Ok(changes)
        })
        .await
    }

    /// The partitions of `wanted`, or of every topic the group committed offsets for,
    /// each with the group's committed offset.
    fn group_partitions(
        &self,
        consumer: &BaseConsumer,
        group: &str,
        wanted: &[String],
    ) -> Result<Vec<(TopicPartition, Option<i64>)>> {
        let metadata = self.metadata(None)?;
        for topic in wanted {
            if !metadata.iter().any(|(n, _)| n == topic) {
                return Err(Error::topic(topic.clone(), "does not exist"));
            }
        }
        let all = |name: &str| wanted.is_empty() && !name.starts_with("__") || wanted.iter().any(|w| w == name);
        let partitions: Vec<TopicPartition> = metadata
            .iter()
            .filter(|(topic, _)| all(topic))
            .flat_map(|(topic, parts)| parts.iter().map(|p| TopicPartition::new(topic.as_str(), p.id)))
            .collect();
        let committed = self.committed_of(consumer, group, &partitions)?;
        let pairs = partitions.into_iter().zip(committed);
        if !wanted.is_empty() {
            return Ok(pairs.collect());
        }
        let pairs: Vec<_> = pairs.collect();
        let topics: BTreeSet<String> = pairs
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(tp, _)| tp.topic.to_string())
            .collect();
        Ok(pairs
            .into_iter()
            .filter(|(tp, _)| topics.contains(&*tp.topic))
            .collect())
    }

    pub(super) fn group_consumer(&self, group: &str) -> Result<BaseConsumer> {
        self.config
            .consumer_config(&[
                ("group.id".into(), group.to_string()),
                ("enable.auto.commit".into(), "false".into()),
            ])?
            .create()
            .map_err(|e| group_error(group, format!("cannot create a client: {e}")))
    }

    pub(super) fn committed_of(
        &self,
        consumer: &BaseConsumer,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<i64>>> {
        let mut tpl = TopicPartitionList::new();
        for tp in partitions {
            tpl.add_partition(&tp.topic, tp.partition.0);
        }
        let got = consumer
            .committed_offsets(tpl, self.config.timeout())
            .map_err(|e| group_error(group, format!("committed offsets: {e}")))?;
        Ok(partitions.iter().map(|tp| offset_in(&got, tp)).collect())
    }

    fn targets(
        &self,
        consumer: &BaseConsumer,
        group: &str,
        partitions: &[(TopicPartition, Option<i64>)],
        to: ResetTo,
    ) -> Result<Vec<OffsetChange>> {
        let timeout = self.config.timeout();
        let by_time = match to {
            ResetTo::Timestamp(ts) => {
                let times: Vec<(TopicPartition, Offset)> =
                    partitions.iter().map(|(tp, _)| (tp.clone(), Offset(ts))).collect();
                let tpl = offset_list(&times).map_err(|e| group_error(group, e))?;
                Some(
                    consumer
                        .offsets_for_times(tpl, timeout)
                        .map_err(|e| group_error(group, format!("offsets for time {ts}: {e}")))?,
                )
            }
            _ => None,
        };
        partitions
            .iter()
            .map(|(tp, from)| {
                let from = *from;
                let (low, high) = consumer
                    .fetch_watermarks(&tp.topic, tp.partition.0, timeout)
                    .map_err(|e| group_error(group, format!("offsets of {tp}: {e}")))?;
                let to = match to {
                    ResetTo::Earliest => low,
                    ResetTo::Latest => high,
                    ResetTo::Offset(o) => o.0.clamp(low, high),
                    ResetTo::ShiftBy(n) => from.unwrap_or(low).saturating_add(n).clamp(low, high),
                    ResetTo::Timestamp(_) => by_time.as_ref().and_then(|t| offset_in(t, tp)).unwrap_or(high),
                };
                Ok(OffsetChange {
                    partition: tp.clone(),
                    from: from.map(Offset),
                    to: Offset(to),
                })
            })
            .collect()
    }
}

fn describe(info: &GroupInfo) -> GroupDescription {
    GroupDescription {
        name: info.name().to_string(),
        state: info.state().to_string(),
        protocol: info.protocol().to_string(),
        members: info
            .members()
            .iter()
            .map(|m| GroupMember {
                id: m.id().to_string(),
                client_id: m.client_id().to_string(),
                host: m.client_host().to_string(),
                assignment: m.assignment().map(parse_assignment).unwrap_or_default(),
            })
            .collect(),
    }
}

/// Reads the partitions out of a consumer-protocol assignment (version, then an array of
/// topic name and partition numbers; user data after it is ignored). Malformed bytes give
/// what could be read.
fn parse_assignment(bytes: &[u8]) -> Vec<TopicPartition> {
    let mut out = Vec::new();
    let mut at = 2usize; // version: i16
    let mut take = |n: usize| -> Option<&[u8]> {
        let slice = bytes.get(at..at + n)?;
        at += n;
        Some(slice)
    };
    let mut read = || -> Option<()> {
        let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
        for _ in 0..topics.max(0) {
            let len = i16::from_be_bytes(take(2)?.try_into().ok()?);
            let topic = std::str::from_utf8(take(len.max(0) as usize)?).ok()?.to_string();
            let count = i32::from_be_bytes(take(4)?.try_into().ok()?);
            for _ in 0..count.max(0) {
                let p = i32::from_be_bytes(take(4)?.try_into().ok()?);
                out.push(TopicPartition::new(topic.as_str(), p));
            }
        }
        Some(())
    };
    let _ = read();
    out
}

fn owned(topics: &[&str]) -> Vec<String> {
    topics.iter().map(|t| t.to_string()).collect()
}

fn group_error(group: &str, reason: impl std::fmt::Display) -> Error {
    Error::group(group.to_string(), reason.to_string())
}

pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::transport("admin client", "a blocking call did not finish").caused_by(e))?
}

/// How long [`KafkaAdmin::wait_group_empty`] polls between looks.
const EMPTY_POLL: Duration = Duration::from_millis(200);

impl KafkaAdmin {
    /// Waits (at most `within`) until the group has no active members, e.g. after its
    /// app stopped; `false` if it still has some.
    pub async fn wait_group_empty(&self, group: &str, within: Duration) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.describe_group(group).await?.members.is_empty() {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(EMPTY_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_consumer_protocol_assignment() {
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 6];
        bytes.extend(b"orders");
        bytes.extend([0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]);
        bytes.extend([0xff, 0xff, 0xff, 0xff]); // null user data
        assert_eq!(
            parse_assignment(&bytes),
            vec![TopicPartition::new("orders", 0), TopicPartition::new("orders", 3)]
        );
        assert_eq!(parse_assignment(&bytes[..12]), vec![]);
    }
}
