//! [`ClusterHealthCheck`]: the cluster's health in the app's readiness and metrics.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use kflow_core::runtime::{AppContext, Service};
use kflow_core::Result;

use super::KafkaAdmin;

/// A service that checks the cluster every `interval` (default 10 s): the ping, the
/// broker count and the partitions of `topics` (every non-internal topic when none are
/// given) that are leaderless, under-replicated or below `min.insync.replicas`. It sets
/// the gauges `kflow_cluster_brokers`, `kflow_cluster_unhealthy_partitions` and
/// `kflow_cluster_ping_seconds`, and, with [`ClusterHealthCheck::gate_readiness`], makes
/// the app not ready while the cluster does not answer or a partition is unhealthy.
/// Readiness is not gated by default (a replica catching up should not take every
/// instance out of a load balancer).
///
/// ```no_run
/// # async fn f() -> kflow_core::Result<()> {
/// use kflow_kafka::{ClusterHealthCheck, KafkaConfig, KafkaTransport};
/// let transport = KafkaTransport::connect(KafkaConfig::new("127.0.0.1:9092"))?;
/// let check = ClusterHealthCheck::new(transport.kafka_admin().clone()).topics(["orders"]).gate_readiness();
/// let app = kflow_core::App::new("shop").transport(transport).service(check);
/// # let _ = app; Ok(()) }
/// ```
pub struct ClusterHealthCheck {
    admin: KafkaAdmin,
    topics: Vec<String>,
    interval: Duration,
    gate: bool,
}

impl ClusterHealthCheck {
    /// Checks the cluster `admin` talks to.
    pub fn new(admin: KafkaAdmin) -> Self {
        ClusterHealthCheck {
            admin,
            topics: Vec::new(),
            interval: Duration::from_secs(10),
            gate: false,
        }
    }

    /// Checks only these topics' partitions.
    pub fn topics<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// How often to check (default 10 s).
    pub fn every(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Makes the app not ready while the cluster is unhealthy (off by default).
    pub fn gate_readiness(mut self) -> Self {
        self.gate = true;
        self
    }
}

impl Service for ClusterHealthCheck {
    fn start(self: Box<Self>, app: AppContext) -> BoxFuture<'static, Result<tokio::task::JoinHandle<()>>> {
        async move {
            let this = *self;
            Ok(tokio::spawn(async move {
                let mut every = tokio::time::interval(this.interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let topics: Vec<&str> = this.topics.iter().map(String::as_str).collect();
                loop {
                    every.tick().await;
                    let problem = match this.admin.cluster_health(&topics).await {
                        Ok(h) => {
                            metrics::gauge!("kflow_cluster_brokers").set(h.brokers as f64);
                            metrics::gauge!("kflow_cluster_unhealthy_partitions").set(h.unhealthy.len() as f64);
                            metrics::gauge!("kflow_cluster_ping_seconds").set(h.ping_ms / 1000.0);
                            (!h.is_healthy()).then(|| {
                                let first = &h.unhealthy[0];
                                format!(
                                    "{} unhealthy partition(s), e.g. {}-{}: {:?}",
                                    h.unhealthy.len(),
                                    first.topic,
                                    first.partition,
                                    first.problems
                                )
                            })
                        }
                        Err(e) => {
                            metrics::gauge!("kflow_cluster_brokers").set(0.0);
                            Some(format!("the cluster does not answer: {e}"))
                        }
                    };
                    if let Some(p) = &problem {
                        tracing::warn!(problem = %p, "cluster health check");
                    }
                    if this.gate {
                        app.health().set_check("cluster", problem);
                    }
                }
            }))
        }
        .boxed()
    }
}
