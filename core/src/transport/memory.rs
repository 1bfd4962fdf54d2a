//! The in-memory transport: a broker in the process, for fast deterministic tests.
//!
//! Topics have partitions and offsets; keys go to partitions by Kafka's murmur2
//! partitioner; consumer groups rebalance eagerly (every member's partitions are revoked,
//! then all are assigned again by the range strategy, per topic, members ordered by id);
//! commits are accepted only from the member that owns the partition. A consumer dropped
//! without closing leaves the group like a crashed one: nothing it did not commit is kept.
//! A partition assigned without a committed offset has its start position committed at
//! once (kflow's internal topics always start at the earliest offset). Delivery is
//! immediate; an optional size limit rejects larger records as a broker would
//! ([`MemoryBroker::set_max_record_bytes`]). Consumers with a transactional id get
//! transactions whose records appear only when they commit, together with the offsets
//! (see `transactions`). It needs a tokio runtime (rebalances run as tasks).

mod transactions;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch, Notify};

use super::{
    partition_for_key, Admin, AssignedPartition, Backlog, Consumer, ConsumerConfig, GroupEvent, GroupEvents, NewTopic,
    OffsetCommitter, OutRecord, Producer, Rejected, Rejection, RevokeDone, SeekTo, StartFrom, TopicInfo, Transport,
};
use crate::ack::Ack;
use crate::error::{Error, Result};
use crate::record::{Meta, Offset, Partition, RawRecord, Record, TimestampType, TopicPartition};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct PartitionLog {
    records: Mutex<Vec<RawRecord>>,
    appended: Notify,
}

struct TopicLog {
    name: Arc<str>,
    partitions: Vec<PartitionLog>,
}

struct MemberSlot {
    topics: Vec<String>,
    start: StartFrom,
    earliest: Vec<String>,
    /// How long a revocation waits for this member.
    revoke_wait: Duration,
    events: mpsc::UnboundedSender<GroupEvent>,
    assigned: Vec<TopicPartition>,
    revoke: Option<watch::Sender<bool>>,
}

#[derive(Default)]
struct GroupState {
    members: BTreeMap<String, MemberSlot>,
    committed: HashMap<TopicPartition, Offset>,
    generation: u64,
}

