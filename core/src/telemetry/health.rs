//! Liveness and readiness of a running app.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What a health endpoint reports. Cheap to clone; the runtime updates it.
///
/// Live while the app runs and nothing fatal happened (a task or consumer thread that
/// panicked, a fatal client error, a write that failed for good): after that the app is
/// stopping, and [`Health::why_not_live`] says why. Ready once every listener and
/// processor joined its consumer group and received its assignment, while the last
/// offset commit (if any) succeeded, while no partition is stalled (records waiting and
/// no progress for `stall_timeout`), while no task is restoring a state store from its
/// changelog, and until shutdown begins.
///
/// ```
/// use kflow_core::telemetry::Health;
/// let h = Health::default();
/// assert!(h.is_live());
/// assert!(h.is_ready(), "nothing to wait for");
/// ```
#[derive(Clone, Default, Debug)]
pub struct Health(Arc<State>);

#[derive(Default, Debug)]
struct State {
    units: AtomicUsize,
    joined: AtomicUsize,
    commit_failing: AtomicBool,
    stopping: AtomicBool,
    stopped: AtomicBool,
    failure: Mutex<Option<String>>,
    /// Stalled partitions' reasons, by unit.
    stalls: Mutex<BTreeMap<String, String>>,
    /// Stores being restored: (unit, store, partition), one entry per restore.
    restoring: Mutex<Vec<(String, String, i32)>>,
    /// Problems reported by checks of the app's own (see [`Health::set_check`]), by name.
    checks: Mutex<BTreeMap<String, String>>,
}

/// Held while a task restores a store: the app is not ready until every one is dropped.
#[derive(Debug)]
pub(crate) struct Restoring(Health, (String, String, i32));

impl Drop for Restoring {
    fn drop(&mut self) {
        let mut restoring = lock(&self.0 .0.restoring);
        if let Some(i) = restoring.iter().position(|r| *r == self.1) {
            restoring.swap_remove(i);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Health {
    pub(crate) fn expect_units(&self, n: usize) {
        self.0.units.store(n, Ordering::Relaxed);
    }

    /// A member received its first assignment.
    pub(crate) fn joined(&self) {
        self.0.joined.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn commit_result(&self, ok: bool) {
        self.0.commit_failing.store(!ok, Ordering::Relaxed);
    }

    pub(crate) fn stopping(&self) {
        self.0.stopping.store(true, Ordering::Relaxed);
    }

    pub(crate) fn stopped(&self) {
        self.0.stopped.store(true, Ordering::Relaxed);
    }

    /// Something fatal happened: the app stops (the first reason is kept).
    pub(crate) fn failed(&self, reason: &str) {
        let mut failure = lock(&self.0.failure);
        if failure.is_none() {
            *failure = Some(reason.to_string());
        }
    }

    /// A task of `unit` starts restoring partition `partition` of `store`; it is
    /// restored when the guard is dropped.
    pub(crate) fn restoring(&self, unit: &str, store: &str, partition: i32) -> Restoring {
        let entry = (unit.to_string(), store.to_string(), partition);
        lock(&self.0.restoring).push(entry.clone());
        Restoring(self.clone(), entry)
    }

    /// The stores of `unit` being restored now, as (store, partition), sorted.
    pub(crate) fn restores_of(&self, unit: &str) -> Vec<(String, i32)> {
        let mut of: Vec<(String, i32)> = lock(&self.0.restoring)
            .iter()
            .filter(|(u, _, _)| u == unit)
            .map(|(_, store, p)| (store.clone(), *p))
            .collect();
        of.sort();
        of
    }

    /// Records (or, with `None`, clears) that a unit has a stalled partition.
    pub(crate) fn set_stall(&self, unit: &str, reason: Option<String>) {
        let mut stalls = lock(&self.0.stalls);
        match reason {
            Some(r) => {
                stalls.insert(unit.to_string(), r);
            }
            None => {
                stalls.remove(unit);
            }
        }
    }

    /// Reports the outcome of a readiness check of the app's own (a cluster health
    /// check, a dependency): while `check` has a problem, the app is not ready and
    /// [`Health::why_not_ready`] says `check: problem`; `None` clears it.
    ///
    /// ```
    /// use kflow_core::telemetry::Health;
    /// let h = Health::default();
    /// h.set_check("cluster", Some("2 partitions under-replicated".into()));
    /// assert_eq!(h.why_not_ready().as_deref(), Some("cluster: 2 partitions under-replicated"));
    /// h.set_check("cluster", None);
    /// assert!(h.is_ready());
    /// ```
    pub fn set_check(&self, check: &str, problem: Option<String>) {
        let mut checks = lock(&self.0.checks);
        match problem {
            Some(p) => {
                checks.insert(check.to_string(), p);
            }
            None => {
                checks.remove(check);
            }
        }
    }

    /// The app is running and nothing fatal happened.
    pub fn is_live(&self) -> bool {
        self.why_not_live().is_none()
    }

    /// Why the app is not live, if it is not: the fatal error it stops for, or that it
    /// stopped.
    ///
    /// ```
    /// use kflow_core::telemetry::Health;
    /// assert_eq!(Health::default().why_not_live(), None);
    /// ```
    pub fn why_not_live(&self) -> Option<String> {
        if let Some(reason) = lock(&self.0.failure).clone() {
            return Some(format!("failed: {reason}"));
        }
        self.0.stopped.load(Ordering::Relaxed).then(|| "stopped".to_string())
    }

    /// See [`Health`].
    pub fn is_ready(&self) -> bool {
        self.why_not_ready().is_none()
    }

    /// Why the app is not ready, if it is not.
    pub fn why_not_ready(&self) -> Option<String> {
        let s = &self.0;
        if let Some(reason) = lock(&s.failure).clone() {
            return Some(format!("failed: {reason}"));
        }
        if s.stopping.load(Ordering::Relaxed) {
            return Some("shutting down".into());
        }
        let (joined, units) = (s.joined.load(Ordering::Relaxed), s.units.load(Ordering::Relaxed));
        if joined < units {
            return Some(format!("{joined} of {units} consumer groups have their assignment"));
        }
        let restoring = lock(&s.restoring).len();
        if restoring > 0 {
            return Some(format!(
                "{restoring} task(s) restoring state from their changelogs (kflow_state_restore_records_total shows progress)"
            ));
        }
        if s.commit_failing.load(Ordering::Relaxed) {
            return Some("the last offset commit failed (broker unreachable?)".into());
        }
        let stalls = lock(&s.stalls);
        if !stalls.is_empty() {
            return Some(stalls.values().cloned().collect::<Vec<_>>().join("; "));
        }
        let checks = lock(&s.checks);
        if !checks.is_empty() {
            return Some(
                checks
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_while_a_store_restores() {
        let h = Health::default();
        let first = h.restoring("p", "counts", 0);
        let second = h.restoring("p", "counts", 1);
        let why = h.why_not_ready().expect("restoring");
        assert!(why.contains("2 task(s) restoring"), "{why}");
        drop(first);
        assert!(!h.is_ready());
        drop(second);
        assert!(h.is_ready(), "{:?}", h.why_not_ready());
        assert!(h.is_live(), "restoring is no failure");
    }
}
