//! The deploy commands as child processes: the real `cargo xtask` binary
//! run with a settings file and credentials of the check's choosing, each
//! within a time limit, its output checked for the API key.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::deadline;

pub(super) const API_KEY: &str = "cli-test-key-0123456789abcdef";
/// Settings the child must take from the file, not from this process.
const SETTINGS: [&str; 4] = ["API_KEY", "STACK_NAME", "TRACING", "TEST_STREAM_ID"];

/// Where a child's AWS credentials come from.
#[derive(Clone, Copy)]
pub(super) enum Credentials<'a> {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    Keys,
    /// A profile of this AWS config file, and nothing in the environment:
    /// `PROCESS_PROFILE`, whose `credential_process` prints the keys
    /// (what credential helpers and vaults plug into), or
    /// `ASSUME_ROLE_PROFILE`, which assumes a role with those keys.
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

pub(super) struct Cli<'a> {
    pub(super) xtask: PathBuf,
    pub(super) root: &'a Path,
    pub(super) moto: &'a str,
    pub(super) env_file: PathBuf,
}

impl Cli<'_> {
    pub(super) fn run(&self, args: &[&str], stdin: &str) -> anyhow::Result<Output> {
        self.run_with(args, stdin, Credentials::Keys)
    }

    pub(super) fn run_with(
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

    pub(super) fn settings(&self, text: &str) -> anyhow::Result<()> {
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

pub(super) fn transcript(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
