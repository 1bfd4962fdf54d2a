//! How long to wait between in-place retries.

use std::time::Duration;

/// The wait before each retry: fixed, or exponential with an optional cap and jitter.
///
/// ```
/// use std::time::Duration;
/// use kflow_core::policy::Backoff;
/// let b = Backoff::exponential(Duration::from_millis(100), 2.0).max_delay(Duration::from_millis(300));
/// assert_eq!(b.delay(1), Duration::from_millis(100));
/// assert_eq!(b.delay(2), Duration::from_millis(200));
/// assert_eq!(b.delay(3), Duration::from_millis(300)); // capped
/// assert_eq!(Backoff::fixed(Duration::from_secs(1)).delay(5), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    multiplier: f64,
    max: Option<Duration>,
    jitter: f64,
}

impl Backoff {
    /// The same wait before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Backoff {
            initial: delay,
            multiplier: 1.0,
            max: None,
            jitter: 0.0,
        }
    }

    /// `initial` before the first retry, then multiplied by `multiplier` each time.
    pub fn exponential(initial: Duration, multiplier: f64) -> Self {
        Backoff {
            initial,
            multiplier,
            max: None,
            jitter: 0.0,
        }
    }

    /// Caps every wait at `max`.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max = Some(max);
        self
    }

    /// Spreads each wait randomly by up to `fraction` (0..=1) of it, either way, so that
    /// many instances failing together do not retry in lockstep.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// The wait before retry number `retry` (from 1), without jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = self.multiplier.powi(retry.saturating_sub(1).min(64) as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(u32::MAX as f64);
        let delay = Duration::from_secs_f64(secs);
        self.max.map_or(delay, |max| delay.min(max))
    }

    /// The wait before retry number `retry`, with jitter applied.
    pub(crate) fn jittered(&self, retry: u32) -> Duration {
        let delay = self.delay(retry);
        if self.jitter <= 0.0 {
            return delay;
        }
        let spread = (fastrand::f64() * 2.0 - 1.0) * self.jitter;
        delay.mul_f64((1.0 + spread).max(0.0))
    }

    /// Why this backoff cannot be used, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Some(format!(
                "backoff multiplier must be at least 1.0, not {}",
                self.multiplier
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Some(format!("backoff jitter must be between 0 and 1, not {}", self.jitter));
        }
        None
    }
}
