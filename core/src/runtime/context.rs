//! What services running beside an app can see and do: [`AppContext`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

use super::member::Control;
use super::pauses::Pauses;
use crate::record::{Offset, TopicPartition};
use crate::telemetry::Health;

/// One listener or processor, as a running app reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnitStatus {
    /// The unit's name.
    pub name: String,
    /// `listener` or `processor`.
    pub kind: &'static str,
    /// Its consumer group.
    pub group: String,
    /// The topics it subscribes to (inputs, and kflow's own repartition and retry topics).
    pub topics: Vec<String>,
    /// Whether it commits in transactions.
    pub exactly_once: bool,
    /// Whether the unit as a whole is paused.
    pub paused: bool,
    /// The partitions this instance holds now.
    pub partitions: Vec<PartitionStatus>,
    /// The state stores this instance is restoring from their changelogs now.
    pub restoring: Vec<RestoreStatus>,
}

/// A store partition being restored from its changelog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestoreStatus {
    /// The store's name.
    pub store: String,
    /// The partition (the task's partition number).
    pub partition: i32,
}

/// One partition a unit holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionStatus {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The offset this instance last committed for it (`None`: none yet).
    pub committed: Option<i64>,
    /// Whether it takes no records now: paused itself, through its topic or its unit.
    pub paused: bool,
    /// Whether its task is restoring a state store (it takes records once restored).
    pub restoring: bool,
}

/// What a pause or a resume applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseTarget {
    /// Every partition of a listener or processor.
    Unit(String),
    /// Every partition of a topic, in every unit.
    Topic(String),
    /// One partition, in every unit.
    Partition(TopicPartition),
}

impl std::fmt::Display for PauseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PauseTarget::Unit(u) => write!(f, "unit `{u}`"),
            PauseTarget::Topic(t) => write!(f, "topic `{t}`"),
            PauseTarget::Partition(tp) => write!(f, "partition {tp}"),
        }
    }
}

/// The longest [`AppContext::seek`] waits for the members (each drains its tasks within
/// the drain timeout first).
const SEEK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// One partition a seek moved ([`AppContext::seek`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The offset this instance had committed before (`None`: none yet).
    pub from: Option<i64>,
    /// The offset it reads from now (committed).
    pub to: i64,
}

/// Why a seek did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeekError {
    /// The app has no such unit, or the unit does not read the topic.
    Unknown {
        /// The request's field at fault: `unit` or `topic`.
        field: &'static str,
        /// What is wrong and what is valid.
        reason: String,
    },
    /// This instance holds none of the partitions (another instance of the app may).
    NotHeld(String),
    /// Finding or committing the new positions failed; nothing moved.
    Failed(String),
}

impl std::fmt::Display for SeekError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeekError::Unknown { reason, .. } | SeekError::NotHeld(reason) | SeekError::Failed(reason) => {
                f.write_str(reason)
            }
        }
    }
}

impl std::error::Error for SeekError {}

struct UnitEntry {
    name: String,
    kind: &'static str,
    group: String,
    topics: Vec<String>,
    exactly_once: bool,
    held: BTreeMap<TopicPartition, Option<Offset>>,
}

/// The units of an app and the partitions each member holds, kept up to date by the
/// members.
#[derive(Clone, Default)]
pub(crate) struct Registry(Arc<Mutex<Vec<UnitEntry>>>);

impl Registry {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<UnitEntry>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn add_unit(
        &self,
        name: &str,
        kind: &'static str,
        group: &str,
        topics: Vec<String>,
        exactly_once: bool,
    ) {
        self.with(|units| {
            units.push(UnitEntry {
                name: name.to_string(),
                kind,
                group: group.to_string(),
                topics,
                exactly_once,
                held: BTreeMap::new(),
            })
        });
    }

    fn unit(&self, name: &str, f: impl FnOnce(&mut UnitEntry)) {
        self.with(|units| {
            if let Some(u) = units.iter_mut().find(|u| u.name == name) {
                f(u);
            }
        });
    }

    pub(crate) fn assigned(&self, unit: &str, partitions: impl IntoIterator<Item = TopicPartition>) {
        self.unit(unit, |u| {
            for tp in partitions {
                u.held.entry(tp).or_insert(None);
            }
        });
    }

