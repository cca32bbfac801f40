//! The local service as a standalone binary: the same `local::run` that
//! `cargo xtask local` calls in its own process; the end-to-end tests start
//! this binary to kill and restart it.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Runs the whole service on 127.0.0.1")]
struct Cli {
    #[command(flatten)]
    args: local::LocalArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let project_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    local::run(Cli::parse().args, &project_root).await
}
