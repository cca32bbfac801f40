//! `cargo xtask synth`: the template from `deployer::synth`, to stdout
//! or a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use deployer::StackOptions;
use deployer::cfn::lambda::Architecture;
use service::settings::RawSettings;

#[derive(clap::Args)]
pub struct SynthArgs {
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
    /// Write the template to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The settings file (STACK_NAME, TRACING), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
    /// The functions' architecture; must match `cargo xtask build --arch`.
    #[arg(long, value_enum, default_value_t = Architecture::Arm64)]
    arch: Architecture,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Yaml,
    Json,
}

pub fn run(args: SynthArgs, project_root: &Path) -> anyhow::Result<()> {
    let env_file = project_root.join(&args.env_file);
    let settings = RawSettings::load(&env_file)?;
    let format = match args.format {
        Format::Yaml => deployer::Format::Yaml,
        Format::Json => deployer::Format::Json,
    };
    let options = StackOptions {
        architecture: args.arch,
        ..StackOptions::from_settings(&settings)?
    };
    let template = deployer::render(&deployer::app_stack(&options), format)?;
    match &args.out {
        Some(path) => std::fs::write(path, template)
            .with_context(|| format!("cannot write the template to {}", path.display()))?,
        None => std::io::stdout()
            .lock()
            .write_all(template.as_bytes())
            .context("cannot write the template to stdout")?,
    }
    Ok(())
}
