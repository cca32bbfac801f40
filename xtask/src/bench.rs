//! `cargo xtask bench`: the project's performance report. Medians over
//! repeated runs; every figure says what it measured, and a figure that
//! could not be taken says why. Nothing here passes or fails on a time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use deployer::build::toolchain::LinkerChoice;
use deployer::build::{self, Arch, BuildOptions, Manifest, package};
use deployer::{Format, StackOptions, app_stack};
use domain::{
    Amount, AppendCommand, DomainEvent, EventId, EventStore, ItemId, ReadModel, StreamId,
};
use serde::Serialize;
use testkit::function_binary::{self, Launch};

use crate::test::TestTimes;

/// What `cargo xtask bench` measures beyond its default figures.
pub struct BenchConfig {
    /// Time a clean arm64 build in a temporary target directory.
    pub clean_build: bool,
    /// Time `cargo xtask test` from nothing, then warm.
    pub test_suite: bool,
    /// Also write the report to bench/REPORT.md.
    pub reference: bool,
}

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
struct Figure {
    group: &'static str,
    name: String,
    /// `None`: not taken; `note` says why.
    value: Option<f64>,
    unit: &'static str,
    /// Reference, target or reason.
    note: String,
}

#[derive(Default, Serialize)]
struct Report {
    date: String,
    machine: String,
    figures: Vec<Figure>,
}

impl Report {
    fn add(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        note: impl Into<String>,
    ) {
        let figure = Figure {
            group,
            name: name.into(),
            value: Some(value),
            unit,
            note: note.into(),
        };
        eprintln!(
            "    {:<56} {:>12} {:<6} {}",
            figure.name,
            format_value(value),
            unit,
            figure.note
        );
        self.figures.push(figure);
    }

    fn missing(&mut self, group: &'static str, name: impl Into<String>, why: impl Into<String>) {
        let figure = Figure {
            group,
            name: name.into(),
            value: None,
            unit: "",
            note: format!("not taken: {}", why.into()),
        };
        eprintln!("    {:<56} {:>12}        {}", figure.name, "-", figure.note);
        self.figures.push(figure);
    }

    fn markdown(&self) -> String {
        let mut text = format!(
            "# Performance report\n\nTaken by `cargo xtask bench` on {} ({}).\nMedians unless said otherwise.\n\n| group | figure | value | unit | note |\n| --- | --- | ---: | --- | --- |\n",
            self.date, self.machine
        );
        for f in &self.figures {
            let value = f.value.map(format_value).unwrap_or_else(|| "-".to_owned());
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                f.group, f.name, value, f.unit, f.note
            ));
        }
        text
    }
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    match samples.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (samples.len() as f64 - 1.0)).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB", kib as f64 / 1048576.0)
        });
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    format!("{cpus} CPUs{memory}, {model}")
}

