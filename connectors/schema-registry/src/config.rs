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
/// Credentials (the basic-auth password, user info in a URL) never appear in its `Debug`
/// output, nor in kflow's logs and errors about the registry.
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
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    urls: Vec<String>,
    basic_auth: Option<(String, String)>,
    timeout: Duration,
    retries: u32,
    auto_register: bool,
    naming: SubjectNaming,
}

/// What stands in for a credential in output.
pub const REDACTED: &str = "[redacted]";

/// `text` with the user info of every URL in it (`scheme://user:password@host`) replaced
/// by [`REDACTED`].
///
/// ```
/// use kflow_schema_registry::redact_urls;
/// assert_eq!(
///     redact_urls("error sending request for url (https://svc:pw@registry:8081/subjects)"),
///     "error sending request for url (https://[redacted]@registry:8081/subjects)"
/// );
/// assert_eq!(redact_urls("http://127.0.0.1:8081"), "http://127.0.0.1:8081");
/// ```
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c == ')' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(i) => {
                out.push_str(REDACTED);
                out.push_str(&authority[i..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|u| redact_urls(u)).collect();
        f.debug_struct("RegistryConfig")
            .field("urls", &urls)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(user, _)| (user, REDACTED)),
            )
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("auto_register", &self.auto_register)
            .field("naming", &self.naming)
            .finish()
    }
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
                format!("`{}` is not an http:// or https:// URL", redact_urls(u)),
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

    /// The registry URLs (as given: they may hold credentials; see [`redact_urls`]).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_out_of_debug_output_and_errors() {
        let config = RegistryConfig::new("https://svc:url-pw-1@registry.example:8081").basic_auth("svc", "auth-pw-2");
        let shown = format!("{config:?}");
        assert!(!shown.contains("url-pw-1") && !shown.contains("auth-pw-2"), "{shown}");
        assert!(
            shown.contains("registry.example:8081") && shown.contains(REDACTED),
            "{shown}"
        );
        let env = |k: &str| match k {
            "SCHEMA_REGISTRY_URL" => Some("ftp://svc:url-pw-3@registry".to_string()),
            _ => None,
        };
        let err = RegistryConfig::from_lookup(env).unwrap_err().to_string();
        assert!(
            err.contains("SCHEMA_REGISTRY_URL") && !err.contains("url-pw-3"),
            "{err}"
        );
    }
}