    pub(crate) fn revoked<'a>(&self, unit: &str, partitions: impl IntoIterator<Item = &'a TopicPartition>) {
        self.unit(unit, |u| {
            for tp in partitions {
                u.held.remove(tp);
            }
        });
    }

    pub(crate) fn committed<'a>(&self, unit: &str, offsets: impl IntoIterator<Item = &'a (TopicPartition, Offset)>) {
        self.unit(unit, |u| {
            for (tp, offset) in offsets {
                if let Some(c) = u.held.get_mut(tp) {
                    *c = Some(*offset);
                }
            }
        });
    }

    fn has_unit(&self, name: &str) -> bool {
        self.with(|units| units.iter().any(|u| u.name == name))
    }
}

/// A running app, as the services beside it see it ([`super::Service::start`]): its
/// health, its units and their partitions, pausing and resuming, and commits on demand.
/// Cheap to clone.
#[derive(Clone)]
pub struct AppContext {
    health: Health,
    pauses: Pauses,
    registry: Registry,
    control: broadcast::Sender<Control>,
}

impl AppContext {
    pub(crate) fn new(health: Health, pauses: Pauses, registry: Registry, control: broadcast::Sender<Control>) -> Self {
        AppContext {
            health,
            pauses,
            registry,
            control,
        }
    }

    /// The app's liveness and readiness.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Every listener and processor, in registration order, with the partitions this
    /// instance holds.
    pub fn units(&self) -> Vec<UnitStatus> {
        let (paused_partitions, paused_topics) = self.pauses.paused();
        let paused_units = self.pauses.paused_units();
        self.registry.with(|units| {
            units
                .iter()
                .map(|u| {
                    let unit_paused = paused_units.contains(&u.name);
                    let restores = self.health.restores_of(&u.name);
                    UnitStatus {
                        name: u.name.clone(),
                        kind: u.kind,
                        group: u.group.clone(),
                        topics: u.topics.clone(),
                        exactly_once: u.exactly_once,
                        paused: unit_paused,
                        partitions: u
                            .held
                            .iter()
                            .map(|(tp, committed)| PartitionStatus {
                                topic: tp.topic.to_string(),
                                partition: tp.partition.0,
                                committed: committed.map(|o| o.0),
                                paused: unit_paused
                                    || paused_partitions.contains(tp)
                                    || paused_topics.iter().any(|t| **t == *tp.topic),
                                restoring: restores.iter().any(|(_, p)| *p == tp.partition.0),
                            })
                            .collect(),
                        restoring: restores
                            .into_iter()
                            .map(|(store, partition)| RestoreStatus { store, partition })
                            .collect(),
                    }
                })
                .collect()
        })
    }

    /// Pauses `target` (see [`crate::AppHandle::pause`] for what a pause does); an error
    /// names a unit this app does not have.
    pub fn pause(&self, target: &PauseTarget) -> Result<(), String> {
        self.set(target, true)
    }

    /// Resumes `target`. Pauses of different kinds add up: a partition paused by itself
    /// stays paused when its topic resumes.
    pub fn resume(&self, target: &PauseTarget) -> Result<(), String> {
        self.set(target, false)
    }

    fn set(&self, target: &PauseTarget, shut: bool) -> Result<(), String> {
        match target {
            PauseTarget::Unit(name) if !self.registry.has_unit(name) => Err(self.no_such_unit(name)),
            PauseTarget::Unit(name) => {
                self.pauses.set_unit(name, shut);
                Ok(())
            }
            PauseTarget::Topic(topic) => {
                self.pauses.set_topic(topic, shut);
                Ok(())
            }
            PauseTarget::Partition(tp) => {
                self.pauses.set_partition(tp, shut);
                Ok(())
            }
        }
    }

