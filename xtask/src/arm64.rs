//! `cargo xtask test`'s arm64 steps: installs what the arm64 path needs
//! when missing, runs `cargo xtask build` (zig, arm64) in the background
//! while the native tests run, then runs every packaged `bootstrap`,
//! unzipped, under qemu against the Runtime API stub and moto, with the
//! same checks as the native binaries' tests.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use deployer::bundle::toolchain::LinkerChoice;
use deployer::bundle::{self, BuildOptions, Manifest, package};
use service::functions::Function;
use testkit::function_binary::{self, Launch};

use crate::{deadline, setup};

/// One function's checks under qemu take seconds; this bounds a hang.
const CHECK_LIMIT: Duration = Duration::from_secs(300);
/// A clean arm64 build of all functions takes 10-15 minutes here.
const BUILD_LIMIT: Duration = Duration::from_secs(60 * 60);

/// `cargo xtask build --arch arm64 --linker zig` running as a child
/// process, at the lowest priority, while the lints and the native tests
/// run (the tests mostly wait on the emulator, so the build gets the idle
/// CPU); its output goes to a log, shown on failure.
pub struct BackgroundBuild {
    child: Option<Child>,
    log: PathBuf,
    started: Instant,
}

/// Installs the build tools when missing (in the foreground: it may say
/// what to install by hand), then starts the build.
pub fn start_build(root: &Path) -> anyhow::Result<BackgroundBuild> {
    eprintln!("==> arm64 build (in the background, at low priority)");
    let venv = testkit::venv::venv_dir(root);
    let zig_arm64 = BuildOptions {
        arch: bundle::Arch::Arm64,
        linker: LinkerChoice::Zig,
    };
    setup::ensure_toolchain(&venv, &zig_arm64).context("installing the arm64 build tools")?;
    let log = std::env::temp_dir().join(format!("evs-arm64-build-{}.log", std::process::id()));
    let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone().context("cannot share the build log")?;
    // zig explicitly: the path README recommends, whatever else is installed.
    let mut command =
        Command::new(std::env::current_exe().context("cannot find the xtask binary")?);
    command
        .args(["build", "--arch", "arm64", "--linker", "zig"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group, so stopping it stops cargo and rustc too.
        .process_group(0);
    // SAFETY: setpriority is async-signal-safe and touches only the child.
    unsafe {
        // The lowest priority: the build takes only the CPU the
        // foreground steps leave idle, and never slows a test's deadline.
        command.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            Ok(())
        });
    }
    let child = command.spawn().context("cannot start cargo xtask build")?;
    Ok(BackgroundBuild {
        child: Some(child),
        log,
        started: Instant::now(),
    })
}

impl BackgroundBuild {
    /// Waits for the build (bounded) and returns its manifest.
    pub fn finish(mut self, root: &Path) -> anyhow::Result<Manifest> {
        let mut child = self
            .child
            .take()
            .context("the build was already waited for")?;
        let status =
            deadline::exit_within(&mut child, self.started, BUILD_LIMIT, "the arm64 build")
                .map_err(|err| anyhow::anyhow!("{err:#}; its log:\n{}", log_tail(&self.log)))?;
        if !status.success() {
            bail!(
                "cargo xtask build --arch arm64 failed ({status}); its log:\n{}",
                log_tail(&self.log)
            );
        }
        eprintln!(
            "==> arm64 build done in {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
        let path = Manifest::path(&bundle::target_dir(root)?);
        let manifest = serde_json::from_slice(
            &fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("cannot parse {}", path.display()))?;
        Ok(manifest)
    }
}

impl Drop for BackgroundBuild {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            deadline::kill(child);
        }
        let _ = fs::remove_file(&self.log);
    }
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Runs every packaged `bootstrap` of `manifest`, unzipped, under qemu
/// against the Runtime API stub and moto.
pub fn run(manifest: &Manifest, moto_endpoint: &str) -> anyhow::Result<()> {
    eprintln!("==> arm64 artifacts under qemu");
    let emulator = setup::ensure_emulator()?;
    let scratch = std::env::temp_dir().join(format!("evs-arm64-{}", std::process::id()));
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut passed = 0;
    let mut failures = Vec::new();
    for function in Function::ALL {
        let Some(artifact) = manifest.functions.get(function.name()) else {
            bail!("the manifest lists no {function}");
        };
        let outcome =
            unzip_bootstrap(&artifact.path, &scratch.join(function.name())).and_then(|bootstrap| {
                let launch = match &emulator.qemu {
                    Some(qemu) => Launch::qemu(qemu, &emulator.sysroot, &bootstrap),
                    None => Launch::native(&bootstrap),
                };
                runtime.block_on(async {
                    tokio::time::timeout(
                        CHECK_LIMIT,
                        function_binary::check(function, &launch, moto_endpoint),
                    )
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("did not finish within {} s", CHECK_LIMIT.as_secs())
                    })?
                })
            });
        match outcome {
            Ok(report) => {
                passed += 1;
                eprintln!(
                    "    {function:<15} ok: init {:.0} ms under qemu, {} invocations",
                    report.init.as_secs_f64() * 1000.0,
                    report.invocations
                );
            }
            Err(err) => {
                eprintln!("    {function:<15} FAILED: {err:#}");
                failures.push(function.name());
            }
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    // The closing line CI reads, as cargo test prints its own.
    println!("arm64: {passed} passed, {} failed", failures.len());
    if !failures.is_empty() {
        bail!("arm64 artifacts failed: {}", failures.join(", "));
    }
    Ok(())
}

/// The zip's `bootstrap`, written to `dir` with the zip's mode, which must
/// be executable (Lambda runs the file as it is unpacked).
fn unzip_bootstrap(zip: &Path, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let bytes = fs::read(zip).with_context(|| format!("cannot read {}", zip.display()))?;
    let (binary, mode) = package::read_bootstrap(&bytes)?;
    match mode.map(|m| m & 0o777) {
        Some(0o755) => {}
        Some(other) => bail!("bootstrap in {} has mode {other:o}, not 755", zip.display()),
        None => bail!("bootstrap in {} has no Unix mode", zip.display()),
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(package::BOOTSTRAP);
    fs::write(&path, binary).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    Ok(path)
}