pub fn run(config: BenchConfig, root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut report = Report {
        date: Utc::now().format("%Y-%m-%d").to_string(),
        machine: machine(),
        figures: Vec::new(),
    };
    eprintln!("==> starting the AWS emulator (moto) on 127.0.0.1");
    let moto = testkit::moto::Moto::start(root)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;

    eprintln!("==> 1. synth");
    synth(&mut report)?;
    eprintln!("==> 3. artifacts (arm64)");
    let arm64 = artifacts(&mut report, root, config.clean_build)?;
    eprintln!("==> 2. function init (native build)");
    function_init(&mut report, root, &runtime, moto.endpoint())?;
    eprintln!("==> 9. the test suite (cargo xtask test)");
    test_suite(&mut report, root, config.test_suite)?;
    eprintln!("==> 4, 5. append path and projection lag (local mode, HTTP)");
    runtime.block_on(append_and_lag(&mut report))?;
    eprintln!("==> 6. replay");
    runtime.block_on(replay(&mut report))?;
    eprintln!("==> 7. AWS calls per event (moto)");
    runtime.block_on(aws_calls(&mut report, moto.endpoint()))?;
    eprintln!("==> 8. no-op deploy (moto)");
    match arm64 {
        Some(_) => noop_deploy(&mut report, root, moto.endpoint())?,
        None => report.missing("deploy", "no-op deploy", "the arm64 build failed"),
    }
    drop(moto);

    let markdown = report.markdown();
    let out = build::target_dir(root)?.join("bench");
    std::fs::create_dir_all(&out)?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    std::fs::write(
        out.join(format!("report-{stamp}.json")),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(out.join(format!("report-{stamp}.md")), &markdown)?;
    if config.reference {
        std::fs::create_dir_all(root.join("bench"))?;
        std::fs::write(root.join("bench").join("REPORT.md"), &markdown)?;
    }
    println!("{markdown}");
    eprintln!(
        "report written to {} (report-{stamp}.json and .md) in {:.0} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn synth(report: &mut Report) -> anyhow::Result<()> {
    let options = StackOptions::default();
    for (format, name) in [(Format::Yaml, "YAML"), (Format::Json, "JSON")] {
        let mut samples = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            let text = deployer::render(&app_stack(&options), format)?;
            samples.push(started.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(text);
        }
        report.add(
            "synth",
            format!("in process: build + render {name}"),
            median(samples),
            "µs",
            "200 runs; dev profile, as cargo xtask builds it",
        );
    }
    let exe = std::env::current_exe()?;
    let out = std::env::temp_dir().join(format!("evs-bench-synth-{}.yaml", std::process::id()));
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..10 {
        let started = Instant::now();
        let child = Command::new(&exe)
            .args(["synth", "--env-file", "/nonexistent/.env", "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .spawn()?;
        let (ok, rss) = wait_with_rusage(child.id())?;
        times.push(ms(started.elapsed()));
        if !ok {
            bail!("the synth command failed");
        }
        peak = peak.max(rss);
    }
    let _ = std::fs::remove_file(&out);
    let process = median(times);
    report.add(
        "synth",
        "whole process (prebuilt xtask synth)",
        process,
        "ms",
        format!(
            "10 runs, dev profile; cdk synth: 6100 ms, {:.0}x faster",
            6100.0 / process
        ),
    );
    report.add(
        "synth",
        "whole process peak RSS",
        peak as f64 / 1024.0,
        "MiB",
        "cdk synth: 278 MB",
    );
    Ok(())
}

/// Waits for the child `pid`; its success and peak RSS in KiB.
fn wait_with_rusage(pid: u32) -> anyhow::Result<(bool, u64)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; both pointers are
    // valid for the call.
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if waited < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, usage.ru_maxrss as u64))
}

/// Warm (and optionally clean) arm64 build times and zip sizes.
fn artifacts(report: &mut Report, root: &Path, clean: bool) -> anyhow::Result<Option<Manifest>> {
    let exe = std::env::current_exe()?;
    let time_build = |target_dir: Option<&Path>| -> anyhow::Result<f64> {
        let mut command = Command::new(&exe);
        command
            .args(["build", "--arch", "arm64", "--linker", "zig"])
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = target_dir {
            command.env("CARGO_TARGET_DIR", dir);
        }
        let started = Instant::now();
        let status = command.status()?;
        if !status.success() {
            bail!("cargo xtask build failed ({status}); run it alone to see why");
        }
        Ok(started.elapsed().as_secs_f64())
    };
    // The first run brings the build up to date; the next ones are warm.
    if let Err(err) = time_build(None) {
        report.missing("artifacts", "arm64 build", format!("{err:#}"));
        return Ok(None);
    }
    let warm = median(
        (0..3)
            .map(|_| time_build(None))
            .collect::<anyhow::Result<Vec<_>>>()?,
    );
    report.add(
        "artifacts",
        "warm build, all functions, arm64",
        warm,
        "s",
        "nothing changed: cargo + ELF checks + zips",
    );
    if clean {
        let dir = std::env::temp_dir().join(format!("evs-bench-clean-{}", std::process::id()));
        let seconds = time_build(Some(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        report.add(
            "artifacts",
            "clean build, all functions, arm64",
            seconds?,
            "s",
            "empty target directory, one run",
        );
    } else {
        report.missing(
            "artifacts",
            "clean build, all functions, arm64",
            "pass --clean-build (about 12 minutes on 2 cores)",
        );
    }
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(Manifest::path(&build::target_dir(root)?))?)?;
    for (function, artifact) in &manifest.functions {
        report.add(
            "artifacts",
            format!("zip size: {function}"),
            artifact.size as f64 / 1_048_576.0,
            "MiB",
            artifact.linkage.clone(),
        );
    }
    Ok(Some(manifest))
}

/// `cargo xtask test` as CI runs it: from nothing, then again with nothing
/// changed; or, without `run`, the times the last run recorded.
fn test_suite(report: &mut Report, root: &Path, run: bool) -> anyhow::Result<()> {
    if !run {
        let recorded = TestTimes::path(root)
            .ok()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|json| serde_json::from_slice::<TestTimes>(&json).ok());
        match recorded {
            Some(times) => add_test_times(report, "last recorded run", &times),
            None => report.missing(
                "test suite",
                "cargo xtask test",
                "no recorded run; run cargo xtask test, or pass --test-suite",
            ),
        }
        report.missing(
            "test suite",
            "cargo xtask test from nothing, then warm",
            "pass --test-suite (about 40 minutes on 2 cores)",
        );
        return Ok(());
    }
    let scratch = std::env::temp_dir().join(format!("evs-bench-test-{}", std::process::id()));
    let target = scratch.join("target");
    let venv = scratch.join("venv");
    let time_suite = |report: &mut Report, label: &str| -> anyhow::Result<()> {
        let started = Instant::now();
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["xtask", "test"])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", &target)
            .env(testkit::venv::VENV_ENV, &venv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("cargo xtask test failed ({status}) {label}; run it alone to see why");
        }
        let wall = started.elapsed().as_secs_f64();
        let times: TestTimes =
            serde_json::from_slice(&std::fs::read(target.join(TestTimes::FILE))?)?;
        report.add(
            "test suite",
            format!("cargo xtask test, {label}"),
            wall,
            "s",
            "whole command, the xtask build included; one run",
        );
        add_test_times(report, label, &times);
        Ok(())
    };
    let outcome =
        time_suite(report, "from nothing").and_then(|()| time_suite(report, "nothing changed"));
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

fn add_test_times(report: &mut Report, label: &str, times: &TestTimes) {
    report.add(
        "test suite",
        format!("{label}: total"),
        times.total_seconds,
        "s",
        format!(
            "{}{}",
            times.command,
            if times.ok { "" } else { "; failed" }
        ),
    );
    for step in &times.steps {
        report.add(
            "test suite",
            format!("{label}: {}", step.step),
            step.seconds,
            "s",
            if step.ok { "" } else { "failed" },
        );
    }
}

fn function_init(
    report: &mut Report,
    root: &Path,
    runtime: &tokio::runtime::Runtime,
    moto: &str,
) -> anyhow::Result<()> {
    let host = match std::env::consts::ARCH {
        "x86_64" => Arch::X86_64,
        "aarch64" => Arch::Arm64,
        other => {
            report.missing(
                "init",
                "function init",
                format!("no Lambda architecture for {other}"),
            );
            return Ok(());
        }
    };
    let venv = testkit::venv::venv_dir(root);
    let manifest = match build::build(
        root,
        &venv,
        &BuildOptions {
            arch: host,
            linker: LinkerChoice::Auto,
        },
    ) {
        Ok(manifest) => manifest,
        Err(err) => {
            report.missing(
                "init",
                "function init",
                format!("the native build failed: {err:#}"),
            );
            return Ok(());
        }
    };
    let scratch = std::env::temp_dir().join(format!("evs-bench-init-{}", std::process::id()));
    for function in build::FUNCTIONS {
        let artifact = &manifest.functions[function];
        let (binary, _) = package::read_bootstrap(&std::fs::read(&artifact.path)?)?;
        let dir = scratch.join(function);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("bootstrap");
        std::fs::write(&path, binary)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        let mut inits = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..5 {
            let checked = runtime.block_on(function_binary::check(
                function,
                &Launch::native(&path),
                moto,
            ))?;
            inits.push(ms(checked.init));
            if let Some(kib) = checked.peak_rss_kib {
                rss.push(kib as f64 / 1024.0);
            }
        }
        let init = median(inits);
        report.add(
            "init",
            format!("init: {function}"),
            init,
            "ms",
            format!(
                "start → first GET /next, 5 runs; Node handlers: ~165 ms ({:.0}x)",
                165.0 / init
            ),
        );
        if rss.is_empty() {
            report.missing(
                "init",
                format!("peak RSS: {function}"),
                "no /proc on this system",
            );
        } else {
            report.add(
                "init",
                format!("peak RSS after its checks: {function}"),
                median(rss),
                "MiB",
                "VmHWM",
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

const BENCH_KEY: &str = "bench-key-0123456789abcdef";

async fn append_and_lag(report: &mut Report) -> anyhow::Result<()> {
    let data = tempfile_dir("local")?;
    let server = local::LocalServer::start(local::LocalConfig {
        port: 0,
        storage: local::Storage::Embedded {
            data_dir: data.clone(),
        },
        api_key: BENCH_KEY.to_owned(),
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

fn tempfile_dir(label: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "evs-bench-{label}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
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

fn command(stream: &StreamId, event: DomainEvent) -> AppendCommand {
    AppendCommand {
        stream_id: stream.clone(),
        event,
        expected_version: None,
    }
}

async fn replay(report: &mut Report) -> anyhow::Result<()> {
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
        if replayed.events_read != EVENTS {
            bail!(
                "the replay read {} events, not {EVENTS}",
                replayed.events_read
            );
        }
    }
    let items = store
        .list(&stream)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
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

async fn aws_calls(report: &mut Report, moto: &str) -> anyhow::Result<()> {
    use service::dynamo::{DynamoStore, TableNames, ensure_tables};
    use testkit::aws_calls::{RequestLog, counted_dynamodb};
    let log = RequestLog::default();
    let client = counted_dynamodb(moto, &log).await;
    let tables = TableNames::with_prefix(&format!("bench-{}", uuid::Uuid::new_v4().simple()));
    ensure_tables(&client, &tables).await?;
    let store = DynamoStore::new(client, tables);
    let stream = StreamId::parse("calls", "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
    log.take();
    let mut events = Vec::new();
    for n in 0..100u64 {
        let event = nth_event(n, 10)?;
        events.push(
            store
                .append(&command(&stream, event), Utc::now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    let appended = log.take();
    report.add(
        "aws calls",
        "DynamoDB requests per appended event",
        appended.len() as f64 / 100.0,
        "",
        "100 appends; target <= 2; the original: 7 calls + 5 managed hops",
    );
    let failed = service::projector::project(&store, &events).await;
    if !failed.is_empty() {
        bail!("projecting the bench events failed: {failed:?}");
    }
    let projected = log.take();
    report.add(
        "aws calls",
        "DynamoDB writes per touched item, batch of 100",
        projected.len() as f64 / 10.0,
        "",
        "100 events over 10 items; target <= 1",
    );
    Ok(())
}

fn noop_deploy(report: &mut Report, root: &Path, moto: &str) -> anyhow::Result<()> {
    let stack = format!("evs-bench-{}", std::process::id());
    let scratch = tempfile_dir("deploy")?;
    let env_file = scratch.join(".env");
    std::fs::write(
        &env_file,
        format!("API_KEY={BENCH_KEY}\nSTACK_NAME={stack}\n"),
    )?;
    let exe = std::env::current_exe()?;
    let run = |args: &[&str]| -> anyhow::Result<(bool, String, f64)> {
        let mut command = Command::new(&exe);
        command
            .args(args)
            .arg("--env-file")
            .arg(&env_file)
            .current_dir(root)
            .env("AWS_ENDPOINT_URL", moto)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .stdin(Stdio::null());
        for name in ["API_KEY", "STACK_NAME", "TRACING", "TEST_STREAM_ID"] {
            command.env_remove(name);
        }
        let started = Instant::now();
        let output = command.output()?;
        let seconds = started.elapsed().as_secs_f64();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text, seconds))
    };
    let (ok, text, _) = run(&["deploy", "--linker", "zig"])?;
    if !ok {
        report.missing(
            "deploy",
            "no-op deploy",
            format!(
                "the first deploy failed: {}",
                text.lines().last().unwrap_or_default()
            ),
        );
        return Ok(());
    }
    let mut times = Vec::new();
    for _ in 0..3 {
        let (ok, text, seconds) = run(&["deploy", "--linker", "zig"])?;
        if !ok || !text.contains("no changes") {
            bail!("an unchanged deploy did not report no changes:\n{text}");
        }
        times.push(seconds);
    }
    report.add(
        "deploy",
        "no-op deploy, whole command (moto)",
        median(times),
        "s",
        "3 runs after a warm build; target < 5 s",
    );
    let _ = run(&["destroy", "--yes"]);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
