use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

use super::{Decode, DecodeError, Encode, EncodeError};

/// JSON through serde_json, for any serde type. A null (tombstone) decodes as JSON `null`,
/// so `Option<T>` reads tombstones as `None` and other types reject them.
///
/// ```
/// use kflow_core::codec::{Decode, Encode, Json};
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Click { page: String }
/// let bytes = Json.encode(&Click { page: "/".into() }).unwrap().unwrap();
/// assert_eq!(&bytes[..], br#"{"page":"/"}"#);
/// let back: Click = Json.decode(Some(&bytes)).unwrap();
/// assert_eq!(back, Click { page: "/".into() });
/// let tomb: Option<Click> = Json.decode(None).unwrap();
/// assert_eq!(tomb, None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl<T: DeserializeOwned> Decode<T> for Json {
    fn decode(&self, data: Option<&[u8]>) -> Result<T, DecodeError> {
        serde_json::from_slice(data.unwrap_or(b"null")).map_err(|e| DecodeError::new::<T>("json", e))
    }
}

impl<T: Serialize + 'static> Encode<T> for Json {
    fn encode(&self, value: &T) -> Result<Option<Bytes>, EncodeError> {
        serde_json::to_vec(value)
            .map(|v| Some(Bytes::from(v)))
            .map_err(|e| EncodeError::new::<T>("json", e))
    }
}
