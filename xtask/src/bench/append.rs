//! The append path in local mode against the disk's limit, in one run:
//! first the limit itself (how many `fdatasync` one thread gets per second
//! in the data folder's file system), then appends per second and latency
//! at 1, 8, 32 and 128 clients on one stream and on 16, on the store alone
//! (`EventStore::append` from N tasks) and over HTTP, each with its ratio
//! to that limit. `lag` measures how long an accepted event takes to show
//! in the read model, under load.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use domain::{EventStore, StreamId};
use local::sqlite::SqliteStore;

use super::report::{Report, ms, percentile};
use super::{BENCH_KEY, command, nth_event, tempfile_dir};

/// The client counts measured.
const CLIENTS: [usize; 4] = [1, 8, 32, 128];
/// The stream counts measured.
const STREAMS: [usize; 2] = [1, 16];
/// How long each configuration runs.
const RUN: Duration = Duration::from_secs(2);
/// How long the disk's limit is measured.
const SYNC_RUN: Duration = Duration::from_secs(1);

/// What one configuration gave.
struct Load {
    appends: usize,
    seconds: f64,
    latencies: Vec<f64>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.appends as f64 / self.seconds
    }
}

/// One configuration's result, to report once the limit is known.
struct Measured {
    group: &'static str,
    streams: usize,
    clients: usize,
    load: Load,
    detail: String,
}

