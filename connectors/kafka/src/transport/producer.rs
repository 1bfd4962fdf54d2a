//! The sink: a threaded rdkafka producer whose delivery reports release (or fail) acks.
//!
//! A record the client or the broker rejects for good (too large, invalid) goes back to
//! the [`Rejected`] handler it was sent with, if any, instead of failing its ack (see
//! [`kflow_core::transport::Rejected`]). Every other failed delivery fails the ack. A
//! panic in the delivery callback, or an error librdkafka calls fatal (an idempotent
//! producer that lost its sequence), sets the producer's [`FailureSignal`], which stops
//! the app.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use kflow_core::ack::Ack;
use kflow_core::transport::{FailureSignal, OutRecord, Producer, Rejected, Rejection};
use kflow_core::{Error, Offset, Result};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};

use crate::config::KafkaConfig;
use crate::convert::{self, queue_with_backoff};

/// Producer defaults; anything set in the config or per app wins (within the durability
/// rules of [`KafkaConfig::check_durability`]).
pub(crate) const PRODUCER_DEFAULTS: [(&str, &str); 4] = [
    // Kafka's Java default partitioner: murmur2 of the key (random for null keys).
    ("partitioner", "murmur2_random"),
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "5"),
];

/// What travels with a record through librdkafka: its ack, and where a record rejected
/// for good goes.
pub(crate) struct Delivery {
    ack: Ack,
    rejected: Option<Arc<dyn Rejected>>,
    /// Told the offset once the record is acknowledged (`Producer::send_reporting`).
    offset: Option<tokio::sync::oneshot::Sender<i64>>,
}

/// Releases an ack when its record is acknowledged, fails it (or hands the record back)
/// otherwise.
pub(crate) struct DeliveryContext {
    failure: FailureSignal,
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            self.failure.fail(format!("the producer hit a fatal error: {reason}"));
        } else {
            tracing::debug!(error = %error, %reason, "producer client error (librdkafka retries)");
        }
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        // A panic must not unwind into librdkafka (that aborts the process); the ack it
        // holds is dropped while panicking, which freezes its partition.
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| delivered(result, *delivery))) {
            self.failure.fail(format!(
                "the producer's delivery callback panicked: {}",
                kflow_core::panic_message(&*panic)
            ));
        }
    }
}

/// Watches `producer` for a fatal error until it is dropped. librdkafka reports one
/// through its event API with the underlying error code (not `_FATAL`), so the error
/// callback cannot tell; `rd_kafka_fatal_error` can, and is cheap to ask.
fn watch_fatal(producer: &Arc<ThreadedProducer<DeliveryContext>>, failure: FailureSignal) -> Result<()> {
    let producer = Arc::downgrade(producer);
    std::thread::Builder::new()
        .name("kflow-producer-watch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let Some(fatal) = producer.upgrade().map(|p| p.client().fatal_error()) else {
                return;
            };
            if let Some((code, reason)) = fatal {
                failure.fail(format!("the producer hit a fatal error ({code}): {reason}"));
                return;
            }
        })
        .map(drop)
        .map_err(Error::Io)
}

fn delivered(result: &DeliveryResult<'_>, delivery: Delivery) {
    let Delivery { ack, rejected, offset } = delivery;
    let (e, msg) = match result {
        Ok(msg) => {
            if let Some(tx) = offset {
                let _ = tx.send(msg.offset());
            }
            drop(ack);
            return;
        }
        Err((e, msg)) => (e, msg),
    };
    match (rejection(e), rejected) {
        (Some(mut rejection), Some(rejected)) => {
            tracing::warn!(topic = msg.topic(), reason = %rejection.reason, "the broker rejected a record for good");
            if rejection.too_large {
                rejection.value_size = msg.payload().map(<[u8]>::len);
            }
            rejected.rejected(record_of(msg, rejection.too_large), ack, rejection);
        }
        _ => {
            let reason = format!("delivery to `{}` failed: {e}", msg.topic());
            tracing::error!(%reason);
            ack.fail(&reason);
        }
    }
}

