//! The structured value of an error that stops an app.

use std::fmt;

use crate::record::{Offset, TopicPartition};

/// What stopped an app (or is stopping it): which unit, where, and why.
///
/// Its `Display` is the reason, which already names the unit and the place in words;
/// the fields carry the same facts for code.
///
/// ```
/// use kflow_core::{Fatal, Offset, TopicPartition};
/// let f = Fatal::new("handler error in `billing` at invoices-0@41: no such customer")
///     .unit("billing")
///     .group("shop-billing")
///     .at(TopicPartition::new("invoices", 0), Offset(41));
/// assert_eq!(f.unit.as_deref(), Some("billing"));
/// assert_eq!(f.offset, Some(Offset(41)));
/// assert!(f.to_string().contains("no such customer"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fatal {
    /// The listener or processor, when one unit failed.
    pub unit: Option<String>,
    /// Its consumer group.
    pub group: Option<String>,
    /// The input partition, when one record or partition is the cause.
    pub partition: Option<TopicPartition>,
    /// The input offset, when one record is the cause.
    pub offset: Option<Offset>,
    /// What happened, in words.
    pub reason: String,
}

impl Fatal {
    /// A failure with a reason and nothing else known.
    pub fn new(reason: impl Into<String>) -> Self {
        Fatal {
            unit: None,
            group: None,
            partition: None,
            offset: None,
            reason: reason.into(),
        }
    }

    /// Names the unit.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Names the consumer group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Names the input record.
    pub fn at(mut self, partition: TopicPartition, offset: Offset) -> Self {
        self.partition = Some(partition);
        self.offset = Some(offset);
        self
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Fatal {}
