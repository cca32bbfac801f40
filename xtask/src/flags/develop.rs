//! The flags of the commands that run and check the project: `local`,
//! `test` and `bench`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::{bench, test};

#[derive(Args)]
pub struct Local {
    /// Port to serve on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Where the embedded store keeps its database [default: .local/data in the project].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use DynamoDB at this endpoint (e.g. an emulator) instead of the embedded store;
    /// tables are created when missing and the projector follows the table's stream.
    #[arg(long, value_name = "URL")]
    dynamodb_endpoint: Option<String>,
    /// Table-name prefix in DynamoDB mode.
    #[arg(long, default_value = "local")]
    table_prefix: String,
    /// The settings file.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Test {
    /// Skip rustfmt and clippy.
    #[arg(long)]
    no_lint: bool,
    /// Skip building and running the arm64 artifacts (the slowest step).
    #[arg(long)]
    no_arm64: bool,
    /// Run the selected tests N times in a row (nextest's stress mode),
    /// and nothing else: no lint, no arm64 step.
    #[arg(long, value_name = "N")]
    repeat: Option<u32>,
    /// Run only the API contract check: schemathesis from openapi.yaml
    /// against local mode, which it starts on a free port.
    #[arg(long, conflicts_with_all = ["repeat", "nextest_args"])]
    contract_only: bool,
    /// Extra arguments for `cargo nextest run`, e.g. a filter:
    /// `-- -E 'package(deployer)'`.
    #[arg(last = true)]
    nextest_args: Vec<String>,
}

#[derive(Args)]
pub struct Bench {
    /// Also time a clean arm64 build of all functions (about 12 minutes
    /// on 2 cores), in a temporary target directory.
    #[arg(long)]
    clean_build: bool,
    /// Also time `cargo xtask test` from nothing (empty target directory
    /// and venv, about 30 minutes on 2 cores) and then again with nothing
    /// changed. Without it, the report shows the last recorded run.
    #[arg(long)]
    test_suite: bool,
    /// Also write the report to bench/REPORT.md (the checked-in reference).
    /// With --only, the reference keeps its figures of the other parts.
    #[arg(long)]
    reference: bool,
    /// Run only these parts, e.g. `--only append,lag`.
    #[arg(long, value_delimiter = ',', value_name = "PARTS")]
    only: Option<Vec<BenchPart>>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BenchPart {
    /// synth in process and as a whole process.
    Synth,
    /// The arm64 build and its zips.
    Artifacts,
    /// Each function's init against a Runtime API stub.
    Init,
    /// The last recorded `cargo xtask test` (or a new run, --test-suite).
    TestSuite,
    /// The disk's fdatasync/s, and appends/s against it at 1 to 128
    /// clients, on the store alone and over HTTP.
    Append,
    /// Projection lag under load.
    Lag,
    /// A 1,000,000-event replay.
    Replay,
    /// Listing at 100,000 items.
    Listing,
    /// Reading the log at size (1,000,000 events, 100,000 streams), and
    /// DynamoDB requests per page (moto).
    LogReads,
    /// DynamoDB requests per append (moto).
    AwsCalls,
    /// A no-op deploy (moto; builds the arm64 artifacts first).
    Deploy,
}

impl From<BenchPart> for bench::Part {
    fn from(part: BenchPart) -> bench::Part {
        match part {
            BenchPart::Synth => bench::Part::Synth,
            BenchPart::Artifacts => bench::Part::Artifacts,
            BenchPart::Init => bench::Part::Init,
            BenchPart::TestSuite => bench::Part::TestSuite,
            BenchPart::Append => bench::Part::Append,
            BenchPart::Lag => bench::Part::Lag,
            BenchPart::Replay => bench::Part::Replay,
            BenchPart::Listing => bench::Part::Listing,
            BenchPart::LogReads => bench::Part::LogReads,
            BenchPart::AwsCalls => bench::Part::AwsCalls,
            BenchPart::Deploy => bench::Part::Deploy,
        }
    }
}

impl From<Local> for local::LocalOptions {
    fn from(flags: Local) -> local::LocalOptions {
        local::LocalOptions {
            port: flags.port,
            data_dir: flags.data_dir,
            dynamodb_endpoint: flags.dynamodb_endpoint,
            table_prefix: flags.table_prefix,
            env_file: flags.env_file,
        }
    }
}

impl From<Test> for test::TestConfig {
    fn from(flags: Test) -> test::TestConfig {
        test::TestConfig {
            lint: !flags.no_lint,
            arm64: !flags.no_arm64,
            repeat: flags.repeat,
            contract_only: flags.contract_only,
            nextest_args: flags.nextest_args,
        }
    }
}

impl From<Bench> for bench::BenchConfig {
    fn from(flags: Bench) -> bench::BenchConfig {
        bench::BenchConfig {
            only: flags
                .only
                .map(|parts| parts.into_iter().map(Into::into).collect()),
            clean_build: flags.clean_build,
            test_suite: flags.test_suite,
            reference: flags.reference,
        }
    }
}
