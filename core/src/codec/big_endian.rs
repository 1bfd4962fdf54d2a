//! Integers in Kafka's big-endian layout.

use bytes::Bytes;

use super::{Decode, DecodeError, Encode, EncodeError};

/// Integers as fixed-width big-endian bytes, the layout of Kafka's Java serializers
/// (`ShortSerializer` for `i16`, `IntegerSerializer` for `i32`, `LongSerializer` for
/// `i64`), so keys and values agree with other clients (and keys land in the same
/// partitions). Unsigned types use the same layout. A payload of the wrong length, or a
/// null, is a decode error.
///
/// ```
/// use kflow_core::codec::{BigEndian, Decode, Encode};
/// assert_eq!(&BigEndian.encode(&7i32).unwrap().unwrap()[..], &[0, 0, 0, 7]);
/// assert_eq!(Decode::<i64>::decode(&BigEndian, Some(&[0, 0, 0, 0, 0, 0, 1, 0])).unwrap(), 256);
/// assert!(Decode::<i32>::decode(&BigEndian, Some(&[1, 2])).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BigEndian;

macro_rules! big_endian {
    ($($t:ty),*) => {$(
        impl Encode<$t> for BigEndian {
            fn encode(&self, value: &$t) -> Result<Option<Bytes>, EncodeError> {
                Ok(Some(Bytes::copy_from_slice(&value.to_be_bytes())))
            }
        }

        impl Decode<$t> for BigEndian {
            fn decode(&self, data: Option<&[u8]>) -> Result<$t, DecodeError> {
                let data = data.ok_or_else(|| DecodeError::new::<$t>("big-endian integer", "null"))?;
                let bytes = data.try_into().map_err(|_| {
                    DecodeError::new::<$t>(
                        "big-endian integer",
                        format!("expected {} bytes, got {}", std::mem::size_of::<$t>(), data.len()),
                    )
                })?;
                Ok(<$t>::from_be_bytes(bytes))
            }
        }
    )*};
}
big_endian!(i8, i16, i32, i64, u8, u16, u32, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_match_the_java_layouts() {
        assert_eq!(&BigEndian.encode(&-2i16).unwrap().unwrap()[..], &[0xff, 0xfe]);
        assert_eq!(
            &BigEndian.encode(&1i64).unwrap().unwrap()[..],
            &[0, 0, 0, 0, 0, 0, 0, 1]
        );
        for v in [i64::MIN, -1, 0, 42, i64::MAX] {
            let bytes = BigEndian.encode(&v).unwrap().unwrap();
            assert_eq!(Decode::<i64>::decode(&BigEndian, Some(&bytes)).unwrap(), v);
        }
        assert!(Decode::<u32>::decode(&BigEndian, None).is_err());
        let e = Decode::<u16>::decode(&BigEndian, Some(&[1, 2, 3])).unwrap_err();
        assert!(e.to_string().contains("expected 2 bytes, got 3"), "{e}");
    }
}
