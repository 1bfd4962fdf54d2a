//! `Processor`: a typed pipeline from input topics to an output topic.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use futures::FutureExt;
use serde::{de::DeserializeOwned, Serialize};

use super::task::{decoded, guarded};
use super::unit::{ensure_topic, plan_policy_topics, unit_setters, Grouping, TaskSetup, Unit, UnitConfig};
use crate::codec::{Decode, Encode, Json, Sent};
use crate::error::{Error, Result};
use crate::flow::{Event, Flow, FlowCtx, Plan, TaskCtxParts};
use crate::transport::Admin;

type PipelineFn<In, Out> = dyn Fn(Flow<In>) -> Flow<Out> + Send + Sync;

/// A processor: `fn(Flow<In>) -> Flow<Out>` wired to input topics and an output topic.
///
/// The function is called once per partition task (and once at start-up to find the
/// topics the pipeline writes to), so it must only build the pipeline. Values are JSON
/// unless codecs are set. Group id: `<app id>-<name>` unless set.
///
/// ```
/// use kflow_core::{Flow, Processor};
/// fn shout(words: Flow<String>) -> Flow<String> {
///     words.filter(|w| !w.is_empty()).map(|w| w.to_uppercase())
/// }
/// let p = Processor::new("shout", shout).input(["words"]).output("shouted");
/// assert_eq!(p.name(), "shout");
/// ```
pub struct Processor<In, Out> {
    config: UnitConfig,
    output: Option<String>,
    func: Arc<PipelineFn<In, Out>>,
    decoder: Arc<dyn Decode<In>>,
    encoder: Arc<dyn Encode<Out>>,
}

impl<In, Out> Processor<In, Out>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + 'static,
{
    /// A processor reading and writing JSON values.
    pub fn new(name: &str, func: impl Fn(Flow<In>) -> Flow<Out> + Send + Sync + 'static) -> Self {
        Self::with_codecs(name, func, Json, Json)
    }
}

impl<In: Send + 'static, Out: Send + 'static> Processor<In, Out> {
    /// A processor with explicit value codecs.
    pub fn with_codecs(
        name: &str,
        func: impl Fn(Flow<In>) -> Flow<Out> + Send + Sync + 'static,
        decoder: impl Decode<In>,
        encoder: impl Encode<Out>,
    ) -> Self {
        Processor {
            config: UnitConfig::new(name, Vec::new()),
            output: None,
            func: Arc::new(func),
            decoder: Arc::new(decoder),
            encoder: Arc::new(encoder),
        }
    }

    unit_setters!("processor");

    /// Adds input topics; several are merged into one flow.
    pub fn input<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.config.inputs.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Sets the output topic (created with the inputs' partition count if missing).
    pub fn output(mut self, topic: &str) -> Self {
        self.output = Some(topic.to_string());
        self
    }

    /// Exactly-once processing: the outputs (and dead letters) written for a batch of
    /// inputs and the inputs' offsets commit together, in one Kafka transaction per
    /// commit interval, so downstream `read_committed` consumers see each output once,
    /// even across crashes and restarts.
    ///
    /// How it works: at each commit the processor stops taking records, lets the ones
    /// in flight finish, then commits the transaction (outputs + offsets) and begins the
    /// next. A failure that would otherwise leave partial work (a failed transaction, a
    /// task that does not drain) aborts the transaction and stops the app; a restart
    /// resumes after the last committed transaction.
    ///
    /// Needs a transport with transactions (Kafka); pipelines with windows are refused at
    /// start-up (window state lives in memory and is rebuilt by replaying inputs, which
    /// cannot be exactly-once). Set a stable [`crate::App::instance_id`] so that a
    /// restarted instance fences its predecessor's open transaction at once.
    ///
    /// ```
    /// use kflow_core::{Flow, Processor};
    /// fn total(cents: Flow<u64>) -> Flow<u64> { cents.map(|c| c * 100) }
    /// let p = Processor::new("payments", total).input(["cents"]).output("amounts").exactly_once();
    /// # let _ = p;
    /// ```
    pub fn exactly_once(mut self) -> Self {
        self.config.exactly_once = true;
        self
    }

    /// Replaces the input value codec.
    pub fn value_decoder(mut self, codec: impl Decode<In>) -> Self {
        self.decoder = Arc::new(codec);
        self
    }

    /// Replaces the output value codec.
    pub fn value_encoder(mut self, codec: impl Encode<Out>) -> Self {
        self.encoder = Arc::new(codec);
        self
    }

    fn planned(&self, app_id: &str) -> Plan {
        let ctx = FlowCtx::task(TaskCtxParts {
            app_id: app_id.to_string(),
            name: self.config.name.clone(),
            partition: None,
            stats: Default::default(),
            producer: None,
            policies: Arc::new(self.config.policies.clone()),
            group: self.config.group_id(app_id),
            listener: false,
            fatal: None,
            retry_topics: Vec::new(),
            sources: HashMap::new(),
        });
        let flow = (self.func)(Flow::from_stream(stream::empty(), ctx.clone()));
        drop(flow);
        ctx.plan()
    }
}

impl<In: Send + 'static, Out: Send + 'static> Unit for Processor<In, Out> {
    fn config(&self) -> &UnitConfig {
        &self.config
    }

