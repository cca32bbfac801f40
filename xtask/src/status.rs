//! `cargo xtask status`: the stack name from the settings, the AWS
//! configuration, a build to compare the deployed code with (unless
//! `--no-build`), then `deployer::overview` on one screen.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use deployer::StackOptions;
use deployer::deploy::Aws;
use service::settings::RawSettings;

use crate::setup::{self, BuildRequest};

/// `cargo xtask status`.
pub struct StatusConfig {
    /// The build to compare the deployed code with; `None`: no comparison.
    pub build: Option<BuildRequest>,
    /// Relative to the project root.
    pub env_file: PathBuf,
}

pub fn run(config: StatusConfig, root: &Path) -> anyhow::Result<()> {
    // Only the stack name is needed: looking takes no API key.
    let raw = RawSettings::load(&root.join(&config.env_file))?;
    let stack_name = StackOptions::from_settings(&raw)?.stack_name;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let aws = runtime.block_on(Aws::from_environment())?;
    let manifest = match &config.build {
        Some(request) => Some(setup::build(root, request)?),
        None => None,
    };
    let overview = runtime.block_on(deployer::overview::overview(
        &aws,
        &stack_name,
        manifest.as_ref(),
    ))?;
    std::io::stdout()
        .lock()
        .write_all(deployer::overview::render(&overview).as_bytes())
        .context("cannot write to stdout")
}
