//! `App`: registers listeners and processors and runs them until told to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

use super::member::{self, Control, MemberEnv};
use super::pauses::Pauses;
use super::service::Service;
use super::unit::Unit;
use super::{IntoListener, IntoProcessor, RuntimeConfig, TopicDefaults};
use crate::error::Fatal;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::{ErrorPolicies, Policy};
use crate::record::{Timestamp, TopicPartition};
use crate::telemetry::{FatalReporter, Health, Stats};
#[cfg(doc)]
use crate::transport::memory::MemoryBroker;
use crate::transport::Transport;

/// A kflow application: listeners and processors on one transport.
///
/// ```no_run
/// use kflow_core::{App, Flow, Processor};
/// fn double(n: Flow<i64>) -> Flow<i64> { n.map(|v| v * 2) }
/// # async fn run() -> kflow_core::Result<()> {
/// App::new("numbers")
///     .processor(Processor::new("double", double).input(["in"]).output("out"))
///     .run()
///     .await // until SIGINT/SIGTERM, then drains and commits
/// # }
/// ```
pub struct App {
    app_id: String,
    transport: Option<Arc<dyn Transport>>,
    units: Vec<Box<dyn Unit>>,
    config: RuntimeConfig,
    topics: TopicDefaults,
    policies: ErrorPolicies,
    services: Vec<Box<dyn Service>>,
    instance_id: Option<String>,
    state: super::StateSettings,
}

impl App {
    /// An app with this id (the prefix of its group ids and internal topics).
    pub fn new(app_id: impl Into<String>) -> Self {
        App {
            app_id: app_id.into(),
            transport: None,
            units: Vec::new(),
            config: RuntimeConfig::default(),
            topics: TopicDefaults::default(),
            policies: ErrorPolicies::default(),
            services: Vec::new(),
            instance_id: None,
            state: super::StateSettings::default(),
        }
    }

