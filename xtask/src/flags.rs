//! The command line of `cargo xtask`: every command, flag, default and
//! help text, parsed here and nowhere else. Each command's flags become the
//! plain config struct its module takes (`From` impls at the end), so the
//! libraries and the command modules never see clap.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use deployer::bundle::BuildOptions;
use deployer::bundle::toolchain::LinkerChoice;
use deployer::cfn::lambda::Architecture;
use deployer::deploy::EventStoreChoice;
use deployer::logs::{LogsOptions, Since, function_named};
use service::functions::Function;

use crate::{bench, deploy, logs, replay, setup, status, synth, test};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, run and test the event-sourcing service"
)]
pub struct Xtask {
    #[command(subcommand)]
    pub command: XtaskCmd,
}

#[derive(Subcommand)]
pub enum XtaskCmd {
    /// Run the whole service on 127.0.0.1 (embedded store; no AWS account needed).
    Local(Local),
    /// Run every check: rustfmt, clippy, every test (each with a time limit) against an AWS
    /// emulator it starts, the API contract, the arm64 artifacts and the deploy commands.
    Test(Test),
    /// Build the Lambda functions (arm64 by default) and package bootstrap zips.
    Build(Build),
    /// Print or write the CloudFormation template (offline; no AWS account needed).
    Synth(Synth),
    /// Build, upload and deploy the stack through a change set (reads .env).
    Deploy(Deploy),
    /// Show what a deploy would change; changes nothing.
    Diff(Diff),
    /// Delete the stack; the event store is kept unless --delete-data.
    Destroy(Destroy),
    /// Show the deployed functions' log lines, merged in time order (reads .env).
    Logs(Logs),
    /// The deployment at a glance: both stacks, the URL, whether the deployed code is
    /// current, the stream mapping and parked records (reads .env).
    Status(Status),
    /// Replay a stream's events (--stream) or rebuild every stream's read model (--all) on
    /// the deployment, or on local mode with --url; --status shows where a replay stands.
    Replay(Replay),
    /// Measure the project and print a performance report.
    Bench(Bench),
}

// The flag structs carry no doc comment of their own: clap would take it
// for the command's about, which the variants above say.

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
pub struct Build {
    /// Lambda architecture to build for.
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    arch: Arch,
    /// Linker: auto picks zig when present (glibc 2.17), else Debian's cross gcc.
    #[arg(long, value_enum, default_value_t = Linker::Auto)]
    linker: Linker,
    /// Install nothing: a missing Rust target or zig stops the build with
    /// the command that installs it (by default both are installed,
    /// project-local: rustup's target, zig into .local/venv).
    #[arg(long)]
    no_install: bool,
}

#[derive(Args)]
pub struct Synth {
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
    /// Write the template to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The settings file (STACK_NAME, TRACING), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
    /// The functions' architecture; must match `cargo xtask build --arch`.
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    arch: Arch,
    /// Print the data stack's template (the event store's tables) instead
    /// of the app's.
    #[arg(long)]
    data: bool,
}

