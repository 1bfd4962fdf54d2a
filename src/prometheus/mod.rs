//! Metrics and health over HTTP: `/metrics` (Prometheus text format, through
//! metrics-exporter-prometheus), `/health/live` and `/health/ready`, and the admin
//! endpoints under `/admin/` (docs/admin-api.md).
//!
#![doc = include_str!("../../docs/observability.md")]
#![doc = include_str!("../../docs/admin-api.md")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use futures::FutureExt;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use kflow_core::runtime::{AppContext, Service};
use kflow_core::telemetry::Health;

mod admin;
use kflow_core::{Error, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of `kflow_handler_duration_seconds`, from 100 µs to 10 s.
const DURATION_BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0,
];

/// The HTTP server for metrics and health, run beside an app:
///
/// ```no_run
/// # async fn f() -> kflow::Result<()> {
/// use kflow::prelude::*;
/// use kflow::prometheus::Prometheus;
/// App::new("shop")
///     .service(Prometheus::on("127.0.0.1:9464"))
///     // .processor(..)
///     .run()
///     .await
/// # }
/// ```
///
/// `GET /metrics` renders every kflow metric (names in docs/observability.md); `GET /health/live`
/// answers 200 while the app runs, and 503 with the reason once something fatal happened
/// (a panic, a fatal client error) or it stopped; `GET /health/ready` answers 200 once
/// every listener and processor has its partitions, the last commit succeeded and no
/// partition is stalled, and 503 with the reason otherwise, including during shutdown.
pub struct Prometheus {
    address: String,
    bound: Arc<OnceLock<SocketAddr>>,
    token: Option<String>,
    #[cfg(feature = "kafka")]
    kafka: Option<kflow_kafka::KafkaAdmin>,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Prometheus {
    /// Serves on `address` (`host:port`; port 0 picks a free one, see
    /// [`Prometheus::local_addr`]).
    pub fn on(address: impl Into<String>) -> Self {
        Prometheus {
            address: address.into(),
            bound: Arc::default(),
            token: None,
            #[cfg(feature = "kafka")]
            kafka: None,
        }
    }

    /// Serves `GET /admin/groups/{group}/lag` and `GET /admin/topics/{topic}` from this
    /// cluster (`KafkaTransport::kafka_admin`).
    #[cfg(feature = "kafka")]
    pub fn kafka(mut self, admin: kflow_kafka::KafkaAdmin) -> Self {
        self.kafka = Some(admin);
        self
    }

    /// The bearer token admin requests that change state must carry
    /// (`Authorization: Bearer <token>`); default: `KFLOW_ADMIN_TOKEN`, if set. Without
    /// one, changes are accepted only when the server listens on a loopback address.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Where the server listens, once the app started.
    pub fn local_addr(&self) -> LocalAddr {
        LocalAddr(self.bound.clone())
    }

    /// The process-wide Prometheus recorder, installed on first use (the `metrics`
    /// facade takes one recorder per process). An error if another recorder is installed.
    pub fn recorder() -> Result<PrometheusHandle> {
        static HANDLE: OnceLock<std::result::Result<PrometheusHandle, String>> = OnceLock::new();
        HANDLE
            .get_or_init(|| {
                PrometheusBuilder::new()
                    .set_buckets_for_metric(
                        Matcher::Full("kflow_handler_duration_seconds".into()),
                        &DURATION_BUCKETS,
                    )
                    .and_then(PrometheusBuilder::install_recorder)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|reason| Error::Config {
                key: "metrics recorder".into(),
                reason,
            })
    }
}

/// The address a [`Prometheus`] server is bound to (known once the app started).
#[derive(Clone, Debug)]
pub struct LocalAddr(Arc<OnceLock<SocketAddr>>);

impl LocalAddr {
    /// The bound address, if the server started.
    pub fn get(&self) -> Option<SocketAddr> {
        self.0.get().copied()
    }
}

impl Service for Prometheus {
    fn start(self: Box<Self>, app: AppContext) -> BoxFuture<'static, Result<tokio::task::JoinHandle<()>>> {
        async move {
            let token = self
                .token
                .clone()
                .or_else(|| std::env::var("KFLOW_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()));
            let handle = Self::recorder()?;
            let listener = tokio::net::TcpListener::bind(&self.address)
                .await
                .map_err(|e| Error::Config {
                    key: "KFLOW_METRICS_ADDR".into(),
                    reason: format!("cannot listen on `{}`: {e}", self.address),
                })?;
            let addr = listener.local_addr()?;
            let _ = self.bound.set(addr);
            let access = admin::Access {
                token,
                loopback: addr.ip().is_loopback(),
                #[cfg(feature = "kafka")]
                kafka: self.kafka.clone(),
            };
            tracing::info!(%addr, admin_token = access.token.is_some(), "serving /metrics, /health/live, /health/ready and /admin/");
            Ok(tokio::spawn(serve(listener, handle, app, access)))
        }
        .boxed()
    }
}

async fn serve(listener: tokio::net::TcpListener, metrics: PrometheusHandle, app: AppContext, access: admin::Access) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (metrics, app, access) = (metrics.clone(), app.clone(), access.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (metrics, app, access) = (metrics.clone(), app.clone(), access.clone());
                async move {
                    let response = if req.uri().path().starts_with("/admin/") {
                        admin::respond(req, peer, &app, &access).await
                    } else {
                        respond(&req, &metrics, app.health())
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "metrics connection ended");
            }
        });
    }
}

fn respond<B>(req: &Request<B>, metrics: &PrometheusHandle, health: &Health) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => {
            metrics.run_upkeep();
            (StatusCode::OK, "text/plain; version=0.0.4", metrics.render())
        }
        "/health/live" => match health.why_not_live() {
            None => (StatusCode::OK, "text/plain", "live\n".to_string()),
            Some(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not live: {why}\n"),
            ),
        },
        "/health/ready" => match health.why_not_ready() {
            None => (StatusCode::OK, "text/plain", "ready\n".to_string()),
            Some(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {why}\n"),
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /health/live, /health/ready or /admin/units\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}
