//! `cargo xtask <command>`: the project's one entry point for chores.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

mod api_contract;
mod arm64;
mod bench;
mod credential_endpoints;
mod deadline;
mod deploy;
mod deploy_check;
mod drift;
mod flags;
mod logs;
mod replay;
mod setup;
mod smoke;
mod status;
mod synth;
mod test;
#[cfg(test)]
mod tidy;

use flags::XtaskCmd;

/// The checkout `cargo xtask` runs in: `cargo run` names this crate's
/// folder in `CARGO_MANIFEST_DIR`, at run time as at build time, so a
/// binary built in one checkout serves whichever one runs it.
fn project_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> ExitCode {
    let root = project_root();
    let result = match flags::parse() {
        XtaskCmd::Local(flags) => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|runtime| runtime.block_on(local::run(flags.into(), &root))),
        XtaskCmd::Test(flags) => test::test(flags.into(), &root),
        XtaskCmd::Build(flags) => setup::build(&root, &flags.into()).map(|_| ()),
        XtaskCmd::Synth(flags) => synth::run(flags.into(), &root),
        XtaskCmd::Deploy(flags) => deploy::deploy(flags.into(), &root),
        XtaskCmd::Diff(flags) => deploy::diff(flags.into(), &root),
        XtaskCmd::Destroy(flags) => deploy::destroy(flags.into(), &root),
        XtaskCmd::Logs(flags) => logs::run(flags.into(), &root),
        XtaskCmd::Status(flags) => status::run(flags.into(), &root),
        XtaskCmd::Replay(flags) => replay::run(flags.into(), &root),
        XtaskCmd::Drift(flags) => drift::run(flags.into(), &root),
        XtaskCmd::Smoke(flags) => smoke::run(flags.into(), &root),
        XtaskCmd::Bench(flags) => bench::run(flags.into(), &root),
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
