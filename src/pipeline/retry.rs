//! The retry policy: capped exponential backoff with jitter. Which failures are worth retrying
//! is the sink's call ([`crate::sink::FailureKind`]); how long to wait is decided here.

use std::time::Duration;

/// Waits `base · 2^n`, capped at `cap`, each drawn uniformly from its upper half ("equal
/// jitter"): never less than half the nominal wait, so a fleet restarting together spreads out
/// without retrying in a tight loop.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next wait.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let nominal = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = nominal / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_jitter_in_upper_half() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        let mut b = Backoff::new(base, cap);
        let mut nominal = base;
        for _ in 0..40 {
            let w = b.next_wait();
            assert!(
                w >= nominal / 2 && w <= nominal,
                "{w:?} outside [{:?}, {nominal:?}]",
                nominal / 2
            );
            nominal = (nominal * 2).min(cap);
        }
    }
}
