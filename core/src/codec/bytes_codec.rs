use bytes::Bytes;

use super::{Decode, DecodeError, Encode, EncodeError};

/// Raw bytes, unchanged: `Bytes` or `Vec<u8>`, and `Option<Bytes>` to see nulls.
///
/// ```
/// use bytes::Bytes;
/// use kflow_core::codec::{Decode, Encode, RawBytes};
/// let b: Bytes = RawBytes.decode(Some(b"\x00\x01")).unwrap();
/// assert_eq!(&b[..], b"\x00\x01");
/// let null: Option<Bytes> = RawBytes.decode(None).unwrap();
/// assert!(null.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RawBytes;

impl Decode<Bytes> for RawBytes {
    fn decode(&self, data: Option<&[u8]>) -> Result<Bytes, DecodeError> {
        data.map(Bytes::copy_from_slice)
            .ok_or_else(|| DecodeError::new::<Bytes>("bytes", "null"))
    }
}

impl Decode<Vec<u8>> for RawBytes {
    fn decode(&self, data: Option<&[u8]>) -> Result<Vec<u8>, DecodeError> {
        data.map(<[u8]>::to_vec)
            .ok_or_else(|| DecodeError::new::<Vec<u8>>("bytes", "null"))
    }
}

impl Decode<Option<Bytes>> for RawBytes {
    fn decode(&self, data: Option<&[u8]>) -> Result<Option<Bytes>, DecodeError> {
        Ok(data.map(Bytes::copy_from_slice))
    }
}

impl Encode<Bytes> for RawBytes {
    fn encode(&self, value: &Bytes) -> Result<Option<Bytes>, EncodeError> {
        Ok(Some(value.clone()))
    }
}

impl Encode<Vec<u8>> for RawBytes {
    fn encode(&self, value: &Vec<u8>) -> Result<Option<Bytes>, EncodeError> {
        Ok(Some(Bytes::copy_from_slice(value)))
    }
}

impl Encode<Option<Bytes>> for RawBytes {
    fn encode(&self, value: &Option<Bytes>) -> Result<Option<Bytes>, EncodeError> {
        Ok(value.clone())
    }
}
