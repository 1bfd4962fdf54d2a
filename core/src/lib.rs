//! kflow-core: records, typed [`Flow`] combinators, windows, commit tracking, codecs, the
//! [`App`] runtime, the transport traits with the in-memory transport, and [`TestDriver`].
//!
//! Most users depend on the `kflow` facade crate, which re-exports this one.

pub mod ack;
pub mod codec;
mod error;
pub mod flow;
mod key;
pub mod policy;
mod record;
pub mod runtime;
pub mod testing;
pub mod transport;
pub mod window;

pub use error::{panic_message, Error, ErrorKind, HandlerError, Result};
pub use flow::{Event, Flow, Msg};
pub use key::{GroupKey, JsonKey};
pub use record::{Headers, Meta, Offset, Partition, RawRecord, Record, Timestamp, TimestampType, TopicPartition};
pub use runtime::handler::Key;
pub use runtime::stats::{DropReason, Stats};
pub use runtime::{App, AppHandle, IntoListener, IntoProcessor, Listener, Processor, RuntimeConfig, TopicDefaults};
pub use testing::TestDriver;