    /// An app configured from the environment: `KFLOW_APP_ID` (default `kflow-app`),
    /// `KFLOW_INSTANCE_ID`, `KFLOW_COMMIT_INTERVAL_MS`, `KFLOW_COMMIT_RECORDS`
    /// ([`App::commit_every_records`]), `KFLOW_DRAIN_TIMEOUT_MS`,
    /// `KFLOW_STALL_TIMEOUT_MS`, `KFLOW_STATE_DIR` ([`App::state_dir`]),
    /// `KFLOW_STATE_CACHE` ([`App::state_cache`]). A malformed value is an error naming
    /// the variable. The
    /// transport is not chosen here: the `kflow` facade's `App::from_env()` adds Kafka
    /// from `KAFKA_BROKERS`; an app without a transport does not start.
    pub fn new_from_env() -> Result<Self> {
        let app_id = std::env::var("KFLOW_APP_ID").unwrap_or_else(|_| "kflow-app".into());
        let mut app = App::new(app_id);
        if let Ok(id) = std::env::var("KFLOW_INSTANCE_ID") {
            app.instance_id = Some(id);
        }
        if let Some(ms) = env_millis("KFLOW_COMMIT_INTERVAL_MS")? {
            app.config.commit_interval = ms;
        }
        if let Ok(n) = std::env::var("KFLOW_COMMIT_RECORDS") {
            let records = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| Error::Config {
                key: "KFLOW_COMMIT_RECORDS".into(),
                reason: format!("`{n}` is not a positive number of records"),
            })?;
            app.config.commit_records = Some(records);
        }
        if let Some(ms) = env_millis("KFLOW_DRAIN_TIMEOUT_MS")? {
            app.config.drain_timeout = ms;
        }
        if let Some(ms) = env_millis("KFLOW_STALL_TIMEOUT_MS")? {
            app.config.stall_timeout = ms;
        }
        if let Ok(dir) = std::env::var("KFLOW_STATE_DIR") {
            app.state.dir = Some(dir.into());
        }
        if let Ok(n) = std::env::var("KFLOW_STATE_CACHE") {
            app.state.cache = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| Error::Config {
                key: "KFLOW_STATE_CACHE".into(),
                reason: format!("`{n}` is not a positive number of entries"),
            })?;
        }
        Ok(app)
    }

    /// This instance's id among the app's instances (default: random per process). It
    /// names the transactional producers of exactly-once processors
    /// (`<group>-<instance id>`): give each instance a stable, distinct id (e.g. a pod
    /// ordinal) so that a restarted instance fences its predecessor's open transaction at
    /// once instead of waiting for the transaction timeout.
    pub fn instance_id(mut self, id: &str) -> Self {
        self.instance_id = Some(id.to_string());
        self
    }

    /// Keeps the state of tumbling and hopping windows and of `stateful` in on-disk stores
    /// under `dir` (one redb database per store and partition), so that state can be
    /// larger than memory and a restart reads only the changelog written since the last
    /// checkpoint (every 10 s and when a task stops; at-least-once processors only, see
    /// `docs/state.md`). Session and sliding windows stay in memory. Each instance on a
    /// machine needs its own directory. Default: every store in memory.
    ///
    /// ```
    /// let app = kflow_core::App::new("shop").state_dir("/var/lib/shop/state");
    /// # let _ = app;
    /// ```
    pub fn state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.state.dir = Some(dir.into());
        self
    }

    /// How many entries each on-disk store keeps in memory (default 100 000); the rest
    /// are read from its database when a record needs them.
    pub fn state_cache(mut self, entries: usize) -> Self {
        self.state.cache = entries.max(1);
        self
    }

    /// Runs on this transport: Kafka (`kflow::kafka::KafkaTransport`), or
    /// [`MemoryBroker`] for an in-memory broker. An app without one does not start: it
    /// never falls back to a broker that keeps nothing.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// Registers a processor: a [`Processor`](super::Processor) or a `#[kflow::processor]` function.
    pub fn processor(mut self, processor: impl IntoProcessor) -> Self {
        self.units.push(Box::new(processor.into_processor()));
        self
    }

    /// Registers a listener: a [`Listener`](super::Listener) or a `#[kflow::listener]` function.
    pub fn listener(mut self, listener: impl IntoListener) -> Self {
        self.units.push(Box::new(listener.into_listener()));
        self
    }

    /// How often offsets are committed (default 5 s).
    pub fn commit_interval(mut self, every: Duration) -> Self {
        self.config.commit_interval = every;
        self
    }

    /// Also commits once `records` records were taken since the last commit, besides
    /// every commit interval (a member-wide count; the commit covers what is done by
    /// then). Fewer records to replay after a crash at high rates, at the cost of more
    /// commits.
    ///
    /// ```
    /// let app = kflow_core::App::new("shop").commit_every_records(10_000);
    /// # let _ = app;
    /// ```
    pub fn commit_every_records(mut self, records: u64) -> Self {
        self.config.commit_records = Some(records.max(1));
        self
    }

    /// How long stopping a partition's work may take (default 10 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.drain_timeout = timeout;
        self
    }

    /// How long a partition with records waiting may make no progress before the app
    /// reports it stalled and is not ready (default 60 s; see
    /// [`RuntimeConfig::stall_timeout`]).
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.config.stall_timeout = timeout;
        self
    }

    /// How missing output, repartition and late topics are created.
    pub fn topic_defaults(mut self, topics: TopicDefaults) -> Self {
        self.topics = topics;
        self
    }

    /// The default error policy of every listener and processor for deserialization,
    /// handler and serialization errors; a unit's own `on_error` settings win. Without it,
    /// the defaults of [`ErrorPolicies`] apply.
    ///
    /// ```
    /// use kflow_core::{policy, App};
    /// let app = App::new("shop").on_error(policy::skip());
    /// # let _ = app;
    /// ```
    pub fn on_error(mut self, policy: Policy) -> Self {
        self.policies = self.policies.all(policy);
        self
    }

    /// The default error policy of every listener and processor for one kind of error.
    pub fn on_error_for(mut self, kind: ErrorKind, policy: Policy) -> Self {
        self.policies = self.policies.set(kind, policy);
        self
    }

    /// Runs `service` beside the app (e.g. the facade's metrics and health server): it
    /// starts with the app and is stopped after the app stopped.
    pub fn service(mut self, service: impl Service) -> Self {
        self.services.push(Box::new(service));
        self
    }

    /// The app id.
    pub fn id(&self) -> &str {
        &self.app_id
    }

    /// Runs until SIGINT or SIGTERM, then stops fetching, drains in-flight work (bounded
    /// by the drain timeout) and commits. Returns the error that stopped the app, if one
    /// did.
    pub async fn run(self) -> Result<()> {
        // Handlers first: a signal during start-up (a pod stopped while it starts) is
        // kept and stops the app, instead of killing the process.
        let signal = shutdown_signal()?;
        self.run_until(signal).await
    }

    /// Like [`App::run`], stopping when `shutdown` completes instead of on a signal. If it
    /// completes while the app is still starting, the start is abandoned (nothing was
    /// processed or committed yet).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut handle = tokio::select! {
            started = self.start() => started?,
            () = &mut shutdown => {
                tracing::info!("stopped while starting");
                return Ok(());
            }
        };
        let stopped_by_itself = tokio::select! {
            () = shutdown => false,
            () = handle.stopped() => true,
        };
        if !stopped_by_itself {
            tracing::info!("shutting down");
        }
        handle.shutdown().await
    }

    /// Starts the app in the background: topics are checked and created, members join
    /// their groups. Errors at this stage (missing input topic, bad definition) are
    /// returned here.
    pub async fn start(mut self) -> Result<AppHandle> {
        let transport = self.transport.take().ok_or_else(|| Error::Config {
            key: "transport".into(),
            reason: "the app has no broker: use `App::from_env()` (Kafka from KAFKA_BROKERS), `.transport(KafkaTransport::connect(..))`, or `.transport(MemoryBroker::new())` for an in-memory broker that keeps nothing".into(),
        })?;
        let admin = transport.admin();
        let producer = transport.producer()?;
        let stats = Arc::new(Stats::default());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (control_tx, _) = broadcast::channel(64);
        let mut members = JoinSet::new();
        let health = Health::default();
        let (fatal, fatal_rx) = FatalReporter::new(health.clone());
        let pauses = Pauses::default();
        let registry = super::context::Registry::default();
        let context =
            super::context::AppContext::new(health.clone(), pauses.clone(), registry.clone(), control_tx.clone());
        let instance_id = self
            .instance_id
            .clone()
            .unwrap_or_else(|| format!("{:08x}", fastrand::u32(..)));
        health.expect_units(self.units.len());
        let mut services = ServiceTasks(Vec::new());
        if let Some(signal) = transport.failures() {
            let (fatal, what) = (fatal.clone(), transport.describe());
            services.0.push(tokio::spawn(async move {
                let reason = signal.wait().await;
                fatal.report(Fatal::new(format!("{what}: {reason}")));
            }));
        }
        for service in std::mem::take(&mut self.services) {
            let name = service.name();
            let task = service.start(context.clone()).await?;
            services.0.push(watch_service(name, task, fatal.clone()));
        }
        let units: Vec<Arc<dyn Unit>> = std::mem::take(&mut self.units)
            .into_iter()
            .map(|mut unit| {
                unit.config_mut().resolve_policies(&self.policies);
                Arc::from(unit)
            })
            .collect();
        for unit in &units {
            if unit.config().exactly_once && unit.plan(&self.app_id).is_ok() && !transport.transactions() {
                return Err(Error::Config {
                    key: format!("processor `{}` exactly_once", unit.config().name),
                    reason: format!("{} has no transactions (use Kafka)", transport.describe()),
                });
            }
            let plan = unit.prepare(&self.app_id, &*admin, &self.topics).await?;
            let mut topics = unit.config().inputs.clone();
            let internal: Vec<String> = plan.repartitions.iter().chain(&plan.retries).cloned().collect();
            topics.extend(internal.iter().cloned());
            tracing::info!(unit = %unit.config().name, group = %unit.config().group_id(&self.app_id), ?topics, transport = %transport.describe(), "starting");
            registry.add_unit(
                &unit.config().name,
                unit.kind(),
                &unit.config().group_id(&self.app_id),
                topics.clone(),
                unit.config().exactly_once,
            );
            let env = MemberEnv {
                app_id: self.app_id.clone(),
                transport: transport.clone(),
                producer: producer.clone(),
                stats: stats.clone(),
                fatal: fatal.clone(),
                config: self.config,
                topics,
                internal_topics: internal,
                shutdown: shutdown_rx.clone(),
                control: control_tx.subscribe(),
                health: health.clone(),
                pauses: pauses.clone(),
                instance_id: instance_id.clone(),
                state: self.state.clone(),
                registry: registry.clone(),
            };
            transport.check_consumer(&member::consumer_config(&**unit, &env))?;
            let fatal = fatal.clone();
            let unit = unit.clone();
            let span = tracing::info_span!("member", unit = %unit.config().name);
            let stopping = shutdown_rx.clone();
            let (name, group) = (unit.config().name.clone(), unit.config().group_id(&self.app_id));
            let what = format!("{} `{name}` (group `{group}`)", unit.kind());
            members.spawn(tracing::Instrument::instrument(
                async move {
                    let outcome = std::panic::AssertUnwindSafe(member::run(unit, env))
                        .catch_unwind()
                        .await;
                    let reason = match outcome {
                        Ok(Ok(())) if *stopping.borrow() => return,
                        Ok(Ok(())) => format!("{what}: its consumer stopped by itself"),
                        Ok(Err(e)) => format!("{what}: {e}"),
                        Err(panic) => format!(
                            "{what}: its group member panicked: {}",
                            super::task::panic_message(&*panic)
                        ),
                    };
                    fatal.report(Fatal::new(reason).unit(name).group(group));
                },
                span,
            ));
        }
        Ok(AppHandle {
            members,
            shutdown: shutdown_tx,
            control: control_tx,
            fatal: fatal_rx,
            first_error: None,
            stats,
            config: self.config,
            health,
            services,
            pauses,
            context,
        })
    }
}