    /// Moves the partitions of `topic` (all of them, or only `partition`) that this
    /// instance holds for `unit` to `to`, on the running app: each partition's task
    /// stops taking records and drains as in a rebalance, the new position is committed
    /// (under exactly-once in the unit's next transaction), and the task starts again
    /// from there. Pauses stay as they were, so a paused partition can be moved and then
    /// resumed. Partitions other instances hold are not moved. Stores are not reset: a
    /// stateful unit sent back applies the records again to its current state.
    ///
    /// ```
    /// # async fn demo(app: kflow_core::runtime::AppContext) {
    /// use kflow_core::transport::SeekTo;
    /// let moved = app.seek("journal", "orders", Some(0), SeekTo::Earliest).await.unwrap();
    /// println!("partition 0 of orders now reads from {}", moved[0].to);
    /// # }
    /// ```
    pub async fn seek(
        &self,
        unit: &str,
        topic: &str,
        partition: Option<i32>,
        to: crate::transport::SeekTo,
    ) -> Result<Vec<Moved>, SeekError> {
        let topics = self
            .registry
            .with(|units| units.iter().find(|u| u.name == unit).map(|u| u.topics.clone()));
        let Some(topics) = topics else {
            return Err(SeekError::Unknown {
                field: "unit",
                reason: self.no_such_unit(unit),
            });
        };
        if !topics.iter().any(|t| t == topic) {
            return Err(SeekError::Unknown {
                field: "topic",
                reason: format!(
                    "unit `{unit}` does not read `{topic}` (it reads: {})",
                    topics.join(", ")
                ),
            });
        }
        let order = std::sync::Arc::new(super::member::SeekOrder {
            unit: unit.to_string(),
            topic: topic.to_string(),
            partition,
            to,
        });
        let deadline = tokio::time::Instant::now() + SEEK_TIMEOUT;
        let Some(replies) = ask_members(&self.control, |tx| Control::Seek(order, tx), Some(deadline)).await else {
            return Err(SeekError::Failed(format!(
                "the unit's members did not answer within {} s",
                SEEK_TIMEOUT.as_secs()
            )));
        };
        let mut moved = Vec::new();
        for reply in replies.into_iter().flatten() {
            moved.extend(reply.map_err(SeekError::Failed)?);
        }
        if moved.is_empty() {
            let what = match partition {
                Some(p) => format!("partition {p} of `{topic}`"),
                None => format!("any partition of `{topic}`"),
            };
            return Err(SeekError::NotHeld(format!(
                "this instance does not hold {what} for unit `{unit}` (another instance of the app may; `GET /admin/units` lists what each holds)"
            )));
        }
        moved.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(moved)
    }

    /// Why `name` is no unit of this app, listing those it has.
    fn no_such_unit(&self, name: &str) -> String {
        let names: Vec<String> = self.units().into_iter().map(|u| u.name).collect();
        format!("no unit `{name}` (units: {})", names.join(", "))
    }

    /// Commits every member's frontiers now.
    pub async fn commit_now(&self) {
        commit_now(&self.control).await
    }
}

/// Asks every member to commit now and waits until each did.
pub(crate) async fn commit_now(control: &broadcast::Sender<Control>) {
    ask_members(control, Control::CommitNow, None).await;
}

/// Sends every member the order `order` makes around a reply channel, and collects the
/// replies of those still running; `None` if `deadline` (none: no limit) passed first.
async fn ask_members<R>(
    control: &broadcast::Sender<Control>,
    order: impl FnOnce(mpsc::UnboundedSender<R>) -> Control,
    deadline: Option<tokio::time::Instant>,
) -> Option<Vec<R>> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let members = control.send(order(tx)).unwrap_or(0);
    let mut replies = Vec::with_capacity(members);
    for _ in 0..members {
        let reply = match deadline {
            Some(at) => tokio::time::timeout_at(at, rx.recv()).await.ok()?,
            None => rx.recv().await,
        };
        match reply {
            Some(r) => replies.push(r),
            None => break,
        }
    }
    Some(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_show_their_partitions_commits_pauses_and_restores() {
        let (health, pauses, registry) = (Health::default(), Pauses::default(), Registry::default());
        let (control, _) = broadcast::channel(4);
        let app = AppContext::new(health.clone(), pauses, registry.clone(), control);
        registry.add_unit("counts", "processor", "app-counts", vec!["in".into()], false);
        registry.assigned("counts", [TopicPartition::new("in", 0), TopicPartition::new("in", 1)]);
        registry.committed("counts", &[(TopicPartition::new("in", 1), Offset(7))]);
        let restoring = health.restoring("counts", "count", 1);
        app.pause(&PauseTarget::Partition(TopicPartition::new("in", 0)))
            .unwrap();
        let units = app.units();
        let u = &units[0];
        assert_eq!(
            u.restoring,
            [RestoreStatus {
                store: "count".into(),
                partition: 1
            }]
        );
        let parts: Vec<(i32, Option<i64>, bool, bool)> = u
            .partitions
            .iter()
            .map(|p| (p.partition, p.committed, p.paused, p.restoring))
            .collect();
        assert_eq!(parts, [(0, None, true, false), (1, Some(7), false, true)]);
        drop(restoring);
        let units = app.units();
        assert!(units[0].restoring.is_empty() && units[0].partitions.iter().all(|p| !p.restoring));
        assert!(app
            .pause(&PauseTarget::Unit("nope".into()))
            .unwrap_err()
            .contains("units: counts"));
    }
}
