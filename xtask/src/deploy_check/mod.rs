//! `cargo xtask test`'s `==> deploy commands` step: the real `cargo xtask
//! deploy | diff | destroy` processes, with the arm64 build, against the
//! emulator: bad settings stop them before any AWS call, a deploy creates
//! the stack with the built code, an unchanged deploy changes nothing,
//! destroy asks first and keeps the event store.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine;
use deployer::bundle::Manifest;
use deployer::deploy::Aws;
use deployer::stack::Function;

use crate::credential_endpoints::CredentialsEndpoint;
use crate::deadline;
use event_store::{a_data_stack_deleted_by_hand, drop_table};

mod event_store;

const API_KEY: &str = "cli-test-key-0123456789abcdef";
/// Settings the child must take from the file, not from this process.
const SETTINGS: [&str; 4] = ["API_KEY", "STACK_NAME", "TRACING", "TEST_STREAM_ID"];

/// Where a child's AWS credentials come from.
#[derive(Clone, Copy)]
enum Credentials<'a> {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    Keys,
    /// A profile of this AWS config file, and nothing in the environment:
    /// [`PROCESS_PROFILE`], whose `credential_process` prints the keys
    /// (what credential helpers and vaults plug into), or
    /// [`ASSUME_ROLE_PROFILE`], which assumes a role with those keys.
    Profile(&'a Path, &'a str),
    /// A web identity token file and a role to assume with it: what CI
    /// systems' OIDC federation (GitHub Actions, GitLab) sets up.
    WebIdentity(&'a Path),
    /// The container credentials endpoint (ECS, EKS Pod Identity, CodeBuild)
    /// at this URL.
    Container(&'a str),
    /// The EC2 instance metadata service at this URL.
    InstanceMetadata(&'a str),
}

const PROCESS_PROFILE: &str = "evs-credential-process";
/// `role_arn` + `source_profile`: the chain organisations hand out.
const ASSUME_ROLE_PROFILE: &str = "evs-assume-role";

/// An AWS config file whose profile [`PROCESS_PROFILE`] gets its keys
/// from a script, written into `dir`.
fn credential_process_profile(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script = dir.join("credentials.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s' '{\"Version\": 1, \"AccessKeyId\": \"from-process\", \"SecretAccessKey\": \"from-process\"}'\n",
    )
    .with_context(|| format!("cannot write {}", script.display()))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", script.display()))?;
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile {PROCESS_PROFILE}]\ncredential_process = {}\nregion = us-east-1\n\n\
             [profile {ASSUME_ROLE_PROFILE}]\nrole_arn = arn:aws:iam::123456789012:role/evs-deployer\n\
             source_profile = {PROCESS_PROFILE}\nregion = us-east-1\n",
            script.display()
        ),
    )
    .with_context(|| format!("cannot write {}", config.display()))?;
    Ok(config)
}

struct Cli<'a> {
    xtask: PathBuf,
    root: &'a Path,
    moto: &'a str,
    env_file: PathBuf,
}

