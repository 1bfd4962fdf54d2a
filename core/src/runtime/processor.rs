//! `Processor`: a typed pipeline from input topics to an output topic.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use futures::FutureExt;
use serde::{de::DeserializeOwned, Serialize};

use super::task::guarded;
use super::unit::{end_task, ensure_topic, unit_setters, Grouping, TaskSetup, Unit, UnitConfig, UnitTopics};
use crate::codec::{Decode, Encode, Json, Sent};
use crate::error::Fatal;
use crate::error::{Error, Result};
use crate::event::{Event, RawMsg};
use crate::flow::{BuildCtx, Flow, NodeId, StateAccess, TaskEnv, Topology};
use crate::policy::recovery::{decoded, UnitKind};
use crate::transport::Admin;

type PipelineFn<In, Out> = dyn Fn(Flow<In>) -> Flow<Out> + Send + Sync;

/// A processor without an output topic: its pipeline must end in `.to(topic)` calls
/// (`Flow<Sent>`).
#[derive(Debug, Clone, Copy)]
pub struct NoOutput;

/// A processor with an output topic ([`Processor::output`]).
#[derive(Debug, Clone, Copy)]
pub struct Output;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NoOutput {}
    impl Sealed for super::Output {}
}

/// Which pipelines a processor with or without an output topic may run: with one, any
/// `Flow<Out>`; without one, only `Flow<Sent>` (a pipeline that ends in `.to(topic)`
/// calls), so that nothing a pipeline produces can go nowhere.
#[diagnostic::on_unimplemented(
    message = "this processor's pipeline returns `Flow<{Out}>` but it has no output topic",
    note = "set one with `.output(topic)` (or `output = \"topic\"` in `#[kflow::processor]`), or end the pipeline in `.to(topic)` calls so that it returns `Flow<Sent>`"
)]
pub trait OutputMode<Out>: sealed::Sealed + Send + Sync + 'static {}

impl<Out> OutputMode<Out> for Output {}
impl OutputMode<Sent> for NoOutput {}

/// A processor: `fn(Flow<In>) -> Flow<Out>` wired to input topics and an output topic.
///
/// The function is called once per partition task, and once at start-up to build the
/// processor's [`Topology`], so it must only build the pipeline, the same one each time.
/// Values are JSON unless codecs are set. Group id: `<app id>-<name>` unless set.
///
/// Whether it has an output topic is part of its type: a pipeline returning `Flow<Out>`
/// needs [`Processor::output`]; one ending in `.to(topic)` calls returns `Flow<Sent>` and
/// needs none. Registering one that misses its output topic does not compile.
///
/// ```
/// use kflow_core::{Flow, Processor};
/// fn shout(words: Flow<String>) -> Flow<String> {
///     words.filter(|w| !w.is_empty()).map(|w| w.to_uppercase())
/// }
/// let p = Processor::new("shout", shout).input(["words"]).output("shouted");
/// assert_eq!(p.name(), "shout");
/// ```
pub struct Processor<In, Out, O = NoOutput> {
    config: UnitConfig,
    output: Option<String>,
    func: Arc<PipelineFn<In, Out>>,
    decoder: Arc<dyn Decode<In>>,
    encoder: Arc<dyn Encode<Out>>,
    /// Built once (at start-up), with the app id it was built for.
    topology: OnceLock<(String, Topology)>,
    _output: PhantomData<fn() -> O>,
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
            topology: OnceLock::new(),
            _output: PhantomData,
        }
    }

    /// Sets the output topic (created with the inputs' partition count if missing).
    pub fn output(self, topic: &str) -> Processor<In, Out, Output> {
        Processor {
            config: self.config,
            output: Some(topic.to_string()),
            func: self.func,
            decoder: self.decoder,
            encoder: self.encoder,
            topology: OnceLock::new(),
            _output: PhantomData,
        }
    }
}

impl<In: Send + 'static, Out: Send + 'static, O> Processor<In, Out, O> {
    unit_setters!("processor");

