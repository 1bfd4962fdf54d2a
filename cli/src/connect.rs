//! Where the cluster and the schema registry are, from flags or the environment.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use kflow::kafka::{KafkaConfig, KafkaTransport};
use kflow::schema_registry::{RegistryConfig, SchemaRegistry};

/// Connection flags shared by every command.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    #[arg(long, short = 'b', env = "KAFKA_BROKERS", global = true)]
    pub brokers: Option<String>,
    /// A named profile from the config file (brokers, properties, schema registry).
    #[arg(long, env = "KFLOW_PROFILE", global = true)]
    pub profile: Option<String>,
    /// The config file with the profiles (default: $XDG_CONFIG_HOME/kflow/config.toml,
    /// else ~/.config/kflow/config.toml).
    #[arg(long, env = "KFLOW_CONFIG", global = true)]
    pub config_file: Option<std::path::PathBuf>,
    /// A librdkafka property for every client, `key=value` (repeatable).
    #[arg(long = "property", short = 'X', value_name = "KEY=VALUE", global = true)]
    pub properties: Vec<String>,
    /// The Confluent-compatible schema registry (for `--value-format avro`).
    #[arg(long, env = "SCHEMA_REGISTRY_URL", global = true)]
    pub schema_registry: Option<String>,
    /// Print the result as one JSON document on stdout, for scripts (`consume` prints
    /// JSON lines with `--output json`).
    #[arg(long, global = true)]
    pub json: bool,
}

impl Connection {
    /// The profile named with `--profile`, if any.
    fn profile(&self) -> Result<Option<crate::profiles::Profile>> {
        match &self.profile {
            Some(name) => crate::profiles::load(name, self.config_file.as_deref()).map(Some),
            None => Ok(None),
        }
    }

    /// The Kafka settings, as apps read them: the security variables and
    /// `KAFKA_PROPERTIES` (and `KAFKA_PRODUCER_PROPERTIES` / `KAFKA_CONSUMER_PROPERTIES`)
    /// of the environment, then the profile's, then `-X` flags; an
    /// error names a missing broker list or a bad property.
    pub fn config(&self) -> Result<KafkaConfig> {
        let profile = self.profile()?.unwrap_or_default();
        let brokers = self.brokers.clone().or(profile.brokers.clone());
        let Some(brokers) = brokers.filter(|b| !b.trim().is_empty()) else {
            bail!("no brokers: pass --brokers host:port, set KAFKA_BROKERS or use a --profile with brokers");
        };
        let mut config = KafkaConfig::new(brokers.trim()).with_env_properties()?;
        for (k, v) in &profile.properties {
            config = config.property(k, v);
        }
        for pair in &self.properties {
            let (k, v) = key_value(pair, "--property")?;
            config = config.property(k, v);
        }
        config.validate()?;
        Ok(config)
    }

    /// Connects (the cluster must answer within 10 s).
    pub fn transport(&self) -> Result<KafkaTransport> {
        let config = self.config()?;
        let brokers = config.brokers().to_string();
        KafkaTransport::connect(config).with_context(|| format!("connecting to {brokers}"))
    }

    /// The schema registry, as apps read it (`SCHEMA_REGISTRY_*`), its URL from the flag
    /// or the profile first; an error says how to name one.
    pub fn registry(&self) -> Result<SchemaRegistry> {
        let url = match &self.schema_registry {
            Some(url) => Some(url.clone()),
            None => self.profile()?.and_then(|p| p.schema_registry),
        };
        let Some(url) = url else {
            bail!("Avro needs a schema registry: pass --schema-registry URL, set SCHEMA_REGISTRY_URL or use a --profile with one");
        };
        let config = RegistryConfig::from_lookup(|key| match key {
            "SCHEMA_REGISTRY_URL" => Some(url.clone()),
            other => std::env::var(other).ok(),
        })?;
        Ok(SchemaRegistry::new(config)?)
    }
}

/// Splits `key=value`; the error names the flag.
pub fn key_value<'a>(pair: &'a str, flag: &str) -> Result<(&'a str, &'a str)> {
    match pair.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => bail!("{flag} `{pair}` is not key=value"),
    }
}

/// How record values are encoded, for `produce` and `consume`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ValueFormat {
    /// JSON.
    Json,
    /// UTF-8 text (a JSON string on the produce side).
    String,
    /// Avro in the Confluent wire format, through the schema registry.
    Avro,
}