    fn config_mut(&mut self) -> &mut UnitConfig {
        &mut self.config
    }

    fn grouping(&self) -> Grouping {
        Grouping::PerPartitionNumber
    }

    fn plan(&self, app_id: &str) -> Result<Plan> {
        if self.config.inputs.is_empty() {
            return Err(Error::Config {
                key: format!("processor `{}` input", self.config.name),
                reason: "no input topic".into(),
            });
        }
        if self.output.is_none() && TypeId::of::<Out>() != TypeId::of::<Sent>() {
            return Err(Error::Config {
                key: format!("processor `{}` output", self.config.name),
                reason: format!(
                    "the pipeline returns Flow<{}> but no output topic is set: set one, or end the pipeline in `.to(topic)` calls (Flow<Sent>)",
                    std::any::type_name::<Out>()
                ),
            });
        }
        self.config
            .policies
            .validate(&format!("processor `{}`", self.config.name), false)?;
        let mut plan = self.planned(app_id);
        if self.config.exactly_once && plan.windows > 0 {
            return Err(Error::Config {
                key: format!("processor `{}` exactly_once", self.config.name),
                reason: "the pipeline has windows, whose state lives in memory and is rebuilt by replaying inputs after a restart; that cannot be exactly-once. Remove `exactly_once` (windows are at-least-once) or the windows".into(),
            });
        }
        if let Some(out) = &self.output {
            plan.outputs.insert(0, out.clone());
        }
        let read = self
            .config
            .inputs
            .iter()
            .chain(&plan.repartitions)
            .cloned()
            .collect::<Vec<_>>();
        plan_policy_topics(
            &mut plan,
            &self.config.policies,
            &self.config.group_id(app_id),
            read.iter(),
        );
        Ok(plan)
    }

