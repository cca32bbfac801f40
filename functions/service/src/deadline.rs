//! The time a request has left, as its platform gives it: the Lambda
//! invocation's deadline, or local mode's equal. Handlers run inside
//! [`within`]; an adapter that retries asks [`allows`] before another try,
//! so the answer (503 with `Retry-After` at worst) leaves before the
//! platform cuts the request off and the caller is left not knowing.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// What an answer needs after the last try: building it and the way back.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// Runs `work` with `deadline` as the time its request must be answered by.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// Whether a pause of `pause`, then a try taking about `one_try`, still
/// leaves [`ANSWER_MARGIN`] before the deadline. Always, outside
/// [`within`] (tools and tests set no deadline).
pub fn allows(pause: Duration, one_try: Duration) -> bool {
    DEADLINE
        .try_with(|deadline| Instant::now() + pause + one_try + ANSWER_MARGIN <= *deadline)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn another_try_is_allowed_only_if_it_ends_in_time_to_answer() {
        assert!(
            allows(Duration::from_secs(3600), Duration::ZERO),
            "no deadline"
        );
        let in_two_seconds = Instant::now() + Duration::from_secs(2);
        within(in_two_seconds, async {
            assert!(allows(
                Duration::from_millis(10),
                Duration::from_millis(100)
            ));
            assert!(!allows(Duration::from_millis(10), Duration::from_secs(2)));
            assert!(!allows(Duration::from_secs(2), Duration::ZERO));
        })
        .await;
        within(Instant::now(), async {
            assert!(!allows(Duration::ZERO, Duration::ZERO), "already past");
        })
        .await;
    }
}
