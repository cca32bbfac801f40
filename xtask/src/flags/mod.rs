//! The command line of `cargo xtask`: every command, flag, default and
//! help text, parsed in this folder and nowhere else (a file per group of
//! commands: `develop.rs`, `stack.rs`, `operate.rs`). Each command's flags
//! become the plain config struct its module takes (the `From` impls
//! beside them), so the libraries and the command modules never see clap.

use clap::{Parser, Subcommand};

mod develop;
mod operate;
mod stack;

pub use develop::{Bench, Local, Test};
pub use operate::{Drift, Logs, Replay, Smoke, Status};
pub use stack::{Build, Deploy, Destroy, Diff, Synth};

/// The command `cargo xtask` was given, read off the process's arguments;
/// exits with clap's message (or the help) when they do not parse.
pub fn parse() -> XtaskCmd {
    Xtask::parse().command
}

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
    /// Detect drift of both stacks from their templates (CloudFormation drift detection);
    /// fails when anything drifted (reads .env).
    Drift(Drift),
    /// Check a deployment end to end through its API (or local mode with --url): appends,
    /// an idempotent retry, a paged list, a replay; fails naming the step (reads .env).
    Smoke(Smoke),
    /// Measure the project and print a performance report.
    Bench(Bench),
}

// The flag structs carry no doc comment of their own: clap would take it
// for the command's about, which the variants above say.

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
}
