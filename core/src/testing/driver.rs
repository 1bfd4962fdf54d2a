use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};

use crate::codec::{Decode, Json};
use crate::error::Result;
use crate::record::{Offset, Record, Timestamp, TopicPartition};
use crate::runtime::{App, AppHandle};
use crate::telemetry::DropReason;
use crate::transport::memory::MemoryBroker;
use crate::transport::OutRecord;

/// Runs [`App`]s on an in-memory broker, deterministically: its own single-threaded
/// runtime with a paused clock, and every call returns only once the apps have processed
/// everything they can (no sleeps, no wall clock). Several apps (e.g. two members of one
/// group) can run side by side; an app whose processing failed is stopped, as
/// [`App::run`] would. Use it from plain `#[test]` functions, not inside an async runtime.
///
/// ```
/// use kflow_core::{App, Flow, Processor, TestDriver};
/// fn double(n: Flow<i64>) -> Flow<i64> { n.map(|v| v * 2) }
/// let app = App::new("demo").processor(Processor::new("double", double).input(["in"]).output("out"));
/// let mut driver = TestDriver::new(app, &[("in", 2)]).unwrap();
/// driver.pipe("in", &21_i64);
/// assert_eq!(driver.output_values::<i64>("out"), vec![42]);
/// assert_eq!(driver.committed_total("demo-double", "in"), 1);
/// ```
pub struct TestDriver {
    runtime: tokio::runtime::Runtime,
    broker: MemoryBroker,
    apps: Vec<Option<AppHandle>>,
    errors: Vec<Option<String>>,
}

impl TestDriver {
    /// Creates `topics` (name, partitions) on a fresh broker and starts `app` on it.
    pub fn new(app: App, topics: &[(&str, i32)]) -> Result<Self> {
        let mut driver = Self::empty(topics)?;
        driver.start(app)?;
        Ok(driver)
    }

    /// A driver with `topics` created and no app yet (add them with [`TestDriver::start`]).
    pub fn empty(topics: &[(&str, i32)]) -> Result<Self> {
        let broker = MemoryBroker::new();
        for (name, partitions) in topics {
            broker.create_topic(name, *partitions)?;
        }
        Self::on_broker(broker)
    }