/// The rejection, if `e` says the record itself can never be written.
fn rejection(e: &KafkaError) -> Option<Rejection> {
    let KafkaError::MessageProduction(code) = e else {
        return None;
    };
    let too_large = match code {
        RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge => true,
        RDKafkaErrorCode::InvalidRecord | RDKafkaErrorCode::InvalidTimestamp => false,
        _ => return None,
    };
    Some(Rejection {
        reason: code.to_string(),
        too_large,
        value_size: None,
    })
}

/// The record of a failed delivery report (the value is left out when it was too large:
/// the dead letter will not carry it).
fn record_of(msg: &BorrowedMessage<'_>, too_large: bool) -> OutRecord {
    let value = match too_large {
        true => None,
        false => msg.payload().map(Bytes::copy_from_slice),
    };
    OutRecord {
        topic: Arc::from(msg.topic()),
        partition: None,
        key: msg.key().map(Bytes::copy_from_slice),
        value,
        headers: convert::read_headers(msg.headers()),
        timestamp: msg.timestamp().to_millis(),
    }
}

/// The Kafka [`Producer`]. Note: librdkafka sends a record timestamp of `0` as "now"
/// (the current time), so event time 0 cannot be written through it.
#[derive(Clone)]
pub struct KafkaProducer {
    inner: Arc<ThreadedProducer<DeliveryContext>>,
    /// Its transactional id, if it is transactional.
    transactional_id: Option<Arc<str>>,
}

impl KafkaProducer {
    pub(crate) fn new(config: &KafkaConfig, failure: FailureSignal) -> Result<Self> {
        Self::create(config, &[], failure)
    }

    /// A transactional producer for an exactly-once consumer, with its first transaction
    /// begun. Its transactions time out after 10 s unless `transaction.timeout.ms` is set.
    pub(crate) fn transactional(config: &KafkaConfig, id: &str, failure: FailureSignal) -> Result<Self> {
        let mut extra = vec![("transactional.id".to_string(), id.to_string())];
        if !config.for_producers().any(|(k, _)| k == "transaction.timeout.ms") {
            extra.push(("transaction.timeout.ms".into(), "10000".into()));
        }
        let mut producer = Self::create(config, &extra, failure)?;
        producer.transactional_id = Some(Arc::from(id));
        producer
            .inner
            .init_transactions(config.timeout())
            .map_err(|e| Error::transaction(id, "initialising transactions failed").caused_by(e))?;
        producer
            .inner
            .begin_transaction()
            .map_err(|e| Error::transaction(id, "beginning the first one failed").caused_by(e))?;
        Ok(producer)
    }

    pub(crate) fn rdkafka(&self) -> &Arc<ThreadedProducer<DeliveryContext>> {
        &self.inner
    }

    /// Its transactional id (empty for a producer without transactions).
    pub(crate) fn transactional_id(&self) -> &str {
        self.transactional_id.as_deref().unwrap_or("")
    }

    fn create(config: &KafkaConfig, extra: &[(String, String)], failure: FailureSignal) -> Result<Self> {
        let mut client = config.producer_config(extra)?;
        for (k, v) in PRODUCER_DEFAULTS {
            if client.get(k).is_none() {
                client.set(k, v);
            }
        }
        let inner = client
            .create_with_context(DeliveryContext {
                failure: failure.clone(),
            })
            .map_err(|e| {
                Error::transport(format!("producer for {}", config.brokers()), "cannot be created").caused_by(e)
            })?;
        let inner = Arc::new(inner);
        watch_fatal(&inner, failure)?;
        Ok(KafkaProducer {
            inner,
            transactional_id: None,
        })
    }

    /// Makes librdkafka raise a fatal error in this producer, as an idempotent producer
    /// that lost its sequence would (fault injection for tests).
    pub(crate) fn inject_fatal_error(&self) -> bool {
        let reason = c"injected fault: a fatal producer error";
        convert::inject_fatal_error(self.inner.client().native_ptr(), reason)
    }

