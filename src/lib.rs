//! # kflow
//!
//! Declarative stream processing for Apache Kafka: `#[listener]` and `#[processor]`
//! attributes, typed pipelines ([`Flow`]), windows, at-least-once commits driven by
//! acknowledgements, error policies with dead-letter topics, Avro and JSON Schema through a
//! schema registry, and a deterministic [`TestDriver`].
//!
//! ```
//! use kflow::prelude::*;
//!
//! fn long_words(words: Flow<String>) -> Flow<String> {
//!     words.filter(|w| w.len() > 3).map(|w| w.to_uppercase())
//! }
//!
//! let app = App::new("words").processor(Processor::new("long", long_words).input(["in"]).output("out"));
//! let mut driver = TestDriver::new(app, &[("in", 1)]).unwrap();
//! driver.pipe("in", &"hi");
//! driver.pipe("in", &"hello");
//! assert_eq!(driver.output_values::<String>("out"), ["HELLO"]);
//! ```

pub use kflow_core::*;

/// The Kafka connector: [`kafka::KafkaTransport`], [`kafka::KafkaConfig`], the embedded
/// broker; `App::from_env()` is [`AppFromEnv`].
#[cfg(feature = "kafka")]
pub use kflow_kafka as kafka;

#[cfg(feature = "kafka")]
mod from_env;
#[cfg(feature = "kafka")]
pub use from_env::AppFromEnv;

/// Metrics and health over HTTP: [`prometheus::Prometheus`].
#[cfg(feature = "prometheus")]
pub mod prometheus;

/// Avro and JSON Schema codecs through a Confluent-compatible schema registry:
/// [`schema_registry::SchemaRegistry`], [`schema_registry::Avro`],
/// [`schema_registry::JsonSchema`].
#[cfg(feature = "schema-registry")]
pub use kflow_schema_registry as schema_registry;

/// `#[kflow::listener(...)]`: turns an `async fn` of extractor arguments into a
/// listener that `App::listener` accepts. See the README for the arguments.
#[cfg(feature = "macros")]
pub use kflow_macros::listener;
/// `#[kflow::processor(...)]`: turns `fn(Flow<In>) -> Flow<Out>` into a processor that
/// `App::processor` accepts. See the README for the arguments.
#[cfg(feature = "macros")]
pub use kflow_macros::processor;

/// What the macros expand to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use kflow_core::codec::{Json, RawBytes, Utf8};
    pub use kflow_core::policy;
    pub use kflow_core::transport::StartFrom;
    pub use kflow_core::{Flow, IntoListener, IntoProcessor, Listener, Processor};

    /// `value_format = avro`: an Avro codec whose registry comes from the environment.
    #[cfg(feature = "schema-registry")]
    pub fn avro_from_env<T: kflow_schema_registry::apache_avro::AvroSchema>() -> kflow_schema_registry::Avro<T> {
        kflow_schema_registry::Avro::from_env()
    }

    /// `value_format = json_schema`: a JSON Schema codec whose registry comes from the
    /// environment.
    #[cfg(feature = "schema-registry")]
    pub fn json_schema_from_env<T>() -> kflow_schema_registry::JsonSchema<T> {
        kflow_schema_registry::JsonSchema::from_env()
    }
}

/// The names most applications use.
pub mod prelude {
    #[cfg(feature = "kafka")]
    pub use crate::AppFromEnv;
    pub use kflow_core::codec::{Json, RawBytes, Sent, Utf8};
    pub use kflow_core::window::{Hopping, Session, Sliding, Tumbling, Window, WindowResult};
    pub use kflow_core::Key;
    pub use kflow_core::{policy, ErrorKind};
    pub use kflow_core::{
        App, DropReason, Flow, HandlerError, Headers, JsonKey, Listener, Meta, Processor, Record, TestDriver,
        TopicPartition,
    };
    #[cfg(feature = "macros")]
    pub use kflow_macros::{listener, processor};
    pub use serde::{Deserialize, Serialize};
}
