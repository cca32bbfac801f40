//! Reading the log: `GET /readStream` pages of 1,000 events at the start,
//! middle and end of a 1,000,000-event stream and `GET /listStreams`
//! pages at 100,000 streams, in local mode over HTTP; and the DynamoDB
//! requests per page on the emulator, counted at the wire.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use domain::{Direction, EventId, EventStore, EventsQuery, PageSize, StreamId};

use super::report::{Report, median, ms, percentile};
use super::{BENCH_KEY, command, local_server, nth_event, tempfile_dir};

const EVENTS: u64 = 1_000_000;
const STREAMS: u64 = 100_000;
/// Appends per seeding transaction.
const SEED_BATCH: u64 = 10_000;
/// Requests per measured page position.
const SAMPLES: usize = 50;

fn id(text: String) -> anyhow::Result<StreamId> {
    StreamId::parse(text, "streamId").map_err(|e| anyhow::anyhow!("{e}"))
}

pub(super) async fn measure(report: &mut Report) -> anyhow::Result<()> {
    let data = tempfile_dir("log-reads")?;
    let store = local::sqlite::SqliteStore::open(&data.join(local::EMBEDDED_STORE_FILE))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let stream = id("log-reads-bench".to_owned())?;
    for batch in 0..EVENTS / SEED_BATCH {
        let commands = (batch * SEED_BATCH..(batch + 1) * SEED_BATCH)
            .map(|n| Ok(command(&stream, nth_event(n, 10_000)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store
            .append_all(commands, Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    // 100,000 streams in all, the big one among them.
    for batch in 0..(STREAMS - 1) / SEED_BATCH + 1 {
        let commands = (batch * SEED_BATCH..((batch + 1) * SEED_BATCH).min(STREAMS - 1))
            .map(|n| Ok(command(&id(format!("s-{n:06}"))?, nth_event(0, 1)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store
            .append_all(commands, Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    drop(store);

    let (server, client) = local_server(&data, &stream).await?;
    let base = server.url();
    let middle = (EVENTS / 2).to_string();
    let read_at: [(&str, Vec<(&str, &str)>); 3] = [
        ("start", vec![("from", "0")]),
        ("middle", vec![("from", middle.as_str())]),
        ("end, backward", vec![("direction", "backward")]),
    ];
    for (place, params) in read_at {
        let mut query = vec![("streamId", stream.as_str()), ("limit", "1000")];
        query.extend(params);
        let mut samples = Vec::new();
        for _ in 0..SAMPLES {
            let (took, page) = get(&client, &format!("{base}/readStream"), &query).await?;
            samples.push(ms(took));
            let events = page["events"].as_array().map_or(0, Vec::len);
            if events != 1000 {
                bail!("a readStream page at the {place} held {events} events, not 1000");
            }
        }
        add_latencies(
            report,
            &format!("readStream page of 1,000 events, {place} of a 1,000,000-event stream"),
            samples,
            "local mode over HTTP, SQLite file; target p50 <= 5 ms",
        );
    }
    let mut samples = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..SAMPLES {
        let mut query = vec![("limit", "1000".to_owned())];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (took, page) = get(&client, &format!("{base}/listStreams"), &query).await?;
        samples.push(ms(took));
        cursor = page["nextCursor"].as_str().map(str::to_owned);
    }
    add_latencies(
        report,
        "listStreams page of 1,000 streams, 100,000 streams",
        samples,
        "local mode over HTTP, SQLite file; 50 pages in a row; target p50 <= 10 ms",
    );
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

fn add_latencies(report: &mut Report, name: &str, mut samples: Vec<f64>, note: &str) {
    let p99 = percentile(&mut samples, 99.0);
    report.add(
        "log reads",
        format!("{name}: p50"),
        median(samples),
        "ms",
        note,
    );
    report.add("log reads", format!("{name}: p99"), p99, "ms", note);
}

/// GETs `url`; the time to the whole body, and the body as JSON (parsed
/// after the clock stops: the client's parsing is not the server's time).
async fn get(
    client: &reqwest::Client,
    url: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<(Duration, serde_json::Value)> {
    let sent = Instant::now();
    let response = client
        .get(url)
        .header("x-api-key", BENCH_KEY)
        .query(query)
        .send()
        .await?;
    if response.status() != 200 {
        bail!("{url} answered {}", response.status());
    }
    let body = response.bytes().await?;
    let took = sent.elapsed();
    Ok((took, serde_json::from_slice(&body)?))
}

/// DynamoDB requests per page of the log, on the emulator.
pub(super) async fn requests_per_page(report: &mut Report, moto: &str) -> anyhow::Result<()> {
    use service::dynamo::{DynamoStore, TableNames, ensure_tables};
    use testkit::aws_calls::{RequestLog, counted_dynamodb};
    const STREAM_EVENTS: u64 = 300;
    let log = RequestLog::default();
    let client = counted_dynamodb(moto, &log).await;
    let tables = TableNames::with_prefix(&format!("bench-{}", uuid::Uuid::new_v4().simple()));
    ensure_tables(&client, &tables).await?;
    let store = DynamoStore::new(client, tables);
    let stream = id("log-reads".to_owned())?;
    for n in 0..STREAM_EVENTS {
        store
            .append(&command(&stream, nth_event(n, 10)?), Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let limit = PageSize::new(100).context("a page size")?;
    let pages = [
        ("backward from the end", Direction::Backward, None),
        ("forward from the start", Direction::Forward, Some(0)),
        (
            "forward, the last page",
            Direction::Forward,
            Some(STREAM_EVENTS - 100),
        ),
    ];
    for (place, direction, from) in pages {
        log.take();
        let query = EventsQuery {
            stream_id: stream.clone(),
            direction,
            from: from.map(EventId::new),
            limit,
        };
        let page = store
            .read_events(&query)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .context("the stream is there")?;
        if page.events.len() != 100 {
            bail!("a page {place} held {} events", page.events.len());
        }
        report.add(
            "aws calls",
            format!("DynamoDB requests per readStream page, {place}"),
            log.take().len() as f64,
            "",
            "100 events; one Query, with the HEAD row's GetItem beside it (in parallel) unless the page starts at the last event",
        );
    }
    log.take();
    store
        .list_streams(None, 1000)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    report.add(
        "aws calls",
        "DynamoDB requests per listStreams page",
        log.take().len() as f64,
        "",
        "one Query of the list and one BatchGetItem of the HEAD rows per 100 streams",
    );
    Ok(())
}
