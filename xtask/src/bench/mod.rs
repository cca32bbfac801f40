//! `cargo xtask bench`: the project's performance report. Medians over
//! repeated runs; every figure says what it measured, and a figure that
//! could not be taken says why. Nothing here passes or fails on a time.
//! One module per measurement; `report` collects and writes the figures.

mod append;
mod artifacts;
mod aws_calls;
mod deploy;
mod init;
mod listing;
mod log_reads;
mod replay;
mod report;
mod synth;
mod test_suite;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use domain::{Amount, AppendCommand, DomainEvent, ItemId, StreamId};

use report::Report;

/// A part of the bench, to run alone or with a few others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Synth,
    Artifacts,
    Init,
    TestSuite,
    /// The disk's fdatasync limit and appends against it, on the store
    /// alone and over HTTP.
    Append,
    /// Projection lag under load.
    Lag,
    Replay,
    Listing,
    /// `readStream` and `listStreams` at size, and their DynamoDB
    /// requests per page.
    LogReads,
    AwsCalls,
    /// The no-op deploy (needs the arm64 artifacts, which it builds).
    Deploy,
}

/// What `cargo xtask bench` measures beyond its default figures.
pub struct BenchConfig {
    /// Only these parts; `None`: all of them. With `reference`, the
    /// figures of the other parts are kept from the reference report.
    pub only: Option<Vec<Part>>,
    /// Time a clean arm64 build in a temporary target directory.
    pub clean_build: bool,
    /// Time `cargo xtask test` from nothing, then warm.
    pub test_suite: bool,
    /// Also write the report to bench/REPORT.md.
    pub reference: bool,
}

pub fn run(config: BenchConfig, root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut report = Report::new(config.only.is_some());
    let runs = |part: Part| config.only.as_ref().is_none_or(|only| only.contains(&part));
    let moto =
        if runs(Part::Init) || runs(Part::AwsCalls) || runs(Part::LogReads) || runs(Part::Deploy) {
            eprintln!("==> starting the AWS emulator (moto) on 127.0.0.1");
            Some(testkit::moto::Moto::start(root)?)
        } else {
            None
        };
    let endpoint = || {
        moto.as_ref()
            .map(|moto| moto.endpoint())
            .unwrap_or_default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;

    if runs(Part::Synth) {
        eprintln!("==> 1. synth");
        synth::measure(&mut report)?;
    }
    let mut arm64 = None;
    if runs(Part::Artifacts) || runs(Part::Deploy) {
        eprintln!("==> 3. artifacts (arm64)");
        arm64 = artifacts::measure(&mut report, root, config.clean_build)?;
    }
    if runs(Part::Init) {
        eprintln!("==> 2. function init (native build)");
        init::measure(&mut report, root, &runtime, endpoint())?;
    }
    if runs(Part::TestSuite) {
        eprintln!("==> 9. the test suite (cargo xtask test)");
        test_suite::measure(&mut report, root, config.test_suite)?;
    }
    if runs(Part::Append) {
        eprintln!("==> 4. append path against the disk's limit (store alone and HTTP)");
        runtime.block_on(append::measure(&mut report))?;
    }
    if runs(Part::Lag) {
        eprintln!("==> 5. projection lag (local mode, HTTP)");
        runtime.block_on(append::lag(&mut report))?;
    }
    if runs(Part::Replay) {
        eprintln!("==> 6. replay");
        runtime.block_on(replay::measure(&mut report))?;
    }
    if runs(Part::Listing) {
        eprintln!("==> 6b. listing at 100k items");
        runtime.block_on(listing::measure(&mut report))?;
    }
    if runs(Part::LogReads) {
        eprintln!("==> 6c. reading the log at size, and its DynamoDB requests (moto)");
        runtime.block_on(log_reads::measure(&mut report))?;
        runtime.block_on(log_reads::requests_per_page(&mut report, endpoint()))?;
    }
    if runs(Part::AwsCalls) {
        eprintln!("==> 7. AWS calls per event (moto)");
        runtime.block_on(aws_calls::measure(&mut report, endpoint()))?;
    }
    if runs(Part::Deploy) {
        eprintln!("==> 8. no-op deploy (moto)");
        match arm64 {
            Some(_) => deploy::measure(&mut report, root, endpoint())?,
            None => report.missing("deploy", "no-op deploy", "the arm64 build failed"),
        }
    }
    drop(moto);

    report.write(root, config.reference, started)
}

/// The API key of the servers and stacks the bench starts.
const BENCH_KEY: &str = "bench-key-0123456789abcdef";

/// Local mode on the embedded store in `data`, listing `stream` by
/// default, and an HTTP client for it.
async fn local_server(
    data: &Path,
    stream: &StreamId,
) -> anyhow::Result<(local::LocalServer, reqwest::Client)> {
    let server = local::LocalServer::start(local::LocalConfig {
        port: 0,
        storage: local::Storage::Embedded {
            data_dir: data.to_path_buf(),
        },
        api_key: service::settings::ApiKey::new(BENCH_KEY),
        default_stream: stream.clone(),
    })
    .await?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    Ok((server, client))
}

/// A new, empty scratch folder for one measurement.
fn tempfile_dir(label: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "evs-bench-{label}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The `n`th event of a stream over `items` items: each item is created,
/// then its amount keeps changing.
fn nth_event(n: u64, items: u64) -> anyhow::Result<DomainEvent> {
    let item_id = ItemId::parse(format!("item-{}", n % items), "itemId")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let amount = Amount::new(n).context("amount out of range")?;
    Ok(if n < items {
        DomainEvent::ItemCreated { item_id, amount }
    } else {
        DomainEvent::ItemAmountChanged { item_id, amount }
    })
}

/// An unconditional append of `event` to `stream`.
fn command(stream: &StreamId, event: DomainEvent) -> AppendCommand {
    AppendCommand {
        stream_id: stream.clone(),
        event,
        expected_version: None,
        idempotency: None,
        metadata: Default::default(),
    }
}
