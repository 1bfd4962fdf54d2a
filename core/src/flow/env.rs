//! The task environment a pipeline runs in: where it writes, how its failed records are
//! recovered, what it counts.

use std::sync::Arc;

use crate::policy::recovery::Recovery;
use crate::policy::rejections::ProduceRejections;
use crate::record::Partition;
use crate::telemetry::{metrics, DropCounter, DropReason, Health};
use crate::transport::{PartitionReader, Producer, Rejected};

/// How a task's stores reach their changelogs: the reader restores them, whether only
/// committed records count (exactly-once), the app's health, not ready while a store
/// restores, the producer restore markers go through, and (exactly-once) the holds the
/// member's transactions wait for.
#[derive(Clone)]
pub(crate) struct StateAccess {
    pub reader: Arc<dyn PartitionReader>,
    pub committed_only: bool,
    pub health: Health,
    /// Not part of any transaction, so that a restore can wait for its marker.
    pub markers: Arc<dyn Producer>,
    pub holds: Option<crate::ack::Holds>,
    /// Where on-disk stores keep their databases (`None`: every store in memory).
    pub dir: Option<std::path::PathBuf>,
    /// How many entries an on-disk store keeps in memory.
    pub cache: usize,
}

/// One task's services, shared by its pipeline's stages. Cheap to clone.
#[derive(Clone)]
pub(crate) struct TaskEnv(Arc<Inner>);

struct Inner {
    partition: Option<Partition>,
    /// Where outputs are written (`None`: a detached flow).
    producer: Option<Arc<dyn Producer>>,
    recovery: Arc<Recovery>,
    /// Outputs the producer rejects for good go here (the produce-error policy).
    rejections: Option<Arc<dyn Rejected>>,
    /// Where stores restore from (`None`: a detached flow, or a transport without a
    /// partition reader).
    state: Option<StateAccess>,
}

impl TaskEnv {
    /// The environment of a task of partition `partition` writing through `producer`.
    pub(crate) fn new(partition: Option<Partition>, producer: Option<Arc<dyn Producer>>, recovery: Recovery) -> Self {
        Self::with_state(partition, producer, recovery, None)
    }

    /// [`TaskEnv::new`] with access to changelogs.
    pub(crate) fn with_state(
        partition: Option<Partition>,
        producer: Option<Arc<dyn Producer>>,
        recovery: Recovery,
        state: Option<StateAccess>,
    ) -> Self {
        let recovery = Arc::new(recovery);
        TaskEnv(Arc::new(Inner {
            partition,
            rejections: ProduceRejections::for_task(&recovery),
            producer,
            recovery,
            state,
        }))
    }

    /// Where stores restore from.
    pub(crate) fn state(&self) -> Option<&StateAccess> {
        self.0.state.as_ref()
    }

    /// The environment of a flow that is not part of an app: nothing to write to, and
    /// every error stops the flow.
    pub(crate) fn detached() -> Self {
        Self::new(None, None, Recovery::detached())
    }

    /// The listener or processor name.
    pub(crate) fn name(&self) -> &str {
        &self.0.recovery.identity().name
    }

    /// The task's partition number (`None` when detached).
    pub(crate) fn partition(&self) -> Option<Partition> {
        self.0.partition
    }

    /// Counts records dropped for `reason`.
    pub(crate) fn counter(&self, reason: DropReason) -> DropCounter {
        self.0.recovery.stats().drop_counter(self.name(), reason)
    }

    /// Counts records written to `topic`.
    pub(crate) fn records_out(&self, topic: &str) -> ::metrics::Counter {
        metrics::records_out(self.name(), topic)
    }

    /// Where outputs are written.
    pub(crate) fn producer(&self) -> Option<&Arc<dyn Producer>> {
        self.0.producer.as_ref()
    }

    /// What failed records go through.
    pub(crate) fn recovery(&self) -> &Arc<Recovery> {
        &self.0.recovery
    }

    /// Where outputs rejected for good go.
    pub(crate) fn rejections(&self) -> Option<&Arc<dyn Rejected>> {
        self.0.rejections.as_ref()
    }
}
