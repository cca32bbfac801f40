//! Replay of a 1,000,000-event stream from 0 on the embedded store (a file,
//! as local mode keeps it): its time and the peak memory it adds, which
//! must not grow with the stream.

use std::time::Instant;

use anyhow::bail;
use chrono::Utc;
use domain::{EventId, ReadModel, StreamId};

use super::report::{Report, median};
use super::{command, nth_event, tempfile_dir};

const EVENTS: u64 = 1_000_000;
const ITEMS: u64 = 10_000;
/// Events appended per seeding transaction.
const SEED_BATCH: u64 = 10_000;

pub(super) async fn measure(report: &mut Report) -> anyhow::Result<()> {
    let dir = tempfile_dir("replay")?;
    let store = local::sqlite::SqliteStore::open(&dir.join(local::EMBEDDED_STORE_FILE))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stream = StreamId::parse("replay-bench", "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
    let seeding = Instant::now();
    for batch in 0..EVENTS / SEED_BATCH {
        let commands = (batch * SEED_BATCH..(batch + 1) * SEED_BATCH)
            .map(|n| Ok(command(&stream, nth_event(n, ITEMS)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store
            .append_all(commands, Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    report.add(
        "replay",
        "seeding: appends/s in transactions of 10,000",
        EVENTS as f64 / seeding.elapsed().as_secs_f64(),
        "/s",
        "SQLite file, synchronous=FULL",
    );
    let mut samples = Vec::new();
    let mut peaks = Vec::new();
    let mut process_peaks = Vec::new();
    for _ in 0..3 {
        let before = reset_peak_rss()?;
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
        let peak = peak_rss_mib()?;
        peaks.push(peak - before);
        process_peaks.push(peak);
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
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if items.items.len() != domain::MAX_PAGE_ITEMS || !items.more {
        bail!(
            "the replay left {} items on the first page",
            items.items.len()
        );
    }
    let seconds = median(samples);
    report.add(
        "replay",
        "1,000,000-event stream from 0",
        seconds,
        "s",
        "3 runs over 10,000 items; target < 15 s",
    );
    report.add(
        "replay",
        "replay rate",
        EVENTS as f64 / seconds,
        "events/s",
        "",
    );
    report.add(
        "replay",
        "peak memory a replay adds",
        median(peaks),
        "MiB",
        "VmHWM after the run minus VmRSS before",
    );
    report.add(
        "replay",
        "peak RSS of the process during a replay",
        median(process_peaks),
        "MiB",
        "VmHWM of the bench process (also holding what earlier figures left); target < 200 MB",
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Resets this process's peak RSS to its current RSS (Linux, `clear_refs`
/// value 5) and returns that RSS in MiB.
fn reset_peak_rss() -> anyhow::Result<f64> {
    std::fs::write("/proc/self/clear_refs", "5")
        .map_err(|e| anyhow::anyhow!("cannot reset the peak RSS: {e}"))?;
    status_mib("VmRSS:")
}

fn peak_rss_mib() -> anyhow::Result<f64> {
    status_mib("VmHWM:")
}

fn status_mib(field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/self/status"))?;
    Ok(kib / 1024.0)
}
