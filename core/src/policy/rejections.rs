//! Records a producer rejected for good (too large, invalid): the produce-error policy.
//!
//! A sink hands a [`ProduceRejections`] to the producer with every record
//! ([`crate::transport::Producer::send_or_reject`]). When the client or the broker
//! rejects a record for good, the producer hands it back here with its input's ack, and
//! the unit's produce policy applies: `dead_letter` writes it to the input's dead-letter
//! topic (the topic the ack's offset belongs to, plus the suffix) with kflow's failure
//! headers and `kflow.output.topic`, leaving out the value when it was too large
//! (`kflow.value.dropped` gives its size); `skip` counts it; `fail` stops the app. The
//! input's offset commits once the dead letter is acknowledged (or at once for `skip`);
//! a dead letter that cannot be written stops the app.

use std::sync::Arc;

use super::failure::{now_ms, Failure};
use super::headers::{self, names, Failed, Origin};
use super::recovery::Recovery;
use super::Last;
use crate::ack::Ack;
use crate::error::ErrorKind;
use crate::record::{Meta, Partition, Record, TimestampType};
use crate::telemetry::{metrics, DropReason};
use crate::transport::{OutRecord, Rejected, Rejection};

/// The produce-error policy of one task, as a [`Rejected`] handler.
pub(crate) struct ProduceRejections {
    recovery: Arc<Recovery>,
    /// Where dead-letter writes run: a rejection may arrive on the producer's own thread.
    runtime: tokio::runtime::Handle,
}

impl ProduceRejections {
    /// The handler for the task `recovery` belongs to; `None` outside a tokio runtime (a
    /// detached flow), where rejected records fail their ack.
    pub(crate) fn for_task(recovery: &Arc<Recovery>) -> Option<Arc<dyn Rejected>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(Arc::new(ProduceRejections {
            recovery: recovery.clone(),
            runtime,
        }))
    }
}

impl Rejected for ProduceRejections {
    fn rejected(&self, record: OutRecord, ack: Ack, rejection: Rejection) {
        let recovery = &self.recovery;
        let identity = recovery.identity();
        let (input, offset) = ack
            .origin()
            .map(|(tp, o)| (tp, o.0))
            .unwrap_or_else(|| (crate::record::TopicPartition::new(record.topic.clone(), -1), -1));
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let origin = Origin::of(
            &Record {
                key: None,
                value: None,
                headers: Default::default(),
                meta: Meta {
                    topic: input.topic.clone(),
                    partition: Partition(input.partition.0),
                    offset: crate::record::Offset(offset),
                    timestamp,
                    timestamp_type: TimestampType::CreateTime,
                },
            },
            false,
        );
        let message = format!("writing to `{}` failed for good: {}", record.topic, rejection.reason);
        let failure = Failure::once(ErrorKind::Produce, &message);
        match &recovery.policies().get(ErrorKind::Produce).last {
            Last::DeadLetter(dl) => {
                let topic = dl.topic_for(&origin.topic);
                let failed = Failed {
                    origin: &origin,
                    group: &identity.group,
                    processor: &identity.name,
                    kind: ErrorKind::Produce,
                    message: &message,
                    attempts: 1,
                    first_failure: failure.first,
                    last_failure: failure.last,
                };
                let mut out_headers = headers::bounded_user_headers(&record.headers);
                if dl.spring {
                    headers::add_spring(&mut out_headers, &failed);
                } else {
                    headers::add_kflow(&mut out_headers, &failed);
                }
                out_headers.insert(names::OUTPUT_TOPIC, record.topic.to_string());
                let value = match rejection.too_large {
                    true => {
                        let size = rejection.value_size.or(record.value.as_ref().map(|v| v.len()));
                        out_headers.insert(names::VALUE_DROPPED, size.unwrap_or(0).to_string());
                        None
                    }
                    false => record.value,
                };
                tracing::warn!(unit = %identity.name, output = %record.topic, reason = %rejection.reason, %topic, "output rejected for good: dead-lettered");
                recovery.count(DropReason::DeadLettered);
                metrics::dead_letters(&identity.name, &topic).increment(1);
                let dead_letter = Record {
                    key: record.key,
                    value,
                    headers: Default::default(),
                    meta: Meta::detached(timestamp),
                };
                let write = recovery.write(topic, dead_letter, out_headers, timestamp, ack);
                let recovery = recovery.clone();
                self.runtime.spawn(async move { recovery.report(write.await) });
            }
            Last::Skip => {
                tracing::warn!(unit = %identity.name, output = %record.topic, reason = %rejection.reason, "output rejected for good: skipped");
                recovery.count(DropReason::Skipped);
                drop(ack);
            }
            Last::Fail => recovery.fail(&origin, ack, &failure),
        }
    }
}
