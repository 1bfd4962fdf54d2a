//! Changing topics and groups: configs (incrementally), partitions, group deletion.

use std::collections::BTreeMap;

use kflow_core::{Error, Result};
use rdkafka::admin::{AlterConfig, NewPartitions, ResourceSpecifier};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaAdmin;

/// The configs to send for an incremental change: the topic's own configs (`overrides`,
/// with their values from `configs`), minus `reset`, plus `set`.
fn merged(
    configs: &BTreeMap<String, String>,
    overrides: &std::collections::BTreeSet<String>,
    set: &[(&str, &str)],
    reset: &[&str],
) -> BTreeMap<String, String> {
    let mut own: BTreeMap<String, String> = overrides
        .iter()
        .filter_map(|name| Some((name.clone(), configs.get(name)?.clone())))
        .collect();
    for name in reset {
        own.remove(*name);
    }
    for (name, value) in set {
        own.insert(name.to_string(), value.to_string());
    }
    own
}

/// An admin request the broker refused; says so plainly when it lacks the API.
fn refused(topic: &str, what: &str, api: &str, e: rdkafka::error::KafkaError) -> Error {
    let unsupported = matches!(
        e,
        rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::UnsupportedFeature)
    ) || e.rdkafka_error_code() == Some(RDKafkaErrorCode::UnsupportedFeature);
    let reason = match unsupported {
        true => {
            format!("{what}: the broker does not support {api} (it answers UnsupportedFeature)")
        }
        _ => format!("{what}: {e}"),
    };
    Error::topic(topic.to_string(), reason)
}

impl KafkaAdmin {
    /// Changes some of a topic's configs and leaves the others as they are: `set` gives
    /// new values, `reset` returns configs to the broker's default. Kafka's
    /// `AlterConfigs` replaces every config set on the topic, so this reads the topic's
    /// own configs first and sends them back with the changes (a change made by someone
    /// else between the read and the write is lost). Returns the topic's configs as set
    /// on it afterwards.
    pub async fn alter_topic_config(
        &self,
        topic: &str,
        set: &[(&str, &str)],
        reset: &[&str],
    ) -> Result<BTreeMap<String, String>> {
        let current = self.describe(topic).await?;
        let own = merged(&current.configs, &current.overrides, set, reset);
        let mut change = AlterConfig::new(ResourceSpecifier::Topic(topic));
        for (k, v) in &own {
            change = change.set(k, v);
        }
        let results = self
            .client
            .alter_configs([&change], &self.options())
            .await
            .map_err(|e| refused(topic, "altering configs", "AlterConfigs", e))?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(Error::topic(topic.to_string(), format!("altering configs: {code}")));
            }
        }
        Ok(own)
    }

    /// Grows a topic to `partitions` partitions (Kafka cannot shrink one; asking for
    /// fewer, or as many, is an error naming the topic). Keys hash to new partitions
    /// afterwards, so per-key order holds only for records written after the change.
    pub async fn add_partitions(&self, topic: &str, partitions: i32) -> Result<()> {
        let now = self
            .partitions_async(topic)
            .await?
            .ok_or_else(|| Error::topic(topic.to_string(), "does not exist"))?;
        if partitions <= now {
            return Err(Error::topic(
                topic.to_string(),
                format!("has {now} partitions; asked for {partitions} (partitions can only be added)"),
            ));
        }
        let change = NewPartitions::new(topic, partitions as usize);
        let results = self
            .client
            .create_partitions([&change], &self.options())
            .await
            .map_err(|e| refused(topic, "adding partitions", "CreatePartitions", e))?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(Error::topic(topic.to_string(), format!("adding partitions: {code}")));
            }
        }
        if self.metadata_shows(topic, |p| p == Some(partitions)).await {
            return Ok(());
        }
        Err(Error::topic(
            topic.to_string(),
            "partitions added, but not visible in metadata in time",
        ))
    }

    /// Deletes consumer groups (their committed offsets). A group with active members
    /// cannot be deleted; the error names the group and says so.
    pub async fn delete_groups(&self, groups: &[&str]) -> Result<()> {
        let results = self
            .client
            .delete_groups(groups, &self.options())
            .await
            .map_err(|e| Error::transport("admin client", "delete groups").caused_by(e))?;
        for result in results {
            if let Err((group, code)) = result {
                let reason = match code {
                    RDKafkaErrorCode::NonEmptyGroup => "has active members: stop them first".to_string(),
                    RDKafkaErrorCode::GroupIdNotFound => "does not exist".to_string(),
                    other => other.to_string(),
                };
                return Err(Error::commit(&group).caused_by(reason));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incremental_change_keeps_the_other_own_configs() {
        let configs: BTreeMap<String, String> = [
            ("retention.ms", "600000"),
            ("max.message.bytes", "200000"),
            ("segment.bytes", "1073741824"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let overrides = ["retention.ms", "max.message.bytes"].map(String::from).into();
        let own = merged(
            &configs,
            &overrides,
            &[("retention.ms", "900000"), ("cleanup.policy", "compact")],
            &[],
        );
        let want: BTreeMap<String, String> = [
            ("cleanup.policy", "compact"),
            ("max.message.bytes", "200000"),
            ("retention.ms", "900000"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        assert_eq!(own, want, "broker defaults (segment.bytes) are not pinned");
        let own = merged(&configs, &overrides, &[], &["max.message.bytes"]);
        assert_eq!(own.keys().collect::<Vec<_>>(), ["retention.ms"]);
    }
}
