//! The append path and projection lag in local mode, over HTTP: appends
//! per second and latency under concurrent clients, and how long an
//! accepted event takes to show in the read model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use domain::StreamId;

use super::report::{Report, ms, percentile};
use super::{BENCH_KEY, tempfile_dir};

pub(super) async fn measure(report: &mut Report) -> anyhow::Result<()> {
    let data = tempfile_dir("local")?;
    let server = local::LocalServer::start(local::LocalConfig {
        port: 0,
        storage: local::Storage::Embedded {
            data_dir: data.clone(),
        },
        api_key: service::settings::ApiKey::new(BENCH_KEY),
        default_stream: StreamId::parse("bench-default", "streamId")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    })
    .await?;
    let url = server.url();
    // A request that hangs fails the figure instead of the whole bench.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    for streams in [1usize, 16] {
        let (rate, mut latencies, mut lags) =
            load(&client, &url, streams, 32, 3200, streams == 16).await?;
        report.add(
            "append",
            format!("appends/s, {streams} stream(s), 32 clients"),
            rate,
            "/s",
            "3200 appends over HTTP, SQLite synchronous=FULL",
        );
        report.add(
            "append",
            format!("p50 latency, {streams} stream(s)"),
            percentile(&mut latencies, 50.0),
            "ms",
            "",
        );
        report.add(
            "append",
            format!("p99 latency, {streams} stream(s)"),
            percentile(&mut latencies, 99.0),
            "ms",
            "",
        );
        if !lags.is_empty() {
            report.add(
                "projection",
                "lag p50 (201 → visible in GET /listTestItems)",
                percentile(&mut lags, 50.0),
                "ms",
                format!("{} probes under the 16-stream load", lags.len()),
            );
            report.add(
                "projection",
                "lag p99",
                percentile(&mut lags, 99.0),
                "ms",
                "",
            );
        }
    }
    server.stop().await?;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// `total` appends from `clients` tasks over `streams` streams; with
/// `probe`, a side task measures projection lag meanwhile.
async fn load(
    client: &reqwest::Client,
    url: &str,
    streams: usize,
    clients: usize,
    total: usize,
    probe: bool,
) -> anyhow::Result<(f64, Vec<f64>, Vec<f64>)> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, next, run) = (client.clone(), url.to_owned(), next.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    break;
                }
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
    let lag_task = probe.then(|| {
        let (client, url, next) = (client.clone(), url.to_owned(), next.clone());
        tokio::spawn(async move { probe_lag(&client, &url, &next, total).await })
    });
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let lags = match lag_task {
        Some(task) => task.await??,
        None => Vec::new(),
    };
    Ok((total as f64 / elapsed, latencies, lags))
}

async fn probe_lag(
    client: &reqwest::Client,
    url: &str,
    progress: &std::sync::atomic::AtomicUsize,
    total: usize,
) -> anyhow::Result<Vec<f64>> {
    let stream = format!("lag-{}", uuid::Uuid::new_v4().simple());
    let mut lags = Vec::new();
    let mut i = 0;
    while progress.load(std::sync::atomic::Ordering::Relaxed) < total {
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
