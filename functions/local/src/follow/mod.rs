//! The projector, in process: follows a change feed in order, as Lambda's
//! event source mapping follows the DynamoDB stream, and checkpoints what it
//! has projected so a restart resumes where it stopped: the embedded
//! store's feed (`sqlite_feed.rs`) or the event table's DynamoDB stream
//! (`dynamodb_stream.rs`).

use std::time::Duration;

use tokio::sync::watch;

mod dynamodb_stream;
mod sqlite_feed;

pub use dynamodb_stream::follow_dynamodb_stream;
pub use sqlite_feed::follow_sqlite;

/// How often a follower looks again when nothing woke it.
const IDLE_POLL: Duration = Duration::from_millis(250);

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100 * 2u64.pow(attempt.min(6)))
}

/// Resolves once `shutdown` turns true.
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn sleep_or_stop(delay: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = stopped(shutdown) => {}
    }
}
