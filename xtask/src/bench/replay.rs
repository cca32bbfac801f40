//! Replay of a 100,000-event stream from 0 on the embedded store, after
//! seeding it with direct appends.

use std::time::Instant;

use anyhow::bail;
use chrono::Utc;
use domain::{EventId, EventStore, ReadModel, StreamId};

use super::report::{Report, median};
use super::{command, nth_event, tempfile_dir};

pub(super) async fn measure(report: &mut Report) -> anyhow::Result<()> {
    const EVENTS: u64 = 100_000;
    const ITEMS: u64 = 1_000;
    let dir = tempfile_dir("replay")?;
    let store = local::sqlite::SqliteStore::open(&dir.join("store.db"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stream = StreamId::parse("replay-bench", "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
    let seeding = Instant::now();
    for n in 0..EVENTS {
        let event = nth_event(n, ITEMS)?;
        store
            .append(&command(&stream, event), Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let seeded = seeding.elapsed().as_secs_f64();
    report.add(
        "replay",
        "seeding: direct appends/s (one transaction each)",
        EVENTS as f64 / seeded,
        "/s",
        "SQLite file, synchronous=FULL",
    );
    let mut samples = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let replayed = domain::replay::run(
            &store,
            &store,
            &domain::replay::ReplayTarget {
                stream_id: stream.clone(),
                from_event_id: EventId::new(0),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        samples.push(started.elapsed().as_secs_f64());
        if replayed.events_applied != EVENTS {
            bail!(
                "the replay applied {} events, not {EVENTS}",
                replayed.events_applied
            );
        }
    }
    let items = store
        .list(&domain::ListQuery::first_page(stream))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .items;
    if items.len() as u64 != ITEMS {
        bail!("the replay left {} items, not {ITEMS}", items.len());
    }
    let seconds = median(samples);
    report.add(
        "replay",
        "100,000-event stream from 0",
        seconds,
        "s",
        "3 runs; target < 2 s",
    );
    report.add(
        "replay",
        "replay rate",
        EVENTS as f64 / seconds,
        "events/s",
        "",
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
