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
    /// A librdkafka property for every client, `key=value` (repeatable).
    #[arg(long = "property", short = 'X', value_name = "KEY=VALUE", global = true)]
    pub properties: Vec<String>,
    /// The Confluent-compatible schema registry (for `--value-format avro`).
    #[arg(long, env = "SCHEMA_REGISTRY_URL", global = true)]
    pub schema_registry: Option<String>,
}

impl Connection {
    /// The Kafka settings; an error names a missing broker list or a bad property.
    pub fn config(&self) -> Result<KafkaConfig> {
        let Some(brokers) = self.brokers.as_deref().filter(|b| !b.trim().is_empty()) else {
            bail!("no brokers: pass --brokers host:port or set KAFKA_BROKERS");
        };
        let mut config = KafkaConfig::new(brokers.trim());
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

    /// The schema registry, or an error saying how to name one.
    pub fn registry(&self) -> Result<SchemaRegistry> {
        let Some(url) = &self.schema_registry else {
            bail!("Avro needs a schema registry: pass --schema-registry URL or set SCHEMA_REGISTRY_URL");
        };
        Ok(SchemaRegistry::new(RegistryConfig::new(url))?)
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