#[derive(Args)]
pub struct Deploy {
    #[command(flatten)]
    build: Build,
    /// When only function code changed, update the functions directly and
    /// skip CloudFormation (the stack drifts until the next full deploy).
    #[arg(long)]
    hotswap: bool,
    /// When the data stack STACK_NAME-data is missing but the event store's
    /// tables are not (or an earlier version's app stack holds them): bring
    /// them into a new data stack with CloudFormation's resource import,
    /// every event with them.
    #[arg(long, conflicts_with = "new_event_store")]
    adopt_event_store: bool,
    /// When the data stack is missing but the event store's tables are not:
    /// start a new, empty event store on purpose (the tables are kept as
    /// they are). Asks for a typed confirmation unless --yes.
    #[arg(long)]
    new_event_store: bool,
    /// Do not ask before starting a new event store (--new-event-store).
    #[arg(long, requires = "new_event_store")]
    yes: bool,
    /// The settings file, relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Diff {
    #[command(flatten)]
    build: Build,
    /// The settings file, relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Destroy {
    /// Do not ask before deleting the stack.
    #[arg(long)]
    yes: bool,
    /// Also delete the event store's tables (asks once more, always).
    #[arg(long)]
    delete_data: bool,
    /// The settings file, relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Logs {
    /// Only these functions' lines (all by default): add-event, list-items,
    /// trigger-replay, replay-status, projector, replay.
    #[arg(value_name = "FUNCTION", value_parser = function_named)]
    functions: Vec<Function>,
    /// Where the lines start: an age (30s, 10m, 2h, 1d) or an RFC 3339 time
    /// (2024-05-01T12:00:00Z).
    #[arg(long, value_name = "AGE|TIME", default_value = "10m", value_parser = Since::parse)]
    since: Since,
    /// Keep showing new lines (every 2 s) until Ctrl-C.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only the lines matching this CloudWatch Logs filter pattern, e.g. ERROR.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// The settings file (STACK_NAME), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Status {
    #[command(flatten)]
    build: Build,
    /// Do not build: skip comparing the deployed code with a build.
    #[arg(long)]
    no_build: bool,
    /// The settings file, relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["stream", "all", "status"])))]
pub struct Replay {
    /// Replay this stream's events into the read model.
    #[arg(long, value_name = "ID")]
    stream: Option<String>,
    /// With --stream: from this event id on (0 rebuilds the stream's read model).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "stream")]
    from: u64,
    /// Rebuild every stream's read model from 0.
    #[arg(long)]
    all: bool,
    /// Show where the replay REPLAY_ID stands (resuming it if its run died).
    #[arg(long, value_name = "REPLAY_ID")]
    status: Option<String>,
    /// Follow the replay to its end, a line per change; fails if it fails.
    #[arg(long)]
    wait: bool,
    /// Replay through this API instead of the deployment's AWS resources,
    /// e.g. local mode's http://127.0.0.1:3000 (sends API_KEY).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The settings file (STACK_NAME; API_KEY with --url), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
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

// The value enums: the command line's spelling of library types, mapped
// below. No doc comments on `Arch` and `Format`: clap would list their
// values one per line with an empty description.

#[derive(Clone, Copy, ValueEnum)]
pub enum Arch {
    #[value(name = "arm64")]
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Linker {
    /// zig if present (glibc pinned to 2.17), else the cross gcc, else the
    /// native linker when building for this machine's architecture.
    Auto,
    /// cargo-zigbuild with zig, linking against glibc 2.17.
    Zig,
    /// Debian's cross gcc (`gcc-aarch64-linux-gnu`), or the native cc for the
    /// host's own architecture; links against that toolchain's glibc.
    Gcc,
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
    /// DynamoDB requests per append (moto).
    AwsCalls,
    /// A no-op deploy (moto; builds the arm64 artifacts first).
    Deploy,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

impl From<Arch> for Architecture {
    fn from(arch: Arch) -> Architecture {
        match arch {
            Arch::Arm64 => Architecture::Arm64,
            Arch::X86_64 => Architecture::X86_64,
        }
    }
}

impl From<Linker> for LinkerChoice {
    fn from(linker: Linker) -> LinkerChoice {
        match linker {
            Linker::Auto => LinkerChoice::Auto,
            Linker::Zig => LinkerChoice::Zig,
            Linker::Gcc => LinkerChoice::Gcc,
        }
    }
}

impl From<Format> for deployer::Format {
    fn from(format: Format) -> deployer::Format {
        match format {
            Format::Yaml => deployer::Format::Yaml,
            Format::Json => deployer::Format::Json,
        }
    }
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
            BenchPart::AwsCalls => bench::Part::AwsCalls,
            BenchPart::Deploy => bench::Part::Deploy,
        }
    }
}

impl From<Replay> for replay::ReplayConfig {
    fn from(flags: Replay) -> replay::ReplayConfig {
        let what = match (flags.stream, flags.status) {
            (Some(stream), _) => replay::What::Stream {
                stream,
                from: flags.from,
            },
            (None, Some(replay_id)) => replay::What::Status(replay_id),
            // clap's group asks for exactly one of them.
            (None, None) => replay::What::AllStreams,
        };
        replay::ReplayConfig {
            what,
            wait: flags.wait,
            url: flags.url,
            env_file: flags.env_file,
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

impl From<Build> for setup::BuildRequest {
    fn from(flags: Build) -> setup::BuildRequest {
        setup::BuildRequest {
            options: BuildOptions {
                arch: flags.arch.into(),
                linker: flags.linker.into(),
            },
            install: !flags.no_install,
        }
    }
}

impl From<Synth> for synth::SynthConfig {
    fn from(flags: Synth) -> synth::SynthConfig {
        synth::SynthConfig {
            format: flags.format.into(),
            out: flags.out,
            env_file: flags.env_file,
            arch: flags.arch.into(),
            data: flags.data,
        }
    }
}

impl From<Deploy> for deploy::DeployConfig {
    fn from(flags: Deploy) -> deploy::DeployConfig {
        deploy::DeployConfig {
            build: flags.build.into(),
            hotswap: flags.hotswap,
            event_store: if flags.adopt_event_store {
                EventStoreChoice::Adopt
            } else if flags.new_event_store {
                EventStoreChoice::New
            } else {
                EventStoreChoice::Refuse
            },
            yes: flags.yes,
            env_file: flags.env_file,
        }
    }
}

impl From<Diff> for deploy::DiffConfig {
    fn from(flags: Diff) -> deploy::DiffConfig {
        deploy::DiffConfig {
            build: flags.build.into(),
            env_file: flags.env_file,
        }
    }
}

impl From<Destroy> for deploy::DestroyConfig {
    fn from(flags: Destroy) -> deploy::DestroyConfig {
        deploy::DestroyConfig {
            yes: flags.yes,
            delete_data: flags.delete_data,
            env_file: flags.env_file,
        }
    }
}

impl From<Logs> for logs::LogsConfig {
    fn from(flags: Logs) -> logs::LogsConfig {
        logs::LogsConfig {
            options: LogsOptions {
                functions: flags.functions,
                since: flags.since,
                filter: flags.filter,
                follow: flags.follow,
            },
            env_file: flags.env_file,
        }
    }
}

impl From<Status> for status::StatusConfig {
    fn from(flags: Status) -> status::StatusConfig {
        status::StatusConfig {
            build: (!flags.no_build).then(|| flags.build.into()),
            env_file: flags.env_file,
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

#[cfg(test)]
mod tests {
    //! The definitions as clap sees them.

    use clap::CommandFactory;

    use super::*;

    /// clap's own checks of the definitions (conflicting names, defaults
    /// that are not possible values), which otherwise surface only when a
    /// command is run.
    #[test]
    fn the_command_line_is_well_formed() {
        Xtask::command().debug_assert();
    }

    fn logs(args: &[&str]) -> Result<logs::LogsConfig, clap::Error> {
        let args = ["cargo xtask", "logs"].iter().chain(args);
        match Xtask::try_parse_from(args)?.command {
            XtaskCmd::Logs(flags) => Ok(flags.into()),
            _ => unreachable!("the logs command"),
        }
    }

    #[test]
    fn logs_reads_functions_since_filter_and_follow() {
        let config = logs(&[]).expect("the defaults");
        assert_eq!(config.options, LogsOptions::default());
        assert_eq!(config.env_file, PathBuf::from(".env"));

        let config = logs(&[
            "projector",
            "add-event",
            "--since",
            "2h",
            "--filter",
            "ERROR",
            "-f",
        ])
        .expect("valid flags");
        assert_eq!(
            config.options,
            LogsOptions {
                functions: vec![Function::Projector, Function::AddEvent],
                since: Since::Ago(std::time::Duration::from_secs(7200)),
                filter: Some("ERROR".to_owned()),
                follow: true,
            }
        );
    }

    fn deploy(args: &[&str]) -> Result<deploy::DeployConfig, clap::Error> {
        let args = ["cargo xtask", "deploy"].iter().chain(args);
        match Xtask::try_parse_from(args)?.command {
            XtaskCmd::Deploy(flags) => Ok(flags.into()),
            _ => unreachable!("the deploy command"),
        }
    }

    #[test]
    fn deploy_reads_what_to_do_with_a_missing_data_stack() {
        let config = deploy(&[]).expect("the defaults");
        assert_eq!(config.event_store, EventStoreChoice::Refuse);
        assert!(!config.yes);
        let config = deploy(&["--adopt-event-store"]).expect("adopt");
        assert_eq!(config.event_store, EventStoreChoice::Adopt);
        let config = deploy(&["--new-event-store", "--yes"]).expect("new");
        assert_eq!(config.event_store, EventStoreChoice::New);
        assert!(config.yes);
        let both = deploy(&["--adopt-event-store", "--new-event-store"])
            .err()
            .expect("one or the other")
            .to_string();
        assert!(
            both.contains("--adopt-event-store") && both.contains("--new-event-store"),
            "{both}"
        );
        // --yes answers only the new event store's question.
        let yes = deploy(&["--yes"]).err().expect("--yes alone").to_string();
        assert!(yes.contains("--new-event-store"), "{yes}");
    }

    #[test]
    fn the_logs_help_names_every_function() {
        let help = Xtask::command()
            .find_subcommand_mut("logs")
            .expect("the logs command")
            .render_help()
            .to_string();
        for function in Function::ALL {
            assert!(help.contains(function.name()), "{function} missing: {help}");
        }
    }

    #[test]
    fn logs_refuses_unknown_functions_and_start_times_naming_what_is_accepted() {
        let err = logs(&["add_event"])
            .err()
            .expect("not a function")
            .to_string();
        assert!(
            err.contains("add_event") && err.contains("add-event, list-items"),
            "{err}"
        );
        let err = logs(&["--since", "10 minutes"])
            .err()
            .expect("not a start")
            .to_string();
        assert!(
            err.contains("--since")
                && err.contains("30s, 10m, 2h or 1d")
                && err.contains("RFC 3339"),
            "{err}"
        );
    }
}
