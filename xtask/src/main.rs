//! `cargo xtask <command>`: the project's one entry point for chores.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, run and test the event-sourcing service"
)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the whole service on 127.0.0.1 (embedded store; no AWS account needed).
    Local(local::LocalArgs),
    /// Run every check: rustfmt, clippy, and all tests, with an AWS emulator started for them.
    Test(TestArgs),
}

#[derive(clap::Args)]
struct TestArgs {
    /// Skip rustfmt and clippy.
    #[arg(long)]
    no_lint: bool,
    /// Extra arguments for `cargo test` (e.g. a test name filter).
    #[arg(last = true)]
    cargo_test_args: Vec<String>,
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Local(args) => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|runtime| runtime.block_on(local::run(args, &project_root()))),
        Task::Test(args) => test(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(project_root());
    command
}

fn run(step: &str, mut command: Command) -> anyhow::Result<()> {
    eprintln!("==> {step}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {step}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

fn test(args: TestArgs) -> anyhow::Result<()> {
    let root = project_root();
    if !args.no_lint {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--check"]);
        run("cargo fmt --check", fmt)?;
        let mut clippy = cargo();
        clippy.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]);
        run("cargo clippy -D warnings", clippy)?;
    }
    eprintln!("==> starting the AWS emulator (moto) on 127.0.0.1");
    let moto = testkit::moto::Moto::start(&root)
        .context("the AWS emulator is needed by the DynamoDB tests")?;
    eprintln!("    moto is at {} (pid {})", moto.endpoint(), moto.pid());
    let mut tests = cargo();
    tests
        .args(["test", "--workspace"])
        .args(&args.cargo_test_args)
        .env("MOTO_ENDPOINT", moto.endpoint());
    let outcome = run("cargo test --workspace", tests);
    drop(moto);
    outcome
}
