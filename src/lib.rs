//! # kflow
//!
//! Declarative stream processing for Apache Kafka: annotate-free today (the macros come
//! with `kflow-macros`), typed pipelines ([`Flow`]), windows, at-least-once commits driven
//! by acknowledgements, and a deterministic [`TestDriver`].
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
/// broker, and `App::from_env()` through [`kafka::AppFromEnv`].
#[cfg(feature = "kafka")]
pub use kflow_kafka as kafka;

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
}

/// The names most applications use.
pub mod prelude {
    pub use kflow_core::codec::{Json, RawBytes, Sent, Utf8};
    pub use kflow_core::window::{Hopping, Session, Sliding, Tumbling, Window, WindowResult};
    pub use kflow_core::Key;
    pub use kflow_core::{policy, ErrorKind};
    pub use kflow_core::{
        App, DropReason, Flow, HandlerError, Headers, JsonKey, Listener, Meta, Processor, Record, TestDriver,
        TopicPartition,
    };
    #[cfg(feature = "kafka")]
    pub use kflow_kafka::AppFromEnv;
    #[cfg(feature = "macros")]
    pub use kflow_macros::{listener, processor};
    pub use serde::{Deserialize, Serialize};
}
