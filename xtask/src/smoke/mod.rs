//! `cargo xtask smoke`: checks a deployment end to end through its API
//! (the URL from the app stack's outputs, the key from the settings), or
//! any API at `--url` (local mode). The steps (`steps.rs`) run over
//! `api.rs`'s HTTP client in a fresh stream named `smoke-<time>-<random>`;
//! a line per step with its latency, and a failure naming the step and
//! what it saw.

mod api;
mod steps;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::Context;
use deployer::StackOptions;
use deployer::deploy::Aws;
use deployer::deploy::stacks;
use deployer::stack::API_URL_OUTPUT;
use service::settings::RawSettings;

pub use api::Api;
pub use steps::{SmokeLimits, smoke, stream_name};

/// `cargo xtask smoke`.
pub struct SmokeConfig {
    /// The API to check; `None`: the deployment's.
    pub url: Option<String>,
    /// Relative to the project root.
    pub env_file: PathBuf,
}

pub fn run(config: SmokeConfig, root: &Path) -> anyhow::Result<()> {
    let raw = RawSettings::load(&root.join(&config.env_file))?;
    let api_key = raw.api_key()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let url = match config.url {
            Some(url) => url,
            None => deployed_url(&raw).await?,
        };
        let api = Api::new(&url, api_key.expose())?;
        let stream = stream_name();
        println!("smoke check of {url} in the stream {stream}");
        let steps = smoke(&api, &stream, &SmokeLimits::default(), &mut |step| {
            println!("{step}");
        })
        .await?;
        println!("all {} steps passed", steps.len());
        Ok(())
    })
}

/// The API URL the deployment's app stack gives as an output.
async fn deployed_url(raw: &RawSettings) -> anyhow::Result<String> {
    let stack_name = StackOptions::from_settings(raw)?.stack_name;
    let aws = Aws::from_environment().await?;
    let stack = stacks::describe(&aws.cloudformation, &stack_name)
        .await?
        .with_context(|| {
            format!(
                "there is no stack named {stack_name} in {}: deploy first (cargo xtask deploy), or check local mode with --url",
                aws.region
            )
        })?;
    stack.outputs.get(API_URL_OUTPUT).cloned().with_context(|| {
        format!(
            "the stack {stack_name} has no {API_URL_OUTPUT} output: is it fully deployed? (cargo xtask status)"
        )
    })
}