/// The services' tasks and their watchers: aborted when the handle goes (after shutdown,
/// or on a crash).
struct ServiceTasks(Vec<tokio::task::JoinHandle<()>>);

/// Watches a service: one that panics or ends while the app runs stops the app (its
/// endpoints would be gone without a word). Aborting the watcher aborts the service.
fn watch_service(name: String, task: tokio::task::JoinHandle<()>, fatal: FatalReporter) -> tokio::task::JoinHandle<()> {
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    tokio::spawn(async move {
        let _service = AbortOnDrop(task.abort_handle());
        match task.await {
            Err(e) if e.is_cancelled() => {}
            Err(e) => fatal.report(Fatal::new(format!(
                "service `{name}` panicked: {}",
                super::task::panic_message(&*e.into_panic())
            ))),
            Ok(()) => fatal.report(Fatal::new(format!("service `{name}` stopped by itself"))),
        }
    })
}

impl Drop for ServiceTasks {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| t.abort());
    }
}

fn env_millis(key: &str) -> Result<Option<Duration>> {
    match std::env::var(key) {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|e| Error::Config {
                key: key.to_string(),
                reason: format!("`{v}` is not a number of milliseconds: {e}"),
            }),
        Err(_) => Ok(None),
    }
}

/// Completes on SIGINT or SIGTERM (Ctrl-C elsewhere), with the handlers installed when
/// this is called, not when it is first awaited. [`App::run`] installs them as it
/// starts; an app with slow set-up before that (connecting, reading config) can install
/// them first and pass the signal to [`App::run_until`], so that a stop during set-up is
/// a graceful one too.
///
/// ```no_run
/// # async fn f(app: kflow_core::App) -> kflow_core::Result<()> {
/// let stop = kflow_core::runtime::shutdown_signal()?;
/// // ... slow set-up ...
/// app.run_until(stop).await
/// # }
/// ```
#[cfg(unix)]
pub fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Completes on Ctrl-C (see the Unix version).
#[cfg(not(unix))]
pub fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// A running app.
pub struct AppHandle {
    members: JoinSet<()>,
    shutdown: watch::Sender<bool>,
    control: broadcast::Sender<Control>,
    fatal: mpsc::UnboundedReceiver<Fatal>,
    first_error: Option<Fatal>,
    stats: Arc<Stats>,
    config: RuntimeConfig,
    health: Health,
    services: ServiceTasks,
    pauses: Pauses,
    context: super::context::AppContext,
}

