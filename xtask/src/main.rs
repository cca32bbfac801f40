//! `cargo xtask <command>`: the project's one entry point for chores.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

mod arm64;
mod bench;
mod deploy;
mod deploy_check;
mod setup;
mod synth;
mod test;

use deployer::build;

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
    /// Run every check: rustfmt, clippy, every test (each with a time limit) against an AWS
    /// emulator it starts, the arm64 artifacts and the deploy commands.
    Test(test::TestArgs),
    /// Build the Lambda functions (arm64 by default) and package bootstrap zips.
    Build(build::BuildArgs),
    /// Print or write the CloudFormation template (offline; no AWS account needed).
    Synth(synth::SynthArgs),
    /// Build, upload and deploy the stack through a change set (reads .env).
    Deploy(deploy::DeployArgs),
    /// Show what a deploy would change; changes nothing.
    Diff(deploy::DiffArgs),
    /// Delete the stack; the event store is kept unless --delete-data.
    Destroy(deploy::DestroyArgs),
    /// Measure the project and print a performance report.
    Bench(bench::BenchArgs),
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
        Task::Test(args) => test::test(args, &project_root()),
        Task::Build(args) => {
            let root = project_root();
            build::build(&root, &testkit::venv::venv_dir(&root), &args).map(|_| ())
        }
        Task::Synth(args) => synth::run(args, &project_root()),
        Task::Deploy(args) => deploy::deploy(args, &project_root()),
        Task::Diff(args) => deploy::diff(args, &project_root()),
        Task::Destroy(args) => deploy::destroy(args, &project_root()),
        Task::Bench(args) => bench::run(args, &project_root()),
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
