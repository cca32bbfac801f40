//! `GET /listTestItems` at size, in local mode over HTTP: the latency of a
//! full page (1,000 items) when the stream holds 100,000 live items and as
//! many tombstones, and the largest page body.

use std::time::Instant;

use anyhow::bail;
use chrono::Utc;
use domain::{Amount, ApplyMode, EventId, ItemChange, ItemId, ItemState, ReadModel, StreamId};

use super::report::{Report, ms, percentile};
use super::{BENCH_KEY, local_server, tempfile_dir};

const LIVE_ITEMS: u64 = 100_000;
/// Walks over the whole list; each is 100 pages.
const WALKS: usize = 3;

pub(super) async fn measure(report: &mut Report) -> anyhow::Result<()> {
    let data = tempfile_dir("listing")?;
    let stream =
        StreamId::parse("listing-bench", "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
    seed(&data, &stream).await?;
    let (server, client) = local_server(&data, &stream).await?;
    let url = format!("{}/listTestItems", server.url());
    let mut latencies = Vec::new();
    let mut largest_body = 0usize;
    for _ in 0..WALKS {
        let mut cursor: Option<String> = None;
        let mut seen = 0u64;
        loop {
            let mut request = client.get(&url).header("x-api-key", BENCH_KEY);
            if let Some(cursor) = &cursor {
                request = request.query(&[("cursor", cursor)]);
            }
            let sent = Instant::now();
            let response = request.send().await?;
            if response.status() != 200 {
                bail!("a page answered {}", response.status());
            }
            let body = response.bytes().await?;
            latencies.push(ms(sent.elapsed()));
            largest_body = largest_body.max(body.len());
            let page: serde_json::Value = serde_json::from_slice(&body)?;
            seen += page["items"].as_array().map_or(0, Vec::len) as u64;
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        if seen != LIVE_ITEMS {
            bail!("a walk over the list saw {seen} items, not {LIVE_ITEMS}");
        }
    }
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&data);
    let note = format!(
        "{} pages of 1,000 over HTTP; 100,000 live items and 100,000 tombstones",
        latencies.len()
    );
    report.add(
        "listing",
        "page p50 at 100k items",
        percentile(&mut latencies, 50.0),
        "ms",
        format!("{note}; target <= 20 ms"),
    );
    report.add(
        "listing",
        "page p99 at 100k items",
        percentile(&mut latencies, 99.0),
        "ms",
        "",
    );
    report.add(
        "listing",
        "largest page body",
        largest_body as f64 / 1024.0,
        "KiB",
        "Lambda's response limit is 6 MB",
    );
    Ok(())
}

/// Writes the read model directly: every other item is a fresh tombstone,
/// so a page has as many rows to skip as to show.
async fn seed(data: &std::path::Path, stream: &StreamId) -> anyhow::Result<()> {
    let store = local::sqlite::SqliteStore::open(&data.join(local::EMBEDDED_STORE_FILE))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let changes: Vec<ItemChange> = (0..2 * LIVE_ITEMS)
        .map(|n| {
            let state = if n % 2 == 0 {
                ItemState::Live {
                    amount: Amount::new(n).expect("a small amount"),
                }
            } else {
                ItemState::Deleted
            };
            Ok(ItemChange {
                stream_id: stream.clone(),
                item_id: ItemId::parse(format!("item-{n:07}"), "itemId")
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                version: EventId::new(n),
                state,
                recorded_at: Utc::now(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    for chunk in changes.chunks(10_000) {
        for outcome in store.apply(chunk, ApplyMode::Projection).await {
            outcome.map_err(|e| anyhow::anyhow!("seeding the read model: {e}"))?;
        }
    }
    Ok(())
}
