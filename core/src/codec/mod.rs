//! Codecs: how record keys and values turn from bytes into types and back.
//!
//! A codec is a value implementing [`Decode<T>`] and/or [`Encode<T>`]: [`Json`] for any
//! serde type, [`Utf8`] for `String`, [`RawBytes`] for `Bytes` / `Vec<u8>`. Decoding never
//! panics: bad input is a [`DecodeError`], which the error policy then handles.

mod big_endian;
mod bytes_codec;
mod json;
mod utf8;

pub use big_endian::BigEndian;
pub use bytes_codec::RawBytes;
pub use json::Json;
pub use utf8::Utf8;

use bytes::Bytes;
use futures::future::BoxFuture;

/// Why bytes could not be decoded.
///
/// ```
/// use kflow_core::codec::{Decode, Json};
/// let err = Decode::<u32>::decode(&Json, Some(b"{oops")).unwrap_err();
/// assert_eq!(err.codec, "json");
/// assert!(err.to_string().contains("json"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {what} as {codec}: {reason}")]
pub struct DecodeError {
    /// The codec that failed (`json`, `utf8`, ...).
    pub codec: &'static str,
    /// What was decoded: usually the target type's name.
    pub what: String,
    /// The codec's explanation.
    pub reason: String,
    /// Not the record's fault: something the codec needs is missing or unreachable (a
    /// schema not fetched yet, a registry that is down). kflow then awaits
    /// [`Decode::fetch`] and decodes again, and never dead-letters or skips the record
    /// for such an error: if it persists, the app stops.
    pub transient: bool,
}

impl DecodeError {
    /// Builds an error for `codec` decoding into `T`.
    pub fn new<T: ?Sized>(codec: &'static str, reason: impl std::fmt::Display) -> Self {
        DecodeError {
            codec,
            what: std::any::type_name::<T>().to_string(),
            reason: reason.to_string(),
            transient: false,
        }
    }

    /// Builds a [transient](DecodeError::transient) error.
    pub fn transient<T: ?Sized>(codec: &'static str, reason: impl std::fmt::Display) -> Self {
        DecodeError {
            transient: true,
            ..Self::new::<T>(codec, reason)
        }
    }
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {what} as {codec}: {reason}")]
pub struct EncodeError {
    /// The codec that failed.
    pub codec: &'static str,
    /// The source type's name.
    pub what: String,
    /// The codec's explanation.
    pub reason: String,
}

impl EncodeError {
    /// Builds an error for `codec` encoding a `T`.
    pub fn new<T: ?Sized>(codec: &'static str, reason: impl std::fmt::Display) -> Self {
        EncodeError {
            codec,
            what: std::any::type_name::<T>().to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Turns key or value bytes (`None` for a null) into a `T`.
///
/// Decoding is synchronous, on the hot path. Codecs that look things up (a schema
/// registry) keep what they fetched in a cache, answer a [transient](DecodeError::transient)
/// error when it lacks something, and do the fetching in [`Decode::fetch`].
pub trait Decode<T>: Send + Sync + 'static {
    /// Decodes `data`; `None` is a null key or a tombstone value.
    fn decode(&self, data: Option<&[u8]>) -> Result<T, DecodeError>;

    /// After `decode(data)` failed with a transient error: fetches what it lacked (and
    /// retries that as the codec sees fit). kflow then calls `decode` again. The default
    /// has nothing to fetch.
    fn fetch(&self, _data: Option<&[u8]>) -> Option<BoxFuture<'static, Result<(), DecodeError>>> {
        None
    }

    /// Checked once at start-up (configuration, reachability); an error stops the start.
    fn check(&self) -> Option<BoxFuture<'static, crate::error::Result<()>>> {
        None
    }
}

/// Turns a `T` into key or value bytes (`None` for a null).
pub trait Encode<T>: Send + Sync + 'static {
    /// Encodes `value`.
    fn encode(&self, value: &T) -> Result<Option<Bytes>, EncodeError>;

    /// Encodes `value` for a record written to `topic` (codecs whose bytes depend on the
    /// topic, such as a schema registry's topic-named subjects). Default: [`Encode::encode`].
    fn encode_to(&self, _topic: &str, value: &T) -> Result<Option<Bytes>, EncodeError> {
        self.encode(value)
    }

    /// Prepares writing to `topic` (registers or looks up a schema). kflow awaits it at
    /// start-up for a processor's output topic, and before the first record a `to(topic)`
    /// writes; an error stops the app. The default has nothing to prepare.
    fn prepare(&self, _topic: &str) -> Option<BoxFuture<'static, crate::error::Result<()>>> {
        None
    }
}

/// Decodes, and after a transient error fetches what the codec lacked and decodes again.
pub(crate) async fn decode_fetching<T, C: Decode<T> + ?Sized>(
    codec: &C,
    data: Option<&[u8]>,
) -> Result<T, DecodeError> {
    match codec.decode(data) {
        Err(e) if e.transient => match codec.fetch(data) {
            Some(fetch) => {
                fetch.await?;
                codec.decode(data)
            }
            None => Err(e),
        },
        other => other,
    }
}

/// Never produced: the value type of a flow that ended in [`crate::Flow::to`] calls, so a
/// processor returning `Flow<Sent>` has no output topic of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {}

impl serde::Serialize for Sent {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        match *self {}
    }
}
