//! Writing a pipeline's records: encode, queue on the producer, and follow the write.
//!
//! A [`Sink`] is what a writing stage ([`super::To`], `group_by`'s repartition writes)
//! gets at construction. (A window's late records are still written by the window
//! operator itself, without the produce policy.) Encoding errors go to the serialization
//! policy; records the producer rejects for good to the produce policy; a write that
//! cannot be queued stops the app (the producer already failed its ack).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;

use super::env::TaskEnv;
use crate::codec::Encode;
use crate::error::{ErrorKind, Result};
use crate::event::Msg;
use crate::transport::OutRecord;

/// A writer to one topic.
pub(crate) struct Sink {
    topic: Arc<str>,
    env: TaskEnv,
    out: metrics::Counter,
}

impl Sink {
    /// A writer to `topic` for the task `env` belongs to.
    pub(crate) fn new(topic: &str, env: &TaskEnv) -> Self {
        Sink {
            topic: Arc::from(topic),
            out: env.records_out(topic),
            env: env.clone(),
        }
    }

    /// The topic.
    pub(crate) fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    /// True when there is no producer (a detached flow).
    pub(crate) fn is_detached(&self) -> bool {
        self.env.producer().is_none()
    }

    /// Encodes and queues one record. Returns the queueing future, if there is one to
    /// follow.
    pub(crate) fn send<T, C: Encode<T> + ?Sized>(
        &self,
        codec: &C,
        msg: Msg<T>,
    ) -> Option<BoxFuture<'static, Result<()>>> {
        let Msg { record, ack } = msg;
        let Some(producer) = self.env.producer() else {
            let reason = format!("cannot write to `{}`: this flow is not running in an app", self.topic);
            ack.fail(&reason);
            self.env.recovery().stop(crate::error::Fatal::new(reason));
            return None;
        };
        match codec.encode_to(&self.topic, &record.value) {
            Ok(value) => {
                let out = OutRecord {
                    topic: self.topic.clone(),
                    partition: None,
                    key: record.key,
                    value,
                    headers: record.headers,
                    timestamp: Some(record.meta.timestamp),
                };
                self.out.increment(1);
                Some(match self.env.rejections() {
                    Some(rejected) => producer.send_or_reject(out, ack, rejected),
                    None => producer.send(out, ack),
                })
            }
            Err(e) => Some(self.env.recovery().reject(record, ack, ErrorKind::Serialization, &e)),
        }
    }
}

/// Polls a queueing future (an output, dead-letter or retry write); a failure stops the
/// app (the producer already failed the record's ack, so nothing past it commits).
pub(crate) fn poll_sending(
    sending: &mut Option<BoxFuture<'static, Result<()>>>,
    env: &TaskEnv,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if let Some(fut) = sending.as_mut() {
        let result = std::task::ready!(fut.as_mut().poll(cx));
        *sending = None;
        env.recovery().report(result);
    }
    Poll::Ready(())
}
