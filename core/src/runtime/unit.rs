//! What the runtime needs from a listener or processor definition.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::error::{ErrorKind, Result};
use crate::event::RawMsg;
use crate::policy::recovery::{Identity, Recovery, RecoveryParts, UnitKind};
use crate::policy::{ErrorPolicies, Policy};
use crate::record::{Partition, Timestamp, TopicPartition};
use crate::telemetry::{FatalReporter, Stats, TaskFailure};
use crate::transport::{Admin, Producer, StartFrom};

/// How assigned partitions are grouped into tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grouping {
    /// One task per topic-partition (listeners).
    PerPartition,
    /// One task per partition number across the subscribed topics (processors: partition
    /// `p` of every input and repartition topic), as Kafka Streams' tasks.
    PerPartitionNumber,
}

/// Everything a task is built from.
pub(crate) struct TaskSetup {
    pub app_id: String,
    pub partition: Partition,
    /// Tracked sources of the task's partitions, by topic.
    pub sources: HashMap<String, Vec<(TopicPartition, BoxStream<'static, RawMsg>)>>,
    pub ticks: BoxStream<'static, Timestamp>,
    pub producer: Arc<dyn Producer>,
    /// The app's plain producer: restore markers go through it (under exactly-once,
    /// `producer` is the member's transactional one, whose writes a `read_committed`
    /// restore sees only after a commit).
    pub markers: Arc<dyn Producer>,
    /// Exactly-once: store work the member's transactions wait for.
    pub holds: Option<crate::ack::Holds>,
    /// Where stores keep their state.
    pub state: super::StateSettings,
    /// Where stores restore their changelogs from (`None`: the transport cannot).
    pub reader: Option<Arc<dyn crate::transport::PartitionReader>>,
    /// The app's health (a task restoring a store is not ready).
    pub health: crate::telemetry::Health,
    pub stats: Arc<Stats>,
    pub fatal: FatalReporter,
    pub stop: futures::future::Shared<tokio::sync::oneshot::Receiver<()>>,
    /// The task's trackers: sealed by the task before it drops its work.
    pub trackers: Vec<crate::ack::TrackerHandle>,
    pub drain_timeout: std::time::Duration,
    /// Until when (ms since the epoch) the task waits on purpose (a retry record that is
    /// not due yet): no stall before then.
    pub idle_until: Arc<std::sync::atomic::AtomicI64>,
}

/// Settings every listener and processor has.
pub(crate) struct UnitConfig {
    pub name: String,
    pub inputs: Vec<String>,
    pub group_id: Option<String>,
    pub start: StartFrom,
    /// The error policies in force: the app's defaults with this unit's own settings on top.
    pub policies: ErrorPolicies,
    /// This unit's own policy settings (`None`: every kind `on_error` covers).
    pub overrides: Vec<(Option<ErrorKind>, Policy)>,
    pub properties: Vec<(String, String)>,
    /// Outputs and offsets commit together in transactions (processors only).
    pub exactly_once: bool,
}

impl UnitConfig {
    pub fn new(name: &str, inputs: Vec<String>) -> Self {
        UnitConfig {
            name: name.to_string(),
            inputs,
            group_id: None,
            start: StartFrom::Earliest,
            policies: ErrorPolicies::default(),
            overrides: Vec::new(),
            properties: Vec::new(),
            exactly_once: false,
        }
    }

    /// Sets a policy for one kind, or (`None`) for every kind `on_error` covers.
    pub fn set_policy(&mut self, kind: Option<ErrorKind>, policy: Policy) {
        self.policies = apply(self.policies.clone(), kind, policy.clone());
        self.overrides.push((kind, policy));
    }

    /// Starts from the app's default policies and applies this unit's own settings.
    pub fn resolve_policies(&mut self, defaults: &ErrorPolicies) {
        self.policies = self
            .overrides
            .iter()
            .fold(defaults.clone(), |p, (kind, policy)| apply(p, *kind, policy.clone()));
    }

