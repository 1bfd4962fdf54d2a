//! The typed producer: values and keys through codecs, with headers, timestamps, explicit
//! or chosen partitions, per-record delivery reports, batches and transactions.

mod options;
mod placement;
mod record;
mod transaction;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use kflow_core::codec::{Encode, Json, Utf8};
use kflow_core::{Error, Result};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};

pub use options::{Acks, Compression, Partitioning, ProducerOptions};
pub use record::{Delivered, ProduceRecord};

use crate::config::KafkaConfig;
use placement::Placement;

/// Sends typed records to Kafka and reports where each one was stored.
///
/// The key and value go through kflow codecs ([`Json`], [`Utf8`], `Avro<T>`, ...). Every
/// topic is checked to exist before its first record (an error names it), and a codec's
/// per-topic preparation (a schema registration) runs once.
///
/// ```no_run
/// # async fn demo() -> kflow_core::Result<()> {
/// use kflow_kafka::{Compression, KafkaConfig, ProduceRecord, ProducerOptions, TypedProducer};
/// #[derive(serde::Serialize)]
/// struct Order { id: u64, total: f64 }
/// let producer = TypedProducer::<String, Order>::json(
///     &KafkaConfig::new("127.0.0.1:9092"),
///     ProducerOptions::new().compression(Compression::Lz4),
/// )?;
/// let at = producer
///     .send(ProduceRecord::new("orders", Order { id: 1, total: 9.5 }).key("customer-7".into()))
///     .await?;
/// println!("stored at {}:{}", at.partition, at.offset);
/// # Ok(()) }
/// ```
pub struct TypedProducer<K, V> {
    inner: FutureProducer,
    keys: Arc<dyn Encode<K>>,
    values: Arc<dyn Encode<V>>,
    placement: Placement,
    prepared: Mutex<HashSet<String>>,
    timeout: Duration,
    transactional_id: Option<String>,
}

impl<K: 'static, V: 'static> TypedProducer<K, V> {
    /// A producer with these codecs for keys and values.
    pub fn new(
        config: &KafkaConfig,
        options: ProducerOptions,
        keys: impl Encode<K>,
        values: impl Encode<V>,
    ) -> Result<Self> {
        let client = config.producer_config(&options.properties()?)?;
        let inner: FutureProducer = client.create().map_err(|e| {
            Error::transport(format!("producer for {}", config.brokers()), "cannot be created").caused_by(e)
        })?;
        let transactional_id = options.transactional_id.clone();
        if let Some(id) = &transactional_id {
            inner
                .init_transactions(config.timeout())
                .map_err(|e| Error::transaction(id, "initialising transactions failed").caused_by(e))?;
        }
        Ok(TypedProducer {
            inner,
            keys: Arc::new(keys),
            values: Arc::new(values),
            placement: Placement::new(options.partitioning, config.timeout()),
            prepared: Mutex::default(),
            timeout: options.delivery_timeout,
            transactional_id,
        })
    }

    /// Sends one record and waits for the broker's acknowledgement.
    pub async fn send(&self, record: ProduceRecord<K, V>) -> Result<Delivered> {
        let topic = record.topic.clone();
        let pending = self.enqueue(record).await?;
        settle(&topic, pending.await)
    }

    /// Sends records in order, queueing all of them before waiting, and reports each
    /// one's outcome in the same order. A record that could not be encoded or queued
    /// has its error in place; the others are still sent.
    pub async fn send_batch(&self, records: impl IntoIterator<Item = ProduceRecord<K, V>>) -> Vec<Result<Delivered>> {
        let mut pending = Vec::new();
        for record in records {
            let topic = record.topic.clone();
            pending.push((topic, self.enqueue(record).await));
        }
        let mut out = Vec::with_capacity(pending.len());
        for (topic, queued) in pending {
            out.push(match queued {
                Ok(future) => settle(&topic, future.await),
                Err(e) => Err(e),
            });
        }
        out
    }

    /// Waits until every queued record is acknowledged (or `timeout` passes).
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush(timeout))
            .await
            .map_err(|e| Error::transport("typed producer", "a blocking call did not finish").caused_by(e))?
            .map_err(|e| Error::transport("typed producer", "flush").caused_by(e))
    }

    /// The rdkafka producer underneath.
    pub fn rdkafka(&self) -> &FutureProducer {
        &self.inner
    }

    /// Encodes and queues one record; the future completes with its delivery report.
    async fn enqueue(&self, record: ProduceRecord<K, V>) -> Result<DeliveryFuture> {
        let topic = record.topic.as_str();
        self.prepare(topic).await?;
        let key = match &record.key {
            Some(k) => self.keys.encode_to(topic, k)?,
            None => None,
        };
        let value = match &record.value {
            Some(v) => self.values.encode_to(topic, v)?,
            None => None,
        };
        let partition = record.partition.or_else(|| self.placement.next(topic));
        let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
        if !record.headers.is_empty() {
            out = out.headers(crate::convert::write_headers(&record.headers));
        }
        if let Some(k) = &key {
            out = out.key(&k[..]);
        }
        if let Some(v) = &value {
            out = out.payload(&v[..]);
        }
        if let Some(p) = partition {
            out = out.partition(p);
        }
        if let Some(ts) = record.timestamp {
            out = out.timestamp(ts);
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        #[allow(clippy::result_large_err)] // rdkafka's own `send_result`, passed through
        let attempt = |out| self.inner.send_result(out);
        crate::convert::queue_with_backoff(out, Some(deadline), attempt)
            .await
            .map_err(|(e, _)| Error::produce(topic, "the client did not queue the record").caused_by(e))
    }

    /// Once per topic: checks it exists and lets the codecs prepare (register schemas).
    async fn prepare(&self, topic: &str) -> Result<()> {
        self.placement.check(&self.inner, topic).await?;
        if self.prepared.lock().unwrap().contains(topic) {
            return Ok(());
        }
        let steps: [Option<BoxFuture<'static, Result<()>>>; 2] = [self.keys.prepare(topic), self.values.prepare(topic)];
        for step in steps.into_iter().flatten() {
            step.await?;
        }
        self.prepared.lock().unwrap().insert(topic.to_string());
        Ok(())
    }
}

impl<V: serde::Serialize + 'static> TypedProducer<String, V> {
    /// A producer of JSON values with UTF-8 string keys.
    pub fn json(config: &KafkaConfig, options: ProducerOptions) -> Result<Self> {
        Self::new(config, options, Utf8, Json)
    }
}

impl TypedProducer<Bytes, Bytes> {
    /// A producer of raw key and value bytes.
    pub fn raw(config: &KafkaConfig, options: ProducerOptions) -> Result<Self> {
        Self::new(
            config,
            options,
            kflow_core::codec::RawBytes,
            kflow_core::codec::RawBytes,
        )
    }
}

fn settle(
    topic: &str,
    report: std::result::Result<
        rdkafka::producer::future_producer::OwnedDeliveryResult,
        futures::channel::oneshot::Canceled,
    >,
) -> Result<Delivered> {
    match report {
        Ok(Ok(d)) => Ok(Delivered {
            topic: topic.to_string(),
            partition: d.partition,
            offset: d.offset,
            timestamp: d.timestamp.to_millis(),
        }),
        Ok(Err((e, _))) => Err(Error::produce(topic, "delivery failed").caused_by(e)),
        Err(_) => Err(Error::produce(
            topic,
            "the producer was dropped before the record was acknowledged",
        )),
    }
}
