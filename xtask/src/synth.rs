//! `cargo xtask synth`: the app's template (or with `--data`, the data
//! stack's), to stdout or a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use deployer::cfn::lambda::Architecture;
use deployer::{Format, StackOptions};
use service::settings::RawSettings;

/// What `cargo xtask synth` writes, and where.
pub struct SynthConfig {
    pub format: Format,
    /// `None`: stdout.
    pub out: Option<PathBuf>,
    /// Relative to the project root.
    pub env_file: PathBuf,
    pub arch: Architecture,
    /// The data stack's template instead of the app's.
    pub data: bool,
}

pub fn run(config: SynthConfig, project_root: &Path) -> anyhow::Result<()> {
    let env_file = project_root.join(&config.env_file);
    let settings = RawSettings::load(&env_file)?;
    let options = StackOptions {
        architecture: config.arch,
        ..StackOptions::from_settings(&settings)?
    };
    let template = if config.data {
        deployer::stack::data_stack()
    } else {
        deployer::app_stack(&options)
    };
    let template = deployer::render(&template, config.format)?;
    match &config.out {
        Some(path) => std::fs::write(path, template)
            .with_context(|| format!("cannot write the template to {}", path.display()))?,
        None => std::io::stdout()
            .lock()
            .write_all(template.as_bytes())
            .context("cannot write the template to stdout")?,
    }
    Ok(())
}
