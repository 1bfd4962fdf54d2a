//! Transactions on a typed producer: begin, send, add consumer offsets, commit or abort.

use kflow_core::{Error, Offset, Result, TopicPartition};
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer as _;

use super::TypedProducer;

impl<K: 'static, V: 'static> TypedProducer<K, V> {
    /// Starts a transaction: records sent from now until [`Self::commit_transaction`] are
    /// seen by `read_committed` consumers all together, or (after
    /// [`Self::abort_transaction`]) never. Needs [`crate::ProducerOptions::transactional_id`].
    ///
    /// ```no_run
    /// # async fn demo() -> kflow_core::Result<()> {
    /// use kflow_kafka::{KafkaConfig, ProduceRecord, ProducerOptions, TypedProducer};
    /// let options = ProducerOptions::new().transactional_id("payments-writer-1");
    /// let producer = TypedProducer::<String, u64>::json(&KafkaConfig::new("127.0.0.1:9092"), options)?;
    /// producer.begin_transaction()?;
    /// producer.send(ProduceRecord::new("debits", 10)).await?;
    /// producer.send(ProduceRecord::new("credits", 10)).await?;
    /// producer.commit_transaction().await?;
    /// # Ok(()) }
    /// ```
    pub fn begin_transaction(&self) -> Result<()> {
        let id = self.require_transactional()?;
        self.inner
            .begin_transaction()
            .map_err(|e| transaction_error(id, "begin", e))
    }

    /// Adds a consumer group's offsets to the open transaction: they are committed with
    /// it, and only with it (consume-transform-produce). Offsets are the next ones to
    /// read (last processed + 1); `group` comes from the consumer
    /// (`rdkafka::consumer::Consumer::group_metadata`, taken once per call).
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, Offset)],
        group: ConsumerGroupMetadata,
    ) -> Result<()> {
        let id = self.require_transactional()?;
        let tpl = crate::convert::offset_list(offsets).map_err(|e| transaction_error(id, "send offsets", e))?;
        let (inner, timeout) = (self.inner.clone(), self.timeout);
        tokio::task::spawn_blocking(move || inner.send_offsets_to_transaction(&tpl, &group, timeout))
            .await
            .map_err(|e| Error::transaction(id, "send offsets did not finish").caused_by(e))?
            .map_err(|e| transaction_error(id, "send offsets", e))
    }

    /// Commits the open transaction (flushing its records first).
    pub async fn commit_transaction(&self) -> Result<()> {
        let id = self.require_transactional()?;
        let (inner, timeout) = (self.inner.clone(), self.timeout);
        tokio::task::spawn_blocking(move || inner.commit_transaction(timeout))
            .await
            .map_err(|e| Error::transaction(id, "commit did not finish").caused_by(e))?
            .map_err(|e| transaction_error(id, "commit", e))
    }

    /// Aborts the open transaction: its records and offsets are discarded.
    pub async fn abort_transaction(&self) -> Result<()> {
        let id = self.require_transactional()?;
        let (inner, timeout) = (self.inner.clone(), self.timeout);
        tokio::task::spawn_blocking(move || inner.abort_transaction(timeout))
            .await
            .map_err(|e| Error::transaction(id, "abort did not finish").caused_by(e))?
            .map_err(|e| transaction_error(id, "abort", e))
    }

    /// The transactional id, or the error saying how to get one.
    fn require_transactional(&self) -> Result<&str> {
        match &self.transactional_id {
            Some(id) => Ok(id),
            None => Err(Error::Config {
                key: "transactional.id".into(),
                reason: "this producer is not transactional: set `ProducerOptions::transactional_id`".into(),
            }),
        }
    }
}

/// A transactional error with what to do about it.
pub(crate) fn transaction_error(id: &str, step: &str, e: KafkaError) -> Error {
    let hint = match &e {
        KafkaError::Transaction(t) if t.is_fatal() => " (fatal: this producer was fenced or failed; create a new one)",
        KafkaError::Transaction(t) if t.txn_requires_abort() => " (abort the transaction, then retry it)",
        KafkaError::Transaction(t) if t.is_retriable() => " (retriable: call it again)",
        _ => "",
    };
    Error::transaction(id, format!("{step} failed{hint}")).caused_by(e)
}
