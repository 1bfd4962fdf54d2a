//! One group member: a consumer, its partition tasks and its commits.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::future::Shared;
use futures::{FutureExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::commit::{AtLeastOnce, CommitProtocol, Transactional};
use super::context::Moved;
use super::pauses::{Gate, Gates};
use super::unit::{Grouping, TaskSetup, Unit};
use super::RuntimeConfig;
use crate::ack::TrackerHandle;
use crate::error::Fatal;
use crate::error::Result;
use crate::event::tracked;
use crate::record::{Offset, Partition, Timestamp, TopicPartition};
use crate::telemetry::{metrics, FatalReporter, Health, Stats};
use crate::transport::{AssignedPartition, Backlog, Consumer, ConsumerConfig, GroupEvent, Producer, SeekTo, Transport};

/// Orders sent to every member of an app.
#[derive(Debug, Clone)]
pub(crate) enum Control {
    /// Commit every partition's frontier now; the sender is told when done.
    CommitNow(mpsc::UnboundedSender<()>),
    /// Advance stream time in every task.
    Tick(Timestamp),
    /// Move a unit's partitions (see [`super::AppContext::seek`]); every member replies,
    /// `None` when it is not the unit's.
    Seek(
        Arc<SeekOrder>,
        mpsc::UnboundedSender<Option<std::result::Result<Vec<Moved>, String>>>,
    ),
}

/// What a seek moves: a unit's partitions of a topic (all, or one), to a position.
#[derive(Debug)]
pub(crate) struct SeekOrder {
    pub unit: String,
    pub topic: String,
    pub partition: Option<i32>,
    pub to: SeekTo,
}

pub(crate) struct MemberEnv {
    pub app_id: String,
    pub transport: Arc<dyn Transport>,
    pub producer: Arc<dyn Producer>,
    pub stats: Arc<Stats>,
    pub fatal: FatalReporter,
    pub config: RuntimeConfig,
    pub topics: Vec<String>,
    /// The subscribed topics that are kflow's own (repartition, retry): read from the
    /// earliest offset when the group has none committed.
    pub internal_topics: Vec<String>,
    pub shutdown: watch::Receiver<bool>,
    pub control: broadcast::Receiver<Control>,
    pub health: Health,
    pub pauses: super::pauses::Pauses,
    pub instance_id: String,
    pub state: super::StateSettings,
    /// Where the partitions this member holds and commits are reported.
    pub registry: super::context::Registry,
}

struct Task {
    partitions: Vec<TopicPartition>,
    trackers: Vec<TrackerHandle>,
    stop: Option<oneshot::Sender<()>>,
    ticks: mpsc::UnboundedSender<Timestamp>,
    join: AbortOnDrop,
    /// What the stall watchdog looks at, per partition.
    watched: Vec<Watched>,
    /// Until when the task waits on purpose (ms since the epoch).
    idle_until: Arc<AtomicI64>,
}

/// One partition as the stall watchdog sees it.
struct Watched {
    tracker: TrackerHandle,
    backlog: Backlog,
    gates: Gates,
    /// The tracker's (read end, frontier) when last seen, and since when it has not moved.
    mark: (Option<Offset>, Option<Offset>),
    since: Instant,
}

/// A task's join handle that aborts the task when dropped (a member that is itself
/// aborted, as in a crash, takes its tasks with it).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Member {
    unit: Arc<dyn Unit>,
    env: MemberEnv,
    protocol: CommitProtocol,
    tasks: Vec<Task>,
    /// Trackers of stopped tasks whose final frontier is still to be committed.
    retired: Vec<TrackerHandle>,
    committed: HashMap<TopicPartition, Offset>,
    reported: bool,
    group: String,
    joined: bool,
    /// The producer tasks write with: the app's, or the consumer's transactional one.
    producer: Arc<dyn Producer>,
    /// Shut while an exactly-once commit waits for in-flight records (never otherwise).
    gate: Arc<Gate>,
    /// Exactly-once: store work the transaction waits for (see [`crate::ack::Holds`]).
    holds: Option<crate::ack::Holds>,
    /// A task was abandoned (exactly-once: its partial work is in the transaction).
    abandoned: bool,
    /// The watchdog last found a stalled partition.
    stalled: bool,
    /// With a commit threshold: counts the records taken and says when one is due.
    threshold: Option<Arc<CommitThreshold>>,
    /// The new positions of a seek under way, committed with the next commit.
    forced: Vec<(TopicPartition, Offset)>,
}