#[derive(Default)]
struct Group {
    state: Mutex<GroupState>,
    /// Serialises rebalances.
    rebalancing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Inner {
    topics: Mutex<HashMap<String, Arc<TopicLog>>>,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    produce_errors: Mutex<HashMap<String, usize>>,
    /// Records whose key and value together are larger are rejected (0: no limit).
    max_record_bytes: AtomicUsize,
    round_robin: AtomicUsize,
    member_seq: AtomicU64,
    /// The current epoch of each transactional id (see `transactions`).
    txn_epochs: Mutex<HashMap<String, u64>>,
}

/// An in-process broker. Cheap to clone; all clones are the same broker.
///
/// ```
/// use kflow_core::transport::{memory::MemoryBroker, OutRecord};
/// let broker = MemoryBroker::new();
/// broker.create_topic("orders", 3).unwrap();
/// let (partition, offset) = broker.produce(OutRecord::new("orders", "hello").with_key("k1")).unwrap();
/// assert_eq!(offset.0, 0);
/// assert_eq!(broker.records("orders").len(), 1);
/// assert_eq!(broker.records("orders")[0].meta.partition, partition);
/// ```
#[derive(Clone, Default)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

impl MemoryBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a topic; an error if it exists or `partitions` is not positive.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        if partitions <= 0 {
            return Err(Error::topic(
                name,
                format!("partition count must be positive, got {partitions}"),
            ));
        }
        let mut topics = lock(&self.inner.topics);
        if topics.contains_key(name) {
            return Err(Error::topic(name, "already exists"));
        }
        let log = TopicLog {
            name: Arc::from(name),
            partitions: (0..partitions)
                .map(|_| PartitionLog {
                    records: Mutex::new(Vec::new()),
                    appended: Notify::new(),
                })
                .collect(),
        };
        topics.insert(name.to_string(), Arc::new(log));
        Ok(())
    }

    fn topic(&self, name: &str) -> Result<Arc<TopicLog>> {
        lock(&self.inner.topics)
            .get(name)
            .cloned()
            .ok_or_else(|| Error::topic(name, "does not exist"))
    }

    /// Partition count of a topic, if it exists.
    pub fn partitions(&self, topic: &str) -> Option<i32> {
        lock(&self.inner.topics).get(topic).map(|t| t.partitions.len() as i32)
    }

    /// Makes the next `count` writes to `topic` fail (to test produce failures).
    pub fn inject_produce_errors(&self, topic: &str, count: usize) {
        lock(&self.inner.produce_errors).insert(topic.to_string(), count);
    }

    /// Rejects records whose key and value together are larger than `bytes`, as a
    /// broker's `message.max.bytes` does (`None`: no limit, the default).
    pub fn set_max_record_bytes(&self, bytes: Option<usize>) {
        self.inner.max_record_bytes.store(bytes.unwrap_or(0), Ordering::Relaxed);
    }

    /// The reason `record` can never be written here, if it cannot.
    fn rejection(&self, record: &OutRecord) -> Option<Rejection> {
        let max = self.inner.max_record_bytes.load(Ordering::Relaxed);
        let size = record.key.as_ref().map_or(0, |k| k.len()) + record.value.as_ref().map_or(0, |v| v.len());
        (max > 0 && size > max).then(|| Rejection {
            reason: format!("record of {size} bytes is larger than the broker's limit of {max} bytes"),
            too_large: true,
            value_size: None,
        })
    }

    /// Appends a record and returns where it went.
    pub fn produce(&self, record: OutRecord) -> Result<(Partition, Offset)> {
        let (topic, partition) = self.route(&record)?;
        Ok((Partition(partition), self.append(&topic, partition, record)))
    }

    /// `producer.send(record, ack)`, unless this broker would reject `record` for good:
    /// then it goes back to `rejected` with its ack.
    fn send_or_reject(
        &self,
        producer: &dyn Producer,
        record: OutRecord,
        ack: Ack,
        rejected: &Arc<dyn Rejected>,
    ) -> BoxFuture<'static, Result<()>> {
        match self.rejection(&record) {
            Some(rejection) => {
                rejected.rejected(record, ack, rejection);
                futures::future::ready(Ok(())).boxed()
            }
            None => producer.send(record, ack),
        }
    }

    /// Where `record` goes: an error if it would be rejected (or an injected error is
    /// due).
    fn route(&self, record: &OutRecord) -> Result<(Arc<TopicLog>, i32)> {
        if let Some(rejection) = self.rejection(record) {
            return Err(Error::produce(record.topic.to_string(), rejection.reason));
        }
        {
            let mut errors = lock(&self.inner.produce_errors);
            if let Some(left) = errors.get_mut(&*record.topic).filter(|n| **n > 0) {
                *left -= 1;
                return Err(Error::produce(record.topic.to_string(), "injected produce error"));
            }
        }
        let topic = self.topic(&record.topic)?;
        let count = topic.partitions.len() as i32;
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if (0..count).contains(&p) => p,
            (Some(p), _) => {
                return Err(Error::produce(
                    record.topic.to_string(),
                    format!("partition {p} does not exist ({count} partitions)"),
                ))
            }
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => (self.inner.round_robin.fetch_add(1, Ordering::Relaxed) % count as usize) as i32,
        };
        Ok((topic, partition))
    }

    /// Appends `record` to partition `partition` of `topic`.
    fn append(&self, topic: &TopicLog, partition: i32, record: OutRecord) -> Offset {
        let log = &topic.partitions[partition as usize];
        let offset = {
            let mut records = lock(&log.records);
            let offset = Offset(records.len() as i64);
            let (timestamp, timestamp_type) = match record.timestamp {
                Some(ts) => (ts, TimestampType::CreateTime),
                None => (now_ms(), TimestampType::LogAppendTime),
            };
            records.push(Record {
                key: record.key,
                value: record.value,
                headers: record.headers,
                meta: Meta {
                    topic: topic.name.clone(),
                    partition: Partition(partition),
                    offset,
                    timestamp,
                    timestamp_type,
                },
            });
            offset
        };
        log.appended.notify_waiters();
        offset
    }

    /// Every record of a topic, partition by partition, in offset order.
    pub fn records(&self, topic: &str) -> Vec<RawRecord> {
        match self.topic(topic) {
            Ok(t) => t.partitions.iter().flat_map(|p| lock(&p.records).clone()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The offset after the last record of each partition of a topic.
    pub fn end_offsets(&self, topic: &str) -> Vec<Offset> {
        match self.topic(topic) {
            Ok(t) => t
                .partitions
                .iter()
                .map(|p| Offset(lock(&p.records).len() as i64))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The committed offset of a group for a partition.
    pub fn committed(&self, group: &str, tp: &TopicPartition) -> Option<Offset> {
        let groups = lock(&self.inner.groups);
        let group = groups.get(group)?;
        let state = lock(&group.state);
        state.committed.get(tp).copied()
    }

    /// The sum over a topic's partitions of `group`'s committed offsets (0 where none):
    /// with offsets from 0, the number of records committed.
    pub fn committed_total(&self, group: &str, topic: &str) -> i64 {
        (0..self.partitions(topic).unwrap_or(0))
            .map(|p| self.committed(group, &TopicPartition::new(topic, p)).map_or(0, |o| o.0))
            .sum()
    }

    /// The members of a group and their partitions.
    pub fn group_members(&self, group: &str) -> Vec<(String, Vec<TopicPartition>)> {
        let groups = lock(&self.inner.groups);
        groups.get(group).map_or_else(Vec::new, |g| {
            lock(&g.state)
                .members
                .iter()
                .map(|(id, m)| (id.clone(), m.assigned.clone()))
                .collect()
        })
    }

    fn group(&self, id: &str) -> Arc<Group> {
        lock(&self.inner.groups).entry(id.to_string()).or_default().clone()
    }

    fn spawn_rebalance(&self, group: Arc<Group>) {
        let broker = self.clone();
        tokio::spawn(async move { broker.rebalance(&group).await });
    }

    async fn rebalance(&self, group: &Group) {
        let _serial = group.rebalancing.lock().await;
        // Phase 1: revoke everything from everyone and wait for confirmations.
        let waits: Vec<_> = {
            let mut state = lock(&group.state);
            state.generation += 1;
            state
                .members
                .values_mut()
                .filter(|m| !m.assigned.is_empty())
                .filter_map(|m| {
                    if let Some(revoke) = m.revoke.take() {
                        let _ = revoke.send(true);
                    }
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let event = GroupEvent::Revoked {
                        partitions: m.assigned.clone(),
                        done: RevokeDone::new(tx),
                    };
                    m.events.send(event).ok().map(|()| (m.revoke_wait, rx))
                })
                .collect()
        };
        // Each member gets what its consumer config allows (drain timeout plus a commit).
        for (wait, rx) in waits {
            let _ = tokio::time::timeout(wait, rx).await;
        }
        // Phase 2: assign by range, per topic.
        let mut state = lock(&group.state);
        state.members.retain(|_, m| !m.events.is_closed());
        let ids: Vec<String> = state.members.keys().cloned().collect();
        let mut plan: HashMap<String, Vec<TopicPartition>> = HashMap::new();
        let topics: std::collections::BTreeSet<String> =
            state.members.values().flat_map(|m| m.topics.iter().cloned()).collect();
        for topic in topics {
            let Some(count) = self.partitions(&topic) else {
                continue;
            };
            let subscribers: Vec<&String> = ids
                .iter()
                .filter(|id| state.members[*id].topics.contains(&topic))
                .collect();
            let n = subscribers.len() as i32;
            let (per, extra) = (count / n, count % n);
            let mut next = 0;
            for (i, id) in subscribers.iter().enumerate() {
                let take = per + i32::from((i as i32) < extra);
                let parts = (next..next + take).map(|p| TopicPartition::new(topic.as_str(), p));
                plan.entry((*id).clone()).or_default().extend(parts);
                next += take;
            }
        }
        let GroupState { members, committed, .. } = &mut *state;
        for (id, member) in members.iter_mut() {
            let parts = plan.remove(id).unwrap_or_default();
            let (revoke_tx, revoke_rx) = watch::channel(false);
            let streams = parts
                .iter()
                .filter_map(|tp| {
                    let log = self.topic(&tp.topic).ok()?;
                    let earliest = member.earliest.iter().any(|t| **t == *tp.topic);
                    let start = *committed
                        .entry(tp.clone())
                        .or_insert_with(|| match (member.start, earliest) {
                            (StartFrom::Earliest, _) | (_, true) => Offset(0),
                            (StartFrom::Latest, false) => {
                                Offset(lock(&log.partitions[tp.partition.0 as usize].records).len() as i64)
                            }
                        });
                    Some(assigned_from(log, tp, start, revoke_rx.clone()))
                })
                .collect();
            member.assigned = parts;
            member.revoke = Some(revoke_tx);
            let _ = member.events.send(GroupEvent::Assigned(streams));
        }
    }
}

/// `tp`'s records from `start` on, with their backlog, until `revoked` turns true.
fn assigned_from(
    log: Arc<TopicLog>,
    tp: &TopicPartition,
    start: Offset,
    revoked: watch::Receiver<bool>,
) -> AssignedPartition {
    let position = Arc::new(AtomicU64::new(start.0.max(0) as u64));
    let backlog = {
        let (log, position) = (log.clone(), position.clone());
        let p = tp.partition.0 as usize;
        Backlog::computed(move || {
            let len = lock(&log.partitions[p].records).len() as u64;
            len.saturating_sub(position.load(Ordering::Relaxed)) as usize
        })
    };
    AssignedPartition {
        partition: tp.clone(),
        records: partition_stream(log, tp.partition.0 as usize, position, revoked),
        backlog,
    }
}

/// Where `to` points in a partition's records.
fn position_in(records: &[RawRecord], to: SeekTo) -> Offset {
    let end = records.len() as i64;
    Offset(match to {
        SeekTo::Earliest => 0,
        SeekTo::Latest => end,
        SeekTo::Offset(o) => o.0.clamp(0, end),
        SeekTo::Timestamp(ms) => records
            .iter()
            .position(|r| r.meta.timestamp >= ms)
            .map_or(end, |i| i as i64),
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The records of one partition from `position` on; `position` follows what was handed
/// out (for the backlog).
fn partition_stream(
    log: Arc<TopicLog>,
    partition: usize,
    position: Arc<AtomicU64>,
    revoked: watch::Receiver<bool>,
) -> futures::stream::BoxStream<'static, RawRecord> {
    let state = (log, position.load(Ordering::Relaxed) as usize, revoked);
    futures::stream::unfold(state, move |(log, pos, mut revoked)| {
        let position = position.clone();
        async move {
            loop {
                if *revoked.borrow() {
                    return None;
                }
                let next = {
                    let plog = &log.partitions[partition];
                    let appended = plog.appended.notified();
                    tokio::pin!(appended);
                    appended.as_mut().enable();
                    let next = lock(&plog.records).get(pos).cloned();
                    if next.is_none() {
                        tokio::select! {
                            _ = appended => {}
                            changed = revoked.changed() => if changed.is_err() { return None },
                        }
                    }
                    next
                };
                if let Some(record) = next {
                    position.store(pos as u64 + 1, Ordering::Relaxed);
                    return Some((record, (log, pos + 1, revoked)));
                }
            }
        }
    })
    .boxed()
}

/// A group member on a [`MemoryBroker`].
pub struct MemoryConsumer {
    broker: MemoryBroker,
    group_id: String,
    member_id: String,
    start: StartFrom,
    earliest: Vec<String>,
    revoke_wait: Duration,
    events: GroupEvents,
    sender: Option<mpsc::UnboundedSender<GroupEvent>>,
    joined: bool,
    transactional_id: Option<String>,
}

impl MemoryConsumer {
    fn leave(&mut self) {
        if !self.joined {
            return;
        }
        self.joined = false;
        let group = self.broker.group(&self.group_id);
        {
            let mut state = lock(&group.state);
            if let Some(m) = state.members.remove(&self.member_id) {
                if let Some(revoke) = m.revoke {
                    let _ = revoke.send(true);
                }
            }
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            self.broker.spawn_rebalance(group);
        }
    }
}

impl Consumer for MemoryConsumer {
    fn subscribe(&mut self, topics: &[String]) -> Result<()> {
        for t in topics {
            self.broker.topic(t)?;
        }
        let sender = self
            .sender
            .take()
            .ok_or_else(|| Error::transport("in-memory consumer", "already subscribed"))?;
        let group = self.broker.group(&self.group_id);
        lock(&group.state).members.insert(
            self.member_id.clone(),
            MemberSlot {
                topics: topics.to_vec(),
                start: self.start,
                earliest: self.earliest.clone(),
                revoke_wait: self.revoke_wait,
                events: sender,
                assigned: Vec::new(),
                revoke: None,
            },
        );
        self.joined = true;
        self.broker.spawn_rebalance(group);
        Ok(())
    }

    fn next_event(&mut self) -> BoxFuture<'_, Result<GroupEvent>> {
        self.events.next("consumer left its group")
    }

    fn committer(&self) -> Arc<dyn OffsetCommitter> {
        Arc::new(MemoryCommitter {
            broker: self.broker.clone(),
            group_id: self.group_id.clone(),
            member_id: self.member_id.clone(),
        })
    }

    fn transactions(&self) -> Option<super::Transactions> {
        let id = self.transactional_id.as_deref()?;
        Some(transactions::begin(&self.broker, id, &self.group_id, &self.member_id))
    }

    fn position_of(&self, partition: &TopicPartition, to: SeekTo) -> BoxFuture<'static, Result<Offset>> {
        let result = self.broker.topic(&partition.topic).and_then(|log| {
            let p = log
                .partitions
                .get(partition.partition.0 as usize)
                .ok_or_else(|| Error::transport(format!("in-memory consumer of {partition}"), "no such partition"))?;
            Ok(position_in(&lock(&p.records), to))
        });
        futures::future::ready(result).boxed()
    }

    fn restart(
        &mut self,
        positions: Vec<(TopicPartition, Option<Offset>)>,
    ) -> BoxFuture<'_, Result<Vec<AssignedPartition>>> {
        let group = self.broker.group(&self.group_id);
        let state = lock(&group.state);
        let result = match state.members.get(&self.member_id) {
            None => Err(Error::transport("in-memory consumer", "not a member of its group")),
            // A partition revoked meanwhile (a rebalance came first) is not restarted.
            Some(member) => positions
                .into_iter()
                .filter(|(tp, _)| member.assigned.contains(tp))
                .filter_map(|(tp, offset)| Some((member.revoke.as_ref()?.subscribe(), tp, offset)))
                .map(|(revoked, tp, offset)| {
                    let start = offset
                        .or_else(|| state.committed.get(&tp).copied())
                        .unwrap_or(Offset(0));
                    Ok(assigned_from(self.broker.topic(&tp.topic)?, &tp, start, revoked))
                })
                .collect(),
        };
        drop(state);
        futures::future::ready(result).boxed()
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        self.leave();
        async {}.boxed()
    }
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        self.leave();
    }
}

struct MemoryCommitter {
    broker: MemoryBroker,
    group_id: String,
    member_id: String,
}

impl OffsetCommitter for MemoryCommitter {
    fn commit(&self, offsets: Vec<(TopicPartition, Offset)>) -> BoxFuture<'static, Result<()>> {
        let group = self.broker.group(&self.group_id);
        let mut state = lock(&group.state);
        let owned = state
            .members
            .get(&self.member_id)
            .map(|m| m.assigned.clone())
            .unwrap_or_default();
        let result = match offsets.iter().find(|(tp, _)| !owned.contains(tp)) {
            Some((tp, _)) => Err(Error::commit(&self.group_id).caused_by(format!(
                "{tp} is not assigned to member {} (generation {})",
                self.member_id, state.generation
            ))),
            None => {
                state.committed.extend(offsets);
                Ok(())
            }
        };
        futures::future::ready(result).boxed()
    }
}

/// A send's outcome, at once: the ack released when it was accepted, failed otherwise.
fn acknowledged(accepted: Result<()>, ack: Ack) -> BoxFuture<'static, Result<()>> {
    match &accepted {
        Ok(()) => drop(ack),
        Err(e) => ack.fail(&e.to_string()),
    }
    futures::future::ready(accepted).boxed()
}

