use bytes::Bytes;

use super::{Decode, DecodeError, Encode, EncodeError};

/// UTF-8 text as `String`. Invalid UTF-8 and nulls are decode errors.
///
/// ```
/// use kflow_core::codec::{Decode, Encode, Utf8};
/// assert_eq!(Utf8.decode(Some(b"hi")).unwrap(), "hi".to_string());
/// assert!(Decode::<String>::decode(&Utf8, Some(&[0xff])).is_err());
/// assert_eq!(Utf8.encode(&"hi".to_string()).unwrap().unwrap(), "hi");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8;

impl Decode<String> for Utf8 {
    fn decode(&self, data: Option<&[u8]>) -> Result<String, DecodeError> {
        let data = data.ok_or_else(|| DecodeError::new::<String>("utf8", "null"))?;
        String::from_utf8(data.to_vec()).map_err(|e| DecodeError::new::<String>("utf8", e))
    }
}

impl Encode<String> for Utf8 {
    fn encode(&self, value: &String) -> Result<Option<Bytes>, EncodeError> {
        Ok(Some(Bytes::copy_from_slice(value.as_bytes())))
    }
}
