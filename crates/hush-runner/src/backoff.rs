//! The one retry policy of hush: restarting an app that keeps exiting, reconnecting to a hush
//! server, retrying a write that failed.

use std::time::Duration;

/// Doubling delays from `initial` up to `max`, each spread by a random ±`jitter` (so a fleet of
/// runners does not retry in step), starting over after a healthy period.
///
/// ```
/// # use std::time::Duration;
/// let mut backoff = hush_runner::Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// assert_eq!(backoff.next_delay(), Duration::from_secs(1));
/// assert_eq!(backoff.next_delay(), Duration::from_secs(2));
/// // The last attempt stayed up longer than `reset_after` (default: the maximum delay).
/// assert_eq!(backoff.delay_after(Duration::from_secs(120)), Duration::from_secs(1));
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    reset_after: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            jitter: 0.0,
            reset_after: max,
            next: initial,
        }
    }

    /// Spreads every delay over `delay × (1 ± fraction)`; `fraction` is clamped to `0.0..=1.0`.
    pub fn jitter(mut self, fraction: f64) -> Backoff {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// An attempt that lasted at least this long counts as healthy: [`Backoff::delay_after`]
    /// then starts over from `initial`.
    pub fn reset_after(mut self, healthy: Duration) -> Backoff {
        self.reset_after = healthy;
        self
    }

    /// The next delay; each call doubles the one after, up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        spread(delay, self.jitter)
    }

    /// The delay after an attempt that lasted `lasted`: starts over first when it was healthy.
    pub fn delay_after(&mut self, lasted: Duration) -> Duration {
        if lasted >= self.reset_after {
            self.reset();
        }
        self.next_delay()
    }

    /// Starts over from `initial` (after a success).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

impl Default for Backoff {
    /// 1 s doubling up to 60 s, ±20 %.
    fn default() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).jitter(0.2)
    }
}

/// `delay × (1 ± fraction)`, uniformly.
fn spread(delay: Duration, fraction: f64) -> Duration {
    if fraction == 0.0 {
        return delay;
    }
    // Without randomness (it never fails on Linux) the delay is just not spread.
    let unit = getrandom::u64().map_or(0.5, |r| r as f64 / u64::MAX as f64);
    delay.mul_f64(1.0 - fraction + 2.0 * fraction * unit)
}

/// A random delay in `0..=max`.
pub(crate) fn random_up_to(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let unit = getrandom::u64().map_or(0.5, |r| r as f64 / u64::MAX as f64);
    max.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_starts_over_when_healthy_or_reset() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(5)).reset_after(s(30));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_eq!(delays, [s(1), s(2), s(4), s(5), s(5)]);
        assert_eq!(b.delay_after(s(29)), s(5), "not healthy long enough");
        assert_eq!(b.delay_after(s(30)), s(1));
        b.next_delay();
        b.reset();
        assert_eq!(b.next_delay(), s(1));
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_varies() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10)).jitter(0.2);
            let d = b.next_delay();
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
            seen.insert(d);
        }
        assert!(seen.len() > 100, "the delays are spread, not fixed");
        for _ in 0..100 {
            assert!(random_up_to(Duration::from_millis(250)) <= Duration::from_millis(250));
        }
        assert_eq!(random_up_to(Duration::ZERO), Duration::ZERO);
    }
}