    /// The group id: set, or `<app id>-<name>`.
    pub fn group_id(&self, app_id: &str) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{app_id}-{}", self.name))
    }
}

fn apply(policies: ErrorPolicies, kind: Option<ErrorKind>, policy: Policy) -> ErrorPolicies {
    match kind {
        Some(kind) => policies.set(kind, policy),
        None => policies.all(policy),
    }
}

/// The builder methods listeners and processors share (over a `config: UnitConfig` field).
macro_rules! unit_setters {
    ($what:literal) => {
        #[doc = concat!("The ", $what, "'s name.")]
        pub fn name(&self) -> &str {
            &self.config.name
        }

        /// The topics it reads.
        pub fn topics(&self) -> &[String] {
            &self.config.inputs
        }

        /// Its consumer group id in an app with this id.
        pub fn group_id_in(&self, app_id: &str) -> String {
            self.config.group_id(app_id)
        }

        /// Sets the consumer group id (default `<app id>-<name>`).
        pub fn group_id(mut self, group_id: &str) -> Self {
            self.config.group_id = Some(group_id.to_string());
            self
        }

        /// Where a new group starts reading (default earliest).
        pub fn start_from(mut self, start: $crate::transport::StartFrom) -> Self {
            self.config.start = start;
            self
        }

        #[doc = concat!("The error policy for deserialization, handler and serialization errors of this ", $what, ".")]
        /// Produce errors keep their own policy ([`Self::on_error_for`] with
        /// `ErrorKind::Produce`). Defaults: see [`crate::policy::ErrorPolicies`].
        /// This overrides the app's defaults ([`crate::App::on_error`]).
        pub fn on_error(mut self, policy: $crate::policy::Policy) -> Self {
            self.config.set_policy(None, policy);
            self
        }

        /// The error policy for one kind of error.
        pub fn on_error_for(mut self, kind: $crate::error::ErrorKind, policy: $crate::policy::Policy) -> Self {
            self.config.set_policy(Some(kind), policy);
            self
        }

        /// Passes a transport property through (a librdkafka key for Kafka).
        pub fn property(mut self, key: &str, value: &str) -> Self {
            self.config.properties.push((key.to_string(), value.to_string()));
            self
        }
    };
}
pub(crate) use unit_setters;

/// Creates `topic` with `partitions` partitions (and the defaults' replication and
/// configs) unless it exists; an existing topic with another count is only warned about.
pub(crate) async fn ensure_topic(
    admin: &dyn Admin,
    topic: &str,
    partitions: i32,
    defaults: &super::TopicDefaults,
) -> Result<()> {
    match admin.describe_topic(topic).await? {
        Some(info) if info.partitions != partitions => {
            tracing::warn!(%topic, have = info.partitions, want = partitions, "existing topic has a different partition count than kflow would create");
        }
        Some(_) => {}
        None => {
            tracing::info!(%topic, partitions, replication = defaults.replication, "creating topic");
            let new = crate::transport::NewTopic {
                name: topic.to_string(),
                partitions,
                replication: defaults.replication,
                configs: defaults.configs.clone(),
            };
            admin.create_topic(new).await?;
        }
    }
    Ok(())
}

/// Ends a task of `kind` `name` (group `group`): seals its trackers (nothing it did not
/// finish commits), then reports a panic it ended with.
pub(crate) fn end_task(
    (kind, name, group): (&str, &str, &str),
    outcome: std::result::Result<(), String>,
    trackers: &[crate::ack::TrackerHandle],
    fatal: &FatalReporter,
) {
    trackers.iter().for_each(|t| {
        t.seal();
    });
    if let Err(panic) = outcome {
        let failure = crate::error::Fatal::new(format!("{kind} `{name}` panicked: {panic}"))
            .unit(name)
            .group(group);
        fatal.report(failure);
    }
}

