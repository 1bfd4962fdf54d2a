//! Reading one partition directly, outside any consumer group: what state restore reads
//! a changelog with.

use futures::stream::BoxStream;

use crate::error::Result;
use crate::record::{Offset, RawRecord, TopicPartition};

/// Reads single partitions from an offset on, without joining a group or committing.
///
/// The stream follows the partition: it waits for new records rather than ending at the
/// partition's current end, so a reader that needs "everything up to now" writes a marker
/// record first and reads until it sees it (the end offset some brokers report cannot be
/// trusted). It ends when dropped; an error (the partition does not exist, the broker
/// went away) is its last item.
pub trait PartitionReader: Send + Sync + 'static {
    /// The records of `partition` from `from` on, in offset order. With `committed_only`,
    /// records of aborted transactions are skipped (Kafka's `read_committed`).
    fn read(
        &self,
        partition: TopicPartition,
        from: Offset,
        committed_only: bool,
    ) -> BoxStream<'static, Result<RawRecord>>;
}
