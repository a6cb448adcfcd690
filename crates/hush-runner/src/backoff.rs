//! Restart-with-backoff policy for server-launched apps whose child exits by itself.

use std::time::Duration;

/// Doubling delays between restarts of an app that keeps exiting, reset once it has stayed up.
///
/// ```
/// # use std::time::Duration;
/// let mut backoff = hush_runner::Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// assert_eq!(backoff.next_delay(Duration::from_millis(10)), Duration::from_secs(1));
/// assert_eq!(backoff.next_delay(Duration::from_millis(10)), Duration::from_secs(2));
/// // It ran for longer than `reset_after` (default: the maximum delay): start over.
/// assert_eq!(backoff.next_delay(Duration::from_secs(120)), Duration::from_secs(1));
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    reset_after: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            reset_after: max,
            next: initial,
        }
    }

    /// A run that lasted at least this long counts as healthy and resets the delay.
    pub fn reset_after(mut self, ran_for: Duration) -> Backoff {
        self.reset_after = ran_for;
        self
    }

    /// The delay before the next start, given how long the last run lasted.
    pub fn next_delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.reset_after {
            self.next = self.initial;
        }
        let delay = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

impl Default for Backoff {
    /// 1 s doubling up to 60 s.
    fn default() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}
