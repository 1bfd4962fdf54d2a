//! Reading single partitions outside any group (window stores restore their changelogs
//! with it): a consumer assigned to one partition, on its own thread, per read.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use kflow_core::transport::PartitionReader;
use kflow_core::{Error, Offset, RawRecord, Result, TopicPartition};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::TopicPartitionList;

use crate::config::KafkaConfig;
use crate::convert;

/// Records handed from the reading thread ahead of the reader.
const AHEAD: usize = 4096;

/// A [`PartitionReader`] on the transport's connection settings.
pub(crate) struct KafkaReader {
    pub(crate) config: KafkaConfig,
}

impl PartitionReader for KafkaReader {
    fn read(
        &self,
        partition: TopicPartition,
        from: Offset,
        committed_only: bool,
    ) -> BoxStream<'static, Result<RawRecord>> {
        let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
        let isolation = if committed_only {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        let props = [
            // Required by librdkafka for a consumer; nothing is committed under it.
            ("group.id", "kflow-restore"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
            ("isolation.level", isolation),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let consumer: Result<BaseConsumer> = self.config.consumer_config(&props).and_then(|c| {
            c.create()
                .map_err(|e| Error::transport(format!("reading {partition}"), e.to_string()))
        });
        let consumer = match consumer {
            Ok(c) => c,
            Err(e) => return futures::stream::once(futures::future::ready(Err(e))).boxed(),
        };
        let name = format!("kflow-read-{}-{}", partition.topic, partition.partition.0);
        let spawned = std::thread::Builder::new()
            .name(name)
            .spawn(move || read_on_thread(consumer, partition, from, tx));
        if let Err(e) = spawned {
            let e = Error::transport("partition reader", format!("cannot start its thread: {e}"));
            return futures::stream::once(futures::future::ready(Err(e))).boxed();
        }
        tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
    }
}

/// Polls until the reader is dropped (or a partition that does not exist is reported).
fn read_on_thread(
    consumer: BaseConsumer,
    partition: TopicPartition,
    from: Offset,
    tx: tokio::sync::mpsc::Sender<Result<RawRecord>>,
) {
    let topic: Arc<str> = partition.topic.clone();
    let mut list = TopicPartitionList::new();
    let assigned = list
        .add_partition_offset(&topic, partition.partition.0, rdkafka::Offset::Offset(from.0))
        .and_then(|()| consumer.assign(&list));
    if let Err(e) = assigned {
        let _ = tx.blocking_send(Err(Error::transport(format!("reading {partition}"), e.to_string())));
        return;
    }
    while !tx.is_closed() {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) if tx.blocking_send(Ok(convert::record(&message, topic.clone()))).is_err() => return,
            Some(Ok(_)) => {}
            Some(Err(KafkaError::MessageConsumption(
                code @ (RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownPartition),
            ))) => {
                let e = Error::topic(topic.to_string(), format!("cannot be read: {code}"));
                let _ = tx.blocking_send(Err(e));
                return;
            }
            // Transient: librdkafka retries; the restore's own deadline bounds the wait.
            Some(Err(e)) => tracing::debug!(%partition, error = %e, "partition read error (retrying)"),
        }
    }
}
