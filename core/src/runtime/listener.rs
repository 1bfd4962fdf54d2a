//! `Listener`: one handler call per record, in offset order per partition.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;

use super::task::guarded;
use super::unit::{Grouping, TaskSetup, Unit};
use crate::codec::{Decode, Json};
use crate::error::{Error, ErrorKind, HandlerError, OnError, Result};
use crate::flow::{FlowCtx, Plan, TaskCtxParts};
use crate::record::Meta;
use crate::transport::{Admin, StartFrom};

type HandlerFn<T> = dyn Fn(T, Meta) -> BoxFuture<'static, std::result::Result<(), HandlerError>> + Send + Sync;

/// A listener: an async handler called once per record, in offset order within each
/// partition; partitions run concurrently. A record's offset commits after its handler
/// returned `Ok`. Group id: `<app id>-<name>` unless set.
///
/// ```
/// use kflow_core::{HandlerError, Listener, Meta};
/// async fn on_click(page: String, meta: Meta) -> Result<(), HandlerError> {
///     println!("{page} at offset {}", meta.offset);
///     Ok(())
/// }
/// let l = Listener::new("clicks", ["clicks"], on_click);
/// assert_eq!(l.name(), "clicks");
/// ```
pub struct Listener<T> {
    name: String,
    topics: Vec<String>,
    group_id: Option<String>,
    start: StartFrom,
    on_error: OnError,
    properties: Vec<(String, String)>,
    handler: Arc<HandlerFn<T>>,
    decoder: Arc<dyn Decode<T>>,
}

impl<T: DeserializeOwned + Send + 'static> Listener<T> {
    /// A listener on `topics` with JSON values.
    pub fn new<I, S, F, Fut, E>(name: &str, topics: I, handler: F) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        F: Fn(T, Meta) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Into<HandlerError>,
    {
        let handler: Arc<HandlerFn<T>> = Arc::new(move |v, m| handler(v, m).map(|r| r.map_err(Into::into)).boxed());
        Listener {
            name: name.to_string(),
            topics: topics.into_iter().map(Into::into).collect(),
            group_id: None,
            start: StartFrom::Earliest,
            on_error: OnError::Fail,
            properties: Vec::new(),
            handler,
            decoder: Arc::new(Json),
        }
    }
}

impl<T: Send + 'static> Listener<T> {
    /// Sets the consumer group id.
    pub fn group_id(mut self, group_id: &str) -> Self {
        self.group_id = Some(group_id.to_string());
        self
    }

    /// Where a new group starts reading.
    pub fn start_from(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }

    /// What happens to records whose decoding or handler fails.
    pub fn on_error(mut self, policy: OnError) -> Self {
        self.on_error = policy;
        self
    }

    /// Passes a transport property through (a librdkafka key for Kafka).
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    /// Replaces the value codec (e.g. [`crate::codec::Utf8`] for `String`).
    pub fn value_decoder(mut self, codec: impl Decode<T>) -> Self {
        self.decoder = Arc::new(codec);
        self
    }

    /// The listener's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T: Send + 'static> Unit for Listener<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn group_id(&self, app_id: &str) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{app_id}-{}", self.name))
    }

    fn inputs(&self) -> &[String] {
        &self.topics
    }

    fn start(&self) -> StartFrom {
        self.start
    }

    fn properties(&self) -> &[(String, String)] {
        &self.properties
    }

    fn grouping(&self) -> Grouping {
        Grouping::PerPartition
    }

    fn plan(&self, _app_id: &str) -> Result<Plan> {
        if self.topics.is_empty() {
            return Err(Error::Config {
                key: format!("listener `{}` topics", self.name),
                reason: "no topic".into(),
            });
        }
        Ok(Plan::default())
    }

    fn prepare<'a>(&'a self, app_id: &'a str, admin: &'a dyn Admin) -> BoxFuture<'a, Result<Plan>> {
        async move {
            let plan = self.plan(app_id)?;
            for topic in &self.topics {
                if admin.describe_topic(topic).await?.is_none() {
                    return Err(Error::Topic {
                        topic: topic.clone(),
                        reason: format!("topic of listener `{}` does not exist; create it first", self.name),
                    });
                }
            }
            Ok(plan)
        }
        .boxed()
    }

    fn task(&self, setup: TaskSetup) -> BoxFuture<'static, ()> {
        let ctx = FlowCtx::task(TaskCtxParts {
            app_id: setup.app_id.clone(),
            name: self.name.clone(),
            partition: Some(setup.partition),
            stats: setup.stats.clone(),
            producer: Some(setup.producer.clone()),
            on_error: self.on_error,
            fatal: Some(setup.fatal.clone()),
            sources: Default::default(),
        });
        let stop = setup.stop.clone();
        let mut source =
            futures::stream::select_all(setup.sources.into_values().flatten().map(|(_, s)| s)).take_until(stop);
        let (handler, decoder, name) = (self.handler.clone(), self.decoder.clone(), self.name.clone());
        let (trackers, fatal) = (setup.trackers, setup.fatal);
        let fail_stops = self.on_error == OnError::Fail;
        async move {
            let run = async {
                while let Some(msg) = source.next().await {
                    let (record, ack) = (msg.record, msg.ack);
                    match decoder.decode(record.value.as_deref()) {
                        Ok(value) => match handler(value, record.meta).await {
                            Ok(()) => drop(ack),
                            Err(e) => ctx.reject(ack, ErrorKind::Handler, &e),
                        },
                        Err(e) => ctx.reject(ack, ErrorKind::Deserialization, &e),
                    }
                    if fail_stops && ctx.has_failed() {
                        // Under `fail` nothing after the failed record is handled.
                        break;
                    }
                }
            };
            let outcome = guarded(run, &trackers).await;
            trackers.iter().for_each(|t| {
                t.seal();
            });
            if let Err(panic) = outcome {
                fatal.report(format!("listener `{name}` panicked: {panic}"));
            }
        }
        .boxed()
    }
}
