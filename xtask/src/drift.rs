//! `cargo xtask drift`: the stack name from the settings, the AWS
//! configuration, then `deployer::drift` on both stacks; the report on
//! stdout, and a failure when anything drifted, so CI can gate on it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use deployer::StackOptions;
use deployer::deploy::Aws;
use deployer::drift::{DriftWaits, detect, render};
use service::settings::RawSettings;

/// `cargo xtask drift`.
pub struct DriftConfig {
    /// Relative to the project root.
    pub env_file: PathBuf,
}

pub fn run(config: DriftConfig, root: &Path) -> anyhow::Result<()> {
    // Only the stack name is needed: detecting drift takes no API key.
    let raw = RawSettings::load(&root.join(&config.env_file))?;
    let stack_name = StackOptions::from_settings(&raw)?.stack_name;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let aws = Aws::from_environment().await?;
        detect(&aws, &stack_name, &DriftWaits::default()).await
    })?;
    std::io::stdout()
        .lock()
        .write_all(render(&report).as_bytes())
        .context("cannot write to stdout")?;
    if report.drifted() {
        let count = report.drifted_resources().count();
        bail!(
            "the deployment {stack_name} has drifted from its templates ({count} resource{} drifted, listed above)",
            if count == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
