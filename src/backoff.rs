//! Exponential back-off with jitter, capped: the one rule every retry in the gateway follows
//! (chat media fetches, replies to citizens, the mailbox's reconnects, paused sinks).

use std::time::Duration;

/// The wait after `failures` failed attempts in a row (1 for the first): `base` doubling per
/// failure up to `max`, then a random point in its upper half ("equal jitter"), so that work
/// that failed together does not come back together, and nothing comes back at once.
pub fn jittered(base: Duration, max: Duration, failures: u32) -> Duration {
    let doubled = base.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let capped = doubled.min(max.max(base));
    let half = capped / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let (base, max) = (Duration::from_millis(1000), Duration::from_secs(300));
        for failures in 1..=8u32 {
            let full = (base * (1 << (failures - 1))).min(max);
            let wait = jittered(base, max, failures);
            assert!(wait >= full / 2 && wait <= full, "failure {failures}: {wait:?}");
        }
        for failures in [10, 30, u32::MAX] {
            let wait = jittered(base, max, failures);
            assert!(wait >= max / 2 && wait <= max, "failure {failures}: {wait:?}");
        }
    }
}
