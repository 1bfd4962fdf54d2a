//! Pausing a running app's partitions: a paused partition's task takes no new records
//! (in-flight ones finish and commit). Its fetch buffer then fills, and the transport's
//! backpressure stops fetching, so a long pause costs no memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

use crate::record::TopicPartition;

/// Open or shut, with the wakers of the tasks waiting for it to open (a topic's gate
/// holds all of its partitions' tasks).
#[derive(Default)]
pub(crate) struct Gate {
    shut: AtomicBool,
    waiting: Mutex<Vec<Waker>>,
}

impl Gate {
    pub(crate) fn set(&self, shut: bool) {
        self.shut.store(shut, Ordering::SeqCst);
        if !shut {
            self.waiting.lock().unwrap().drain(..).for_each(Waker::wake);
        }
    }

    fn register(&self, waker: &Waker) {
        let mut waiting = self.waiting.lock().unwrap();
        if !waiting.iter().any(|w| w.will_wake(waker)) {
            waiting.push(waker.clone());
        }
    }

    fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Relaxed)
    }
}

/// The gates of one partition's source: its own, its topic's, its unit's, and its
/// member's (shut while an exactly-once commit waits for in-flight records).
#[derive(Clone, Default)]
pub(crate) struct Gates {
    partition: Arc<Gate>,
    topic: Arc<Gate>,
    unit: Arc<Gate>,
    member: Arc<Gate>,
}

impl Gates {
    /// True while any of the gates is shut (the partition is paused on purpose).
    pub(crate) fn is_shut(&self) -> bool {
        self.partition.is_shut() || self.topic.is_shut() || self.unit.is_shut() || self.member.is_shut()
    }
}

impl crate::event::Hold for Gates {
    /// True while either gate is shut; registers the waker to hear it open.
    fn holds(&self, cx: &mut Context<'_>) -> bool {
        if !self.is_shut() {
            return false;
        }
        self.partition.register(cx.waker());
        self.topic.register(cx.waker());
        self.unit.register(cx.waker());
        self.member.register(cx.waker());
        self.is_shut()
    }
}

/// The app's paused partitions, topics and units; kept across rebalances.
#[derive(Clone, Default)]
pub(crate) struct Pauses {
    partitions: Arc<Mutex<HashMap<TopicPartition, Arc<Gate>>>>,
    topics: Arc<Mutex<HashMap<String, Arc<Gate>>>>,
    units: Arc<Mutex<HashMap<String, Arc<Gate>>>>,
}

impl Pauses {
    /// The gates a source of `tp` read by `unit` obeys, with its member's gate.
    pub(crate) fn gates(&self, tp: &TopicPartition, unit: &str, member: &Arc<Gate>) -> Gates {
        Gates {
            unit: self.units.lock().unwrap().entry(unit.to_string()).or_default().clone(),
            partition: self.partitions.lock().unwrap().entry(tp.clone()).or_default().clone(),
            topic: self
                .topics
                .lock()
                .unwrap()
                .entry(tp.topic.to_string())
                .or_default()
                .clone(),
            member: member.clone(),
        }
    }

    pub(crate) fn set_partition(&self, tp: &TopicPartition, shut: bool) {
        self.partitions.lock().unwrap().entry(tp.clone()).or_default().set(shut);
    }

    pub(crate) fn set_unit(&self, unit: &str, shut: bool) {
        self.units
            .lock()
            .unwrap()
            .entry(unit.to_string())
            .or_default()
            .set(shut);
    }

    /// The paused units, sorted.
    pub(crate) fn paused_units(&self) -> Vec<String> {
        let mut units: Vec<String> = shut(&self.units.lock().unwrap());
        units.sort();
        units
    }

    pub(crate) fn set_topic(&self, topic: &str, shut: bool) {
        self.topics
            .lock()
            .unwrap()
            .entry(topic.to_string())
            .or_default()
            .set(shut);
    }

    /// The paused partitions and the paused topics, each sorted.
    pub(crate) fn paused(&self) -> (Vec<TopicPartition>, Vec<String>) {
        let mut partitions: Vec<TopicPartition> = shut(&self.partitions.lock().unwrap());
        let mut topics: Vec<String> = shut(&self.topics.lock().unwrap());
        partitions.sort();
        topics.sort();
        (partitions, topics)
    }
}

fn shut<K: Clone>(gates: &HashMap<K, Arc<Gate>>) -> Vec<K> {
    gates
        .iter()
        .filter(|(_, g)| g.is_shut())
        .map(|(k, _)| k.clone())
        .collect()
}
