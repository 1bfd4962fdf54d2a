//! Restoring a task's store from its changelog partition.
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

use super::changelog::{stream_time_of, Changelog, DiskAttach, Origins, TaskMarks, MARKER, MARKS};
use super::disk::{Checkpoint, Disk};
use crate::ack::OffsetTracker;
use crate::error::{Error, Result};
use crate::flow::{StateAccess, TaskEnv};
use crate::record::{Offset, Timestamp, TopicPartition};
use crate::telemetry::metrics;
use crate::transport::OutRecord;
use futures::future::BoxFuture;

/// How long a restore may take before the task fails.
pub(crate) const RESTORE_TIMEOUT: Duration = Duration::from_secs(600);

/// What a changelog partition holds, compacted: the newest value of every live entry
/// (every key but the task's marks and restore markers; each store reads its own kinds).
/// With an on-disk store, the entries are in its database instead (`disk`), and only the
/// changelog's tail past the last checkpoint was read.
#[derive(Default)]
pub struct Restored {
    pub entries: HashMap<Bytes, Bytes>,
    pub(crate) disk: Option<DiskAttach>,
    pub stream_time: Option<Timestamp>,
    pub seen: Origins,
    /// Changelog records read (markers included).
    pub records: u64,
    pub took: Duration,
}

/// Changelog records applied to a database per write while restoring.
const RESTORE_BATCH: usize = 10_000;

/// Opens the database of an on-disk store: under exactly-once a fresh one (its last
/// checkpoint could hold writes of transactions that aborted after it), else the one
/// the last owner on this machine left.
async fn open_disk(access: &StateAccess, dir: &std::path::Path, topic: &str, partition: i32) -> Result<Disk> {
    if access.committed_only {
        let file = dir.join(topic).join(format!("{partition}.redb"));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::transport(
                    format!("restoring {topic}"),
                    format!("{}: {e}", file.display()),
                ))
            }
        }
    }
    Disk::open(dir, topic, partition)
        .await
        .map_err(|e| Error::transport(format!("restoring {topic}"), e))
}

/// Reads changelog partition `partition` of `topic` to its end (the marker goes through
/// `access.markers`, outside any transaction). With `on_disk` and a state directory, into
/// the store's database, from its last checkpoint on.
pub(crate) async fn restore(access: StateAccess, topic: Arc<str>, partition: i32, on_disk: bool) -> Result<Restored> {
    let started = Instant::now();
    let tp = TopicPartition::new(topic.clone(), partition);
    let disk = match access.dir.as_deref().filter(|_| on_disk) {
        Some(dir) => Some(Arc::new(open_disk(&access, dir, &topic, partition).await?)),
        None => None,
    };
    let disk_error = |e: String| Error::transport(format!("restoring {tp}"), e);
    let mut out = Restored::default();
    let mut from = 0;
    if let Some(d) = &disk {
        let checkpoint = d.checkpoint().map_err(disk_error)?;
        from = checkpoint.from;
        out.stream_time = checkpoint.stream_time;
        if let Some(Ok(marks)) = d
            .get(&[MARKS])
            .map_err(disk_error)?
            .map(|v| serde_json::from_slice::<TaskMarks>(&v))
        {
            out.seen.merge(&marks.seen);
            out.stream_time = Some(out.stream_time.map_or(marks.stream_time, |s| s.max(marks.stream_time)));
        }
    }
    let mut batch: Vec<(Bytes, Option<Bytes>)> = Vec::new();
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
    access.markers.send(marker, tracker.track(Offset(0))).await?;
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
    let mut records = access.reader.read(tp.clone(), Offset(from), access.committed_only);
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
            Some(&MARKS) => {
                if let Some(Ok(marks)) = record.value.as_deref().map(serde_json::from_slice::<TaskMarks>) {
                    out.seen.merge(&marks.seen);
                    out.stream_time = Some(out.stream_time.map_or(marks.stream_time, |s| s.max(marks.stream_time)));
                }
                if disk.is_some() {
                    batch.push((key, record.value));
                }
            }
            Some(&MARKER) if record.value.as_ref() == Some(&nonce) => {
                if let Some(d) = &disk {
                    let checkpoint = Checkpoint {
                        from: record.meta.offset.0,
                        stream_time: out.stream_time,
                    };
                    d.apply(&batch, Some(checkpoint)).map_err(disk_error)?;
                }
                break;
            }
            Some(&MARKER) | None => {}
            Some(_) if disk.is_some() => batch.push((key, record.value)),
            Some(_) => match record.value {
                Some(value) => {
                    out.entries.insert(key, value);
                }
                None => {
                    out.entries.remove(&key);
                }
            },
        }
        if batch.len() >= RESTORE_BATCH {
            if let Some(d) = &disk {
                d.apply(&batch, None).map_err(disk_error)?;
                batch.clear();
            }
        }
    }
    out.disk = disk.map(|disk| DiskAttach {
        disk,
        markers: access.markers.clone(),
        checkpoints: !access.committed_only,
        cache: access.cache,
    });
    out.took = started.elapsed();
    Ok(out)
}

/// Held while a restore runs (dropped with the task if it stops first): counts in the
/// `kflow_state_restoring_tasks` gauge and keeps the app not ready.
pub(crate) struct InProgress {
    gauge: ::metrics::Gauge,
    _not_ready: crate::telemetry::Restoring,
}

impl InProgress {
    pub(crate) fn new(env: &TaskEnv, access: &StateAccess, store: &str, partition: i32) -> Self {
        let gauge = metrics::state_restoring(env.name());
        gauge.increment(1.0);
        InProgress {
            gauge,
            _not_ready: access.health.restoring(env.name(), store, partition),
        }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

/// Where a store is in restoring.
pub(crate) enum Restoring {
    /// Not started (the operator's first poll starts it).
    Pending,
    Running {
        restore: BoxFuture<'static, Result<Restored>>,
        _in_progress: InProgress,
    },
    Done,
}

impl Restoring {
    /// Starts restoring this task's partition of changelog `topic` (`None`: the store
    /// keeps none) into store `store`, once `attach` took the task's changelog writer
    /// (false: the store keeps no changelog). Done at once for a detached flow (state in
    /// memory only); an error if the transport cannot read changelog partitions.
    ///
    /// With `on_disk` (a store that can keep its state on disk) and a state directory
    /// ([`crate::App::state_dir`]), the state is restored into the store's database.
    pub(crate) fn start(
        env: &TaskEnv,
        store: &str,
        topic: Option<&str>,
        on_disk: bool,
        attach: impl FnOnce(Changelog) -> bool,
    ) -> std::result::Result<Self, &'static str> {
        let Some(topic) = topic else {
            return Ok(Restoring::Done);
        };
        let (Some(_), Some(partition)) = (env.producer(), env.partition()) else {
            return Ok(Restoring::Done);
        };
        let Some(access) = env.state() else {
            return Err(
                "this transport cannot read changelog partitions (`Transport::reader`), which state is restored from",
            );
        };
        if !attach(Changelog::new(topic, partition.0)) {
            return Ok(Restoring::Done);
        }
        let in_progress = InProgress::new(env, access, store, partition.0);
        tracing::info!(processor = %env.name(), store, changelog = %topic, partition = partition.0, "restoring state");
        let future = restore(access.clone(), Arc::from(topic), partition.0, on_disk);
        Ok(Restoring::Running {
            restore: Box::pin(future),
            _in_progress: in_progress,
        })
    }
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