struct MemoryProducer {
    broker: MemoryBroker,
}

impl Producer for MemoryProducer {
    fn send(&self, record: OutRecord, ack: Ack) -> BoxFuture<'static, Result<()>> {
        acknowledged(self.broker.produce(record).map(drop), ack)
    }

    fn send_or_reject(
        &self,
        record: OutRecord,
        ack: Ack,
        rejected: &Arc<dyn Rejected>,
    ) -> BoxFuture<'static, Result<()>> {
        self.broker.send_or_reject(self, record, ack, rejected)
    }

    fn flush(&self, _timeout: Duration) -> BoxFuture<'static, Result<()>> {
        futures::future::ready(Ok(())).boxed()
    }

    fn send_reporting(&self, record: OutRecord) -> BoxFuture<'static, Result<Offset>> {
        futures::future::ready(self.broker.produce(record).map(|(_, offset)| offset)).boxed()
    }
}

impl Admin for MemoryBroker {
    fn create_topic(&self, topic: NewTopic) -> BoxFuture<'static, Result<()>> {
        futures::future::ready(MemoryBroker::create_topic(self, &topic.name, topic.partitions)).boxed()
    }

    fn describe_topic(&self, name: &str) -> BoxFuture<'static, Result<Option<TopicInfo>>> {
        let info = self.partitions(name).map(|partitions| TopicInfo {
            name: name.to_string(),
            partitions,
        });
        futures::future::ready(Ok(info)).boxed()
    }

    fn committed(
        &self,
        group: &str,
        partitions: Vec<TopicPartition>,
    ) -> BoxFuture<'static, Result<super::CommittedOffsets>> {
        let out = partitions
            .into_iter()
            .map(|tp| {
                let off = MemoryBroker::committed(self, group, &tp);
                (tp, off)
            })
            .collect();
        futures::future::ready(Ok(out)).boxed()
    }
}

