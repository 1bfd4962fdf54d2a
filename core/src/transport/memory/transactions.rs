//! Transactions on the in-memory broker, for exactly-once processors in tests.
//!
//! A transactional producer keeps what it writes until its transaction commits; the
//! commit appends every record and commits the group's offsets together, in one step
//! under the group's lock. An aborted transaction's records never appear, so every
//! reader sees committed records only (Kafka's `read_committed`; this broker has no
//! `read_uncommitted`). A send is acknowledged when it is accepted into the transaction,
//! as Kafka acknowledges a transactional write before its commit. A consumer with the
//! same transactional id fences the earlier one: its open transaction is dropped, and
//! its later sends and commits fail.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{lock, MemoryBroker};
use crate::ack::Ack;
use crate::error::{Error, Result};
use crate::record::{Offset, TopicPartition};
use crate::transport::{OutRecord, Producer, Rejected, TransactionCommitter, Transactions};

/// One transactional id's current producer: what its open transaction holds.
struct Txn {
    broker: MemoryBroker,
    id: String,
    epoch: u64,
    group_id: String,
    member_id: String,
    open: Mutex<Vec<(i32, OutRecord)>>,
}

impl Txn {
    fn fenced(&self) -> Option<Error> {
        let current = lock(&self.broker.inner.txn_epochs).get(&self.id).copied();
        (current != Some(self.epoch)).then(|| {
            Error::transport(
                format!("transactional id {}", self.id),
                "fenced: a newer producer with the same transactional id started",
            )
        })
    }
}

/// The exactly-once side of a member on `broker`: a new epoch of `id`.
pub(super) fn begin(broker: &MemoryBroker, id: &str, group_id: &str, member_id: &str) -> Transactions {
    let epoch = {
        let mut epochs = lock(&broker.inner.txn_epochs);
        let epoch = epochs.entry(id.to_string()).or_insert(0);
        *epoch += 1;
        *epoch
    };
    let txn = Arc::new(Txn {
        broker: broker.clone(),
        id: id.to_string(),
        epoch,
        group_id: group_id.to_string(),
        member_id: member_id.to_string(),
        open: Mutex::new(Vec::new()),
    });
    Transactions {
        producer: Arc::new(TxnProducer(txn.clone())),
        committer: Arc::new(TxnCommitter(txn)),
    }
}

struct TxnProducer(Arc<Txn>);

impl Producer for TxnProducer {
    fn send(&self, record: OutRecord, ack: Ack) -> BoxFuture<'static, Result<()>> {
        let routed = match self.0.fenced() {
            Some(e) => Err(e),
            None => self.0.broker.route(&record),
        };
        let accepted = routed.map(|(_, partition)| lock(&self.0.open).push((partition, record)));
        super::acknowledged(accepted, ack)
    }

    fn send_or_reject(
        &self,
        record: OutRecord,
        ack: Ack,
        rejected: &Arc<dyn Rejected>,
    ) -> BoxFuture<'static, Result<()>> {
        self.0.broker.send_or_reject(self, record, ack, rejected)
    }

    fn flush(&self, _timeout: std::time::Duration) -> BoxFuture<'static, Result<()>> {
        futures::future::ready(Ok(())).boxed()
    }
}

struct TxnCommitter(Arc<Txn>);

impl TransactionCommitter for TxnCommitter {
    fn commit_transaction(&self, offsets: Vec<(TopicPartition, Offset)>) -> BoxFuture<'static, Result<()>> {
        let txn = &self.0;
        let result = (|| {
            if let Some(e) = txn.fenced() {
                lock(&txn.open).clear();
                return Err(e);
            }
            let group = txn.broker.group(&txn.group_id);
            let mut state = lock(&group.state);
            let owned = state
                .members
                .get(&txn.member_id)
                .map(|m| m.assigned.clone())
                .unwrap_or_default();
            if let Some((tp, _)) = offsets.iter().find(|(tp, _)| !owned.contains(tp)) {
                lock(&txn.open).clear();
                return Err(Error::commit(&txn.group_id).caused_by(format!(
                    "{tp} is not assigned to member {}: the transaction is aborted",
                    txn.member_id
                )));
            }
            let records = std::mem::take(&mut *lock(&txn.open));
            for (partition, record) in records {
                let topic = txn.broker.topic(&record.topic)?;
                txn.broker.append(&topic, partition, record);
            }
            state.committed.extend(offsets);
            Ok(())
        })();
        futures::future::ready(result).boxed()
    }

    fn abort(&self) -> BoxFuture<'static, Result<()>> {
        lock(&self.0.open).clear();
        futures::future::ready(Ok(())).boxed()
    }
}