    /// Adds input topics; several are merged into one flow.
    pub fn input<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.config.inputs.extend(topics.into_iter().map(Into::into));
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
    /// State (windows, `stateful`) joins the transactions: its changelog writes commit
    /// with the outputs and offsets they belong to, a window's result with the changelog
    /// writes that follow its delivery, and restores read committed records only. So a
    /// restart restores the state of the last committed transaction and replays from its
    /// offsets (see `docs/state.md`).
    ///
    /// Needs a transport with transactions (Kafka, or the in-memory broker of
    /// [`crate::TestDriver`]). Set a stable [`crate::App::instance_id`] so that a
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

    /// The processor's topology in an app with id `app_id`: builds the pipeline once,
    /// without running it, and records its nodes (see [`Topology`]). Checks the
    /// definition; the error names the processor and what is wrong.
    pub fn describe(&self, app_id: &str) -> Result<Topology> {
        if self.config.inputs.is_empty() {
            return Err(Error::Config {
                key: format!("processor `{}` input", self.config.name),
                reason: "no input topic".into(),
            });
        }
        self.config
            .policies
            .validate(&format!("processor `{}`", self.config.name), false)?;
        let build = self.build_ctx(app_id, TaskEnv::detached(), HashMap::new());
        let flow = (self.func)(Flow::new(stream::empty(), build.clone()));
        let mut topology = build.topology();
        drop(flow);
        if let Some(out) = &self.output {
            topology.push(crate::flow::NodeKind::Sink { topic: out.clone() });
        }
        let mut policy_topics = UnitTopics::default();
        let read: Vec<String> = self
            .config
            .inputs
            .iter()
            .cloned()
            .chain(topology.repartition_topics())
            .collect();
        policy_topics.add_policy_topics(&self.config.policies, &self.config.group_id(app_id), read.iter());
        topology.dead_letters = policy_topics.dead_letters;
        Ok(topology)
    }

    /// The topology built at start-up (built now if needed).
    fn topology(&self, app_id: &str) -> Result<&Topology> {
        if let Some((id, topology)) = self.topology.get() {
            if id == app_id {
                return Ok(topology);
            }
        }
        let topology = self.describe(app_id)?;
        tracing::debug!(processor = %self.config.name, "topology:\n{topology}");
        Ok(&self.topology.get_or_init(|| (app_id.to_string(), topology)).1)
    }

    fn build_ctx(
        &self,
        app_id: &str,
        env: TaskEnv,
        sources: HashMap<NodeId, futures::stream::BoxStream<'static, RawMsg>>,
    ) -> BuildCtx {
        BuildCtx::new(app_id, &self.config.name, &self.config.inputs, env, sources)
    }
}

impl<In: Send + 'static, Out: Send + 'static, O: OutputMode<Out>> Unit for Processor<In, Out, O> {
    fn config(&self) -> &UnitConfig {
        &self.config
    }

    fn config_mut(&mut self) -> &mut UnitConfig {
        &mut self.config
    }

    fn grouping(&self) -> Grouping {
        Grouping::PerPartitionNumber
    }

    fn plan(&self, app_id: &str) -> Result<UnitTopics> {
        let topology = self.topology(app_id)?;
        let mut topics = UnitTopics {
            repartitions: topology.repartition_topics(),
            late: topology.late_topics(),
            dead_letters: topology.dead_letters.clone(),
            changelogs: topology.changelog_topics(),
            ..UnitTopics::default()
        };
        // The output topic first, then `to(..)` topics in build order.
        topics.add_outputs(self.output.clone());
        topics.add_outputs(topology.sink_topics());
        Ok(topics)
    }

