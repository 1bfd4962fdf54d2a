//! kflow-core: records, typed [`Flow`] combinators, windows, commit tracking, codecs, the
//! [`App`] runtime, the transport traits with the in-memory transport, and [`TestDriver`].
//!
//! Most users depend on the `kflow` facade crate, which re-exports the everyday parts of
//! this one.
//!
//! Modules form layers; each imports only from the layers below it:
//!
//! | layer | modules |
//! |---|---|
//! | testing | [`testing`] |
//! | runtime | [`runtime`]: `App`, group members, listener and processor tasks, commits |
//! | window | [`window`] |
//! | flow | [`flow`]: `Flow<T>` and its combinators, the build context, the topology |
//! | policy | [`policy`]: error policies and their recovery |
//! | transport | [`transport`]: the traits a broker implements, the in-memory broker |
//! | ack, telemetry | [`ack`]: acks, offset trackers, tracked sources; [`telemetry`]: stats, metrics, health, fatal errors |
//! | base | records, keys, errors, [`codec`], [`event`] |

pub mod ack;
pub mod codec;
mod error;
pub mod event;
pub mod flow;
mod key;
pub mod policy;
mod record;
pub mod runtime;
pub mod state;
pub mod telemetry;
pub mod testing;
pub mod transport;
pub mod window;

pub use error::{panic_message, Cause, Error, ErrorKind, Fatal, HandlerError, Result};
pub use event::{Event, Msg};
pub use flow::Flow;
pub use key::{GroupKey, JsonKey};
pub use record::{Headers, Meta, Offset, Partition, RawRecord, Record, Timestamp, TimestampType, TopicPartition};
pub use runtime::handler::Key;
pub use runtime::{App, AppHandle, IntoListener, IntoProcessor, Listener, Processor, RuntimeConfig, TopicDefaults};
pub use telemetry::{DropReason, Health, Stats};
pub use testing::TestDriver;