impl Cli<'_> {
    fn run(&self, args: &[&str], stdin: &str) -> anyhow::Result<Output> {
        self.run_with(args, stdin, Credentials::Keys)
    }

    fn run_with(
        &self,
        args: &[&str],
        stdin: &str,
        credentials: Credentials<'_>,
    ) -> anyhow::Result<Output> {
        let mut command = Command::new(&self.xtask);
        command
            .args(args)
            .arg("--env-file")
            .arg(&self.env_file)
            .current_dir(self.root)
            .env("AWS_ENDPOINT_URL", self.moto)
            .env("AWS_REGION", "us-east-1");
        match credentials {
            Credentials::Keys => {
                command
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test");
            }
            Credentials::Profile(config, profile) => {
                command
                    .env_remove("AWS_ACCESS_KEY_ID")
                    .env_remove("AWS_SECRET_ACCESS_KEY")
                    .env_remove("AWS_SESSION_TOKEN")
                    .env("AWS_CONFIG_FILE", config)
                    .env("AWS_SHARED_CREDENTIALS_FILE", config.with_file_name("none"))
                    .env("AWS_PROFILE", profile);
            }
            Credentials::WebIdentity(token) => {
                command
                    .env_remove("AWS_ACCESS_KEY_ID")
                    .env_remove("AWS_SECRET_ACCESS_KEY")
                    .env_remove("AWS_SESSION_TOKEN")
                    .env_remove("AWS_PROFILE")
                    .env("AWS_CONFIG_FILE", token.with_file_name("none"))
                    .env("AWS_SHARED_CREDENTIALS_FILE", token.with_file_name("none"))
                    .env("AWS_WEB_IDENTITY_TOKEN_FILE", token)
                    .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/evs-ci")
                    .env("AWS_ROLE_SESSION_NAME", "evs-deploy-check");
            }
            Credentials::Container(url) => {
                command
                    .env_remove("AWS_ACCESS_KEY_ID")
                    .env_remove("AWS_SECRET_ACCESS_KEY")
                    .env_remove("AWS_SESSION_TOKEN")
                    .env_remove("AWS_PROFILE")
                    .env("AWS_CONFIG_FILE", "/nonexistent/evs-config")
                    .env(
                        "AWS_SHARED_CREDENTIALS_FILE",
                        "/nonexistent/evs-credentials",
                    )
                    .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
            }
            Credentials::InstanceMetadata(url) => {
                command
                    .env_remove("AWS_ACCESS_KEY_ID")
                    .env_remove("AWS_SECRET_ACCESS_KEY")
                    .env_remove("AWS_SESSION_TOKEN")
                    .env_remove("AWS_PROFILE")
                    .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
                    .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                    .env("AWS_CONFIG_FILE", "/nonexistent/evs-config")
                    .env(
                        "AWS_SHARED_CREDENTIALS_FILE",
                        "/nonexistent/evs-credentials",
                    )
                    .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", url);
            }
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in SETTINGS {
            command.env_remove(name);
        }
        let what = format!("cargo xtask {}", args.join(" "));
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {what}"))?;
        let started = Instant::now();
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        let output = output_within(child, started, COMMAND_LIMIT, &what)?;
        let text = transcript(&output);
        ensure!(
            !text.contains(API_KEY),
            "cargo xtask {} printed the API key:\n{text}",
            args.join(" ")
        );
        Ok(output)
    }

    fn settings(&self, text: &str) -> anyhow::Result<()> {
        std::fs::write(&self.env_file, text)
            .with_context(|| format!("cannot write {}", self.env_file.display()))
    }
}