impl Transport for MemoryBroker {
    fn describe(&self) -> String {
        "in-memory broker".into()
    }

    fn transactions(&self) -> bool {
        true
    }

    fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        let (tx, rx) = GroupEvents::new();
        let seq = self.inner.member_seq.fetch_add(1, Ordering::Relaxed);
        let revoke_wait = config.revoke_wait();
        Ok(Box::new(MemoryConsumer {
            broker: self.clone(),
            member_id: format!("{}-{seq:06}", config.client_id),
            group_id: config.group_id,
            start: config.start,
            revoke_wait,
            earliest: config.earliest_topics,
            events: rx,
            sender: Some(tx),
            joined: false,
            transactional_id: config.transactional_id,
        }))
    }

    fn producer(&self) -> Result<Arc<dyn Producer>> {
        Ok(Arc::new(MemoryProducer { broker: self.clone() }))
    }

    fn admin(&self) -> Arc<dyn Admin> {
        Arc::new(self.clone())
    }

    fn reader(&self) -> Option<Arc<dyn super::PartitionReader>> {
        Some(Arc::new(self.clone()))
    }
}

impl super::PartitionReader for MemoryBroker {
    fn read(
        &self,
        partition: TopicPartition,
        from: Offset,
        _committed_only: bool,
    ) -> futures::stream::BoxStream<'static, Result<RawRecord>> {
        let log = match self.topic(&partition.topic) {
            Ok(log) if (0..log.partitions.len() as i32).contains(&partition.partition.0) => log,
            Ok(_) => {
                let e = Error::topic(
                    partition.topic.to_string(),
                    format!("has no partition {}", partition.partition.0),
                );
                return futures::stream::once(futures::future::ready(Err(e))).boxed();
            }
            Err(e) => return futures::stream::once(futures::future::ready(Err(e))).boxed(),
        };
        // Never revoked: the stream follows the partition until dropped.
        let (never, revoked) = watch::channel(false);
        let position = Arc::new(AtomicU64::new(from.0.max(0) as u64));
        partition_stream(log, partition.partition.0 as usize, position, revoked)
            .map(move |record| {
                let _keep = &never;
                Ok(record)
            })
            .boxed()
    }
}
