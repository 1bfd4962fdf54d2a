//! The registry client: schema_registry_converter's async encoders and decoders (each with
//! its concurrent schema cache), shared by every codec made from it, and retries.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kflow_core::{Error, Result};
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::json::{JsonDecoder, JsonEncoder};
use schema_registry_converter::async_impl::schema_registry::{get_all_subjects, SrSettings};
use schema_registry_converter::error::SRCError;

use crate::config::{redact_urls, RegistryConfig};

/// A Confluent-compatible schema registry. Cheap to clone; codecs made from one share its
/// schema caches.
///
/// ```
/// use kflow_schema_registry::{RegistryConfig, SchemaRegistry};
/// let registry = SchemaRegistry::new(RegistryConfig::new("http://127.0.0.1:8081")).unwrap();
/// assert_eq!(registry.url(), "http://127.0.0.1:8081");
/// ```
#[derive(Clone)]
pub struct SchemaRegistry(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub config: RegistryConfig,
    pub settings: SrSettings,
    /// Decoders look schemas up by id, so one cache serves every codec.
    pub avro_decoder: AvroDecoder<'static>,
    pub json_decoder: JsonDecoder<'static>,
}

impl std::fmt::Debug for SchemaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistry")
            .field("config", &self.0.config)
            .finish()
    }
}

impl SchemaRegistry {
    /// A client for the registry `config` describes (no request is made yet).
    pub fn new(config: RegistryConfig) -> Result<Self> {
        let mut urls = config.urls().iter();
        let first = urls.next().cloned().unwrap_or_default();
        let mut builder = SrSettings::new_builder(first);
        for url in urls {
            builder.add_url(url.clone());
        }
        if let Some((user, password)) = config.auth() {
            builder.set_basic_authorization(user, Some(password));
        }
        builder.set_timeout(config.request_timeout());
        let settings = builder.build().map_err(|e| Error::Config {
            key: "SCHEMA_REGISTRY_URL".into(),
            reason: redact_urls(&e.to_string()),
        })?;
        Ok(SchemaRegistry(Arc::new(Inner {
            avro_decoder: AvroDecoder::new(settings.clone()),
            json_decoder: JsonDecoder::new(settings.clone()),
            settings,
            config,
        })))
    }

    /// A client configured by [`RegistryConfig::from_env`].
    pub fn from_env() -> Result<Self> {
        Self::new(RegistryConfig::from_env()?)
    }

    /// A new Avro encoder. Encoders cache schemas by subject whatever schema was supplied,
    /// so each codec (one Rust type, one schema) has its own.
    pub(crate) fn avro_encoder(&self) -> AvroEncoder<'static> {
        AvroEncoder::new(self.0.settings.clone())
    }

    /// A new JSON Schema encoder (one per codec, as [`SchemaRegistry::avro_encoder`]).
    pub(crate) fn json_encoder(&self) -> JsonEncoder<'static> {
        JsonEncoder::new(self.0.settings.clone())
    }

    /// The (first) registry URL, as configured (it may hold credentials; logs and errors
    /// show it through [`redact_urls`]).
    pub fn url(&self) -> &str {
        self.0.config.urls().first().map_or("", String::as_str)
    }

    /// Its settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.0.config
    }

    /// Checks that the registry answers (lists its subjects), retrying as configured.
    pub async fn check(&self) -> Result<()> {
        self.retrying(|| async { get_all_subjects(&self.0.settings).await.map(|_| ()) }, || {})
            .await
            .map_err(|e| self.unreachable(e))
    }

    /// The error for a registry that stayed unreachable.
    pub(crate) fn unreachable(&self, e: SRCError) -> Error {
        Error::transport(
            format!("schema registry at {}", redact_urls(self.url())),
            format!(
                "did not answer after {} retries: {}",
                self.0.config.retry_count(),
                describe(&e)
            ),
        )
    }

    /// Runs `op` until it succeeds, fails for good, or its retriable failures used up the
    /// configured retries; `reset` runs before each retry (to drop cached errors).
    pub(crate) async fn retrying<T, F, Fut>(&self, mut op: F, reset: impl Fn()) -> std::result::Result<T, SRCError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SRCError>>,
    {
        let mut wait = Duration::from_millis(200);
        let mut retries = 0;
        loop {
            match op().await {
                Err(e) if e.retriable && retries < self.0.config.retry_count() => {
                    tracing::warn!(registry = %redact_urls(self.url()), error = %describe(&e), ?wait, "schema registry unreachable; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                    retries += 1;
                    reset();
                }
                other => return other,
            }
        }
    }
}

/// A registry error in one line: what failed and why (URL credentials redacted).
pub(crate) fn describe(e: &SRCError) -> String {
    redact_urls(&match &e.cause {
        Some(cause) => format!("{}: {cause}", e.error),
        None => e.error.clone(),
    })
}

/// Where a codec finds its registry: given, or from the environment on first use (so that
/// the macros' `value_format = avro` needs no code; a missing `SCHEMA_REGISTRY_URL` is then
/// a start-up error).
#[derive(Clone)]
pub(crate) enum Source {
    Given(SchemaRegistry),
    Env(Arc<OnceLock<std::result::Result<SchemaRegistry, String>>>),
}

impl Source {
    pub fn env() -> Self {
        Source::Env(Arc::default())
    }

    pub fn get(&self) -> std::result::Result<&SchemaRegistry, String> {
        match self {
            Source::Given(r) => Ok(r),
            Source::Env(cell) => cell
                .get_or_init(|| SchemaRegistry::from_env().map_err(|e| e.to_string()))
                .as_ref()
                .map_err(Clone::clone),
        }
    }

    /// The start-up check: configured, and answering.
    pub async fn check(self) -> Result<()> {
        let registry = self.get().map_err(|reason| Error::Config {
            key: "schema registry".into(),
            reason,
        })?;
        registry.check().await
    }
}
