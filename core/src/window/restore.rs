//! Restoring a task's window store from its changelog partition.
//!
//! The end of the partition is found with a marker: a record with a fresh nonce under the
//! marker key is written to the partition and delivered, then the partition is read from
//! its start until that record comes back. (Some brokers, tansu among them, report a
//! wrong end offset; a marker needs none.) Markers share one key, so compaction keeps
//! only the newest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;

use super::changelog::{stream_time_of, Origins, TaskMarks, MARKER, MARKS, SLOT};
use super::kept::{CLOSED, RECORD};
use crate::ack::OffsetTracker;
use crate::error::{Error, Result};
use crate::flow::StateAccess;
use crate::record::{Offset, Timestamp, TopicPartition};
use crate::transport::{OutRecord, Producer};

/// How long a restore may take before the task fails.
pub(crate) const RESTORE_TIMEOUT: Duration = Duration::from_secs(600);

/// What a changelog partition holds, compacted: the newest value of every live entry
/// (window slots, kept records, closed marks: every key but the task's marks and markers).
#[derive(Default)]
pub struct Restored {
    pub entries: HashMap<Bytes, Bytes>,
    pub stream_time: Option<Timestamp>,
    pub seen: Origins,
    /// Changelog records read (markers included).
    pub records: u64,
    pub took: Duration,
}

/// Reads changelog partition `partition` of `topic` to its end.
pub(crate) async fn restore(
    access: StateAccess,
    producer: Arc<dyn Producer>,
    topic: Arc<str>,
    partition: i32,
) -> Result<Restored> {
    let started = Instant::now();
    let tp = TopicPartition::new(topic.clone(), partition);
    let nonce = marker_nonce();
    let mut tracker = OffsetTracker::new(tp.clone());
    let delivered = tracker.handle();
    let marker = OutRecord {
        topic: topic.clone(),
        partition: Some(partition),
        key: Some(Bytes::from_static(&[MARKER])),
        value: Some(nonce.clone()),
        headers: Default::default(),
        timestamp: None,
    };
    producer.send(marker, tracker.track(Offset(0))).await?;
    let deadline = tokio::time::Instant::now() + RESTORE_TIMEOUT;
    if !delivered.settled(deadline).await {
        return Err(Error::transport(
            format!("restoring {tp}"),
            "the restore marker was not delivered in time",
        ));
    }
    if let Some(reason) = delivered.failure() {
        return Err(Error::transport(
            format!("restoring {tp}"),
            format!("the restore marker could not be written: {reason}"),
        ));
    }
    let mut out = Restored::default();
    let mut records = access.reader.read(tp.clone(), Offset(0), access.committed_only);
    loop {
        let next = tokio::time::timeout_at(deadline, records.next()).await.map_err(|_| {
            Error::transport(
                format!("restoring {tp}"),
                format!(
                    "did not reach the end of the changelog in {RESTORE_TIMEOUT:?} ({} records read)",
                    out.records
                ),
            )
        })?;
        let record = match next {
            Some(Ok(record)) => record,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(Error::transport(
                    format!("restoring {tp}"),
                    "the changelog ended before the restore marker",
                ))
            }
        };
        out.records += 1;
        if let Some(t) = stream_time_of(&record.headers) {
            out.stream_time = Some(out.stream_time.map_or(t, |s| s.max(t)));
        }
        let Some(key) = record.key else { continue };
        match key.first() {
            Some(&SLOT) | Some(&RECORD) | Some(&CLOSED) => match record.value {
                Some(value) => {
                    out.entries.insert(key, value);
                }
                None => {
                    out.entries.remove(&key);
                }
            },
            Some(&MARKS) => {
                if let Some(Ok(marks)) = record.value.as_deref().map(serde_json::from_slice::<TaskMarks>) {
                    out.seen.merge(&marks.seen);
                    out.stream_time = Some(out.stream_time.map_or(marks.stream_time, |s| s.max(marks.stream_time)));
                }
            }
            Some(&MARKER) if record.value.as_ref() == Some(&nonce) => break,
            _ => {}
        }
    }
    out.took = started.elapsed();
    Ok(out)
}

/// A value no other restore writes: the process id, the time and a counter.
fn marker_nonce() -> Bytes {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    Bytes::from(format!("{}-{now}-{seq}", std::process::id()))
}
