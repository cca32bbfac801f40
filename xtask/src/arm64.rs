//! `cargo xtask test`'s `==> arm64 artifacts` step: installs what the arm64
//! path needs when missing, runs `cargo xtask build` (zig, arm64), then runs
//! every packaged `bootstrap`, unzipped, under qemu against the Runtime API
//! stub and moto, with the same checks as the native binaries' tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use testkit::function_binary::{self, Launch};

use deployer::build::toolchain::LinkerChoice;
use deployer::build::{self, Arch, BuildArgs, package};

use crate::setup;

pub fn build_and_run(root: &Path, moto_endpoint: &str) -> anyhow::Result<()> {
    eprintln!("==> arm64 artifacts");
    let venv = testkit::venv::venv_dir(root);
    setup::ensure_build_tools(&venv).context("installing the arm64 build tools")?;
    let emulator = setup::ensure_emulator()?;
    // zig explicitly: the path README recommends, whatever else is installed.
    let args = BuildArgs {
        arch: Arch::Arm64,
        linker: LinkerChoice::Zig,
    };
    let manifest = build::build(root, &venv, &args)?;

    let scratch = std::env::temp_dir().join(format!("evs-arm64-{}", std::process::id()));
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut passed = 0;
    let mut failures = Vec::new();
    for function in build::FUNCTIONS {
        let Some(artifact) = manifest.functions.get(function) else {
            bail!("the manifest lists no {function}");
        };
        let outcome =
            unzip_bootstrap(&artifact.path, &scratch.join(function)).and_then(|bootstrap| {
                let launch = match &emulator.qemu {
                    Some(qemu) => Launch::qemu(qemu, &emulator.sysroot, &bootstrap),
                    None => Launch::native(&bootstrap),
                };
                runtime.block_on(function_binary::check(function, &launch, moto_endpoint))
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
                failures.push(function);
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