impl AppHandle {
    /// The app's liveness and readiness.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The app's counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// What services see of the app ([`super::AppContext`]): its units, pausing,
    /// seeking and commits on demand.
    pub fn context(&self) -> super::context::AppContext {
        self.context.clone()
    }

    /// Completes when the app stopped by itself: an error under the `fail` policy, a
    /// panic, or a failed write.
    pub async fn stopped(&mut self) {
        if self.first_error.is_some() {
            return;
        }
        if let Some(reason) = self.fatal.recv().await {
            self.first_error = Some(reason);
        } else {
            std::future::pending::<()>().await;
        }
    }

    /// The error that stopped (or is stopping) the app, if one happened so far, in
    /// words (see [`AppHandle::failure`] for the structured value).
    pub fn error(&mut self) -> Option<&str> {
        self.failure().map(|f| f.reason.as_str())
    }

    /// The error that stopped (or is stopping) the app, if one happened so far: which
    /// unit, where and why.
    pub fn failure(&mut self) -> Option<&Fatal> {
        if self.first_error.is_none() {
            self.first_error = self.fatal.try_recv().ok();
        }
        self.first_error.as_ref()
    }

    /// Commits every member's frontiers now (normally they commit on an interval).
    pub async fn commit_now(&self) {
        super::context::commit_now(&self.control).await
    }

