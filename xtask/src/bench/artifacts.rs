//! The arm64 build: warm (and optionally clean) build times of all
//! functions and the size of each zip.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::bail;
use deployer::bundle::{self, Manifest};

use super::report::{Report, median};

/// Warm (and optionally clean) arm64 build times and zip sizes.
pub(super) fn measure(
    report: &mut Report,
    root: &Path,
    clean: bool,
) -> anyhow::Result<Option<Manifest>> {
    let exe = std::env::current_exe()?;
    let time_build = |target_dir: Option<&Path>| -> anyhow::Result<f64> {
        let mut command = Command::new(&exe);
        command
            .args(["build", "--arch", "arm64", "--linker", "zig"])
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = target_dir {
            command.env("CARGO_TARGET_DIR", dir);
        }
        let started = Instant::now();
        let status = command.status()?;
        if !status.success() {
            bail!("cargo xtask build failed ({status}); run it alone to see why");
        }
        Ok(started.elapsed().as_secs_f64())
    };
    // The first run brings the build up to date; the next ones are warm.
    if let Err(err) = time_build(None) {
        report.missing("artifacts", "arm64 build", format!("{err:#}"));
        return Ok(None);
    }
    let warm = median(
        (0..3)
            .map(|_| time_build(None))
            .collect::<anyhow::Result<Vec<_>>>()?,
    );
    report.add(
        "artifacts",
        "warm build, all functions, arm64",
        warm,
        "s",
        "nothing changed: cargo + ELF checks + zips",
    );
    if clean {
        let dir = std::env::temp_dir().join(format!("evs-bench-clean-{}", std::process::id()));
        let seconds = time_build(Some(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        report.add(
            "artifacts",
            "clean build, all functions, arm64",
            seconds?,
            "s",
            "empty target directory, one run",
        );
    } else {
        report.missing(
            "artifacts",
            "clean build, all functions, arm64",
            "pass --clean-build (about 12 minutes on 2 cores)",
        );
    }
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(Manifest::path(&bundle::target_dir(root)?))?)?;
    for (function, artifact) in &manifest.functions {
        report.add(
            "artifacts",
            format!("zip size: {function}"),
            artifact.size as f64 / 1_048_576.0,
            "MiB",
            artifact.linkage.clone(),
        );
    }
    Ok(Some(manifest))
}