/// [`super::RuntimeConfig::commit_records`]: the records taken since the last commit.
struct CommitThreshold {
    every: u64,
    taken: std::sync::atomic::AtomicU64,
    due: tokio::sync::Notify,
}

impl CommitThreshold {
    fn taken(&self) {
        let n = self.taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n == self.every {
            self.due.notify_one();
        }
    }

    /// A commit starts: count from zero again.
    fn reset(&self) {
        self.taken.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Resolves when the commit threshold is reached (never without one).
async fn threshold_due(threshold: Option<Arc<CommitThreshold>>) {
    match threshold {
        Some(t) => t.due.notified().await,
        None => std::future::pending().await,
    }
}

/// Runs one member until shutdown; a graceful stop ends with a final commit.
pub(crate) async fn run(unit: Arc<dyn Unit>, env: MemberEnv) -> Result<()> {
    let exactly_once = unit.config().exactly_once;
    let config = consumer_config(&*unit, &env);
    let config_group = config.group_id.clone();
    let mut consumer = env.transport.consumer(config)?;
    let gate = Arc::<Gate>::default();
    let holds = exactly_once.then(crate::ack::Holds::default);
    let (producer, protocol) = match (exactly_once, consumer.transactions()) {
        (false, _) => (
            env.producer.clone(),
            CommitProtocol::AtLeastOnce(AtLeastOnce::new(consumer.committer())),
        ),
        (true, Some(t)) => (
            t.producer,
            CommitProtocol::Transactional(Transactional::new(
                t.committer,
                gate.clone(),
                env.config.drain_timeout,
                holds.clone().unwrap_or_default(),
            )),
        ),
        (true, None) => {
            return Err(crate::error::Error::Config {
                key: format!("processor `{}` exactly_once", unit.config().name),
                reason: format!("{} has no transactions", env.transport.describe()),
            })
        }
    };
    consumer.subscribe(&env.topics)?;
    let threshold = env.config.commit_records.map(|every| {
        Arc::new(CommitThreshold {
            every,
            taken: Default::default(),
            due: tokio::sync::Notify::new(),
        })
    });
    let mut member = Member {
        unit,
        env,
        protocol,
        tasks: Vec::new(),
        retired: Vec::new(),
        committed: HashMap::new(),
        reported: false,
        group: config_group,
        joined: false,
        producer,
        gate,
        holds,
        threshold,
        abandoned: false,
        stalled: false,
        forced: Vec::new(),
    };
    let mut interval = tokio::time::interval(member.env.config.commit_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    let watch_every = (member.env.config.stall_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut watchdog = tokio::time::interval(watch_every);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = consumer.next_event() => match event? {
                GroupEvent::Assigned(parts) => {
                    metrics::rebalances(&member.group, "assigned").increment(1);
                    member.assign(parts);
                    if !member.joined {
                        member.joined = true;
                        member.env.health.joined();
                    }
                }
                GroupEvent::Revoked { partitions, done } => {
                    metrics::rebalances(&member.group, "revoked").increment(1);
                    member.revoke(&partitions).await;
                    done.done();
                }
            },
            _ = interval.tick() => {
                member.commit().await;
            }
            _ = threshold_due(member.threshold.clone()) => {
                member.commit().await;
            }
            _ = watchdog.tick() => member.check_stalls(),
            control = member.env.control.recv() => match control {
                Ok(Control::CommitNow(reply)) => {
                    member.commit().await;
                    let _ = reply.send(());
                }
                Ok(Control::Tick(ts)) => member.tasks.iter().for_each(|t| {
                    let _ = t.ticks.send(ts);
                }),
                Ok(Control::Seek(order, reply)) => {
                    let done = match order.unit == member.unit.config().name {
                        true => Some(member.seek(&mut *consumer, &order).await),
                        false => None,
                    };
                    let _ = reply.send(done);
                }
                Err(_) => {}
            },
            _ = member.env.shutdown.changed() => break,
        }
    }
    let all: Vec<TopicPartition> = member.tasks.iter().flat_map(|t| t.partitions.clone()).collect();
    member.revoke(&all).await;
    member.env.health.set_stall(&member.unit.config().name, None);
    consumer.close().await;
    Ok(())
}

/// The consumer settings of `unit`'s member in the app described by `env`.
pub(crate) fn consumer_config(unit: &dyn Unit, env: &MemberEnv) -> ConsumerConfig {
    let group_id = unit.config().group_id(&env.app_id);
    ConsumerConfig {
        transactional_id: unit
            .config()
            .exactly_once
            .then(|| format!("{group_id}-{}", env.instance_id)),
        group_id,
        client_id: format!("{}-{}", env.app_id, unit.config().name),
        start: unit.config().start,
        properties: unit.config().properties.clone(),
        earliest_topics: env.internal_topics.clone(),
        drain_timeout: env.config.drain_timeout,
        commit_timeout: env.config.commit_timeout,
    }
}

impl Member {
    fn assign(&mut self, parts: Vec<AssignedPartition>) {
        let name = &self.unit.config().name;
        self.env
            .registry
            .assigned(name, parts.iter().map(|p| p.partition.clone()));
        let grouping = self.unit.grouping();
        let mut groups: BTreeMap<(Partition, String), Vec<AssignedPartition>> = BTreeMap::new();
        for part in parts {
            let key = match grouping {
                Grouping::PerPartition => (part.partition.partition, part.partition.topic.to_string()),
                Grouping::PerPartitionNumber => (part.partition.partition, String::new()),
            };
            groups.entry(key).or_default().push(part);
        }
        tracing::info!(
            unit = self.unit.config().name.as_str(),
            group = %self.group,
            tasks = groups.len(),
            partitions = ?groups.values().flatten().map(|p| p.partition.to_string()).collect::<Vec<_>>(),
            "partitions assigned"
        );
        for ((partition, _), parts) in groups {
            let mut sources: HashMap<String, Vec<_>> = HashMap::new();
            let mut trackers = Vec::new();
            let mut partitions = Vec::new();
            let mut watched = Vec::new();
            for part in parts {
                let tp = part.partition.clone();
                let records_in = metrics::records_in(&self.unit.config().name, &tp.topic);
                let gates = self.env.pauses.gates(&tp, &self.unit.config().name, &self.gate);
                let backlog = part.backlog.clone();
                let (handle, stream) = tracked(part.partition, part.records, records_in, gates.clone());
                let stream = match self.threshold.clone() {
                    Some(t) => stream.inspect(move |_| t.taken()).boxed(),
                    None => stream,
                };
                watched.push(Watched {
                    tracker: handle.clone(),
                    backlog,
                    gates,
                    mark: (None, None),
                    since: Instant::now(),
                });
                trackers.push(handle);
                partitions.push(tp.clone());
                sources.entry(tp.topic.to_string()).or_default().push((tp, stream));
            }
            let (stop_tx, stop_rx) = oneshot::channel();
            let (tick_tx, tick_rx) = mpsc::unbounded_channel();
            let stop: Shared<oneshot::Receiver<()>> = stop_rx.shared();
            let idle_until = Arc::new(AtomicI64::new(0));
            let setup = TaskSetup {
                app_id: self.env.app_id.clone(),
                partition,
                sources,
                ticks: tokio_stream::wrappers::UnboundedReceiverStream::new(tick_rx).boxed(),
                producer: self.producer.clone(),
                markers: self.env.producer.clone(),
                holds: self.holds.clone(),
                state: self.env.state.clone(),
                reader: self.env.transport.reader(),
                health: self.env.health.clone(),
                stats: self.env.stats.clone(),
                fatal: self.env.fatal.clone(),
                stop,
                trackers: trackers.clone(),
                drain_timeout: self.env.config.drain_timeout,
                idle_until: idle_until.clone(),
            };
            let span = tracing::info_span!("task", unit = %self.unit.config().name, partition = partition.0);
            let join = AbortOnDrop(tokio::spawn(tracing::Instrument::instrument(
                self.unit.task(setup),
                span,
            )));
            self.tasks.push(Task {
                partitions,
                trackers,
                stop: Some(stop_tx),
                ticks: tick_tx,
                join,
                watched,
                idle_until,
            });
        }
    }

    /// The stall watchdog: a partition with records waiting whose task took none and
    /// finished none for the stall timeout makes the app not ready (with the reason),
    /// until it moves again. Partitions paused on purpose, and tasks waiting for a retry
    /// record to fall due, are not stalled.
    fn check_stalls(&mut self) {
        let now = Instant::now();
        let wall = crate::policy::failure::now_ms();
        let timeout = self.env.config.stall_timeout;
        let mut first: Option<String> = None;
        let mut stalled = 0usize;
        for task in &mut self.tasks {
            let waiting_on_purpose = task.idle_until.load(Ordering::Relaxed) > wall;
            for w in &mut task.watched {
                let mark = (w.tracker.read_end(), w.tracker.frontier());
                if mark != w.mark {
                    (w.mark, w.since) = (mark, now);
                    continue;
                }
                let waiting = w.backlog.get();
                if waiting == 0 || waiting_on_purpose || w.gates.is_shut() || w.tracker.is_frozen() {
                    w.since = now;
                    continue;
                }
                let still = now.duration_since(w.since);
                if still >= timeout {
                    stalled += 1;
                    first.get_or_insert_with(|| {
                        format!(
                            "{} `{}` (group `{}`): partition {} has {waiting} records waiting and made no progress for {} s",
                            self.unit.kind(),
                            self.unit.config().name,
                            self.group,
                            w.tracker.partition(),
                            still.as_secs()
                        )
                    });
                }
            }
        }
        metrics::stalled_partitions(&self.group).set(stalled as f64);
        match (&first, self.stalled) {
            (Some(reason), false) => {
                tracing::warn!(unit = self.unit.config().name.as_str(), %reason, partitions = stalled, "stalled: not ready")
            }
            (None, true) => tracing::info!(unit = self.unit.config().name.as_str(), "no longer stalled"),
            _ => {}
        }
        self.stalled = first.is_some();
        self.env.health.set_stall(&self.unit.config().name, first);
    }

    /// Stops the tasks holding any of `partitions` (each drains within the drain
    /// timeout, or is abandoned after its trackers are sealed), then commits their
    /// final frontiers.
    async fn revoke(&mut self, partitions: &[TopicPartition]) {
        self.env.registry.revoked(&self.unit.config().name, partitions);
        self.stop_tasks(partitions).await;
    }

    /// Stops the tasks holding any of `partitions` and commits their final frontiers;
    /// returns every partition those tasks held.
    async fn stop_tasks(&mut self, partitions: &[TopicPartition]) -> Vec<TopicPartition> {
        let (stopping, kept): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.tasks)
            .into_iter()
            .partition(|t| t.partitions.iter().any(|p| partitions.contains(p)));
        self.tasks = kept;
        if stopping.is_empty() {
            return Vec::new();
        }
        tracing::info!(
            unit = self.unit.config().name.as_str(),
            tasks = stopping.len(),
            "stopping tasks: draining"
        );
        let held: Vec<TopicPartition> = stopping.iter().flat_map(|t| t.partitions.clone()).collect();
        let mut joins = Vec::new();
        for mut task in stopping {
            if let Some(stop) = task.stop.take() {
                let _ = stop.send(());
            }
            self.retired.extend(task.trackers.iter().cloned());
            joins.push((task.join, task.trackers));
        }
        let deadline = tokio::time::Instant::now() + self.env.config.drain_timeout;
        for (mut join, trackers) in joins {
            if tokio::time::timeout_at(deadline, &mut join.0).await.is_err() {
                tracing::warn!(
                    unit = self.unit.config().name.as_str(),
                    "a task did not drain in time: abandoning its uncommitted work"
                );
                trackers.iter().for_each(|t| {
                    t.seal();
                });
                join.0.abort();
                self.abandoned = true;
            }
        }
        self.commit().await;
        held
    }

    /// The offset after the last record this member's task of `tp` took.
    fn read_end(&self, tp: &TopicPartition) -> Option<Offset> {
        self.tasks
            .iter()
            .flat_map(|t| t.trackers.iter())
            .find(|t| t.partition() == tp)
            .and_then(|t| t.read_end())
    }

    /// Moves this member's partitions that `order` names: resolves the new positions,
    /// stops the tasks holding them (they drain and commit, as in a revocation), commits
    /// the new positions, and starts the tasks again from there. Pauses stay as they were.
    /// An empty list: this member holds none of them.
    async fn seek(
        &mut self,
        consumer: &mut dyn Consumer,
        order: &SeekOrder,
    ) -> std::result::Result<Vec<Moved>, String> {
        let targets: Vec<TopicPartition> = self
            .tasks
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter(|tp| *tp.topic == *order.topic && order.partition.is_none_or(|p| tp.partition.0 == p))
            .cloned()
            .collect();
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let mut positions = Vec::new();
        for tp in &targets {
            let mut at = consumer
                .position_of(tp, order.to)
                .await
                .map_err(|e| format!("cannot find {} in {tp}: {e}", order.to))?;
            if let SeekTo::Offset(wanted) = order.to {
                // The transport limits an offset to the broker's end, which some brokers
                // report too low (tansu): what this member has read is there too.
                at = at.max(wanted.min(self.read_end(tp).unwrap_or(Offset(0))));
            }
            positions.push((tp.clone(), at));
        }
        let held = self.stop_tasks(&targets).await;
        let moved: Vec<Moved> = positions
            .iter()
            .map(|(tp, at)| Moved {
                topic: tp.topic.to_string(),
                partition: tp.partition.0,
                from: self.committed.get(tp).map(|o| o.0),
                to: at.0,
            })
            .collect();
        // The new positions go into a regular commit: under exactly-once the other
        // tasks' open work commits with them, in one transaction.
        self.forced = positions.clone();
        let outcome = match self.commit().await {
            true => Ok(moved),
            false => Err(
                "committing the new positions failed (see the log); the partitions resume where they were".to_string(),
            ),
        };
        self.forced.clear();
        let restart: Vec<(TopicPartition, Option<Offset>)> = held
            .into_iter()
            .map(|tp| {
                let at = self.committed.get(&tp).copied();
                (tp, at)
            })
            .collect();
        match consumer.restart(restart).await {
            Ok(parts) => self.assign(parts),
            Err(e) => {
                let unit = self.unit.config().name.clone();
                self.reported = true;
                self.env.fatal.report(
                    Fatal::new(format!(
                        "{} `{unit}`: its partitions could not be restarted after a seek: {e}; the app stops (a restart resumes at the committed offsets)",
                        self.unit.kind()
                    ))
                    .unit(&unit)
                    .group(&self.group),
                );
                return Err(format!("restarting the partitions failed: {e}"));
            }
        }
        if outcome.is_ok() {
            tracing::info!(unit = self.unit.config().name.as_str(), group = %self.group, to = %order.to, moved = ?moved_list(&positions), "seek: partitions moved");
        }
        outcome
    }

    /// Commits every frontier that moved since the last commit (and the positions of a
    /// seek under way), and reports partitions whose work failed. False if the commit
    /// failed or was put off.
    async fn commit(&mut self) -> bool {
        if let Some(t) = &self.threshold {
            t.reset();
        }
        let quiet = match &self.protocol {
            CommitProtocol::Transactional(t) => t.quiesce(self.tasks.iter().flat_map(|t| t.trackers.iter())).await,
            CommitProtocol::AtLeastOnce(_) => true,
        };
        let mut offsets = Vec::new();
        let mut in_flight = 0;
        for tracker in self.tasks.iter().flat_map(|t| t.trackers.iter()) {
            if let (Some(end), Some(frontier)) = (tracker.read_end(), tracker.frontier()) {
                in_flight += (end.0 - frontier.0).max(0);
            }
        }
        let unit = &self.unit.config().name;
        metrics::in_flight(unit).set(in_flight as f64);
        metrics::partitions_assigned(&self.group)
            .set(self.tasks.iter().map(|t| t.partitions.len()).sum::<usize>() as f64);
        for tracker in self
            .tasks
            .iter()
            .flat_map(|t| t.trackers.iter())
            .chain(self.retired.iter())
        {
            if let (Some(failure), false) = (tracker.failure(), self.reported) {
                self.reported = true;
                let fatal = Fatal::new(failure).unit(unit).group(&self.group);
                self.env.fatal.report(fatal);
            }
            let Some(frontier) = tracker.frontier() else {
                continue;
            };
            let tp = tracker.partition();
            if self.committed.get(tp).is_none_or(|c| frontier > *c) {
                offsets.push((tp.clone(), frontier));
            }
        }
        for (tp, at) in &self.forced {
            offsets.retain(|(p, _)| p != tp);
            offsets.push((tp.clone(), *at));
        }
        let done = match &self.protocol {
            CommitProtocol::AtLeastOnce(c) if !offsets.is_empty() => {
                let committer = c.clone();
                match committer.commit(offsets.clone()).await {
                    Ok(()) => {
                        self.committed_ok(offsets);
                        true
                    }
                    Err(e) => {
                        self.commit_failed(&e, "commit failed; will retry");
                        false
                    }
                }
            }
            CommitProtocol::AtLeastOnce(_) => true,
            CommitProtocol::Transactional(t) => {
                let protocol = t.clone();
                self.commit_transaction(&protocol, offsets, quiet).await
            }
        };
        self.retired.clear();
        done
    }

    fn committed_ok(&mut self, offsets: Vec<(TopicPartition, Offset)>) {
        tracing::debug!(
            unit = self.unit.config().name.as_str(),
            partitions = offsets.len(),
            "committed"
        );
        metrics::commits(&self.group).increment(1);
        for (tp, offset) in &offsets {
            metrics::committed_offset(&self.group, tp).set(offset.0 as f64);
        }
        self.env.health.commit_result(true);
        self.env.registry.committed(&self.unit.config().name, &offsets);
        self.committed.extend(offsets);
    }

    fn commit_failed(&self, e: &crate::error::Error, what: &'static str) {
        metrics::commit_failures(&self.group).increment(1);
        self.env.health.commit_result(false);
        tracing::warn!(unit = self.unit.config().name.as_str(), error = %e, "{what}");
    }

    /// Exactly-once: commits the transaction (the outputs written since the last one and
    /// `offsets`), then lets the tasks go on. Anything that would put partial work in it
    /// (a reported failure, an abandoned task) aborts it and stops the app instead; so
    /// does a failed commit, since the tasks' positions are then ahead of what committed.
    async fn commit_transaction(
        &mut self,
        protocol: &Transactional,
        offsets: Vec<(TopicPartition, Offset)>,
        quiet: bool,
    ) -> bool {
        let unit = self.unit.config().name.clone();
        if self.reported || self.abandoned {
            if let Err(e) = protocol.abort().await {
                tracing::warn!(unit = unit.as_str(), error = %e, "aborting the transaction failed; the broker aborts it after its timeout");
            }
            if self.abandoned && !self.reported {
                self.reported = true;
                self.env.fatal.report(Fatal::new(format!(
                    "processor `{unit}`: a task did not drain in time; its transaction was aborted and the app stops (a restart resumes after the last committed transaction)"
                )).unit(&unit).group(&self.group));
            }
            return false;
        }
        let mut done = true;
        if !quiet {
            done = false;
            tracing::warn!(
                unit = unit.as_str(),
                "records still in flight after the drain timeout: the transaction stays open until the next commit"
            );
        } else {
            // Also without offsets to move: work no record caused (a window closed by
            // stream time) may have written to the transaction. An empty transaction
            // costs no broker round trip.
            match protocol.commit(offsets.clone()).await {
                Ok(()) if offsets.is_empty() => {}
                Ok(()) => self.committed_ok(offsets),
                Err(e) => {
                    let _ = protocol.abort().await;
                    self.commit_failed(&e, "transaction commit failed");
                    self.reported = true;
                    self.env.fatal.report(
                        Fatal::new(format!(
                            "processor `{unit}`: {e}; the app stops (a restart resumes after the last committed transaction)"
                        ))
                        .unit(&unit)
                        .group(&self.group),
                    );
                    return false;
                }
            }
        }
        protocol.resume();
        done
    }
}

fn moved_list(positions: &[(TopicPartition, Offset)]) -> Vec<String> {
    positions.iter().map(|(tp, at)| format!("{tp}@{}", at.0)).collect()
}