    /// Pauses one partition: its task takes no new records until
    /// [`AppHandle::resume`] (records already taken finish and commit). The consumer
    /// stays in its group; once the partition's fetch buffer is full, fetching from it
    /// stops too. A pause outlasts rebalances: if the partition moves away and comes
    /// back, it is still paused. Pausing a partition this app does not consume is kept
    /// in case it is assigned later.
    ///
    /// ```
    /// use kflow_core::{App, Listener, TestDriver, TopicPartition};
    /// let app = App::new("billing").listener(Listener::new("l", ["invoices"], |_: String, _: kflow_core::Meta| async { Ok::<(), kflow_core::HandlerError>(()) }));
    /// let mut driver = TestDriver::new(app, &[("invoices", 2)]).unwrap();
    /// let handle = driver.app(0).unwrap();
    /// handle.pause(&TopicPartition::new("invoices", 0));
    /// assert_eq!(handle.paused().0, vec![TopicPartition::new("invoices", 0)]);
    /// handle.resume(&TopicPartition::new("invoices", 0));
    /// assert!(handle.paused().0.is_empty());
    /// ```
    pub fn pause(&self, partition: &TopicPartition) {
        tracing::info!(%partition, "partition paused");
        self.pauses.set_partition(partition, true);
    }

    /// Resumes a partition paused with [`AppHandle::pause`].
    pub fn resume(&self, partition: &TopicPartition) {
        tracing::info!(%partition, "partition resumed");
        self.pauses.set_partition(partition, false);
    }

    /// Pauses every partition of a topic (see [`AppHandle::pause`]).
    pub fn pause_topic(&self, topic: &str) {
        tracing::info!(topic, "topic paused");
        self.pauses.set_topic(topic, true);
    }

    /// Resumes a topic paused with [`AppHandle::pause_topic`]; partitions paused one
    /// by one stay paused.
    pub fn resume_topic(&self, topic: &str) {
        tracing::info!(topic, "topic resumed");
        self.pauses.set_topic(topic, false);
    }

    /// The paused partitions and the paused topics.
    pub fn paused(&self) -> (Vec<TopicPartition>, Vec<String>) {
        self.pauses.paused()
    }

    /// Advances stream time in every task to `ts` (windows ending before it close).
    pub fn advance_stream_time(&self, ts: Timestamp) {
        let _ = self.control.send(Control::Tick(ts));
    }

    /// Stops fetching, drains in-flight work (bounded), commits and leaves the groups.
    /// Returns the first error that stopped the app, if any.
    pub async fn shutdown(mut self) -> Result<()> {
        self.health.stopping();
        tracing::info!("shutting down: draining in-flight work, then a final commit");
        let _ = self.shutdown.send(true);
        // Members drain their tasks within the drain timeout; allow for the commit too.
        let bound = self.config.drain_timeout * 2 + Duration::from_secs(5);
        let drained = tokio::time::timeout(bound, async { while self.members.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!("members did not stop in time: abandoning them");
            self.members.abort_all();
        }
        if self.first_error.is_none() {
            self.first_error = self.fatal.try_recv().ok();
        }
        self.health.stopped();
        drop(self.services);
        match &self.first_error {
            Some(reason) => tracing::warn!(%reason, "stopped after an error"),
            None => tracing::info!("stopped"),
        }
        match self.first_error {
            Some(fatal) => Err(Error::Processing(fatal)),
            None => Ok(()),
        }
    }

    /// Stops everything at once, as a crash would: no draining and no final commit.
    pub fn abort(mut self) {
        self.members.abort_all();
    }
}
