//! The two commit protocols, chosen once per group member when it starts.
//!
//! - [`AtLeastOnce`]: commit each partition's frontier (every record before it is done).
//! - [`Transactional`]: exactly-once. At each commit the member's gate shuts (its tasks
//!   take no new records), the records in flight finish (the trackers say when: no
//!   polling), the transaction commits with the frontiers, and the gate opens again.
//!   Anything that would put partial work into a transaction aborts it instead.

use std::sync::Arc;
use std::time::Duration;

use super::pauses::Gate;
use crate::ack::{Holds, TrackerHandle};
use crate::error::Result;
use crate::record::{Offset, TopicPartition};
use crate::transport::{OffsetCommitter, TransactionCommitter};

/// Commits offsets whose records are done.
#[derive(Clone)]
pub(crate) struct AtLeastOnce {
    committer: Arc<dyn OffsetCommitter>,
}

impl AtLeastOnce {
    pub(crate) fn new(committer: Arc<dyn OffsetCommitter>) -> Self {
        AtLeastOnce { committer }
    }

    pub(crate) async fn commit(&self, offsets: Vec<(TopicPartition, Offset)>) -> Result<()> {
        self.committer.commit(offsets).await
    }
}

/// Commits transactions: outputs and offsets together.
#[derive(Clone)]
pub(crate) struct Transactional {
    committer: Arc<dyn TransactionCommitter>,
    /// Shut while a commit waits for in-flight records.
    gate: Arc<Gate>,
    /// How long a commit waits for them.
    drain_timeout: Duration,
    /// Pending store work (results and the changelog writes that follow them) the
    /// transaction must hold too.
    holds: Holds,
}

impl Transactional {
    pub(crate) fn new(
        committer: Arc<dyn TransactionCommitter>,
        gate: Arc<Gate>,
        drain_timeout: Duration,
        holds: Holds,
    ) -> Self {
        Transactional {
            committer,
            gate,
            drain_timeout,
            holds,
        }
    }

    /// Shuts the gate and waits (at most the drain timeout) until every record taken is
    /// done and no store holds pending work, so that the transaction holds whole records
    /// and their consequences only. `false` if something is still in flight.
    ///
    /// Stores take their holds while the record that causes the work is still tracked,
    /// so once the trackers settled, no new hold appears before the gate opens.
    pub(crate) async fn quiesce<'a>(&self, trackers: impl Iterator<Item = &'a TrackerHandle>) -> bool {
        self.gate.set(true);
        self.holds.committing(true);
        let deadline = tokio::time::Instant::now() + self.drain_timeout;
        for tracker in trackers {
            if !tracker.settled(deadline).await {
                return false;
            }
        }
        self.holds.settled(deadline).await
    }

    /// Commits the open transaction with `offsets`; the gate stays shut (see
    /// [`Transactional::resume`]).
    pub(crate) async fn commit(&self, offsets: Vec<(TopicPartition, Offset)>) -> Result<()> {
        self.committer.commit_transaction(offsets).await
    }

    /// Discards the open transaction.
    pub(crate) async fn abort(&self) -> Result<()> {
        self.committer.abort().await
    }

    /// Lets the tasks take records again.
    pub(crate) fn resume(&self) {
        self.holds.committing(false);
        self.gate.set(false);
    }
}

/// How a member commits.
pub(crate) enum CommitProtocol {
    AtLeastOnce(AtLeastOnce),
    Transactional(Transactional),
}
