//! The context a flow is built in: which task it runs in, where it writes, what it counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;

use super::RawMsg;
use crate::policy::{self, ErrorPolicies};
use crate::record::Partition;
use crate::runtime::stats::{DropCounter, DropReason, Stats};
use crate::runtime::FatalErrors;
use crate::transport::Producer;

/// Topics a pipeline writes to or reads from besides its inputs, found by building it once
/// before it runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Topics written by `to(..)` calls.
    pub outputs: Vec<String>,
    /// Internal repartition topics (one per `group_by`).
    pub repartitions: Vec<String>,
    /// Topics late records are sent to.
    pub late: Vec<String>,
    /// Dead-letter topics the error policies write to.
    pub dead_letters: Vec<String>,
    /// Retry topics the error policies write to (a listener also reads them).
    pub retries: Vec<String>,
    /// How many window operators the pipeline has.
    pub windows: usize,
}

impl Plan {
    pub(crate) fn add(list: &mut Vec<String>, topic: &str) {
        if !list.iter().any(|t| t == topic) {
            list.push(topic.to_string());
        }
    }
}

pub(crate) struct CtxInner {
    pub(crate) app_id: String,
    pub(crate) name: String,
    pub(crate) partition: Option<Partition>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) producer: Option<Arc<dyn Producer>>,
    pub(crate) policies: Arc<ErrorPolicies>,
    /// The consumer group (for dead-letter headers).
    pub(crate) group: String,
    /// Listeners may send records to retry topics; processors may not.
    pub(crate) listener: bool,
    pub(crate) fatal: Option<FatalErrors>,
    /// The unit's own retry topics: the only records whose kflow headers steer routing.
    retry_topics: Vec<String>,
    plan: Mutex<Plan>,
    pub(crate) failed: std::sync::atomic::AtomicBool,
    repartition_seq: AtomicUsize,
    /// Repartition partitions this task owns, taken by `group_by` calls in build order.
    sources: Mutex<HashMap<String, BoxStream<'static, RawMsg>>>,
}

/// The build context of a [`super::Flow`]: shared by every combinator of one task.
#[derive(Clone)]
pub struct FlowCtx(pub(crate) Arc<CtxInner>);

/// What a task context is made of (runtime-internal).
pub(crate) struct TaskCtxParts {
    pub app_id: String,
    pub name: String,
    pub partition: Option<Partition>,
    pub stats: Arc<Stats>,
    pub producer: Option<Arc<dyn Producer>>,
    pub policies: Arc<ErrorPolicies>,
    pub group: String,
    pub listener: bool,
    pub fatal: Option<FatalErrors>,
    pub retry_topics: Vec<String>,
    pub sources: HashMap<String, BoxStream<'static, RawMsg>>,
}

impl FlowCtx {
    /// A context for a flow that is not part of an app (tests, benchmarks, doc examples):
    /// nothing to write to, counters of its own, and every error fails the flow.
    pub fn detached() -> Self {
        Self::task(TaskCtxParts {
            app_id: "detached".into(),
            name: "detached".into(),
            partition: None,
            stats: Arc::new(Stats::default()),
            producer: None,
            policies: Arc::new(ErrorPolicies::default().all(policy::fail())),
            group: "detached".into(),
            listener: false,
            fatal: None,
            retry_topics: Vec::new(),
            sources: HashMap::new(),
        })
    }

    pub(crate) fn task(parts: TaskCtxParts) -> Self {
        FlowCtx(Arc::new(CtxInner {
            app_id: parts.app_id,
            name: parts.name,
            partition: parts.partition,
            stats: parts.stats,
            producer: parts.producer,
            policies: parts.policies,
            group: parts.group,
            listener: parts.listener,
            fatal: parts.fatal,
            retry_topics: parts.retry_topics,
            plan: Mutex::new(Plan::default()),
            failed: Default::default(),
            repartition_seq: AtomicUsize::new(0),
            sources: Mutex::new(parts.sources),
        }))
    }

    /// The processor (or listener) this flow belongs to.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The partition number of the task this flow runs in (`None` when detached).
    pub fn partition(&self) -> Option<Partition> {
        self.0.partition
    }

    /// The counters of this flow's app.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.0.stats
    }

    /// The topics found while building.
    pub fn plan(&self) -> Plan {
        self.0.plan.lock().expect("plan lock").clone()
    }

    pub(crate) fn counter(&self, reason: DropReason) -> DropCounter {
        self.0.stats.drop_counter(&self.0.name, reason)
    }

    pub(crate) fn policies(&self) -> &ErrorPolicies {
        &self.0.policies
    }

    pub(crate) fn producer(&self) -> Option<Arc<dyn Producer>> {
        self.0.producer.clone()
    }

    pub(crate) fn add_output(&self, topic: &str) {
        Plan::add(&mut self.0.plan.lock().expect("plan lock").outputs, topic);
    }

    pub(crate) fn add_window(&self) {
        self.0.plan.lock().expect("plan lock").windows += 1;
    }

    pub(crate) fn add_late(&self, topic: &str) {
        Plan::add(&mut self.0.plan.lock().expect("plan lock").late, topic);
    }

    /// Names the next repartition topic (`<app>-<processor>-repartition`, then `-2`, ...)
    /// and takes this task's source for it, if it owns that partition.
    pub(crate) fn next_repartition(&self) -> (String, Option<BoxStream<'static, RawMsg>>) {
        let n = self.0.repartition_seq.fetch_add(1, Ordering::Relaxed);
        let topic = repartition_topic(&self.0.app_id, &self.0.name, n);
        Plan::add(&mut self.0.plan.lock().expect("plan lock").repartitions, &topic);
        let source = self.0.sources.lock().expect("sources lock").remove(&topic);
        (topic, source)
    }

    /// True when `topic` is one of this unit's own retry topics (whose records carry
    /// routing headers kflow wrote).
    pub(crate) fn is_retry_topic(&self, topic: &str) -> bool {
        self.0.retry_topics.iter().any(|t| t == topic)
    }

    /// The consumer group of this flow's unit.
    pub(crate) fn group(&self) -> &str {
        &self.0.group
    }

    /// True once a record of this task failed under the `fail` policy.
    pub(crate) fn has_failed(&self) -> bool {
        self.0.failed.load(Ordering::Relaxed)
    }
}

/// The name of the `n`th (from 0) repartition topic of a processor.
pub fn repartition_topic(app_id: &str, processor: &str, n: usize) -> String {
    if n == 0 {
        format!("{app_id}-{processor}-repartition")
    } else {
        format!("{app_id}-{processor}-repartition-{}", n + 1)
    }
}
