//! kflow-schema-registry: Avro and JSON Schema codecs for kflow, in the Confluent wire
//! format, through a Confluent-compatible schema registry.
//!
//! A [`SchemaRegistry`] is a client (schema_registry_converter's async encoders and
//! decoders, with their concurrent schema caches). Codecs made from it plug into
//! listeners and processors like any other codec:
//!
//! ```no_run
//! use kflow_core::{App, Flow, Processor};
//! use kflow_schema_registry::SchemaRegistry;
//!
//! #[derive(serde::Serialize, serde::Deserialize, apache_avro::AvroSchema)]
//! struct Order { id: i64, cents: i64 }
//!
//! fn big(orders: Flow<Order>) -> Flow<Order> {
//!     orders.filter(|o| o.cents >= 10_000)
//! }
//!
//! # fn main() -> kflow_core::Result<()> {
//! let registry = SchemaRegistry::from_env()?; // SCHEMA_REGISTRY_URL, ...
//! let app = App::new("shop").processor(
//!     Processor::with_codecs("big", big, registry.avro::<Order>(), registry.avro::<Order>())
//!         .input(["orders"])
//!         .output("big-orders"),
//! );
//! # let _ = app; Ok(()) }
//! ```
//!
//! Decoding is synchronous on kflow's hot path: a schema already in the cache decodes
//! without waiting. A schema id not seen before makes the decode report a transient error,
//! kflow awaits the codec's fetch (retrying an unreachable registry), then decodes again.
//! A registry that stays unreachable stops the app; records are never dead-lettered for
//! it. Unknown schema ids, a wrong magic byte or a truncated body are the record's fault:
//! they go to the deserialization error policy (the dead-letter topic by default).

mod avro;
mod config;
mod json_schema;
mod registry;

pub use avro::{Avro, AvroValue};
pub use config::{redact_urls, RegistryConfig, SubjectNaming, REDACTED};
pub use json_schema::JsonSchema;
pub use registry::SchemaRegistry;

/// The Avro crate this one uses (0.21): its `AvroSchema` derive, `Schema` and `types::Value`.
pub use apache_avro;

use registry::Source;

impl SchemaRegistry {
    /// An Avro codec for `T` (both directions).
    pub fn avro<T: apache_avro::AvroSchema>(&self) -> Avro<T> {
        Avro::with(Source::Given(self.clone()))
    }

    /// An Avro codec for generic `apache_avro::types::Value`s.
    pub fn avro_value(&self) -> AvroValue {
        AvroValue::with(Source::Given(self.clone()))
    }

    /// A JSON Schema codec for `T` (any serde type, or `serde_json::Value`).
    pub fn json_schema<T>(&self) -> JsonSchema<T> {
        JsonSchema::with(Source::Given(self.clone()))
    }
}
