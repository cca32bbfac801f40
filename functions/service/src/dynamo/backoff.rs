//! The pause before retrying a contended append or an unprocessed batch.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The backoff cap of the first retry, doubled per attempt up to
/// `BACKOFF_MAX_MS`.
const BACKOFF_BASE_MS: u64 = 5;
const BACKOFF_MAX_MS: u64 = 250;

/// The longest sleep before retry `attempt` (1-based): 10, 20, 40 .. 250 ms.
fn backoff_cap_ms(attempt: u32) -> u64 {
    (BACKOFF_BASE_MS << attempt.min(8)).min(BACKOFF_MAX_MS)
}

/// A random time under the attempt's cap ("full jitter"), so contending
/// writers spread out instead of colliding again.
pub(super) fn pause(attempt: u32) -> Duration {
    let cap_ms = backoff_cap_ms(attempt);
    let jitter = RandomState::new().hash_one(attempt) % cap_ms;
    Duration::from_millis(1 + jitter)
}

/// Sleeps [`pause`] before retry `attempt`.
pub(super) async fn backoff(attempt: u32) {
    tokio::time::sleep(pause(attempt)).await;
}

#[cfg(test)]
mod tests {
    //! The backoff schedule.

    use super::*;

    #[test]
    fn backoff_caps_double_up_to_the_maximum() {
        let caps: Vec<u64> = (1..=7).map(backoff_cap_ms).collect();
        assert_eq!(caps, [10, 20, 40, 80, 160, 250, 250]);
        assert_eq!(backoff_cap_ms(u32::MAX), BACKOFF_MAX_MS);
    }
}
