//! The projector following the embedded store's change feed. It is pushed,
//! not polled: the feed's position wakes it as each commit lands, and it
//! projects at once. Its checkpoint is saved at most every
//! [`CHECKPOINT_EVERY`] while events flow, when the feed goes quiet, and at
//! shutdown: a restart may re-project the last moments, which projection
//! absorbs (it is idempotent).

use std::time::Duration;

use domain::{Checkpoints, ParkedRecord, ParkedRecords, RecordedEvent};
use service::projector::project;
use tokio::sync::watch;

use super::{IDLE_POLL, backoff, sleep_or_stop, stopped};
use crate::sqlite::{SqliteStore, feed_source};

const FEED_CHECKPOINT: &str = "projector";
const FEED_BATCH: usize = 500;
/// How often, at most, the follower saves its checkpoint while events keep
/// coming.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Follows the embedded store's feed until shutdown.
pub async fn follow_sqlite(store: SqliteStore, mut shutdown: watch::Receiver<bool>) {
    let mut position = match store.load(FEED_CHECKPOINT).await {
        Ok(saved) => saved.and_then(|text| text.parse::<i64>().ok()).unwrap_or(0),
        Err(err) => {
            tracing::error!(error = %err, "cannot read the projector checkpoint; starting from the beginning");
            0
        }
    };
    let mut checkpoint = Checkpoint {
        saved: position,
        at: tokio::time::Instant::now(),
    };
    let mut wake = store.feed_position();
    let mut attempt = 0;
    loop {
        if *shutdown.borrow() {
            checkpoint.save(&store, position).await;
            return;
        }
        // Marks the position seen before reading, so a commit landing
        // during the read wakes the next wait.
        wake.borrow_and_update();
        let entries = match store.read_feed(position, FEED_BATCH).await {
            Ok(entries) => entries,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the change feed");
                attempt += 1;
                sleep_or_stop(backoff(attempt), &mut shutdown).await;
                continue;
            }
        };
        let Some(last) = entries.last().map(|entry| entry.seq) else {
            tokio::select! {
                _ = wake.changed() => {}
                _ = tokio::time::sleep(IDLE_POLL) => checkpoint.save(&store, position).await,
                _ = stopped(&mut shutdown) => {}
            }
            continue;
        };
        let mut events: Vec<RecordedEvent> = Vec::with_capacity(entries.len());
        let mut unparked = 0;
        for entry in entries {
            match entry.event {
                Ok(event) => events.push(event),
                Err(err) => {
                    // It will never decode: park it and go on, so one bad row
                    // does not block every stream behind it.
                    tracing::error!(seq = entry.seq, error = %err, "undecodable change-feed row parked");
                    let parked = ParkedRecord::new(
                        feed_source(entry.seq),
                        err.to_string(),
                        "",
                        chrono::Utc::now(),
                    );
                    if let Err(err) = store.park(&parked).await {
                        tracing::error!(seq = entry.seq, error = %err, "cannot park an undecodable row");
                        unparked += 1;
                    }
                }
            }
        }
        let failed = project(&store, &events).await;
        if unparked > 0 {
            // Moving past a row that is neither projected nor parked would
            // lose it: try the batch again.
            attempt += 1;
            sleep_or_stop(backoff(attempt), &mut shutdown).await;
            continue;
        }
        if !failed.is_empty() {
            // A write failure here is the disk's, not the data's: retry the
            // batch until it lands rather than skip events.
            attempt += 1;
            tracing::error!(failed_items = failed.len(), error = %failed[0].error, attempt, "projection failed; retrying");
            sleep_or_stop(backoff(attempt), &mut shutdown).await;
            continue;
        }
        attempt = 0;
        position = last;
        if checkpoint.at.elapsed() >= CHECKPOINT_EVERY {
            checkpoint.save(&store, position).await;
        }
    }
}

/// The projector's saved position on the embedded store.
struct Checkpoint {
    saved: i64,
    at: tokio::time::Instant,
}

impl Checkpoint {
    /// Saves `position` unless it is saved already.
    async fn save(&mut self, store: &SqliteStore, position: i64) {
        if position == self.saved {
            return;
        }
        match store.save(FEED_CHECKPOINT, &position.to_string()).await {
            Ok(()) => {
                self.saved = position;
                self.at = tokio::time::Instant::now();
            }
            // Not fatal: a restart re-projects from the older checkpoint.
            Err(err) => tracing::warn!(error = %err, "cannot save the projector checkpoint"),
        }
    }
}
