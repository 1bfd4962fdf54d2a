//! What the runtime needs from a listener or processor definition.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::stats::Stats;
use super::FatalErrors;
use crate::error::Result;
use crate::flow::Plan;
use crate::flow::RawMsg;
use crate::record::{Partition, Timestamp, TopicPartition};
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
    pub stats: Arc<Stats>,
    pub fatal: FatalErrors,
    pub stop: futures::future::Shared<tokio::sync::oneshot::Receiver<()>>,
    /// The task's trackers: sealed by the task before it drops its work.
    pub trackers: Vec<crate::ack::TrackerHandle>,
    pub drain_timeout: std::time::Duration,
}

/// A listener or processor, type-erased.
pub(crate) trait Unit: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn group_id(&self, app_id: &str) -> String;
    fn inputs(&self) -> &[String];
    fn start(&self) -> StartFrom;
    fn properties(&self) -> &[(String, String)];
    fn grouping(&self) -> Grouping;
    /// Topics besides the inputs: found by building the pipeline once. Checks the
    /// definition (e.g. an output topic is set when the flow has outputs).
    fn plan(&self, app_id: &str) -> Result<Plan>;
    /// Creates or checks the topics the unit writes to.
    fn prepare<'a>(&'a self, app_id: &'a str, admin: &'a dyn Admin) -> BoxFuture<'a, Result<Plan>>;
    /// The task's future: runs until its sources end, then flushes.
    fn task(&self, setup: TaskSetup) -> BoxFuture<'static, ()>;
}
