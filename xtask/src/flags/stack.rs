//! The flags of the commands that build the functions and make or
//! change the stack: `build`, `synth`, `deploy`, `diff` and `destroy`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use deployer::bundle::BuildOptions;
use deployer::bundle::toolchain::LinkerChoice;
use deployer::cfn::lambda::Architecture;
use deployer::deploy::EventStoreChoice;

use crate::{deploy, setup, synth};

#[derive(Args)]
pub struct Build {
    /// Lambda architecture to build for.
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    arch: Arch,
    /// Linker: auto picks zig when present (glibc 2.17), else Debian's cross gcc.
    #[arg(long, value_enum, default_value_t = Linker::Auto)]
    linker: Linker,
    /// Install nothing: a missing Rust target or zig stops the build with
    /// the command that installs it (by default both are installed,
    /// project-local: rustup's target, zig into .local/venv).
    #[arg(long)]
    no_install: bool,
}

#[derive(Args)]
pub struct Synth {
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    format: Format,
    /// Write the template to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The settings file (STACK_NAME, TRACING), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
    /// The functions' architecture; must match `cargo xtask build --arch`.
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    arch: Arch,
    /// Print the data stack's template (the event store's tables) instead
    /// of the app's.
    #[arg(long)]
    data: bool,
}

#[derive(Args)]
pub struct Deploy {
    #[command(flatten)]
    build: Build,
    /// When only function code changed, update the functions directly and
    /// skip CloudFormation (the stack drifts until the next full deploy).
    #[arg(long)]
    hotswap: bool,
    /// When the data stack STACK_NAME-data is missing but the event store's
    /// tables are not (or an earlier version's app stack holds them): bring
    /// them into a new data stack with CloudFormation's resource import,
    /// every event with them.
    #[arg(long, conflicts_with = "new_event_store")]
    adopt_event_store: bool,
    /// When the data stack is missing but the event store's tables are not:
    /// start a new, empty event store on purpose (the tables are kept as
    /// they are). Asks for a typed confirmation unless --yes.
    #[arg(long)]
    new_event_store: bool,
    /// Do not ask before starting a new event store (--new-event-store).
    #[arg(long, requires = "new_event_store")]
    yes: bool,
    /// The settings file, relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Diff {
    #[command(flatten)]
    build: Build,
    /// The settings file, relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Destroy {
    /// Do not ask before deleting the stack.
    #[arg(long)]
    yes: bool,
    /// Also delete the event store's tables (asks once more, always).
    #[arg(long)]
    delete_data: bool,
    /// The settings file, relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

// The value enums: the command line's spelling of library types, mapped
// below. No doc comments on `Arch` and `Format`: clap would list their
// values one per line with an empty description.

#[derive(Clone, Copy, ValueEnum)]
pub enum Arch {
    #[value(name = "arm64")]
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Linker {
    /// zig if present (glibc pinned to 2.17), else the cross gcc, else the
    /// native linker when building for this machine's architecture.
    Auto,
    /// cargo-zigbuild with zig, linking against glibc 2.17.
    Zig,
    /// Debian's cross gcc (`gcc-aarch64-linux-gnu`), or the native cc for the
    /// host's own architecture; links against that toolchain's glibc.
    Gcc,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

impl From<Arch> for Architecture {
    fn from(arch: Arch) -> Architecture {
        match arch {
            Arch::Arm64 => Architecture::Arm64,
            Arch::X86_64 => Architecture::X86_64,
        }
    }
}

impl From<Linker> for LinkerChoice {
    fn from(linker: Linker) -> LinkerChoice {
        match linker {
            Linker::Auto => LinkerChoice::Auto,
            Linker::Zig => LinkerChoice::Zig,
            Linker::Gcc => LinkerChoice::Gcc,
        }
    }
}

impl From<Format> for deployer::Format {
    fn from(format: Format) -> deployer::Format {
        match format {
            Format::Yaml => deployer::Format::Yaml,
            Format::Json => deployer::Format::Json,
        }
    }
}

impl From<Build> for setup::BuildRequest {
    fn from(flags: Build) -> setup::BuildRequest {
        setup::BuildRequest {
            options: BuildOptions {
                arch: flags.arch.into(),
                linker: flags.linker.into(),
            },
            install: !flags.no_install,
        }
    }
}

impl From<Synth> for synth::SynthConfig {
    fn from(flags: Synth) -> synth::SynthConfig {
        synth::SynthConfig {
            format: flags.format.into(),
            out: flags.out,
            env_file: flags.env_file,
            arch: flags.arch.into(),
            data: flags.data,
        }
    }
}

impl From<Deploy> for deploy::DeployConfig {
    fn from(flags: Deploy) -> deploy::DeployConfig {
        deploy::DeployConfig {
            build: flags.build.into(),
            hotswap: flags.hotswap,
            event_store: if flags.adopt_event_store {
                EventStoreChoice::Adopt
            } else if flags.new_event_store {
                EventStoreChoice::New
            } else {
                EventStoreChoice::Refuse
            },
            yes: flags.yes,
            env_file: flags.env_file,
        }
    }
}

impl From<Diff> for deploy::DiffConfig {
    fn from(flags: Diff) -> deploy::DiffConfig {
        deploy::DiffConfig {
            build: flags.build.into(),
            env_file: flags.env_file,
        }
    }
}

impl From<Destroy> for deploy::DestroyConfig {
    fn from(flags: Destroy) -> deploy::DestroyConfig {
        deploy::DestroyConfig {
            yes: flags.yes,
            delete_data: flags.delete_data,
            env_file: flags.env_file,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The deploy command's flags as clap reads them.

    use clap::Parser;

    use super::*;
    use crate::flags::{Xtask, XtaskCmd};

    fn deploy(args: &[&str]) -> Result<deploy::DeployConfig, clap::Error> {
        let args = ["cargo xtask", "deploy"].iter().chain(args);
        match Xtask::try_parse_from(args)?.command {
            XtaskCmd::Deploy(flags) => Ok(flags.into()),
            _ => unreachable!("the deploy command"),
        }
    }

    #[test]
    fn deploy_reads_what_to_do_with_a_missing_data_stack() {
        let config = deploy(&[]).expect("the defaults");
        assert_eq!(config.event_store, EventStoreChoice::Refuse);
        assert!(!config.yes);
        let config = deploy(&["--adopt-event-store"]).expect("adopt");
        assert_eq!(config.event_store, EventStoreChoice::Adopt);
        let config = deploy(&["--new-event-store", "--yes"]).expect("new");
        assert_eq!(config.event_store, EventStoreChoice::New);
        assert!(config.yes);
        let both = deploy(&["--adopt-event-store", "--new-event-store"])
            .err()
            .expect("one or the other")
            .to_string();
        assert!(
            both.contains("--adopt-event-store") && both.contains("--new-event-store"),
            "{both}"
        );
        // --yes answers only the new event store's question.
        let yes = deploy(&["--yes"]).err().expect("--yes alone").to_string();
        assert!(yes.contains("--new-event-store"), "{yes}");
    }
}
