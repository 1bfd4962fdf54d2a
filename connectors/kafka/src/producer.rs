//! The sink: a threaded rdkafka producer whose delivery reports release (or fail) acks.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use kflow_core::ack::Ack;
use kflow_core::transport::{OutRecord, Producer};
use kflow_core::{Error, Result};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};

use crate::config::KafkaConfig;

/// Producer defaults; anything set in the config or per app wins.
pub(crate) const PRODUCER_DEFAULTS: [(&str, &str); 3] = [
    // Kafka's Java default partitioner: murmur2 of the key (random for null keys).
    ("partitioner", "murmur2_random"),
    ("enable.idempotence", "true"),
    ("linger.ms", "5"),
];

/// Releases an ack when its record is acknowledged, fails it otherwise.
pub(crate) struct DeliveryContext;

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Ack>;

    fn delivery(&self, result: &DeliveryResult<'_>, ack: Box<Ack>) {
        match result {
            Ok(_) => drop(ack),
            Err((e, msg)) => {
                let reason = format!("delivery to `{}` failed: {e}", msg.topic());
                tracing::error!(%reason);
                ack.fail(&reason);
            }
        }
    }
}

/// The Kafka [`Producer`]. Note: librdkafka sends a record timestamp of `0` as "now"
/// (the current time), so event time 0 cannot be written through it.
#[derive(Clone)]
pub struct KafkaProducer {
    inner: Arc<ThreadedProducer<DeliveryContext>>,
}

impl KafkaProducer {
    pub(crate) fn new(config: &KafkaConfig) -> Result<Self> {
        Self::create(config, &[])
    }

    /// A transactional producer for an exactly-once consumer, with its first transaction
    /// begun. Its transactions time out after 10 s unless `transaction.timeout.ms` is set.
    pub(crate) fn transactional(config: &KafkaConfig, id: &str) -> Result<Self> {
        let mut extra = vec![("transactional.id".to_string(), id.to_string())];
        if !config.has_property("transaction.timeout.ms") {
            extra.push(("transaction.timeout.ms".into(), "10000".into()));
        }
        let producer = Self::create(config, &extra)?;
        let fail = |e: KafkaError| Error::Transaction(format!("transactional producer `{id}`: {e}"));
        producer.inner.init_transactions(config.timeout()).map_err(fail)?;
        producer.inner.begin_transaction().map_err(fail)?;
        Ok(producer)
    }

    pub(crate) fn rdkafka(&self) -> &Arc<ThreadedProducer<DeliveryContext>> {
        &self.inner
    }

    fn create(config: &KafkaConfig, extra: &[(String, String)]) -> Result<Self> {
        let mut client = config.client_config(extra)?;
        for (k, v) in PRODUCER_DEFAULTS {
            if client.get(k).is_none() {
                client.set(k, v);
            }
        }
        let inner = client
            .create_with_context(DeliveryContext)
            .map_err(|e| Error::Transport(format!("cannot create a producer for {}: {e}", config.brokers())))?;
        Ok(KafkaProducer { inner: Arc::new(inner) })
    }

    /// Tries to queue; gives the ack back when the queue is full.
    fn try_send(&self, record: &OutRecord, ack: Box<Ack>) -> std::result::Result<(), (KafkaError, Box<Ack>)> {
        let mut base: BaseRecord<'_, [u8], [u8], Box<Ack>> = BaseRecord::with_opaque_to(&record.topic, ack);
        // Header-less records skip librdkafka's header list (an allocation per record).
        if !record.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (key, value) in record.headers.iter() {
                headers = headers.insert(Header {
                    key,
                    value: value.map(|v| &v[..]),
                });
            }
            base = base.headers(headers);
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
}

impl Producer for KafkaProducer {
    fn send(&self, record: OutRecord, ack: Ack) -> BoxFuture<'static, Result<()>> {
        let ack = Box::new(ack);
        match self.try_send(&record, ack) {
            Ok(()) => futures::future::ready(Ok(())).boxed(),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), ack)) => {
                // Backpressure: wait for the queue to drain, then try again.
                let this = self.clone();
                async move {
                    let mut ack = ack;
                    loop {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        match this.try_send(&record, ack) {
                            Ok(()) => return Ok(()),
                            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => ack = back,
                            Err((e, back)) => return Err(fail(&record, *back, e)),
                        }
                    }
                }
                .boxed()
            }
            Err((e, ack)) => futures::future::ready(Err(fail(&record, *ack, e))).boxed(),
        }
    }

    fn flush(&self, timeout: Duration) -> BoxFuture<'static, Result<()>> {
        let inner = self.inner.clone();
        async move {
            tokio::task::spawn_blocking(move || inner.flush(timeout))
                .await
                .map_err(|e| Error::Transport(e.to_string()))?
                .map_err(|e| Error::Transport(format!("flush: {e}")))
        }
        .boxed()
    }
}

fn fail(record: &OutRecord, ack: Ack, e: KafkaError) -> Error {
    let error = Error::Produce {
        topic: record.topic.to_string(),
        reason: e.to_string(),
    };
    ack.fail(&error.to_string());
    error
}
