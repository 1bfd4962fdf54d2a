//! Codecs: how record keys and values turn from bytes into types and back.
//!
//! A codec is a value implementing [`Decode<T>`] and/or [`Encode<T>`]: [`Json`] for any
//! serde type, [`Utf8`] for `String`, [`RawBytes`] for `Bytes` / `Vec<u8>`. Decoding never
//! panics: bad input is a [`DecodeError`], which the error policy then handles.

mod bytes_codec;
mod json;
mod utf8;

pub use bytes_codec::RawBytes;
pub use json::Json;
pub use utf8::Utf8;

use bytes::Bytes;

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
}

impl DecodeError {
    /// Builds an error for `codec` decoding into `T`.
    pub fn new<T: ?Sized>(codec: &'static str, reason: impl std::fmt::Display) -> Self {
        DecodeError {
            codec,
            what: std::any::type_name::<T>().to_string(),
            reason: reason.to_string(),
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
pub trait Decode<T>: Send + Sync + 'static {
    /// Decodes `data`; `None` is a null key or a tombstone value.
    fn decode(&self, data: Option<&[u8]>) -> Result<T, DecodeError>;
}

/// Turns a `T` into key or value bytes (`None` for a null).
pub trait Encode<T>: Send + Sync + 'static {
    /// Encodes `value`.
    fn encode(&self, value: &T) -> Result<Option<Bytes>, EncodeError>;
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