    /// Tries to queue; gives the delivery back when it could not.
    fn try_send(
        &self,
        record: &OutRecord,
        delivery: Box<Delivery>,
    ) -> std::result::Result<(), (KafkaError, Box<Delivery>)> {
        let mut base: BaseRecord<'_, [u8], [u8], Box<Delivery>> = BaseRecord::with_opaque_to(&record.topic, delivery);
        // Header-less records skip librdkafka's header list (an allocation per record).
        if !record.headers.is_empty() {
            base = base.headers(convert::write_headers(&record.headers));
        }
        if let Some(key) = &record.key {
            base = base.key(&key[..]);
        }
        if let Some(value) = &record.value {
            base = base.payload(&value[..]);
        }
        if let Some(p) = record.partition {
            base = base.partition(p);
        }
        if let Some(ts) = record.timestamp {
            base = base.timestamp(ts);
        }
        self.inner.send(base).map_err(|(e, base)| (e, base.delivery_opaque))
    }

    /// Queues `record`, waiting while the queue is full (the first try costs no future).
    fn queue(&self, record: OutRecord, delivery: Delivery) -> BoxFuture<'static, Result<()>> {
        match self.try_send(&record, Box::new(delivery)) {
            Ok(()) => futures::future::ready(Ok(())).boxed(),
            Err((e, delivery)) if convert::is_queue_full(&e) => {
                // Backpressure: wait for the queue to drain, then try again.
                let this = self.clone();
                async move {
                    match queue_with_backoff(delivery, None, |d| this.try_send(&record, d)).await {
                        Ok(()) => Ok(()),
                        Err((e, back)) => not_queued(record, *back, e),
                    }
                }
                .boxed()
            }
            Err((e, delivery)) => futures::future::ready(not_queued(record, *delivery, e)).boxed(),
        }
    }
}

impl Producer for KafkaProducer {
    fn send(&self, record: OutRecord, ack: Ack) -> BoxFuture<'static, Result<()>> {
        self.queue(
            record,
            Delivery {
                ack,
                rejected: None,
                offset: None,
            },
        )
    }

    fn send_or_reject(
        &self,
        record: OutRecord,
        ack: Ack,
        rejected: &Arc<dyn Rejected>,
    ) -> BoxFuture<'static, Result<()>> {
        let rejected = Some(rejected.clone());
        self.queue(
            record,
            Delivery {
                ack,
                rejected,
                offset: None,
            },
        )
    }

    fn send_reporting(&self, record: OutRecord) -> BoxFuture<'static, Result<Offset>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let topic = record.topic.to_string();
        let delivery = Delivery {
            ack: Ack::none(),
            rejected: None,
            offset: Some(tx),
        };
        let queued = self.queue(record, delivery);
        async move {
            queued.await?;
            rx.await
                .map(Offset)
                .map_err(|_| Error::produce(topic, "the record was not delivered"))
        }
        .boxed()
    }

    fn flush(&self, timeout: Duration) -> BoxFuture<'static, Result<()>> {
        let inner = self.inner.clone();
        async move {
            tokio::task::spawn_blocking(move || inner.flush(timeout))
                .await
                .map_err(|e| Error::transport("producer", "the flush did not finish").caused_by(e))?
                .map_err(|e| Error::transport("producer", "flush").caused_by(e))
        }
        .boxed()
    }
}

/// A record librdkafka would not queue: rejected for good (handed back, if it may be),
/// or an error that fails its ack.
fn not_queued(record: OutRecord, delivery: Delivery, e: KafkaError) -> Result<()> {
    let Delivery { ack, rejected, .. } = delivery;
    if let (Some(rejection), Some(rejected)) = (rejection(&e), rejected) {
        tracing::warn!(topic = %record.topic, reason = %rejection.reason, "the client rejected a record for good");
        rejected.rejected(record, ack, rejection);
        return Ok(());
    }
    let error = Error::produce(record.topic.to_string(), "the client did not queue the record").caused_by(e);
    ack.fail(&error.to_string());
    Err(error)
}