pub(super) async fn measure(report: &mut Report) -> anyhow::Result<()> {
    let data = tempfile_dir("append")?;
    // The disk is shared: its limit is taken before and after the appends,
    // and they are compared with the mean.
    let before = fdatasync_rate(&data)?;
    let mut measured = store_alone(&data).await?;
    measured.extend(over_http(&data).await?);
    let after = fdatasync_rate(&data)?;
    let syncs = (before + after) / 2.0;
    report.add(
        "append",
        "disk limit: fdatasync/s, one thread",
        syncs,
        "/s",
        format!(
            "64-byte write + fdatasync in place in the data folder's file system, {:.0} s before the appends ({before:.0}/s) and after ({after:.0}/s)",
            SYNC_RUN.as_secs_f64()
        ),
    );
    for m in measured {
        add_figures(report, m, syncs);
    }
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// Single-thread `write` + `fdatasync` of a small file for [`SYNC_RUN`]:
/// the same 64 bytes rewritten in place, so each sync flushes data only,
/// as a commit into SQLite's reused WAL mostly does.
fn fdatasync_rate(dir: &Path) -> anyhow::Result<f64> {
    use std::os::unix::fs::FileExt;
    let path = dir.join("fdatasync-probe");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all_at(&[0; 64], 0)?;
    file.sync_all()?;
    let started = Instant::now();
    let mut syncs = 0u64;
    while started.elapsed() < SYNC_RUN {
        file.write_all_at(&[syncs as u8; 64], 0)?;
        file.sync_data()?;
        syncs += 1;
    }
    let rate = syncs as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

fn add_figures(report: &mut Report, mut m: Measured, syncs: f64) {
    let (group, streams, clients) = (m.group, m.streams, m.clients);
    let rate = m.load.rate();
    let latencies = &mut m.load.latencies;
    let p50 = percentile(latencies, 50.0);
    let p99 = percentile(latencies, 99.0);
    report.add(
        group,
        format!("appends/s, {streams} stream(s), {clients} clients"),
        rate,
        "/s",
        format!(
            "p50 {p50:.2} ms, p99 {p99:.2} ms; {:.2}x the fdatasync/s; {} appends in {:.1} s{}",
            rate / syncs,
            m.load.appends,
            m.load.seconds,
            m.detail
        ),
    );
    if clients == 32 {
        report.add(
            group,
            format!("p50 latency, {streams} stream(s)"),
            p50,
            "ms",
            "32 clients",
        );
        report.add(
            group,
            format!("p99 latency, {streams} stream(s)"),
            p99,
            "ms",
            "32 clients",
        );
    }
}

/// `EventStore::append` from N tasks on a file store, no HTTP.
async fn store_alone(data: &Path) -> anyhow::Result<Vec<Measured>> {
    let store =
        SqliteStore::open(&data.join("store-alone.sqlite3")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut measured = Vec::new();
    for streams in STREAMS {
        for clients in CLIENTS {
            let before = store.append_stats();
            let load = store_load(&store, streams, clients).await?;
            let after = store.append_stats();
            let batch = (after.appends - before.appends) as f64
                / (after.batches - before.batches).max(1) as f64;
            measured.push(Measured {
                group: "append (store)",
                streams,
                clients,
                load,
                detail: format!("; {batch:.1} appends a transaction"),
            });
        }
    }
    Ok(measured)
}

async fn store_load(store: &SqliteStore, streams: usize, clients: usize) -> anyhow::Result<Load> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (store, next, run) = (store.clone(), next.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < RUN {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let stream = StreamId::parse(format!("store-{run}-{}", n % streams), "streamId")
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                // Every event creates an item of its own: always accepted.
                let event = command(&stream, nth_event(n as u64, u64::MAX)?);
                let sent = Instant::now();
                store
                    .append(&event, Utc::now())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                latencies.push(ms(sent.elapsed()));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Load {
        appends: latencies.len(),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    })
}

async fn start_server(data: &Path) -> anyhow::Result<local::LocalServer> {
    local::LocalServer::start(local::LocalConfig {
        port: 0,
        storage: local::Storage::Embedded {
            data_dir: data.to_path_buf(),
        },
        api_key: service::settings::ApiKey::new(BENCH_KEY),
        default_stream: StreamId::parse("bench-default", "streamId")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    })
    .await
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    // A request that hangs fails the figure instead of the whole bench.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .context("cannot build the HTTP client")
}

/// `POST /addEvent` from N clients against local mode.
async fn over_http(data: &Path) -> anyhow::Result<Vec<Measured>> {
    let dir = data.join("http");
    let server = start_server(&dir).await?;
    let (client, url) = (http_client()?, server.url());
    let mut measured = Vec::new();
    for streams in STREAMS {
        for clients in CLIENTS {
            measured.push(Measured {
                group: "append",
                streams,
                clients,
                load: http_load(&client, &url, streams, clients, None).await?,
                detail: "; over HTTP, SQLite synchronous=FULL".into(),
            });
        }
    }
    server.stop().await?;
    Ok(measured)
}

/// Projection lag: a probe appends to a stream of its own and polls
/// `GET /listTestItems` until its item shows, while 32 clients append to
/// 16 streams.
pub(super) async fn lag(report: &mut Report) -> anyhow::Result<()> {
    let data = tempfile_dir("lag")?;
    let server = start_server(&data).await?;
    let (client, url) = (http_client()?, server.url());
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (client, url, done) = (client.clone(), url.clone(), done.clone());
        tokio::spawn(async move { probe_lag(&client, &url, &done).await })
    };
    let load = http_load(&client, &url, 16, 32, Some(&done)).await?;
    let mut lags = probe.await??;
    report.add(
        "projection",
        "lag p50 (201 → visible in GET /listTestItems)",
        percentile(&mut lags, 50.0),
        "ms",
        format!(
            "{} probes under 32 clients on 16 streams ({:.0} appends/s over HTTP)",
            lags.len(),
            load.rate()
        ),
    );
    report.add(
        "projection",
        "lag p99",
        percentile(&mut lags, 99.0),
        "ms",
        "",
    );
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// Appends from `clients` tasks over `streams` streams for [`RUN`]; then
/// sets `done`, if given.
async fn http_load(
    client: &reqwest::Client,
    url: &str,
    streams: usize,
    clients: usize,
    done: Option<&AtomicBool>,
) -> anyhow::Result<Load> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, next, run) = (client.clone(), url.to_owned(), next.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < RUN {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let body = serde_json::json!({
                    "streamId": format!("load-{run}-{}", n % streams),
                    "type": "ITEM_CREATED",
                    "data": {"itemId": format!("i{n}"), "amount": n},
                });
                let sent = Instant::now();
                let response = client
                    .post(format!("{url}/addEvent"))
                    .header("x-api-key", BENCH_KEY)
                    .json(&body)
                    .send()
                    .await?;
                if response.status() != 201 {
                    bail!("append answered {}", response.status());
                }
                latencies.push(ms(sent.elapsed()));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    let mut failure = None;
    for task in tasks {
        match task.await? {
            Ok(taken) => latencies.extend(taken),
            Err(err) => failure = Some(err),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(done) = done {
        done.store(true, Ordering::Relaxed);
    }
    if let Some(err) = failure {
        return Err(err);
    }
    Ok(Load {
        appends: latencies.len(),
        seconds,
        latencies,
    })
}

async fn probe_lag(
    client: &reqwest::Client,
    url: &str,
    done: &AtomicBool,
) -> anyhow::Result<Vec<f64>> {
    let stream = format!("lag-{}", uuid::Uuid::new_v4().simple());
    let mut lags = Vec::new();
    let mut i = 0;
    while !done.load(Ordering::Relaxed) {
        let item = format!("p{i}");
        i += 1;
        let response = client
            .post(format!("{url}/addEvent"))
            .header("x-api-key", BENCH_KEY)
            .json(&serde_json::json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": item, "amount": 1}}))
            .send()
            .await?;
        if response.status() != 201 {
            bail!("probe append answered {}", response.status());
        }
        let accepted = Instant::now();
        loop {
            let listed: serde_json::Value = client
                .get(format!("{url}/listTestItems"))
                .query(&[("streamId", &stream)])
                .header("x-api-key", BENCH_KEY)
                .send()
                .await?
                .json()
                .await?;
            let visible = listed["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|it| it["itemId"] == item.as_str()));
            if visible {
                lags.push(ms(accepted.elapsed()));
                break;
            }
            if accepted.elapsed() > Duration::from_secs(30) {
                bail!("an append stayed invisible for 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok(lags)
}
