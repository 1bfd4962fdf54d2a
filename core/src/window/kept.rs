//! Records kept by session and sliding stores, and their changelog entries.
//!
//! Session and sliding windows fold a window's records when it is emitted (merged
//! sessions fold in event-time order, a sliding window is defined by its records), so
//! these stores keep the records an open window can still use, and nothing older. With a
//! changelog, each kept record is one entry, written as it arrives (its ack waits for the
//! write) and deleted once no window needs it and the windows that used it were
//! delivered. Changelog keys (see [`super::changelog`] for kinds `0`–`2`):
//!
//! - `3`, the grouping key's length (`u32`, big-endian) and bytes, the event time (`i64`)
//!   and a sequence number (`u64`): a kept record. Its value is JSON: the record's value
//!   (`v`), its origin (`o`) and, for sliding windows, whether it opened a window (`w`).
//! - `4`, the grouping key's length and bytes, then for a session its first and last event
//!   time: what the store closed. A session's entry is written with `0` when the session
//!   closes and `1` once its result was delivered, before its records are deleted; a
//!   sliding store's entry holds the end of the key's newest delivered window.
//!
//! So a restore can tell a closed session from records still open even when a crash cut
//! the deletions short, and never folds a delivered window's remains into a new one.

use std::collections::HashSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::ack::Ack;
use crate::flow::Origin;
use crate::record::Timestamp;
use crate::state::changelog::{Changelog, Mark};

/// Kind byte of a kept record.
pub(crate) const RECORD: u8 = 3;
/// Kind byte of a closed mark.
pub(crate) const CLOSED: u8 = 4;

/// A closed session's entry value, until its result was delivered.
pub(crate) const SESSION_CLOSED: u8 = 0;
/// A closed session's entry value once its result was delivered.
pub(crate) const SESSION_DELIVERED: u8 = 1;

fn with_key(kind: u8, key: &[u8], extra: usize) -> BytesMut {
    let mut b = BytesMut::with_capacity(5 + key.len() + extra);
    b.put_u8(kind);
    b.put_u32(u32::try_from(key.len()).expect("a grouping key under 4 GiB"));
    b.put_slice(key);
    b
}

/// The changelog key of a kept record.
pub(crate) fn record_key(key: &[u8], ts: Timestamp, seq: u64) -> Bytes {
    let mut b = with_key(RECORD, key, 16);
    b.put_i64(ts);
    b.put_u64(seq);
    b.freeze()
}

/// The changelog key of a closed mark: a session's bounds, or (sliding) none.
pub(crate) fn closed_key(key: &[u8], bounds: Option<(Timestamp, Timestamp)>) -> Bytes {
    let mut b = with_key(CLOSED, key, 16);
    if let Some((first, last)) = bounds {
        b.put_i64(first);
        b.put_i64(last);
    }
    b.freeze()
}

/// A parsed changelog key of kind `3` or `4`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeptKey<'a> {
    /// A kept record of `key` at `ts`.
    Record { key: &'a [u8], ts: Timestamp, seq: u64 },
    /// A closed mark of `key`.
    Closed {
        key: &'a [u8],
        bounds: Option<(Timestamp, Timestamp)>,
    },
}

/// Reads a kind `3` or `4` key; `None` for anything else.
pub(crate) fn parse_key(b: &[u8]) -> Option<KeptKey<'_>> {
    let (&kind, mut rest) = b.split_first()?;
    if rest.len() < 4 {
        return None;
    }
    let len = rest.get_u32() as usize;
    if rest.len() < len {
        return None;
    }
    let (key, mut tail) = rest.split_at(len);
    match (kind, tail.len()) {
        (RECORD, 16) => Some(KeptKey::Record {
            key,
            ts: tail.get_i64(),
            seq: tail.get_u64(),
        }),
        (CLOSED, 0) => Some(KeptKey::Closed { key, bounds: None }),
        (CLOSED, 16) => Some(KeptKey::Closed {
            key,
            bounds: Some((tail.get_i64(), tail.get_i64())),
        }),
        _ => None,
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct KeptRef<'a, T> {
    v: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    o: Option<Mark>,
    #[serde(skip_serializing_if = "is_false")]
    w: bool,
}

/// A kept record's changelog value, read back.
#[derive(Deserialize)]
pub(crate) struct KeptValue<T> {
    /// The record's value.
    pub v: T,
    /// Its origin.
    #[serde(default)]
    o: Option<Mark>,
    /// Sliding windows: it opened (or shares) a window.
    #[serde(default)]
    pub w: bool,
}

impl<T: DeserializeOwned> KeptValue<T> {
    /// Reads a kept record's value.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("a restored window record: {e}"))
    }

    /// Its origin.
    pub(crate) fn origin(&mut self) -> Option<Origin> {
        self.o.take().map(Origin::from)
    }
}

/// A kept record's place in the changelog: its key and origin.
pub(crate) struct KeptEntry {
    pub ckey: Bytes,
    pub origin: Option<Origin>,
}

/// The changelog side of a store that keeps records: the changelog, and the origins of
/// the records kept (a record whose origin is among them is a duplicate).
pub(crate) struct KeptLog {
    pub log: Changelog,
    origins: HashSet<Origin>,
}

