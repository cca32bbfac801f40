//! `cargo xtask test`'s `==> deploy commands` step: the real `cargo xtask
//! deploy | diff | destroy` processes, with the arm64 build, against the
//! emulator: bad settings stop them before any AWS call, a deploy creates
//! the stack with the built code, an unchanged deploy changes nothing,
//! every credential source deploys, destroy asks first and keeps the event
//! store. The children are run by `cli.rs`, with credentials from
//! `credentials.rs`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use base64::Engine;
use deployer::bundle::Manifest;
use deployer::deploy::Aws;
use deployer::stack::Function;

use cli::{API_KEY, Cli, transcript};
use event_store::{a_data_stack_deleted_by_hand, drop_table};

mod cli;
mod credentials;
mod event_store;

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
    credentials::every_other_credential_source(cli, stack)?;

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
