//! `cargo xtask deploy | diff | destroy`: settings and AWS configuration
//! checked first, then the build, the template and the engine in
//! `deployer::deploy`, with Ctrl-C handled so nothing is left half-done.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use deployer::build::{self, BuildOptions};

use crate::setup::{self, BuildRequest};
use deployer::deploy::destroy::{self, Destroyed, Question};
use deployer::deploy::progress::Progress;
use deployer::deploy::{self, Aws, DeployOptions, DeployRequest, InFlight, Outcome};
use deployer::stack::API_URL_OUTPUT;
use deployer::{StackOptions, app_stack};
use service::settings::{ApiKey, RawSettings};

/// `cargo xtask deploy`.
pub struct DeployConfig {
    pub build: BuildRequest,
    /// Update only the functions' code when nothing else changed.
    pub hotswap: bool,
    /// Relative to the project root.
    pub env_file: PathBuf,
}

/// `cargo xtask diff`.
pub struct DiffConfig {
    pub build: BuildRequest,
    /// Relative to the project root.
    pub env_file: PathBuf,
}

/// `cargo xtask destroy`.
pub struct DestroyConfig {
    /// Delete the stack without asking.
    pub yes: bool,
    /// Also delete the event store's tables (asked for, always).
    pub delete_data: bool,
    /// Relative to the project root.
    pub env_file: PathBuf,
}

/// Everything a deploy needs from the settings, checked before any build
/// or AWS call.
struct Settings {
    stack: StackOptions,
    api_key: ApiKey,
    test_stream_id: String,
}

fn settings(root: &Path, env_file: &Path, build: &BuildOptions) -> anyhow::Result<Settings> {
    let raw = RawSettings::load(&root.join(env_file))?;
    let api_key = raw.api_key()?;
    let test_stream_id = raw.test_stream_id()?.as_str().to_owned();
    let stack = StackOptions {
        architecture: build.arch,
        ..StackOptions::from_settings(&raw)?
    };
    Ok(Settings {
        stack,
        api_key,
        test_stream_id,
    })
}

/// What deploy and diff both start with: checked settings and AWS
/// configuration (before anything slow), then the build and the template.
struct Prepared {
    settings: Settings,
    runtime: tokio::runtime::Runtime,
    aws: Aws,
    manifest: build::Manifest,
    template: deployer::cfn::Template,
}

impl Prepared {
    fn new(root: &Path, env_file: &Path, build_request: &BuildRequest) -> anyhow::Result<Prepared> {
        let settings = settings(root, env_file, &build_request.options)?;
        let runtime = runtime()?;
        let aws = runtime.block_on(Aws::from_environment())?;
        let manifest = setup::build(root, build_request)?;
        let template = app_stack(&settings.stack);
        Ok(Prepared {
            settings,
            runtime,
            aws,
            manifest,
            template,
        })
    }

    fn request(&self) -> DeployRequest<'_> {
        DeployRequest {
            stack_name: &self.settings.stack.stack_name,
            template: &self.template,
            manifest: &self.manifest,
            api_key: self.settings.api_key.expose(),
            test_stream_id: &self.settings.test_stream_id,
        }
    }
}

pub fn deploy(config: DeployConfig, root: &Path) -> anyhow::Result<()> {
    let prepared = Prepared::new(root, &config.env_file, &config.build)?;
    let (runtime, aws, settings) = (&prepared.runtime, &prepared.aws, &prepared.settings);
    let request = prepared.request();
    let options = DeployOptions {
        hotswap: config.hotswap,
        ..DeployOptions::default()
    };
    let progress = Progress::stderr();
    let in_flight = InFlight::default();
    let outcome = runtime.block_on(interruptible(
        deploy::deploy(aws, &request, &options, &progress, &in_flight),
        aws,
        &progress,
        &in_flight,
    ));
    progress.finish();
    match outcome? {
        Outcome::NoChanges => {}
        Outcome::Hotswapped { functions } => {
            println!("hotswapped: {}", functions.join(", "));
        }
        Outcome::Deployed { outputs } => {
            println!("deployed the stack {}", settings.stack.stack_name);
            print_usage(&outputs, &settings.test_stream_id);
        }
    }
    Ok(())
}

