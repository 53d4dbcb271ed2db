//! Adaptive polling: answer fast when AWS is fast, back off when it is slow.

use std::time::Duration;

/// Delays that start short and grow geometrically to a ceiling. CloudFormation on AWS takes
/// seconds per resource, the local emulator milliseconds: a fixed multi-second sleep would waste
/// most of a fast deploy, a fixed short one would hammer the API on a slow one.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
    factor: f64,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            next: first,
            max,
            factor: 1.6,
        }
    }

    /// For CloudFormation change sets and stacks: 50 ms first, growing by a quarter per poll to at
    /// most 5 s — ten polls in the first 1.6 s catch quick operations promptly, and a long stack
    /// update settles at one poll per 5 s after about 20 s.
    pub(crate) fn cloudformation() -> Self {
        Self::new(Duration::from_millis(50), Duration::from_secs(5)).with_factor(1.25)
    }

    pub(crate) fn with_factor(mut self, factor: f64) -> Self {
        self.factor = factor.max(1.0);
        self
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let now = self.next;
        let grown = self.next.mul_f64(self.factor);
        self.next = grown.min(self.max);
        now
    }

    /// Progress was seen: poll quickly again, since more changes usually follow.
    pub(crate) fn reset_to(&mut self, delay: Duration) {
        self.next = delay.min(self.max);
    }

    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_geometrically_to_the_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let delays: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![100, 160, 256, 400, 400]);
    }

    #[test]
    fn cloudformation_polls_often_at_first_then_settles_at_five_seconds() {
        let mut b = Backoff::cloudformation();
        let delays: Vec<Duration> = (0..40).map(|_| b.next_delay()).collect();
        let first_ten: Duration = delays[..10].iter().sum();
        assert!(first_ten < Duration::from_secs(2), "{first_ten:?}");
        assert_eq!(*delays.last().unwrap(), Duration::from_secs(5));
    }

    #[test]
    fn reset_goes_back_to_a_short_delay() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset_to(Duration::from_millis(100));
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
