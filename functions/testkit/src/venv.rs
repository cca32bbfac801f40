//! The project's Python tools, pinned, in one project-local venv: moto
//! (the AWS emulator), cfn-lint (the template linter) and schemathesis
//! (the API contract check from `openapi.yaml`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The moto release the tests are written against (its quirks are in
/// shared/TESTING-NOTES.md); bump it deliberately, not by accident.
pub const MOTO_VERSION: &str = "5.2.5";
/// What pip installs: the server extra brings flask/werkzeug and the
/// `moto_server` entry point.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";
/// The cfn-lint release the template is checked with; a new release brings
/// new rules, so bump it deliberately too.
pub const CFN_LINT_VERSION: &str = "1.58.0";
pub const CFN_LINT_REQUIREMENT: &str = "cfn-lint==1.58.0";
/// The schemathesis release `cargo xtask test` checks the API with; its
/// checks and data generation change between releases, so bump it
/// deliberately as well.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";
pub const SCHEMATHESIS_REQUIREMENT: &str = "schemathesis==4.32.5";
/// Everything the venv holds, installed together so pip resolves one
/// consistent set (moto also depends on cfn-lint).
pub const REQUIREMENTS: [&str; 3] = [
    MOTO_REQUIREMENT,
    CFN_LINT_REQUIREMENT,
    SCHEMATHESIS_REQUIREMENT,
];
/// Overrides the venv location (default `<project root>/.local/venv`).
pub const VENV_ENV: &str = "EVS_VENV";

/// Written into the venv once pip succeeded; its content is the whole
/// requirement set, so changing any pin triggers a reinstall.
const MARKER_FILE: &str = ".evs-requirements";
/// The executables the requirements must have installed.
const EXECUTABLES: [&str; 3] = ["moto_server", "cfn-lint", "schemathesis"];

/// The workspace root, from this crate's location (functions/testkit).
pub fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// Where the venv lives: `$EVS_VENV`, else `<project_root>/.local/venv`.
pub fn venv_dir(project_root: &Path) -> PathBuf {
    match std::env::var_os(VENV_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => project_root.join(".local").join("venv"),
    }
}

/// The venv's python, after making sure the venv exists with the pinned
/// requirements installed (creating it and running pip if not; ~30 s the
/// first time).
pub fn venv_python(project_root: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(project_root);
    ensure_installed(&venv)?;
    Ok(venv.join("bin").join("python"))
}

/// The venv's `cfn-lint`, installed if needed like [`venv_python`].
pub fn cfn_lint(project_root: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(project_root);
    ensure_installed(&venv)?;
    Ok(venv.join("bin").join("cfn-lint"))
}

/// The venv's `schemathesis`, installed if needed like [`venv_python`].
pub fn schemathesis(project_root: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(project_root);
    ensure_installed(&venv)?;
    Ok(venv.join("bin").join("schemathesis"))
}

fn marker_content() -> String {
    REQUIREMENTS.join("\n") + "\n"
}

fn is_installed(venv: &Path) -> bool {
    venv.join("bin").join("python").exists()
        && fs::read_to_string(venv.join(MARKER_FILE)).is_ok_and(|m| m == marker_content())
}

fn ensure_installed(venv: &Path) -> anyhow::Result<()> {
    if is_installed(venv) {
        return Ok(());
    }

    let parent = venv.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {} for the venv", parent.display()))?;
    // Test binaries may run side by side: one installs, the others wait.
    let lock_path = venv.with_extension("lock");
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create the venv lock file {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if is_installed(venv) {
        return Ok(());
    }

    let quoted: Vec<String> = REQUIREMENTS.iter().map(|r| format!("'{r}'")).collect();
    let by_hand = format!(
        "python3 -m venv {venv} && {venv}/bin/python -m pip install {requirements}",
        venv = venv.display(),
        requirements = quoted.join(" ")
    );
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let mut create = Command::new("python3");
        create.arg("-m").arg("venv").arg(venv);
        run(&mut create, "creating the venv", &by_hand)?;
    }
    let mut install = Command::new(&python);
    install
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .args(REQUIREMENTS);
    run(
        &mut install,
        "installing moto, cfn-lint and schemathesis into the venv",
        &by_hand,
    )?;

    for executable in EXECUTABLES {
        let path = venv.join("bin").join(executable);
        if !path.exists() {
            bail!(
                "pip installed {} but {} is missing; remove {} and run by hand: {by_hand}",
                REQUIREMENTS.join(" "),
                path.display(),
                venv.display()
            );
        }
    }
    let marker = venv.join(MARKER_FILE);
    fs::write(&marker, marker_content())
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(())
}

/// Runs `command` to completion; on failure, says what failed, shows its
/// output and the command to run by hand.
pub fn run(command: &mut Command, what: &str, by_hand: &str) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot run {command:?}; run by hand: {by_hand}"))?;
    if !output.status.success() {
        bail!(
            "{what}: {command:?} failed ({status})\n--- stdout\n{out}\n--- stderr\n{err}\nFix the cause, then run by hand: {by_hand}",
            status = output.status,
            out = String::from_utf8_lossy(&output.stdout).trim(),
            err = String::from_utf8_lossy(&output.stderr).trim(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn the_requirements_pin_the_versions() {
        assert_eq!(MOTO_REQUIREMENT, format!("moto[server]=={MOTO_VERSION}"));
        assert_eq!(
            CFN_LINT_REQUIREMENT,
            format!("cfn-lint=={CFN_LINT_VERSION}")
        );
        assert_eq!(
            SCHEMATHESIS_REQUIREMENT,
            format!("schemathesis=={SCHEMATHESIS_VERSION}")
        );
        assert!(REQUIREMENTS.iter().all(|r| marker_content().contains(r)));
    }

    #[test]
    fn the_venv_is_reused_once_installed() {
        let root = project_root();
        let first = venv_python(&root).expect("venv");
        let started = Instant::now();
        assert_eq!(venv_python(&root).expect("venv again"), first);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the second call reinstalled"
        );
    }

    #[test]
    fn cfn_lint_is_installed_at_the_pinned_version() {
        let cfn_lint = cfn_lint(&project_root()).expect("venv");
        let output = Command::new(&cfn_lint)
            .arg("--version")
            .output()
            .expect("cfn-lint runs");
        let version = String::from_utf8_lossy(&output.stdout);
        assert!(
            version.contains(CFN_LINT_VERSION),
            "{} --version says {version:?}",
            cfn_lint.display()
        );
    }
}
