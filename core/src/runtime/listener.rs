//! `Listener`: one handler call per record, in offset order per partition.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;

use super::handler::Handler;
use super::task::guarded;
use super::unit::{unit_setters, Grouping, TaskSetup, Unit, UnitConfig};
use crate::codec::{Decode, Json};
use crate::error::{Error, ErrorKind, HandlerError, OnError, Result};
use crate::flow::{FlowCtx, Plan, TaskCtxParts};
use crate::record::{Meta, Record};
use crate::transport::Admin;

type HandlerFn<T> = dyn Fn(Record<T>) -> BoxFuture<'static, std::result::Result<(), HandlerError>> + Send + Sync;

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
    config: UnitConfig,
    /// Shared by the listener's partition tasks when `concurrency` is set.
    permits: Option<Arc<tokio::sync::Semaphore>>,
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
        let handler: Arc<HandlerFn<T>> =
            Arc::new(move |r: Record<T>| handler(r.value, r.meta).map(|r| r.map_err(Into::into)).boxed());
        Self::from_parts(name, topics, handler)
    }

    /// A listener on `topics` with JSON values whose handler takes extractor arguments in
    /// any order: the value, `Meta`, `Key<K>`, `Headers` or `Record<T>` (see
    /// [`super::handler`]). This is what `#[kflow::listener]` generates.
    ///
    /// ```
    /// use kflow_core::runtime::handler::Key;
    /// use kflow_core::{Headers, Listener};
    /// async fn audit(headers: Headers, key: Key<String>, amount: u64) -> Result<(), String> {
    ///     if amount == 0 { return Err(format!("zero amount for {}", key.0)); }
    ///     let _ = headers.get_str("trace-id");
    ///     Ok(())
    /// }
    /// let l = Listener::handler("audit", ["payments"], audit);
    /// assert_eq!(l.topics(), ["payments"]);
    /// ```
    pub fn handler<I, S, M, H>(name: &str, topics: I, handler: H) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        H: Handler<T, M>,
    {
        let handler: Arc<HandlerFn<T>> = Arc::new(move |r: Record<T>| handler.call(r));
        Self::from_parts(name, topics, handler)
    }

    fn from_parts<I: IntoIterator<Item = S>, S: Into<String>>(
        name: &str,
        topics: I,
        handler: Arc<HandlerFn<T>>,
    ) -> Self {
        Listener {
            config: UnitConfig::new(name, topics.into_iter().map(Into::into).collect()),
            permits: None,
            handler,
            decoder: Arc::new(Json),
        }
    }
}

impl<T: Send + 'static> Listener<T> {
    unit_setters!("listener");

    /// At most `n` handler calls run at once in this instance, over all its partitions
    /// (each partition still handles its records one at a time, in order).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.permits = Some(Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        self
    }

    /// Replaces the value codec (e.g. [`crate::codec::Utf8`] for `String`).
    pub fn value_decoder(mut self, codec: impl Decode<T>) -> Self {
        self.decoder = Arc::new(codec);
        self
    }
}

impl<T: Send + 'static> Unit for Listener<T> {
    fn config(&self) -> &UnitConfig {
        &self.config
    }

    fn grouping(&self) -> Grouping {
        Grouping::PerPartition
    }

    fn plan(&self, _app_id: &str) -> Result<Plan> {
        if self.config.inputs.is_empty() {
            return Err(Error::Config {
                key: format!("listener `{}` topics", self.config.name),
                reason: "no topic".into(),
            });
        }
        Ok(Plan::default())
    }

    fn prepare<'a>(
        &'a self,
        app_id: &'a str,
        admin: &'a dyn Admin,
        _topics: &'a super::TopicDefaults,
    ) -> BoxFuture<'a, Result<Plan>> {
        async move {
            let plan = self.plan(app_id)?;
            for topic in &self.config.inputs {
                if admin.describe_topic(topic).await?.is_none() {
                    return Err(Error::Topic {
                        topic: topic.clone(),
                        reason: format!(
                            "topic of listener `{}` does not exist; create it first",
                            self.config.name
                        ),
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
            name: self.config.name.clone(),
            partition: Some(setup.partition),
            stats: setup.stats.clone(),
            producer: Some(setup.producer.clone()),
            on_error: self.config.on_error,
            fatal: Some(setup.fatal.clone()),
            sources: Default::default(),
        });
        let stop = setup.stop.clone();
        let mut source =
            futures::stream::select_all(setup.sources.into_values().flatten().map(|(_, s)| s)).take_until(stop);
        let (handler, decoder, name) = (self.handler.clone(), self.decoder.clone(), self.config.name.clone());
        let permits = self.permits.clone();
        let (trackers, fatal) = (setup.trackers, setup.fatal);
        let fail_stops = self.config.on_error == OnError::Fail;
        async move {
            let run = async {
                while let Some(msg) = source.next().await {
                    let (record, ack) = (msg.record, msg.ack);
                    match decoder.decode(record.value.as_deref()) {
                        Ok(value) => {
                            let permit = match &permits {
                                Some(p) => Some(p.acquire().await.expect("semaphore open")),
                                None => None,
                            };
                            let result = handler(record.map_value(|_| value)).await;
                            drop(permit);
                            match result {
                                Ok(()) => drop(ack),
                                Err(e) => ctx.reject(ack, ErrorKind::Handler, &e),
                            }
                        }
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

/// Anything `App::listener` accepts: a [`Listener`], or a function annotated with
/// `#[kflow::listener]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a listener",
    note = "pass a `Listener`, or a function annotated with `#[kflow::listener(...)]`"
)]
pub trait IntoListener {
    /// The value type.
    type Value: Send + 'static;
    /// The listener.
    fn into_listener(self) -> Listener<Self::Value>;
}

impl<T: Send + 'static> IntoListener for Listener<T> {
    type Value = T;
    fn into_listener(self) -> Listener<T> {
        self
    }
}
