//! The flags of the commands that look after a deployment: `logs`,
//! `status`, `replay`, `drift` and `smoke`.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args};
use deployer::logs::{LogsOptions, Since, function_named};
use service::functions::Function;

use super::stack::Build;
use crate::{drift, logs, replay, smoke, status};

/// A function of `Function::ALL` by its name: clap lists the names in the
/// help and in the error for any other, so neither is typed twice.
fn function_by_name() -> impl TypedValueParser<Value = Function> {
    PossibleValuesParser::new(Function::ALL.map(Function::name))
        .try_map(|name| function_named(&name))
}

#[derive(Args)]
pub struct Logs {
    /// Only these functions' lines (all by default).
    #[arg(value_name = "FUNCTION", value_parser = function_by_name())]
    functions: Vec<Function>,
    /// Where the lines start: an age (30s, 10m, 2h, 1d) or an RFC 3339 time
    /// (2024-05-01T12:00:00Z).
    #[arg(long, value_name = "AGE|TIME", default_value = "10m", value_parser = Since::parse)]
    since: Since,
    /// Keep showing new lines (every 2 s) until Ctrl-C.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only the lines matching this CloudWatch Logs filter pattern, e.g. ERROR.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// The settings file (STACK_NAME), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Drift {
    /// The settings file (STACK_NAME), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
pub struct Smoke {
    /// Check this API instead of the deployment's, e.g. local mode's
    /// http://127.0.0.1:3000.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The settings file (API_KEY; STACK_NAME without --url), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

impl From<Drift> for drift::DriftConfig {
    fn from(flags: Drift) -> drift::DriftConfig {
        drift::DriftConfig {
            env_file: flags.env_file,
        }
    }
}

impl From<Smoke> for smoke::SmokeConfig {
    fn from(flags: Smoke) -> smoke::SmokeConfig {
        smoke::SmokeConfig {
            url: flags.url,
            env_file: flags.env_file,
        }
    }
}

#[derive(Args)]
pub struct Status {
    #[command(flatten)]
    build: Build,
    /// Do not build: skip comparing the deployed code with a build.
    #[arg(long)]
    no_build: bool,
    /// The settings file, relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["stream", "all", "status"])))]
pub struct Replay {
    /// Replay this stream's events into the read model.
    #[arg(long, value_name = "ID")]
    stream: Option<String>,
    /// With --stream: from this event id on (0 rebuilds the stream's read model).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "stream")]
    from: u64,
    /// Rebuild every stream's read model from 0.
    #[arg(long)]
    all: bool,
    /// Show where the replay REPLAY_ID stands (resuming it if its run died).
    #[arg(long, value_name = "REPLAY_ID")]
    status: Option<String>,
    /// Follow the replay to its end, a line per change; fails if it fails.
    #[arg(long)]
    wait: bool,
    /// Replay through this API instead of the deployment's AWS resources,
    /// e.g. local mode's http://127.0.0.1:3000 (sends API_KEY).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The settings file (STACK_NAME; API_KEY with --url), relative to the project root.
    #[arg(long, default_value = ".env")]
    env_file: PathBuf,
}

impl From<Replay> for replay::ReplayConfig {
    fn from(flags: Replay) -> replay::ReplayConfig {
        let what = match (flags.stream, flags.status) {
            (Some(stream), _) => replay::What::Stream {
                stream,
                from: flags.from,
            },
            (None, Some(replay_id)) => replay::What::Status(replay_id),
            // clap's group asks for exactly one of them.
            (None, None) => replay::What::AllStreams,
        };
        replay::ReplayConfig {
            what,
            wait: flags.wait,
            url: flags.url,
            env_file: flags.env_file,
        }
    }
}

impl From<Logs> for logs::LogsConfig {
    fn from(flags: Logs) -> logs::LogsConfig {
        logs::LogsConfig {
            options: LogsOptions {
                functions: flags.functions,
                since: flags.since,
                filter: flags.filter,
                follow: flags.follow,
            },
            env_file: flags.env_file,
        }
    }
}

impl From<Status> for status::StatusConfig {
    fn from(flags: Status) -> status::StatusConfig {
        status::StatusConfig {
            build: (!flags.no_build).then(|| flags.build.into()),
            env_file: flags.env_file,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The logs command's flags and help as clap reads and renders them.

    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::flags::{Xtask, XtaskCmd};

    fn logs(args: &[&str]) -> Result<logs::LogsConfig, clap::Error> {
        let args = ["cargo xtask", "logs"].iter().chain(args);
        match Xtask::try_parse_from(args)?.command {
            XtaskCmd::Logs(flags) => Ok(flags.into()),
            _ => unreachable!("the logs command"),
        }
    }

    #[test]
    fn logs_reads_functions_since_filter_and_follow() {
        let config = logs(&[]).expect("the defaults");
        assert_eq!(config.options, LogsOptions::default());
        assert_eq!(config.env_file, PathBuf::from(".env"));

        let config = logs(&[
            "projector",
            "add-event",
            "--since",
            "2h",
            "--filter",
            "ERROR",
            "-f",
        ])
        .expect("valid flags");
        assert_eq!(
            config.options,
            LogsOptions {
                functions: vec![Function::Projector, Function::AddEvent],
                since: Since::Ago(std::time::Duration::from_secs(7200)),
                filter: Some("ERROR".to_owned()),
                follow: true,
            }
        );
    }

    #[test]
    fn smoke_and_drift_read_their_url_and_settings_file() {
        let args = ["cargo xtask", "smoke", "--url", "http://127.0.0.1:3000"];
        let XtaskCmd::Smoke(flags) = Xtask::try_parse_from(args).expect("valid").command else {
            unreachable!("the smoke command")
        };
        let config = smoke::SmokeConfig::from(flags);
        assert_eq!(config.url.as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(config.env_file, PathBuf::from(".env"));

        let args = ["cargo xtask", "drift", "--env-file", "prod.env"];
        let XtaskCmd::Drift(flags) = Xtask::try_parse_from(args).expect("valid").command else {
            unreachable!("the drift command")
        };
        assert_eq!(
            drift::DriftConfig::from(flags).env_file,
            PathBuf::from("prod.env")
        );
    }

    #[test]
    fn the_logs_help_names_every_function() {
        let help = Xtask::command()
            .find_subcommand_mut("logs")
            .expect("the logs command")
            .render_help()
            .to_string();
        for function in Function::ALL {
            assert!(help.contains(function.name()), "{function} missing: {help}");
        }
    }

    #[test]
    fn logs_refuses_unknown_functions_and_start_times_naming_what_is_accepted() {
        let err = logs(&["add_event"])
            .err()
            .expect("not a function")
            .to_string();
        assert!(
            err.contains("add_event") && err.contains("add-event, list-items"),
            "{err}"
        );
        let err = logs(&["--since", "10 minutes"])
            .err()
            .expect("not a start")
            .to_string();
        assert!(
            err.contains("--since")
                && err.contains("30s, 10m, 2h or 1d")
                && err.contains("RFC 3339"),
            "{err}"
        );
    }
}