impl KeptLog {
    pub(crate) fn new(log: Changelog) -> Self {
        KeptLog {
            log,
            origins: HashSet::new(),
        }
    }

    /// True if a record from `origin` is already kept.
    pub(crate) fn is_duplicate(&self, origin: Option<&Origin>) -> bool {
        origin.is_some_and(|o| self.origins.contains(o))
    }

    /// Writes a newly kept record; `ack` is released once it is written. If the value
    /// cannot be encoded, nothing is kept and the reason is returned.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn keep<T: Serialize>(
        &mut self,
        key: &[u8],
        ts: Timestamp,
        seq: u64,
        value: &T,
        origin: Option<&Origin>,
        opens: bool,
        ack: Ack,
        stream_time: Timestamp,
    ) -> Result<KeptEntry, String> {
        let encoded = serde_json::to_vec(&KeptRef {
            v: value,
            o: origin.map(Mark::from),
            w: opens,
        })
        .map_err(|e| format!("a window record could not be written to the changelog: {e}"))?;
        let ckey = record_key(key, ts, seq);
        self.log.put(ckey.clone(), Bytes::from(encoded), ack, stream_time);
        if let Some(o) = origin {
            self.origins.insert(o.clone());
        }
        Ok(KeptEntry {
            ckey,
            origin: origin.cloned(),
        })
    }

    /// A record read back from the changelog is kept again.
    pub(crate) fn restored(&mut self, origin: Option<&Origin>) {
        if let Some(o) = origin {
            self.origins.insert(o.clone());
        }
    }

    /// A record no longer kept: deleted once emission `n` (and those before) was delivered.
    pub(crate) fn forget_after(&mut self, n: i64, entry: KeptEntry) {
        if let Some(o) = entry.origin.as_ref() {
            self.origins.remove(o);
        }
        self.log.write_after(n, entry.ckey, None);
    }

    /// A record no longer kept: deleted once every emission so far was delivered.
    pub(crate) fn forget(&mut self, entry: KeptEntry) {
        let n = self.log.past_every_emission();
        self.forget_after(n, entry);
    }
}

/// What a store that keeps records needs beside its windows: the changelog side, once
/// attached, and a record that could not be written (the reason, and its ack, held so
/// that its offset never commits; the next flush stops the app with the reason).
#[derive(Default)]
pub(crate) struct KeptSide {
    pub kept: Option<KeptLog>,
    failure: Option<(String, Vec<Ack>)>,
}

impl KeptSide {
    /// See `WindowStore::attach`.
    pub(crate) fn attach(&mut self, log: Changelog) -> bool {
        self.kept = Some(KeptLog::new(log));
        true
    }

    /// See `WindowStore::changelog`.
    pub(crate) fn changelog(&mut self) -> Option<&mut Changelog> {
        self.kept.as_mut().map(|k| &mut k.log)
    }

    /// See `WindowStore::dirty`: kept records are queued as they arrive, so nothing is
    /// dirty, unless a write failed (then a flush is due at once).
    pub(crate) fn dirty(&self) -> usize {
        if self.failure.is_some() {
            usize::MAX
        } else {
            0
        }
    }

    /// See `WindowStore::flush`.
    pub(crate) fn flush(&mut self, stream_time: Timestamp) -> Result<(), String> {
        if let Some((reason, _)) = self.failure.as_ref() {
            return Err(reason.clone());
        }
        if let Some(kept) = self.kept.as_mut() {
            kept.log.flush(stream_time);
        }
        Ok(())
    }

    /// A record could not be written: it is not applied, and `ack` is held.
    pub(crate) fn failed(&mut self, reason: String, ack: Ack) {
        self.failure.get_or_insert_with(|| (reason, Vec::new())).1.push(ack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let r = record_key(b"user-1", -5, 7);
        assert_eq!(
            parse_key(&r),
            Some(KeptKey::Record {
                key: b"user-1",
                ts: -5,
                seq: 7
            })
        );
        let c = closed_key(b"k", Some((10, 20)));
        assert_eq!(
            parse_key(&c),
            Some(KeptKey::Closed {
                key: b"k",
                bounds: Some((10, 20))
            })
        );
        assert_eq!(
            parse_key(&closed_key(b"", None)),
            Some(KeptKey::Closed { key: b"", bounds: None })
        );
        assert_eq!(
            parse_key(&[RECORD, 0, 0, 0, 9, 1]),
            None,
            "a key shorter than its length"
        );
    }

    #[test]
    fn a_kept_origin_marks_duplicates_until_forgotten() {
        let mut kept = KeptLog::new(Changelog::new("c", 0));
        let o = Origin {
            topic: "in".into(),
            partition: 0,
            offset: 3,
            index: 0,
        };
        assert!(!kept.is_duplicate(Some(&o)));
        let entry = kept.keep(b"k", 1, 0, &5u32, Some(&o), true, Ack::none(), 1).unwrap();
        assert!(kept.is_duplicate(Some(&o)));
        assert!(!kept.is_duplicate(None));
        let (record, _) = kept.log.next_write().expect("the record is written at once");
        let mut value = KeptValue::<u32>::decode(record.value.as_deref().unwrap()).unwrap();
        assert_eq!((value.v, value.w, value.origin()), (5, true, Some(o.clone())));
        kept.forget(entry);
        assert!(!kept.is_duplicate(Some(&o)));
    }
}
