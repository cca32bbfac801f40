//! The time a request has left, as its platform gives it: the Lambda
//! invocation's deadline, or local mode's equal. Handlers run inside
//! [`within`]; an adapter that retries asks [`allows`] before another try,
//! and every AWS call reads [`time_left`] for its own timeouts
//! (`crate::aws::CallDeadline`), so the answer (503 with `Retry-After` at
//! worst) leaves before the platform cuts the request off and the caller
//! is left not knowing.
//!
//! The deadline is task-local rather than passed down: it follows the
//! request through the ports (which know nothing of time) into the SDK's
//! interceptor, and a step that must keep time for what follows it runs
//! inside [`leaving`].

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

/// How long a call made now may take: until the deadline, less
/// [`ANSWER_MARGIN`] (zero when that is past). `None` outside [`within`].
pub fn time_left() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(ANSWER_MARGIN)
        })
        .ok()
}

/// Runs `work` with the deadline moved `reserve` earlier, so that what
/// must follow it (reading back a write whose answer was lost, recording a
/// failure) still has `reserve` left. Outside [`within`], runs `work` as is.
pub async fn leaving<F: Future>(reserve: Duration, work: F) -> F::Output {
    match DEADLINE.try_with(|deadline| *deadline) {
        Ok(deadline) => {
            // Before the clock's origin is long past: no time left.
            let earlier = deadline.checked_sub(reserve).unwrap_or_else(Instant::now);
            within(earlier, work).await
        }
        Err(_) => work.await,
    }
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

    #[tokio::test]
    async fn a_call_has_the_time_left_less_the_margin_and_less_what_is_kept_for_later() {
        assert_eq!(time_left(), None, "no deadline");
        let in_ten_seconds = Instant::now() + Duration::from_secs(10);
        within(in_ten_seconds, async {
            let left = time_left().expect("a deadline");
            assert!(left <= Duration::from_secs(10) - ANSWER_MARGIN);
            assert!(left > Duration::from_secs(9) - ANSWER_MARGIN, "{left:?}");
            let kept = leaving(Duration::from_secs(4), async { time_left() }).await;
            let kept = kept.expect("still a deadline");
            assert!(kept <= Duration::from_secs(6) - ANSWER_MARGIN, "{kept:?}");
            assert!(kept > Duration::from_secs(5) - ANSWER_MARGIN, "{kept:?}");
            let all = leaving(Duration::from_secs(60), async { time_left() }).await;
            assert_eq!(all, Some(Duration::ZERO), "nothing left for the call");
        })
        .await;
        within(Instant::now(), async {
            assert_eq!(time_left(), Some(Duration::ZERO), "already past");
        })
        .await;
    }
}