/// The topics a unit reads or writes besides its inputs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct UnitTopics {
    /// Topics written by `to(..)` calls or as the output.
    pub outputs: Vec<String>,
    /// Internal repartition topics (one per `group_by`).
    pub repartitions: Vec<String>,
    /// Topics late records are sent to.
    pub late: Vec<String>,
    /// Dead-letter topics the error policies write to.
    pub dead_letters: Vec<String>,
    /// Changelog topics of window stores.
    pub changelogs: Vec<String>,
    /// Retry topics the error policies write to (a listener also reads them).
    pub retries: Vec<String>,
}

fn add(list: &mut Vec<String>, topic: &str) {
    if !list.iter().any(|t| t == topic) {
        list.push(topic.to_string());
    }
}

impl UnitTopics {
    /// Adds the dead-letter and retry topics `policies` write to for records of `topics`
    /// (retry topics are consumer group `group`'s own).
    pub(crate) fn add_policy_topics<'a>(
        &mut self,
        policies: &ErrorPolicies,
        group: &str,
        topics: impl Iterator<Item = &'a String>,
    ) {
        for topic in topics {
            for (_, policy) in policies.kinds() {
                if let Some(dl) = policy.dead_letter_topic(topic) {
                    add(&mut self.dead_letters, &dl);
                }
            }
            for retry in policies.retry_topics_of(topic, group) {
                add(&mut self.retries, &retry);
            }
        }
    }

    /// Adds topics written by sinks.
    pub(crate) fn add_outputs(&mut self, topics: impl IntoIterator<Item = String>) {
        topics.into_iter().for_each(|t| add(&mut self.outputs, &t));
    }
}

impl UnitConfig {
    /// Checks that every input topic exists (an error names it and the unit) and returns
    /// the largest partition count among them.
    pub(crate) async fn input_partitions(&self, kind: &str, admin: &dyn Admin) -> Result<i32> {
        let mut partitions = 0;
        for topic in &self.inputs {
            let info = admin.describe_topic(topic).await?.ok_or_else(|| {
                crate::error::Error::topic(
                    topic.clone(),
                    format!("input of {kind} `{}` does not exist; create it first", self.name),
                )
            })?;
            partitions = partitions.max(info.partitions);
        }
        Ok(partitions)
    }

    /// The recovery of one of this unit's tasks (`kind` says which kind of unit it is;
    /// `retry_topics` are its own, read back by a listener).
    pub(crate) fn recovery(
        &self,
        kind: UnitKind,
        app_id: &str,
        setup: &TaskSetup,
        retry_topics: Vec<String>,
    ) -> Recovery {
        Recovery::new(RecoveryParts {
            identity: Identity {
                kind,
                name: self.name.clone(),
                group: self.group_id(app_id),
            },
            policies: Arc::new(self.policies.clone()),
            retry_topics,
            writer: Some(setup.producer.clone()),
            stats: setup.stats.clone(),
            failure: TaskFailure::reporting_to(setup.fatal.clone()),
        })
    }
}

/// A listener or processor, type-erased.
pub(crate) trait Unit: Send + Sync + 'static {
    fn config(&self) -> &UnitConfig;
    fn config_mut(&mut self) -> &mut UnitConfig;
    fn grouping(&self) -> Grouping;
    /// `listener` or `processor`, for messages.
    fn kind(&self) -> &'static str {
        match self.grouping() {
            Grouping::PerPartition => "listener",
            Grouping::PerPartitionNumber => "processor",
        }
    }
    /// Topics besides the inputs: found by building the pipeline once. Checks the
    /// definition.
    fn plan(&self, app_id: &str) -> Result<UnitTopics>;
    /// Creates or checks the topics the unit writes to.
    fn prepare<'a>(
        &'a self,
        app_id: &'a str,
        admin: &'a dyn Admin,
        topics: &'a super::TopicDefaults,
    ) -> BoxFuture<'a, Result<UnitTopics>>;
    /// The task's future: runs until its sources end, then flushes.
    fn task(&self, setup: TaskSetup) -> BoxFuture<'static, ()>;
}
