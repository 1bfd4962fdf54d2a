//! The offset tracker: the commit frontier never passes an unacknowledged offset, never
//! goes back, and reaches the end once everything is acknowledged.

use std::collections::BTreeSet;

use kflow_core::ack::{Ack, OffsetTracker};
use kflow_core::{Offset, TopicPartition};
use proptest::prelude::*;

/// Offsets with gaps (as compaction leaves), some far apart to cross bitmap chunks.
fn offsets() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(
        prop_oneof![8 => 1i64..3, 1 => 3i64..100, 1 => 60_000i64..140_000],
        1..200,
    )
    .prop_map(|steps| {
        let mut at = 0i64;
        steps
            .into_iter()
            .map(|s| {
                at += s;
                at
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frontier_is_exactly_the_lowest_held_offset(
        offsets in offsets(),
        order in any::<prop::sample::Index>(),
        shares in prop::collection::vec(0usize..3, 200),
        seed in any::<u64>(),
    ) {
        let mut tracker = OffsetTracker::new(TopicPartition::new("t", 0));
        let handle = tracker.handle();
        prop_assert_eq!(handle.frontier(), None);
        // Each offset gets its ack plus 0..2 shares: every piece must go before it is done.
        let mut pieces: Vec<(i64, Ack)> = Vec::new();
        for (i, off) in offsets.iter().enumerate() {
            let mut ack = tracker.track(Offset(*off));
            for _ in 0..shares[i % shares.len()] {
                pieces.push((*off, ack.share()));
            }
            pieces.push((*off, ack));
        }
        // A random release order.
        let mut state = seed | 1;
        let start = order.index(pieces.len());
        pieces.rotate_left(start);
        for i in (1..pieces.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            pieces.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let last = *offsets.last().unwrap();
        let mut previous = handle.frontier().unwrap();
        prop_assert_eq!(previous, Offset(offsets[0]));
        while let Some((_, ack)) = pieces.pop() {
            drop(ack);
            let held: BTreeSet<i64> = pieces.iter().map(|(o, _)| *o).collect();
            let frontier = handle.frontier().unwrap();
            let expected = held.first().copied().unwrap_or(last + 1);
            prop_assert_eq!(frontier, Offset(expected), "frontier must be the lowest held offset");
            prop_assert!(frontier >= previous, "frontier went back: {:?} -> {:?}", previous, frontier);
            previous = frontier;
        }
        prop_assert_eq!(handle.frontier(), Some(Offset(last + 1)));
    }

    #[test]
    fn a_sealed_frontier_never_moves(n in 1i64..500, release_before in 0usize..500) {
        let mut tracker = OffsetTracker::new(TopicPartition::new("t", 0));
        let handle = tracker.handle();
        let mut acks: Vec<Ack> = (0..n).map(|o| tracker.track(Offset(o))).collect();
        let k = release_before.min(acks.len());
        acks.drain(..k);
        let sealed = handle.seal();
        prop_assert_eq!(sealed, Some(Offset(k as i64)));
        drop(acks);
        prop_assert_eq!(handle.frontier(), sealed);
    }
}

#[test]
fn an_ack_dropped_while_panicking_freezes_the_partition() {
    let mut tracker = OffsetTracker::new(TopicPartition::new("t", 3));
    let handle = tracker.handle();
    let first = tracker.track(Offset(10));
    let second = tracker.track(Offset(11));
    drop(first);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _in_flight = second;
        panic!("handler bug");
    }));
    assert!(result.is_err());
    let third = tracker.track(Offset(12));
    drop(third);
    assert_eq!(
        handle.frontier(),
        Some(Offset(11)),
        "never past the record being processed when it panicked"
    );
    assert!(
        handle.failure().unwrap().contains("offset 11 of t-3"),
        "{:?}",
        handle.failure()
    );
}

#[test]
fn a_failed_ack_freezes_the_partition_with_its_reason() {
    let mut tracker = OffsetTracker::new(TopicPartition::new("t", 0));
    let handle = tracker.handle();
    let a = tracker.track(Offset(0));
    let b = tracker.track(Offset(1));
    let c = tracker.track(Offset(2));
    drop(a);
    b.fail("write rejected");
    drop(c);
    assert_eq!(handle.frontier(), Some(Offset(1)));
    assert!(handle.failure().unwrap().contains("write rejected"));
}

#[test]
#[should_panic(expected = "registered after")]
fn offsets_must_increase() {
    let mut tracker = OffsetTracker::new(TopicPartition::new("t", 0));
    let _a = tracker.track(Offset(5));
    let _b = tracker.track(Offset(5));
}