pub fn diff(config: DiffConfig, root: &Path) -> anyhow::Result<()> {
    let prepared = Prepared::new(root, &config.env_file, &config.build)?;
    let (runtime, aws) = (&prepared.runtime, &prepared.aws);
    let request = prepared.request();
    let progress = Progress::stderr();
    let in_flight = InFlight::default();
    let changes = runtime.block_on(interruptible(
        deploy::diff(
            aws,
            &request,
            &DeployOptions::default(),
            &progress,
            &in_flight,
        ),
        aws,
        &progress,
        &in_flight,
    ));
    progress.finish();
    let changes = changes?;
    println!("{} resource change(s)", changes.len());
    Ok(())
}

pub fn destroy(config: DestroyConfig, root: &Path) -> anyhow::Result<()> {
    // Only the stack name is needed: a missing API_KEY must not stop a
    // teardown.
    let raw = RawSettings::load(&root.join(&config.env_file))?;
    let stack_name = StackOptions::from_settings(&raw)?.stack_name;
    let runtime = runtime()?;
    let aws = runtime.block_on(Aws::from_environment())?;
    let progress = Progress::stderr();
    let in_flight = InFlight::default();
    let yes = config.yes;
    let mut confirm = |question: &Question| -> anyhow::Result<bool> {
        progress.status("");
        match question {
            Question::DestroyStack {
                stack,
                region,
                retained_tables,
            } => {
                if yes {
                    return Ok(true);
                }
                let kept = if retained_tables.is_empty() {
                    String::new()
                } else {
                    format!(
                        " The event store is kept, in the stack {}: {}.",
                        deployer::stack::data_stack_name(stack),
                        retained_tables.join(", ")
                    )
                };
                ask(&format!(
                    "Destroy the stack {stack} in {region}? This deletes its API, functions, read model and artifact bucket.{kept} [y/N] "
                ))
                .map(|answer| matches!(answer.as_str(), "y" | "Y" | "yes" | "YES"))
            }
            Question::DeleteData { tables } => ask(&format!(
                "Also delete the tables {} and every event they hold? This cannot be undone. Type 'delete data' to confirm: ",
                tables.join(", ")
            ))
            .map(|answer| answer == "delete data"),
        }
    };
    let outcome = runtime.block_on(interruptible(
        destroy::destroy(
            &aws,
            &stack_name,
            config.delete_data,
            &mut confirm,
            &DeployOptions::default(),
            &progress,
            &in_flight,
        ),
        &aws,
        &progress,
        &in_flight,
    ));
    progress.finish();
    match outcome? {
        Destroyed::Declined => bail!("destroy was not confirmed; nothing was changed"),
        Destroyed::NoStack | Destroyed::Stack { .. } | Destroyed::StackAndData { .. } => Ok(()),
    }
}

/// One line from stdin after a prompt on stderr; end of input is "no".
fn ask(prompt: &str) -> anyhow::Result<String> {
    let mut stderr = std::io::stderr().lock();
    stderr.write_all(prompt.as_bytes())?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer from stdin")?;
    Ok(answer.trim().to_owned())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

/// Runs `work`; on Ctrl-C, cleans up what is in flight and fails.
async fn interruptible<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
    aws: &Aws,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<T> {
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            in_flight.interrupted(aws, progress).await;
            bail!("interrupted")
        }
    }
}

/// The API URL and a curl line per route. The key is read from the
/// shell's `$API_KEY`, never printed.
fn print_usage(outputs: &std::collections::BTreeMap<String, String>, test_stream_id: &str) {
    for (key, value) in outputs {
        println!("  {key:<26} {value}");
    }
    let Some(url) = outputs.get(API_URL_OUTPUT) else {
        return;
    };
    println!();
    println!("Try it (with API_KEY from .env in your shell: set -a; . ./.env; set +a):");
    println!(
        "  curl -X POST '{url}/addEvent' -H \"x-api-key: $API_KEY\" -H 'content-type: application/json' \\\n    -d '{{\"streamId\":\"{test_stream_id}\",\"type\":\"ITEM_CREATED\",\"data\":{{\"itemId\":\"1\",\"amount\":100}}}}'"
    );
    println!("  curl '{url}/listTestItems' -H \"x-api-key: $API_KEY\"");
    println!(
        "  curl -X POST '{url}/triggerReplay' -H \"x-api-key: $API_KEY\" -H 'content-type: application/json' \\\n    -d '{{\"streamId\":\"{test_stream_id}\",\"fromEventId\":0}}'"
    );
    println!(
        "  curl '{url}/replayStatus?replayId=<the replayId it answered>' -H \"x-api-key: $API_KEY\""
    );
}
