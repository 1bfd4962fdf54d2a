//! Where a record came from, carried through repartition topics so that a window store can
//! tell a record it already applied from a new one.
//!
//! A `group_by` writes each record to its repartition topic with a `kflow.origin` header:
//! the input topic, partition and offset the record stems from, and its index among the
//! records that input produced (a `flat_map` makes several). Within one repartition
//! partition, the records of one input partition arrive in input order, so a record whose
//! origin is at or below the highest one a store applied from that input partition is a
//! duplicate: written again by an upstream task that crashed before committing. Only
//! records read from the processor's own repartition topics are trusted to carry it.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::record::Meta;

/// The header name.
pub(crate) const ORIGIN_HEADER: &str = "kflow.origin";

/// An input position and the index of a record among those it produced.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub index: u32,
}

impl Origin {
    /// The header value: partition (i32), offset (i64), index (u32), all big-endian, then
    /// the topic's UTF-8 bytes.
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(16 + self.topic.len());
        b.put_i32(self.partition);
        b.put_i64(self.offset);
        b.put_u32(self.index);
        b.put_slice(self.topic.as_bytes());
        b.freeze()
    }

    /// Reads a header value; `None` if it is not one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Origin> {
        if bytes.len() < 16 {
            return None;
        }
        let partition = i32::from_be_bytes(bytes[0..4].try_into().ok()?);
        let offset = i64::from_be_bytes(bytes[4..12].try_into().ok()?);
        let index = u32::from_be_bytes(bytes[12..16].try_into().ok()?);
        let topic = std::str::from_utf8(&bytes[16..]).ok()?;
        Some(Origin {
            topic: Arc::from(topic),
            partition,
            offset,
            index,
        })
    }

    /// Where it is within its input partition: offset, then index.
    pub(crate) fn position(&self) -> (i64, u32) {
        (self.offset, self.index)
    }
}

/// Numbers the records that share an input position, in the order they pass.
#[derive(Default)]
pub(crate) struct OriginCounter {
    last: Option<(Arc<str>, i32, i64)>,
    next: u32,
}

impl OriginCounter {
    /// The origin of a record with metadata `meta`: its own position, numbered among the
    /// records before it from the same position. `None` for a record not read from a
    /// topic (negative offset).
    pub(crate) fn origin(&mut self, meta: &Meta) -> Option<Origin> {
        if meta.offset.0 < 0 {
            return None;
        }
        let same = matches!(&self.last, Some((t, p, o))
            if *p == meta.partition.0 && *o == meta.offset.0 && **t == *meta.topic);
        if same {
            self.next += 1;
        } else {
            self.last = Some((meta.topic.clone(), meta.partition.0, meta.offset.0));
            self.next = 0;
        }
        Some(Origin {
            topic: meta.topic.clone(),
            partition: meta.partition.0,
            offset: meta.offset.0,
            index: self.next,
        })
    }
}

/// The origin of a record: from its header if it was read from one of the processor's
/// own repartition topics, else its own position.
pub(crate) fn origin_of(
    meta: &crate::record::Meta,
    headers: &crate::record::Headers,
    trusted: &[String],
    counter: &mut OriginCounter,
) -> Option<Origin> {
    if trusted.iter().any(|t| **t == *meta.topic) {
        if let Some(origin) = headers.get(ORIGIN_HEADER).and_then(|h| Origin::decode(h)) {
            return Some(origin);
        }
    }
    counter.origin(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Offset, Partition};

    #[test]
    fn an_origin_survives_its_header() {
        let o = Origin {
            topic: Arc::from("orders"),
            partition: 3,
            offset: 1 << 40,
            index: 7,
        };
        assert_eq!(Origin::decode(&o.encode()), Some(o));
        assert_eq!(Origin::decode(b"short"), None);
    }

    #[test]
    fn records_from_one_input_are_numbered() {
        let mut meta = Meta::detached(0);
        meta.topic = Arc::from("in");
        meta.partition = Partition(1);
        meta.offset = Offset(5);
        let mut c = OriginCounter::default();
        let idx: Vec<u32> = (0..3).map(|_| c.origin(&meta).unwrap().index).collect();
        assert_eq!(idx, [0, 1, 2]);
        meta.offset = Offset(6);
        assert_eq!(c.origin(&meta).unwrap().index, 0);
        meta.offset = Offset(-1);
        assert_eq!(c.origin(&meta), None);
    }
}
