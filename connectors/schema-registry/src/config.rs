//! Where the schema registry is and how kflow talks to it.

use std::time::Duration;

use kflow_core::{Error, Result};

/// How the subject a schema is registered under is named (as Confluent's serializers do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectNaming {
    /// `<topic>-value` (the default).
    #[default]
    Topic,
    /// The record's full name, e.g. `shop.Order`: one schema for a type on every topic.
    Record,
    /// `<topic>-<record full name>`: several record types on one topic.
    TopicRecord,
}

/// Settings of the schema registry client.
///
/// ```
/// use std::time::Duration;
/// use kflow_schema_registry::{RegistryConfig, SubjectNaming};
/// let c = RegistryConfig::new("http://127.0.0.1:8081")
///     .basic_auth("svc", "secret")
///     .subject_naming(SubjectNaming::Record)
///     .auto_register(false)
///     .retries(2);
/// assert_eq!(c.urls(), ["http://127.0.0.1:8081"]);
/// assert_eq!(c.request_timeout(), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    urls: Vec<String>,
    basic_auth: Option<(String, String)>,
    timeout: Duration,
    retries: u32,
    auto_register: bool,
    naming: SubjectNaming,
}

impl RegistryConfig {
    /// A registry at `url` (several may be given, comma-separated: tried in order).
    pub fn new(url: &str) -> Self {
        RegistryConfig {
            urls: url
                .split(',')
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .collect(),
            basic_auth: None,
            timeout: Duration::from_secs(10),
            retries: 5,
            auto_register: true,
            naming: SubjectNaming::Topic,
        }
    }

    /// From the environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `SCHEMA_REGISTRY_URL` | required; comma-separated URLs |
    /// | `SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO` | `user:password` |
    /// | `SCHEMA_REGISTRY_TIMEOUT_MS` | per request (default 10000) |
    /// | `SCHEMA_REGISTRY_RETRIES` | retries of an unreachable registry (default 5) |
    /// | `SCHEMA_REGISTRY_AUTO_REGISTER` | `true` (default) or `false` |
    /// | `SCHEMA_REGISTRY_SUBJECT_NAMING` | `topic` (default), `record` or `topic_record` |
    ///
    /// A missing URL or a malformed value is an error naming the variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`RegistryConfig::from_env`] over any lookup (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let bad = |key: &str, reason: String| Error::Config {
            key: key.to_string(),
            reason,
        };
        let url = get("SCHEMA_REGISTRY_URL")
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                bad(
                    "SCHEMA_REGISTRY_URL",
                    "not set; point it at a Confluent-compatible schema registry, e.g. http://127.0.0.1:8081".into(),
                )
            })?;
        let mut config = RegistryConfig::new(&url);
        if let Some(u) = config
            .urls
            .iter()
            .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return Err(bad(
                "SCHEMA_REGISTRY_URL",
                format!("`{u}` is not an http:// or https:// URL"),
            ));
        }
        if let Some(info) = get("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO") {
            let (user, password) = info.split_once(':').ok_or_else(|| {
                bad(
                    "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
                    "expected `user:password`".into(),
                )
            })?;
            config = config.basic_auth(user, password);
        }
        if let Some(ms) = get("SCHEMA_REGISTRY_TIMEOUT_MS") {
            let ms: u64 = ms.parse().map_err(|_| {
                bad(
                    "SCHEMA_REGISTRY_TIMEOUT_MS",
                    format!("`{ms}` is not a number of milliseconds"),
                )
            })?;
            config = config.timeout(Duration::from_millis(ms));
        }
        if let Some(n) = get("SCHEMA_REGISTRY_RETRIES") {
            let n = n
                .parse()
                .map_err(|_| bad("SCHEMA_REGISTRY_RETRIES", format!("`{n}` is not a whole number")))?;
            config = config.retries(n);
        }
        if let Some(v) = get("SCHEMA_REGISTRY_AUTO_REGISTER") {
            let v = match v.as_str() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(bad(
                        "SCHEMA_REGISTRY_AUTO_REGISTER",
                        format!("`{other}` is not true or false"),
                    ))
                }
            };
            config = config.auto_register(v);
        }
        if let Some(v) = get("SCHEMA_REGISTRY_SUBJECT_NAMING") {
            let naming = match v.as_str() {
                "topic" => SubjectNaming::Topic,
                "record" => SubjectNaming::Record,
                "topic_record" => SubjectNaming::TopicRecord,
                other => {
                    return Err(bad(
                        "SCHEMA_REGISTRY_SUBJECT_NAMING",
                        format!("`{other}` is not one of topic, record, topic_record"),
                    ))
                }
            };
            config = config.subject_naming(naming);
        }
        Ok(config)
    }

    /// Sends HTTP basic authentication.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_string(), password.to_string()));
        self
    }

    /// The timeout of each request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a request to an unreachable registry is retried (default 5; waits of
    /// 200 ms, doubling, at most 5 s), before the error stops the app.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Whether writers register their schema (default `true`) or use the subject's latest
    /// registered version.
    pub fn auto_register(mut self, on: bool) -> Self {
        self.auto_register = on;
        self
    }

    /// How subjects are named (default [`SubjectNaming::Topic`]).
    pub fn subject_naming(mut self, naming: SubjectNaming) -> Self {
        self.naming = naming;
        self
    }

    /// The registry URLs.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn auth(&self) -> Option<&(String, String)> {
        self.basic_auth.as_ref()
    }

    pub(crate) fn retry_count(&self) -> u32 {
        self.retries
    }

    /// Whether writers register their schema.
    pub fn registers(&self) -> bool {
        self.auto_register
    }

    /// The subject naming.
    pub fn naming(&self) -> SubjectNaming {
        self.naming
    }
}