    /// A driver on an existing broker (to restart apps on the same topics and groups).
    pub fn on_broker(broker: MemoryBroker) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()?;
        Ok(TestDriver {
            runtime,
            broker,
            apps: Vec::new(),
            errors: Vec::new(),
        })
    }

    /// Starts another app on the broker and lets it join its groups; returns its index
    /// (the first app is 0).
    pub fn start(&mut self, app: App) -> Result<usize> {
        let app = app.transport(self.broker.clone());
        let handle = self.runtime.block_on(app.start())?;
        self.apps.push(Some(handle));
        self.errors.push(None);
        self.settle();
        Ok(self.apps.len() - 1)
    }

    /// Runs the apps until nothing is left to do; stops any app whose processing failed.
    /// Moves the paused clock by 1 ms (tokio's timer resolution).
    pub fn settle(&mut self) {
        // With the clock paused, a timer only fires once every task is idle: when this
        // sleep ends, all work that does not wait on time is done.
        self.runtime
            .block_on(async { tokio::time::sleep(Duration::from_millis(1)).await });
        for i in 0..self.apps.len() {
            let failed = self.apps[i].as_mut().and_then(|h| h.error().map(str::to_string));
            if let Some(reason) = failed {
                let handle = self.apps[i].take().expect("running app");
                let _ = self.runtime.block_on(handle.shutdown());
                self.errors[i] = Some(reason);
            }
        }
    }

    /// Runs `work` on the driver's runtime while the apps run, then settles: for what
    /// an app does on request, such as a seek through [`AppHandle::context`].
    ///
    /// ```
    /// use kflow_core::{App, Listener, HandlerError, Meta, TestDriver};
    /// use kflow_core::transport::SeekTo;
    /// let app = App::new("demo").listener(Listener::new("log", ["in"], |_: String, _: Meta| async {
    ///     Ok::<(), HandlerError>(())
    /// }));
    /// let mut d = TestDriver::new(app, &[("in", 1)]).unwrap();
    /// d.pipe("in", &"a");
    /// let context = d.app(0).unwrap().context();
    /// let moved = d.run(async move { context.seek("log", "in", None, SeekTo::Earliest).await });
    /// assert_eq!(moved.unwrap()[0].to, 0);
    /// ```
    pub fn run<F: std::future::Future>(&mut self, work: F) -> F::Output {
        let out = self.runtime.block_on(work);
        self.settle();
        out
    }

    /// The broker (to inspect topics or groups directly).
    pub fn broker(&self) -> &MemoryBroker {
        &self.broker
    }

    /// Writes a JSON value (no key, timestamp 0) and processes it.
    pub fn pipe<T: Serialize>(&mut self, topic: &str, value: &T) {
        self.pipe_at(topic, None, value, 0);
    }

    /// Writes a JSON value with a key and a timestamp and processes it.
    pub fn pipe_at<T: Serialize>(&mut self, topic: &str, key: Option<&str>, value: &T, timestamp: Timestamp) {
        let value = serde_json::to_vec(value).expect("a serializable test value");
        let mut record = OutRecord::new(topic, value).with_timestamp(timestamp);
        record.key = key.map(|k| bytes::Bytes::copy_from_slice(k.as_bytes()));
        self.pipe_record(record);
    }

    /// Writes a record as given (bytes, headers, partition) and processes it.
    pub fn pipe_record(&mut self, record: OutRecord) {
        self.broker.produce(record).expect("test input written");
        self.settle();
    }

    /// Advances stream time in every task of every app (windows whose end plus grace is
    /// at or before `ts` close).
    pub fn advance_stream_time(&mut self, ts: Timestamp) {
        for h in self.apps.iter().flatten() {
            h.advance_stream_time(ts);
        }
        self.settle();
    }

    /// Advances the (paused) processing-time clock by `by`, firing every timer due on the
    /// way in order (batch timeouts, retry backoffs, retry-topic delays), including timers
    /// set by the ones that fired.
    pub fn advance_time(&mut self, by: Duration) {
        // A sleep on a paused clock jumps from timer to timer while the tasks are idle.
        self.runtime.block_on(async { tokio::time::sleep(by).await });
        self.settle();
    }

    /// Every record in `topic` decoded from JSON, partition by partition.
    ///
    /// # Panics
    /// If a record is not valid JSON for `T` (a test failure worth seeing).
    pub fn output<T: DeserializeOwned>(&self, topic: &str) -> Vec<Record<T>> {
        self.broker
            .records(topic)
            .into_iter()
            .map(|r| {
                let value = Json
                    .decode(r.value.as_deref())
                    .unwrap_or_else(|e| panic!("record in `{topic}`: {e}"));
                r.map_value(|_| value)
            })
            .collect()
    }

    /// The values of [`TestDriver::output`].
    pub fn output_values<T: DeserializeOwned>(&self, topic: &str) -> Vec<T> {
        self.output(topic).into_iter().map(|r| r.value).collect()
    }

    /// Makes every running app commit, then returns `group`'s committed offset for a
    /// partition.
    pub fn committed(&mut self, group: &str, topic: &str, partition: i32) -> Option<Offset> {
        self.commit_all();
        self.broker.committed(group, &TopicPartition::new(topic, partition))
    }

    fn commit_all(&mut self) {
        for h in self.apps.iter().flatten() {
            self.runtime.block_on(h.commit_now());
        }
        self.settle();
    }

    /// The sum over a topic's partitions of `group`'s committed offsets (0 where none):
    /// with offsets from 0, the number of records committed.
    pub fn committed_total(&mut self, group: &str, topic: &str) -> i64 {
        self.commit_all();
        self.broker.committed_total(group, topic)
    }

    /// How many records `processor` dropped for `reason`, over all apps.
    pub fn dropped(&self, processor: &str, reason: DropReason) -> u64 {
        self.apps
            .iter()
            .flatten()
            .map(|h| h.stats().dropped(processor, reason))
            .sum()
    }

    /// How many times `processor` retried after errors of `kind`, over all apps.
    pub fn retries(&self, processor: &str, kind: crate::error::ErrorKind) -> u64 {
        self.apps
            .iter()
            .flatten()
            .map(|h| h.stats().retries(processor, kind))
            .sum()
    }

    /// The handle of running app `index` (to pause partitions, read its health, ...).
    /// Call [`TestDriver::settle`] after acting on it.
    pub fn app(&self, index: usize) -> Option<&AppHandle> {
        self.apps.get(index).and_then(Option::as_ref)
    }

    /// Why app `index` stopped by itself, if it did.
    pub fn app_error(&self, index: usize) -> Option<&str> {
        self.errors.get(index).and_then(|e| e.as_deref())
    }

    /// True while app `index` runs.
    pub fn is_running(&self, index: usize) -> bool {
        self.apps.get(index).is_some_and(Option::is_some)
    }

    /// Stops app `index` gracefully (drain, final commit, leave the group).
    pub fn stop(&mut self, index: usize) -> Result<()> {
        let result = match self.apps.get_mut(index).and_then(Option::take) {
            Some(handle) => self.runtime.block_on(handle.shutdown()),
            None => Ok(()),
        };
        self.settle();
        result
    }

    /// Stops app `index` as a crash would: no drain, no final commit.
    pub fn crash(&mut self, index: usize) {
        if let Some(handle) = self.apps.get_mut(index).and_then(Option::take) {
            handle.abort();
        }
        self.settle();
    }

    /// Stops every app gracefully; the first error, if any.
    pub fn shutdown(mut self) -> Result<()> {
        let mut result = Ok(());
        for i in 0..self.apps.len() {
            let r = self.stop(i);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}
