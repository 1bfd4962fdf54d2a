//! Typed record keys: how a grouping key becomes record-key bytes and back.
//!
//! Byte layouts follow the Kafka Java serializers so other clients agree on keys (and so
//! on partitions): strings as UTF-8, integers big-endian (`i32` as Kafka's
//! `IntegerSerializer`, `i64` as `LongSerializer`), bytes unchanged. [`JsonKey`] wraps any
//! serde type as a JSON key.

use std::hash::Hash;

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

use crate::codec::DecodeError;

/// A type usable as a grouping key: hashable, comparable, and convertible to and from
/// record-key bytes.
///
/// ```
/// use kflow_core::GroupKey;
/// assert_eq!(&"user-1".to_string().to_key_bytes()[..], b"user-1");
/// assert_eq!(&42_i32.to_key_bytes()[..], &[0, 0, 0, 42]);
/// assert_eq!(i64::from_key_bytes(&7_i64.to_key_bytes()).unwrap(), 7);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a grouping key",
    note = "keys are String, integers, bool, Bytes, Vec<u8>, or any serde type wrapped in `kflow::JsonKey`"
)]
pub trait GroupKey: Hash + Eq + Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The record-key bytes.
    fn to_key_bytes(&self) -> Bytes;
    /// Decodes record-key bytes.
    fn from_key_bytes(bytes: &[u8]) -> Result<Self, DecodeError>;
}

impl GroupKey for String {
    fn to_key_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
    fn from_key_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        String::from_utf8(bytes.to_vec()).map_err(|e| DecodeError::new::<String>("utf8 key", e))
    }
}

impl GroupKey for Bytes {
    fn to_key_bytes(&self) -> Bytes {
        self.clone()
    }
    fn from_key_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(Bytes::copy_from_slice(bytes))
    }
}

impl GroupKey for Vec<u8> {
    fn to_key_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
    fn from_key_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(bytes.to_vec())
    }
}

impl GroupKey for bool {
    fn to_key_bytes(&self) -> Bytes {
        Bytes::from(vec![u8::from(*self)])
    }
    fn from_key_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(DecodeError::new::<bool>("bool key", "expected one byte, 0 or 1")),
        }
    }
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl GroupKey for $t {
            fn to_key_bytes(&self) -> Bytes {
                Bytes::copy_from_slice(&self.to_be_bytes())
            }
            fn from_key_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
                let arr = bytes.try_into().map_err(|_| {
                    DecodeError::new::<$t>(
                        "integer key",
                        format!("expected {} bytes, got {}", std::mem::size_of::<$t>(), bytes.len()),
                    )
                })?;
                Ok(<$t>::from_be_bytes(arr))
            }
        }
    )*};
}
int_key!(i8, i16, i32, i64, u8, u16, u32, u64);

/// Any serde type as a key, encoded as JSON.
///
/// ```
/// use kflow_core::{GroupKey, JsonKey};
/// #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
/// struct Region { country: String, city: String }
/// let k = JsonKey(Region { country: "NL".into(), city: "Delft".into() });
/// let bytes = k.to_key_bytes();
/// assert_eq!(&bytes[..], br#"{"country":"NL","city":"Delft"}"#);
/// assert_eq!(JsonKey::<Region>::from_key_bytes(&bytes).unwrap(), k);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JsonKey<T>(pub T);

impl<T> GroupKey for JsonKey<T>
where
    T: Serialize + DeserializeOwned + Hash + Eq + Clone + Send + Sync + std::fmt::Debug + 'static,
{
    fn to_key_bytes(&self) -> Bytes {
        // Serializing a Hash + Eq value to JSON only fails for maps with non-string keys,
        // which cannot be hashed consistently either; fall back to the Debug form.
        serde_json::to_vec(&self.0)
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from(format!("{:?}", self.0)))
    }
    fn from_key_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes)
            .map(JsonKey)
            .map_err(|e| DecodeError::new::<T>("json key", e))
    }
}