/// Each command against the emulator (the build is already done by then)
/// finishes in seconds; this turns a hang into a failure that names it.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// The child's output, or an error (the child killed) once `limit` has
/// passed since `started`.
fn output_within(
    mut child: Child,
    started: Instant,
    limit: Duration,
    what: &str,
) -> anyhow::Result<Output> {
    // Read both pipes on their own threads so a full pipe never blocks it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = match deadline::exit_within(&mut child, started, limit, what) {
        Ok(status) => status,
        Err(err) => {
            let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            bail!("{err:#}; its output:\n{stderr}");
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn transcript(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A hold on this very xtask binary, taken before the test build: that
/// build also builds xtask (its integration tests start it) and may put a
/// new file where this one was, so the path `current_exe` gave would no
/// longer exist when the deploy commands run. A hard link (a copy across
/// file systems) keeps this binary under a path of its own.
pub struct PinnedXtask {
    path: PathBuf,
}

impl PinnedXtask {
    pub fn pin(root: &Path) -> anyhow::Result<Self> {
        let current = std::env::current_exe().context("cannot find the xtask binary")?;
        let dir = deployer::bundle::target_dir(root)?.join("xtask-test");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("xtask-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        if std::fs::hard_link(&current, &path).is_err() {
            std::fs::copy(&current, &path).with_context(|| {
                format!("cannot copy {} to {}", current.display(), path.display())
            })?;
        }
        Ok(PinnedXtask { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PinnedXtask {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn run(root: &Path, moto: &str, xtask: &PinnedXtask) -> anyhow::Result<()> {
    eprintln!("==> deploy commands against the emulator");
    let scratch = std::env::temp_dir().join(format!("evs-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let stack = format!("evs-cli-{}", std::process::id());
    let cli = Cli {
        xtask: xtask.path.clone(),
        root,
        moto,
        env_file: scratch.join(".env"),
    };
    let outcome = check(&cli, &stack);
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

fn check(cli: &Cli<'_>, stack: &str) -> anyhow::Result<()> {
    let deploy = ["deploy", "--linker", "zig"];

    // Bad settings stop the command before the build and any AWS call.
    for (settings, name) in [
        (format!("API_KEY=short\nSTACK_NAME={stack}\n"), "API_KEY"),
        (
            format!("API_KEY={API_KEY}\nSTACK_NAME={stack}\nTRACING=maybe\n"),
            "TRACING",
        ),
        (
            format!("API_KEY={API_KEY}\nSTACK_NAME=9-{stack}\n"),
            "STACK_NAME",
        ),
    ] {
        cli.settings(&settings)?;
        let started = Instant::now();
        let output = cli.run(&deploy, "")?;
        let text = transcript(&output);
        ensure!(
            !output.status.success() && text.contains(&format!("setting {name}")),
            "a bad {name} was not refused by name:\n{text}"
        );
        ensure!(
            !text.contains("==> building"),
            "a bad {name} did not stop the build:\n{text}"
        );
        eprintln!(
            "    bad {name}: refused in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    cli.settings(&format!(
        "API_KEY={API_KEY}\nSTACK_NAME={stack}\nTRACING=false\n"
    ))?;
    let started = Instant::now();
    let output = cli.run(&deploy, "")?;
    let text = transcript(&output);
    ensure!(output.status.success(), "the first deploy failed:\n{text}");
    ensure!(
        text.contains("deployed the stack")
            && text.contains("/addEvent")
            && text.contains("x-api-key: $API_KEY"),
        "the deploy did not print the URL and curl lines:\n{text}"
    );
    eprintln!(
        "    deploy (create): ok in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The functions run the code just built.
    let target_dir = deployer::bundle::target_dir(cli.root)?;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(Manifest::path(&target_dir)).context("cannot read the build manifest")?,
    )
    .context("cannot parse the build manifest")?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let aws = Aws::new(&service::aws::sdk_config_for_endpoint(cli.moto).await)?;
        for function in Function::ALL {
            let name = format!("{stack}-{}", function.name());
            let deployed = aws
                .lambda
                .get_function()
                .function_name(&name)
                .send()
                .await
                .with_context(|| format!("the function {name} was not created"))?;
            let hash = deployed
                .configuration()
                .and_then(|c| c.code_sha256())
                .unwrap_or_default()
                .to_owned();
            let built = &manifest.functions[function.name()].sha256;
            let built: Vec<u8> = (0..built.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&built[i..i + 2], 16).ok())
                .collect();
            ensure!(
                hash == base64::engine::general_purpose::STANDARD.encode(built),
                "{name} runs other code than the build's ({hash})"
            );
        }
        anyhow::Ok(())
    })?;

    let started = Instant::now();
    let output = cli.run(&deploy, "")?;
    let text = transcript(&output);
    ensure!(
        output.status.success() && text.contains("no changes"),
        "an unchanged deploy did not report no changes:\n{text}"
    );
    eprintln!(
        "    deploy (unchanged): no changes in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // status: the same build as the deploy's, so every function is current.
    let output = cli.run(&["status", "--linker", "zig"], "")?;
    let text = transcript(&output);
    ensure!(
        output.status.success()
            && text.contains(&format!("{stack}-data"))
            && text.matches("current (the code a build makes now)").count() == Function::ALL.len()
            && text.contains("parked        none"),
        "status after a deploy:\n{text}"
    );
    eprintln!("    status: both stacks, every function's code current");

    // Credentials from a profile's credential_process, not the
    // environment: the AWS CLI's way, which deploy must accept too.
    let profile_dir = std::env::temp_dir().join(format!("evs-profile-{}", std::process::id()));
    let config = credential_process_profile(&profile_dir)?;
    let output = cli.run_with(
        &["diff", "--linker", "zig"],
        "",
        Credentials::Profile(&config, PROCESS_PROFILE),
    );
    // The same keys, through a role_arn + source_profile chain: the SDK
    // calls STS AssumeRole (the emulator's) and deploys with the role's.
    let chained = cli.run_with(
        &["status", "--no-build"],
        "",
        Credentials::Profile(&config, ASSUME_ROLE_PROFILE),
    );
    // CI's OIDC: a token file and a role, exchanged through STS
    // AssumeRoleWithWebIdentity (the emulator's, which takes any token).
    let token = profile_dir.join("web-identity-token");
    std::fs::write(&token, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJldnMifQ.")
        .with_context(|| format!("cannot write {}", token.display()))?;
    let federated = cli.run_with(
        &["status", "--no-build"],
        "",
        Credentials::WebIdentity(&token),
    );
    let _ = std::fs::remove_dir_all(&profile_dir);
    let output = output?;
    let text = transcript(&output);
    ensure!(
        output.status.success() && text.contains("no changes"),
        "diff of an unchanged stack, with credentials from credential_process:\n{text}"
    );
    let chained = chained?;
    let text = transcript(&chained);
    ensure!(
        chained.status.success() && text.contains(&format!("{stack}-data")),
        "status with credentials from a role_arn + source_profile chain:\n{text}"
    );
    let federated = federated?;
    let text = transcript(&federated);
    ensure!(
        federated.status.success() && text.contains(&format!("{stack}-data")),
        "status with credentials from a web identity token:\n{text}"
    );
    // A task's role, then an instance's: the SDK asks the container
    // credentials endpoint, or the instance metadata service (IMDSv2).
    for (source, endpoint) in [
        ("container", CredentialsEndpoint::container()?),
        (
            "instance metadata",
            CredentialsEndpoint::instance_metadata()?,
        ),
    ] {
        let credentials = match source {
            "container" => Credentials::Container(&endpoint.url),
            _ => Credentials::InstanceMetadata(&endpoint.url),
        };
        let output = cli.run_with(&["status", "--no-build"], "", credentials)?;
        let text = transcript(&output);
        ensure!(
            output.status.success()
                && text.contains(&format!("{stack}-data"))
                && endpoint.served_credentials(),
            "status with credentials from the {source} endpoint ({:?} asked of it):\n{text}",
            endpoint.requests()
        );
    }

    let output = cli.run(&["destroy"], "n\n")?;
    let text = transcript(&output);
    ensure!(
        !output.status.success() && text.contains("not confirmed"),
        "destroy went on without a yes:\n{text}"
    );
    let output = cli.run(&["destroy"], "y\n")?;
    let text = transcript(&output);
    ensure!(
        output.status.success() && text.contains("kept the data stack"),
        "destroy failed or did not say what it kept:\n{text}"
    );
    let retained = a_data_stack_deleted_by_hand(cli, stack, &runtime)?;
    // The kept event store goes only when asked, with its own confirmation.
    let output = cli.run(&["destroy", "--yes", "--delete-data"], "delete data\n")?;
    let text = transcript(&output);
    ensure!(
        output.status.success() && text.contains("deleted the data stack"),
        "destroy --delete-data failed:\n{text}"
    );
    let output = cli.run(&["destroy", "--yes"], "")?;
    let text = transcript(&output);
    if !(output.status.success() && text.contains("does not exist")) {
        bail!("destroying a destroyed stack:\n{text}");
    }
    runtime.block_on(async {
        let aws = Aws::new(&service::aws::sdk_config_for_endpoint(cli.moto).await)?;
        for table in &retained {
            drop_table(&aws, table).await?;
        }
        anyhow::Ok(())
    })?;
    eprintln!(
        "    diff (credentials from credential_process), status (a role_arn + source_profile chain; a web identity token; a container's and an instance's role), destroy (asks first, keeps the event store, deletes it when asked), a data stack deleted by hand (deploy stops; --new-event-store asks for a typed yes): ok"
    );
    println!("deploy commands: 1 passed, 0 failed");
    Ok(())
}
