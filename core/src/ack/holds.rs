//! Work an exactly-once commit waits for besides tracked records.
//!
//! A window store emits a closed window and, once its result was delivered, writes the
//! window's deletion to its changelog; neither holds an input record's ack. Under
//! `exactly_once` both must land in the same transaction (a result committed without
//! its deletion would be emitted again after a crash), so the store takes a [`Hold`]
//! while such work is pending, and the member's commit waits until no hold is left.
//!
//! Work caused by a record takes its hold while the record is still tracked, so once a
//! commit saw every record done it only has to wait for the holds. Work no record causes
//! (a window closed by the wall clock) asks with [`Holds::try_hold`], refused while a
//! commit is under way: it waits for the next transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

/// The holds of one group member. Cheap to clone; clones count together.
#[derive(Clone)]
pub struct Holds {
    count: Arc<watch::Sender<usize>>,
    committing: Arc<AtomicBool>,
}

impl Default for Holds {
    fn default() -> Self {
        Holds {
            count: Arc::new(watch::channel(0).0),
            committing: Arc::default(),
        }
    }
}

impl Holds {
    /// Takes a hold, released when dropped.
    ///
    /// ```
    /// use kflow_core::ack::Holds;
    /// let holds = Holds::default();
    /// let hold = holds.hold();
    /// assert_eq!(holds.count(), 1);
    /// drop(hold);
    /// assert_eq!(holds.count(), 0);
    /// ```
    pub fn hold(&self) -> Hold {
        self.count.send_modify(|n| *n += 1);
        Hold(self.count.clone())
    }

    /// A hold for work no tracked record causes; `None` while a commit is under way.
    ///
    /// ```
    /// use kflow_core::ack::Holds;
    /// let holds = Holds::default();
    /// holds.committing(true);
    /// assert!(holds.try_hold().is_none());
    /// holds.committing(false);
    /// assert!(holds.try_hold().is_some());
    /// ```
    pub fn try_hold(&self) -> Option<Hold> {
        if self.committing.load(Ordering::SeqCst) {
            return None;
        }
        let hold = self.hold();
        // A commit that started meanwhile may already have seen no hold.
        (!self.committing.load(Ordering::SeqCst)).then_some(hold)
    }

    /// Marks a commit as under way (or over).
    pub fn committing(&self, on: bool) {
        self.committing.store(on, Ordering::SeqCst);
    }

    /// How many holds are taken.
    pub fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits until no hold is taken, or until `deadline`; true if none is.
    pub async fn settled(&self, deadline: tokio::time::Instant) -> bool {
        let mut rx = self.count.subscribe();
        let settled = tokio::time::timeout_at(deadline, rx.wait_for(|n| *n == 0))
            .await
            .is_ok();
        settled
    }
}

/// One taken hold (see [`Holds::hold`]).
pub struct Hold(Arc<watch::Sender<usize>>);

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hold")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn settled_waits_for_the_last_hold() {
        let holds = Holds::default();
        let soon = tokio::time::Instant::now() + Duration::from_millis(10);
        assert!(holds.settled(soon).await, "nothing held");
        let (a, b) = (holds.hold(), holds.clone().hold());
        let soon = tokio::time::Instant::now() + Duration::from_millis(10);
        assert!(!holds.settled(soon).await, "two holds taken");
        drop(a);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(b);
        });
        let later = tokio::time::Instant::now() + Duration::from_secs(5);
        assert!(holds.settled(later).await);
        assert_eq!(holds.count(), 0);
    }
}