    fn prepare<'a>(
        &'a self,
        app_id: &'a str,
        admin: &'a dyn Admin,
        defaults: &'a super::TopicDefaults,
    ) -> BoxFuture<'a, Result<UnitTopics>> {
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
            let inputs = self.config.input_partitions("processor", admin).await?;
            for topic in plan.outputs.iter().chain(&plan.late).chain(&plan.dead_letters) {
                ensure_topic(admin, topic, defaults.partitions.unwrap_or(inputs), defaults).await?;
            }
            // Repartition topics must match the inputs so each task owns its keys.
            for topic in &plan.repartitions {
                ensure_topic(admin, topic, inputs, defaults).await?;
            }
            // So must changelogs (task `p` keeps its store in partition `p`); compacted, so
            // that only each slot's newest value is kept.
            let mut compacted = defaults.clone();
            compacted.configs.retain(|(k, _)| k != "cleanup.policy");
            compacted.configs.push(("cleanup.policy".into(), "compact".into()));
            for topic in &plan.changelogs {
                ensure_topic(admin, topic, inputs, &compacted).await?;
            }
            Ok(plan)
        }
        .boxed()
    }

    fn task(&self, mut setup: TaskSetup) -> BoxFuture<'static, ()> {
        let name = self.config.name.clone();
        let group = self.config.group_id(&setup.app_id);
        let stop = setup.stop.clone();
        let planned = match self.topology(&setup.app_id) {
            Ok(t) => t.clone(),
            Err(e) => {
                setup.fatal.report(Fatal::new(e.to_string()).unit(&name).group(&group));
                return futures::future::ready(()).boxed();
            }
        };
        let input_sources: Vec<_> = self
            .config
            .inputs
            .iter()
            .flat_map(|t| setup.sources.remove(t).unwrap_or_default())
            .collect();
        // This task's partitions of the repartition topics, by node.
        let repartitions: HashMap<NodeId, _> = planned
            .repartitions()
            .filter_map(|(node, topic)| {
                let source = setup.sources.remove(topic)?.pop()?.1;
                Some((node, source.take_until(stop.clone()).boxed()))
            })
            .collect();
        let recovery = self
            .config
            .recovery(UnitKind::Processor, &setup.app_id, &setup, Vec::new());
        let state = setup.reader.clone().map(|reader| StateAccess {
            reader,
            committed_only: self.config.exactly_once,
            health: setup.health.clone(),
            markers: setup.markers.clone(),
            holds: setup.holds.clone(),
            dir: setup.state.dir.clone(),
            cache: setup.state.cache,
        });
        let env = TaskEnv::with_state(Some(setup.partition), Some(setup.producer.clone()), recovery, state);
        let build = self.build_ctx(&setup.app_id, env.clone(), repartitions);
        let mut inputs: Vec<_> = input_sources
            .into_iter()
            .map(|(_, source)| {
                decoded(
                    source.take_until(stop.clone()).boxed(),
                    self.decoder.clone(),
                    env.recovery().clone(),
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
        let flow = (self.func)(Flow::new(stream::select_all(inputs), build.clone()));
        let terminal = match &self.output {
            Some(topic) => flow.to_with(topic, DynEncoder(self.encoder.clone())).into_stream(),
            // Only reachable when Out is Sent (`OutputMode`): nothing ever arrives.
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
        // The same function must build the same pipeline for every task: its node
        // names (repartition topics, windows) are shared by all of them.
        let built = build.topology();
        if built.shape() != planned.shape() {
            fatal.report(
                Fatal::new(format!(
                    "processor `{name}` built a different pipeline for partition {} than at start-up; the processor function must build the same pipeline every time.\nat start-up:\n{planned}now:\n{built}",
                    env.partition().map_or(-1, |p| p.0)
                ))
                .unit(&name)
                .group(&group),
            );
            return futures::future::ready(()).boxed();
        }
        async move {
            let mut terminal = terminal;
            let run = async {
                while terminal.next().await.is_some() {}
                if let Err(e) = producer.flush(drain_timeout).await {
                    tracing::warn!(processor = %name, error = %e, "flush at the end of a task failed");
                }
            };
            let outcome = guarded(run, &trackers).await;
            end_task(("processor", &name, &group), outcome, &trackers, &fatal);
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

/// Anything `App::processor` accepts: a [`Processor`] with an output topic, one whose
/// pipeline returns `Flow<Sent>`, or a function annotated with `#[kflow::processor]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a processor",
    note = "pass a `Processor` (with `.output(topic)` unless its pipeline returns `Flow<Sent>`), or a function annotated with `#[kflow::processor(...)]`"
)]
pub trait IntoProcessor {
    /// Input value type.
    type In: Send + 'static;
    /// Output value type.
    type Out: Send + 'static;
    /// [`Output`] or [`NoOutput`].
    type Mode: OutputMode<Self::Out>;
    /// The processor.
    fn into_processor(self) -> Processor<Self::In, Self::Out, Self::Mode>;
}

impl<In: Send + 'static, Out: Send + 'static, O: OutputMode<Out>> IntoProcessor for Processor<In, Out, O> {
    type In = In;
    type Out = Out;
    type Mode = O;
    fn into_processor(self) -> Self {
        self
    }
}
