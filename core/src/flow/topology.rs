//! A processor's topology as a value: its sources, repartition nodes, windows, sinks and
//! late topics, in build order, with stable names.
//!
//! Building a processor's pipeline records every node that touches a topic or keeps
//! state. The same function always builds the same nodes in the same order, so the
//! names are stable across tasks and restarts: repartition topics are named by their
//! place among the pipeline's `group_by`s, windows by theirs. Durable state will name its
//! stores and changelog topics from these names.

use std::fmt;

/// A node's place in build order (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeKind {
    /// Reads the processor's input topics (merged into one flow).
    Source {
        /// The topics.
        topics: Vec<String>,
    },
    /// Writes records to an internal topic keyed by a new key, and reads this task's
    /// partition of it back (`group_by`).
    Repartition {
        /// The repartition topic.
        topic: String,
    },
    /// A window operator (`window(..).aggregate(..)` and friends).
    Window {
        /// Its stable name: `window`, then `window-2`, ... in build order.
        name: String,
        /// The window kind (`tumbling`, `hopping`, `sliding`, `session`).
        kind: &'static str,
        /// The changelog topic its store is kept in (`None`: state in memory only,
        /// rebuilt by replaying inputs).
        changelog: Option<String>,
    },
    /// Custom keyed state (`stateful`).
    State {
        /// Its stable name: `state`, then `state-2`, ... in build order.
        name: String,
        /// The changelog topic its store is kept in.
        changelog: Option<String>,
    },
    /// Writes to a topic (`to`, or the processor's output topic).
    Sink {
        /// The topic.
        topic: String,
    },
    /// Where a window's late records go (`late_to`).
    Late {
        /// The topic.
        topic: String,
    },
}

/// One node of a [`Topology`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its place in build order.
    pub id: NodeId,
    /// What it does.
    pub kind: NodeKind,
}

/// A processor's pipeline as built: see the module docs.
///
/// ```
/// use kflow_core::{App, Flow, Processor};
/// use kflow_core::window::Tumbling;
/// use std::time::Duration;
/// fn counts(words: Flow<String>) -> Flow<kflow_core::window::WindowResult<String, u64>> {
///     words.group_by(|w| w.clone()).window(Tumbling::of(Duration::from_secs(60))).count()
/// }
/// let p = Processor::new("counts", counts).input(["words"]).output("counts");
/// let topology = p.describe("shop").unwrap();
/// assert_eq!(topology.repartition_topics(), ["shop-counts-repartition"]);
/// assert_eq!(topology.sink_topics(), ["counts"]);
/// assert!(topology.to_string().contains("window  tumbling"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The processor.
    pub processor: String,
    /// Its nodes, in build order.
    pub nodes: Vec<Node>,
    /// The dead-letter topics its error policies write to.
    pub dead_letters: Vec<String>,
}

impl Topology {
    pub(crate) fn new(processor: &str) -> Self {
        Topology {
            processor: processor.to_string(),
            nodes: Vec::new(),
            dead_letters: Vec::new(),
        }
    }

    /// Appends a node and returns its id.
    pub(crate) fn push(&mut self, kind: NodeKind) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node { id, kind });
        id
    }

    fn topics(&self, pick: impl Fn(&NodeKind) -> Option<&String>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for topic in self.nodes.iter().filter_map(|n| pick(&n.kind)) {
            if !out.contains(topic) {
                out.push(topic.clone());
            }
        }
        out
    }

    /// The topics the sources read.
    pub fn source_topics(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for node in &self.nodes {
            if let NodeKind::Source { topics } = &node.kind {
                out.extend(topics.iter().filter(|t| !out.contains(t)).cloned().collect::<Vec<_>>());
            }
        }
        out
    }

    /// The repartition topics, in build order.
    pub fn repartition_topics(&self) -> Vec<String> {
        self.topics(|k| match k {
            NodeKind::Repartition { topic } => Some(topic),
            _ => None,
        })
    }

    /// The repartition nodes with their topics.
    pub fn repartitions(&self) -> impl Iterator<Item = (NodeId, &str)> {
        self.nodes.iter().filter_map(|n| match &n.kind {
            NodeKind::Repartition { topic } => Some((n.id, topic.as_str())),
            _ => None,
        })
    }

    /// The topics written by sinks.
    pub fn sink_topics(&self) -> Vec<String> {
        self.topics(|k| match k {
            NodeKind::Sink { topic } => Some(topic),
            _ => None,
        })
    }

    /// The topics late records go to.
    pub fn late_topics(&self) -> Vec<String> {
        self.topics(|k| match k {
            NodeKind::Late { topic } => Some(topic),
            _ => None,
        })
    }

    /// The changelog topics of the stores, in build order.
    pub fn changelog_topics(&self) -> Vec<String> {
        self.topics(|k| match k {
            NodeKind::Window { changelog, .. } | NodeKind::State { changelog, .. } => changelog.as_ref(),
            _ => None,
        })
    }

    /// How many custom state operators there are.
    pub fn states(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::State { .. }))
            .count()
    }

    /// How many window operators there are.
    pub fn windows(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Window { .. }))
            .count()
    }

    /// The names of the nodes that touch topics or keep state, in build order, for
    /// checking that two builds are the same pipeline.
    pub(crate) fn shape(&self) -> Vec<&NodeKind> {
        self.nodes.iter().map(|n| &n.kind).collect()
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "processor `{}`", self.processor)?;
        for node in &self.nodes {
            let (what, detail) = match &node.kind {
                NodeKind::Source { topics } => ("source", topics.join(", ")),
                NodeKind::Repartition { topic } => ("repartition", topic.clone()),
                NodeKind::Window { name, kind, changelog } => (
                    "window",
                    match changelog {
                        Some(topic) => format!("{kind} ({name}, changelog {topic})"),
                        None => format!("{kind} ({name})"),
                    },
                ),
                NodeKind::State { name, changelog } => (
                    "state",
                    match changelog {
                        Some(topic) => format!("{name}, changelog {topic}"),
                        None => name.clone(),
                    },
                ),
                NodeKind::Sink { topic } => ("sink", topic.clone()),
                NodeKind::Late { topic } => ("late", topic.clone()),
            };
            writeln!(f, "  {:>3}  {what}  {detail}", node.id)?;
        }
        if !self.dead_letters.is_empty() {
            writeln!(f, "  dead letters  {}", self.dead_letters.join(", "))?;
        }
        Ok(())
    }
}
