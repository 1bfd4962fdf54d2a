//! The build context of a pipeline: the task it is built for, and the topology being
//! recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::stream::BoxStream;

use super::env::TaskEnv;
use super::topology::{NodeId, NodeKind, Topology};
use crate::event::RawMsg;

/// Shared by every stage of one build. Cheap to clone.
#[derive(Clone)]
pub(crate) struct BuildCtx(Arc<Inner>);

struct Inner {
    app_id: String,
    env: TaskEnv,
    topology: Mutex<Topology>,
    /// The task's partitions of the repartition topics, by node: taken by the
    /// `group_by` stage that owns the node.
    repartitions: Mutex<HashMap<NodeId, BoxStream<'static, RawMsg>>>,
}

/// What a `group_by` stage gets from the build: its node, its topic, and this task's
/// partition of that topic (none at planning time, or when detached).
pub(crate) struct Repartition {
    pub topic: String,
    pub source: Option<BoxStream<'static, RawMsg>>,
}

impl BuildCtx {
    /// A build of processor `processor` of app `app_id` reading `inputs`, for a task with
    /// this environment and these repartition sources.
    pub(crate) fn new(
        app_id: &str,
        processor: &str,
        inputs: &[String],
        env: TaskEnv,
        repartitions: HashMap<NodeId, BoxStream<'static, RawMsg>>,
    ) -> Self {
        let mut topology = Topology::new(processor);
        topology.push(NodeKind::Source {
            topics: inputs.to_vec(),
        });
        BuildCtx(Arc::new(Inner {
            app_id: app_id.to_string(),
            env,
            topology: Mutex::new(topology),
            repartitions: Mutex::new(repartitions),
        }))
    }

    /// A build for a flow that is not part of an app.
    pub(crate) fn detached() -> Self {
        Self::new("detached", "detached", &[], TaskEnv::detached(), HashMap::new())
    }

    fn topology_mut(&self) -> MutexGuard<'_, Topology> {
        self.0.topology.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The task's environment.
    pub(crate) fn env(&self) -> &TaskEnv {
        &self.0.env
    }

    /// The topology recorded so far.
    pub(crate) fn topology(&self) -> Topology {
        self.topology_mut().clone()
    }

    /// Records a sink writing to `topic`.
    pub(crate) fn add_sink(&self, topic: &str) {
        self.topology_mut().push(NodeKind::Sink { topic: topic.into() });
    }

    /// Records a late-record topic.
    pub(crate) fn add_late(&self, topic: &str) {
        self.topology_mut().push(NodeKind::Late { topic: topic.into() });
    }

    /// The repartition topics recorded so far (records read from them carry trusted
    /// origin headers).
    pub(crate) fn repartition_topics(&self) -> Vec<String> {
        self.topology_mut().repartition_topics()
    }

    /// Records a window operator of `kind`, whose store is kept in a changelog;
    /// returns its stable name and its changelog topic.
    pub(crate) fn add_window(&self, kind: &'static str) -> (String, Option<String>) {
        let mut topology = self.topology_mut();
        let name = match topology.windows() {
            0 => "window".to_string(),
            n => format!("window-{}", n + 1),
        };
        let changelog = Some(changelog_topic(&self.0.app_id, &topology.processor, &name));
        topology.push(NodeKind::Window {
            name: name.clone(),
            kind,
            changelog: changelog.clone(),
        });
        (name, changelog)
    }

    /// Records a custom state operator, whose store is kept in a changelog; returns its
    /// stable name and its changelog topic.
    pub(crate) fn add_state(&self) -> (String, Option<String>) {
        let mut topology = self.topology_mut();
        let name = match topology.states() {
            0 => "state".to_string(),
            n => format!("state-{}", n + 1),
        };
        let changelog = Some(changelog_topic(&self.0.app_id, &topology.processor, &name));
        topology.push(NodeKind::State {
            name: name.clone(),
            changelog: changelog.clone(),
        });
        (name, changelog)
    }

    /// Records the next repartition node (named `<app>-<processor>-repartition`, then
    /// `-2`, ...) and takes this task's source for it.
    pub(crate) fn repartition(&self) -> Repartition {
        let mut topology = self.topology_mut();
        let topic = repartition_topic(&self.0.app_id, &topology.processor, topology.repartition_topics().len());
        let node = topology.push(NodeKind::Repartition { topic: topic.clone() });
        drop(topology);
        let source = self
            .0
            .repartitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&node);
        Repartition { topic, source }
    }
}

/// The changelog topic of store `store` of a processor.
///
/// ```
/// use kflow_core::flow::changelog_topic;
/// assert_eq!(changelog_topic("shop", "counts", "window"), "shop-counts-window-changelog");
/// ```
pub fn changelog_topic(app_id: &str, processor: &str, store: &str) -> String {
    format!("{app_id}-{processor}-{store}-changelog")
}

/// The name of the `n`th (from 0) repartition topic of a processor.
///
/// ```
/// use kflow_core::flow::repartition_topic;
/// assert_eq!(repartition_topic("shop", "counts", 0), "shop-counts-repartition");
/// assert_eq!(repartition_topic("shop", "counts", 1), "shop-counts-repartition-2");
/// ```
pub fn repartition_topic(app_id: &str, processor: &str, n: usize) -> String {
    if n == 0 {
        format!("{app_id}-{processor}-repartition")
    } else {
        format!("{app_id}-{processor}-repartition-{}", n + 1)
    }
}
