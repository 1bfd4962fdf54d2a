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

pub use kflow_core::flow::{Node, NodeId, NodeKind, Topology};
pub use kflow_core::runtime::{
    shutdown_signal, AppContext, NoOutput, Output, OutputMode, PartitionStatus, PauseTarget, Service, UnitStatus,
};
pub use kflow_core::{
    App, AppHandle, DropReason, Error, ErrorKind, Fatal, Flow, GroupKey, HandlerError, Headers, Health, IntoListener,
    IntoProcessor, JsonKey, Key, Listener, Meta, Offset, Partition, Processor, RawRecord, Record, Result,
    RuntimeConfig, Stats, TestDriver, Timestamp, TimestampType, TopicDefaults, TopicPartition,
};

/// Windows on event time: kinds, bounds, results, and the grouped and windowed flows.
pub mod window {
    #![doc = include_str!("../docs/windows.md")]
    pub use kflow_core::window::{
        EmitMode, EveryUpdate, Final, Grouped, Hopping, Session, Sliding, Tumbling, Window, WindowKind, WindowResult,
        Windowed,
    };
}

/// Custom keyed state (`Grouped::stateful`), kept in changelog topics.
pub mod state {
    #![doc = include_str!("../docs/state.md")]
    pub use kflow_core::state::StateValue;
}

/// Error policies: retries, retry topics, dead letters, skip, fail; replay.
pub mod policy {
    #![doc = include_str!("../docs/error-policies.md")]
    pub use kflow_core::policy::*;
}

/// Codecs: [`codec::Json`], [`codec::Utf8`], [`codec::RawBytes`], [`codec::BigEndian`], and the traits to write
/// your own.
pub mod codec {
    pub use kflow_core::codec::*;
}

/// For transport authors and low-level tests: the transport traits and the in-memory
/// broker, acks and offset trackers, the events flows carry, telemetry internals.
/// Applications rarely need it.
pub mod plumbing {
    pub use kflow_core::{ack, event, telemetry, transport};
}

/// The Kafka connector: [`kafka::KafkaTransport`], [`kafka::KafkaConfig`], the embedded
/// broker, and the toolkit ([`kafka::TypedProducer`], [`kafka::KafkaAdmin`]);
/// `App::from_env()` is [`AppFromEnv`].
#[cfg(feature = "kafka")]
pub mod kafka {
    #![doc = include_str!("../docs/kafka.md")]
    #![doc = include_str!("../docs/toolkit.md")]
    pub use kflow_kafka::*;
}

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
pub mod schema_registry {
    #![doc = include_str!("../docs/schema-registry.md")]
    pub use kflow_schema_registry::*;
}

/// `#[kflow::listener(...)]`: turns an `async fn` of extractor arguments into a
/// listener that `App::listener` accepts.
///
#[doc = include_str!("../docs/attributes.md")]
#[cfg(feature = "macros")]
pub use kflow_macros::listener;
/// `#[kflow::processor(...)]`: turns `fn(Flow<In>) -> Flow<Out>` into a processor that
/// `App::processor` accepts. The arguments are those of [`listener`](macro@listener).
#[cfg(feature = "macros")]
pub use kflow_macros::processor;

/// What the macros expand to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use kflow_core::codec::{Json, RawBytes, Utf8};
    pub use kflow_core::policy;
    pub use kflow_core::runtime::{NoOutput, Output};
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

/// The README's examples, compiled as doctests so the front page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