    fn prepare<'a>(
        &'a self,
        app_id: &'a str,
        admin: &'a dyn Admin,
        defaults: &'a super::TopicDefaults,
    ) -> BoxFuture<'a, Result<Plan>> {
        async move {
            let plan = self.plan(app_id)?;
            if let Some(check) = self.decoder.check() {
                check.await?;
            }
            if let (Some(output), Some(prepare)) =
                (&self.output, self.output.as_ref().and_then(|o| self.encoder.prepare(o)))
            {
                prepare.await.map_err(|e| Error::Config {
                    key: format!("processor `{}` output `{output}`", self.config.name),
                    reason: e.to_string(),
                })?;
            }
            let mut inputs = 0;
            for input in &self.config.inputs {
                let info = admin.describe_topic(input).await?.ok_or_else(|| Error::Topic {
                    topic: input.clone(),
                    reason: format!(
                        "input of processor `{}` does not exist; create it first",
                        self.config.name
                    ),
                })?;
                inputs = inputs.max(info.partitions);
            }
            let repartitions = plan.repartitions.clone();
            for topic in plan.outputs.iter().chain(&plan.late).chain(&plan.dead_letters) {
                ensure_topic(admin, topic, defaults.partitions.unwrap_or(inputs), defaults).await?;
            }
            // Repartition topics must match the inputs so each task owns its keys.
            for topic in &repartitions {
                ensure_topic(admin, topic, inputs, defaults).await?;
            }
            Ok(plan)
        }
        .boxed()
    }

    fn task(&self, mut setup: TaskSetup) -> BoxFuture<'static, ()> {
        let stop = setup.stop.clone();
        let input_sources: Vec<_> = self
            .config
            .inputs
            .iter()
            .flat_map(|t| setup.sources.remove(t).unwrap_or_default())
            .collect();
        // What is left are this task's partitions of the repartition topics.
        let repartitions = std::mem::take(&mut setup.sources)
            .into_iter()
            .filter_map(|(topic, mut parts)| Some((topic, parts.pop()?.1.take_until(stop.clone()).boxed())))
            .collect();
        let ctx = FlowCtx::task(TaskCtxParts {
            app_id: setup.app_id.clone(),
            name: self.config.name.clone(),
            partition: Some(setup.partition),
            stats: setup.stats.clone(),
            producer: Some(setup.producer.clone()),
            policies: Arc::new(self.config.policies.clone()),
            group: self.config.group_id(&setup.app_id),
            listener: false,
            fatal: Some(setup.fatal.clone()),
            retry_topics: Vec::new(),
            sources: repartitions,
        });
        let mut inputs: Vec<_> = input_sources
            .into_iter()
            .map(|(_, source)| {
                decoded(
                    source.take_until(stop.clone()).boxed(),
                    self.decoder.clone(),
                    ctx.clone(),
                )
            })
            .collect();
        let TaskSetup {
            producer,
            trackers,
            fatal,
            drain_timeout,
            ticks,
            ..
        } = setup;
        inputs.push(ticks.take_until(stop).map(Event::Tick).boxed());
        let flow = (self.func)(Flow::from_stream(stream::select_all(inputs), ctx.clone()));
        let terminal = match &self.output {
            Some(topic) => flow.to_with(topic, DynEncoder(self.encoder.clone())).into_stream(),
            // Only reachable when Out is Sent (checked by `plan`): nothing ever arrives.
            None => flow
                .into_stream()
                .filter_map(|e| {
                    futures::future::ready(match e {
                        Event::Tick(t) => Some(Event::<Sent>::Tick(t)),
                        Event::Msg(_) => None,
                    })
                })
                .boxed(),
        };
        let name = self.config.name.clone();
        async move {
            let mut terminal = terminal;
            let run = async {
                while terminal.next().await.is_some() {}
                if let Err(e) = producer.flush(drain_timeout).await {
                    tracing::warn!(processor = %name, error = %e, "flush at the end of a task failed");
                }
            };
            let outcome = guarded(run, &trackers).await;
            trackers.iter().for_each(|t| {
                t.seal();
            });
            if let Err(panic) = outcome {
                fatal.report(format!("processor `{name}` panicked: {panic}"));
            }
            drop(terminal);
        }
        .boxed()
    }
}

/// A shared codec used where an owned one is expected.
struct DynEncoder<T>(Arc<dyn Encode<T>>);

impl<T: 'static> Encode<T> for DynEncoder<T> {
    fn encode(&self, value: &T) -> std::result::Result<Option<bytes::Bytes>, crate::codec::EncodeError> {
        self.0.encode(value)
    }

    fn encode_to(
        &self,
        topic: &str,
        value: &T,
    ) -> std::result::Result<Option<bytes::Bytes>, crate::codec::EncodeError> {
        self.0.encode_to(topic, value)
    }

    fn prepare(&self, topic: &str) -> Option<BoxFuture<'static, Result<()>>> {
        self.0.prepare(topic)
    }
}

/// Anything `App::processor` accepts: a [`Processor`], or a function annotated with
/// `#[kflow::processor]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a processor",
    note = "pass a `Processor`, or a function annotated with `#[kflow::processor(...)]`"
)]
pub trait IntoProcessor {
    /// Input value type.
    type In: Send + 'static;
    /// Output value type.
    type Out: Send + 'static;
    /// The processor.
    fn into_processor(self) -> Processor<Self::In, Self::Out>;
}

impl<In: Send + 'static, Out: Send + 'static> IntoProcessor for Processor<In, Out> {
    type In = In;
    type Out = Out;
    fn into_processor(self) -> Self {
        self
    }
}
