//! `cargo xtask logs`: the stack name from the settings, the AWS
//! configuration, then `deployer::logs` until done or Ctrl-C.

use std::path::{Path, PathBuf};

use anyhow::Context;
use deployer::StackOptions;
use deployer::deploy::Aws;
use deployer::logs::{self, LogsLimits, LogsOptions, Terminal};
use service::settings::RawSettings;

/// `cargo xtask logs`.
pub struct LogsConfig {
    pub options: LogsOptions,
    /// Relative to the project root.
    pub env_file: PathBuf,
}

pub fn run(config: LogsConfig, root: &Path) -> anyhow::Result<()> {
    // Only the stack name is needed: reading logs takes no API key.
    let raw = RawSettings::load(&root.join(&config.env_file))?;
    let stack_name = StackOptions::from_settings(&raw)?.stack_name;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let aws = Aws::from_environment().await?;
        logs::show(
            &aws,
            &stack_name,
            &config.options,
            &LogsLimits::default(),
            &mut Terminal::stdout(),
            ctrl_c(),
        )
        .await
    });
    match result {
        // `| head` closed the pipe: the reader has what it wanted.
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|err| err.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Ends at Ctrl-C; never, when the signal cannot be listened for.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
