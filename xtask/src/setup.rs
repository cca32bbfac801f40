//! What a build installs when missing, project-local and without root: the
//! Rust target (rustup) and zig + cargo-zigbuild (pinned, into the project
//! venv). `build`, `deploy`, `diff` and `test` all go through
//! [`ensure_toolchain`]; `--no-install` leaves the build's own error, which
//! names the command to run. `test` also installs qemu-user with the arm64
//! loader and libc (Debian packages, root only) to run the artifacts.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use deployer::bundle::toolchain::{
    self, CARGO_ZIGBUILD_REQUIREMENT, Fixes, LinkerChoice, ZIGLANG_REQUIREMENT,
};
use deployer::bundle::{self, Arch, BuildOptions, Manifest};
use testkit::venv::run;

/// Where `libc6-arm64-cross` puts the arm64 loader and libc: qemu's `-L`.
pub const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// The Debian packages that run arm64 binaries on another host.
const QEMU_PACKAGES: [&str; 2] = ["qemu-user", "libc6-arm64-cross"];
/// Written into the venv after pip installed zig; its content is the pins.
const ZIG_MARKER: &str = ".evs-zig-requirements";

/// How to run an arm64 binary here.
pub struct Emulator {
    /// `qemu-aarch64`, or `None` when this machine is arm64 itself.
    pub qemu: Option<PathBuf>,
    pub sysroot: PathBuf,
}

/// A build as `build`, `deploy` and `diff` ask for it.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    pub options: BuildOptions,
    /// Whether a missing Rust target or zig may be installed first.
    pub install: bool,
}

/// Installs what `request` needs and lacks (unless told not to), then
/// builds, checks and packages every function.
pub fn build(root: &Path, request: &BuildRequest) -> anyhow::Result<Manifest> {
    let venv = testkit::venv::venv_dir(root);
    if request.install {
        ensure_toolchain(&venv, &request.options)?;
    }
    bundle::build(root, &venv, &request.options)
}

/// Installs, when missing, the Rust target for `options.arch` and, unless
/// the cross gcc is asked for (it needs root), zig + cargo-zigbuild into
/// `venv`: zig links against glibc 2.17, which every Lambda runtime has,
/// so it is preferred even where another linker is present. One line per
/// thing installed, with how long it took; a failure names the command to
/// run by hand.
pub fn ensure_toolchain(venv: &Path, options: &BuildOptions) -> anyhow::Result<()> {
    let arch = options.arch;
    let fixes = Fixes::new(arch, venv);
    if toolchain::check_target(arch, venv).is_err() {
        let started = installing(&format!("the Rust target {} with rustup", arch.triple()));
        let mut rustup = Command::new("rustup");
        rustup.args(["target", "add", arch.triple()]);
        run(&mut rustup, "rustup target add", &fixes.target)?;
        toolchain::check_target(arch, venv)?;
        installed(started);
    }
    if options.linker != LinkerChoice::Gcc {
        ensure_zig(venv, &fixes.zig)?;
    }
    Ok(())
}

/// Starts a line saying what is being installed; [`installed`] ends it.
fn installing(what: &str) -> Instant {
    eprint!("    installing {what} ...");
    let _ = std::io::stderr().flush();
    Instant::now()
}

fn installed(started: Instant) {
    eprintln!(" done in {:.1} s", started.elapsed().as_secs_f64());
}

fn zig_marker() -> String {
    format!("{ZIGLANG_REQUIREMENT}\n{CARGO_ZIGBUILD_REQUIREMENT}\n")
}

/// zig + cargo-zigbuild at the pinned versions, in the venv or on the PATH
/// (a zig of the user's own is left alone).
fn zig_present(venv: &Path) -> bool {
    let in_venv = venv.join("bin").join("cargo-zigbuild").is_file();
    if in_venv {
        // Installed here: by this code, at these pins, or it is redone.
        return fs::read_to_string(venv.join(ZIG_MARKER)).is_ok_and(|m| m == zig_marker());
    }
    toolchain::on_path("cargo-zigbuild").is_some()
        && toolchain::find_linker(Arch::Arm64, LinkerChoice::Zig, venv).is_ok()
}

/// `by_hand`: the commands that install zig, for a failure's message.
fn ensure_zig(venv: &Path, by_hand: &str) -> anyhow::Result<()> {
    let installed_here = || zig_present(venv);
    if installed_here() {
        return Ok(());
    }
    let parent = venv.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    // The venv's own lock: no pip of the test harness runs at the same time.
    let lock_path = venv.with_extension("lock");
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    if installed_here() {
        return Ok(());
    }
    let started = installing(&format!(
        "{ZIGLANG_REQUIREMENT} and {CARGO_ZIGBUILD_REQUIREMENT} into {}",
        venv.display()
    ));
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let mut create = Command::new("python3");
        create.arg("-m").arg("venv").arg(venv);
        run(&mut create, "python3 -m venv", by_hand)?;
    }
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        ZIGLANG_REQUIREMENT,
        CARGO_ZIGBUILD_REQUIREMENT,
    ]);
    run(&mut pip, "pip install ziglang cargo-zigbuild", by_hand)?;
    fs::write(venv.join(ZIG_MARKER), zig_marker())
        .with_context(|| format!("cannot write the marker in {}", venv.display()))?;
    installed(started);
    Ok(())
}

/// Finds (installing with apt-get when missing and root) what runs arm64
/// binaries on this machine.
pub fn ensure_emulator() -> anyhow::Result<Emulator> {
    let sysroot = PathBuf::from(ARM64_SYSROOT);
    if std::env::consts::ARCH == "aarch64" {
        return Ok(Emulator {
            qemu: None,
            sysroot: PathBuf::from("/"),
        });
    }
    let loader = sysroot.join("lib").join("ld-linux-aarch64.so.1");
    let missing = || {
        let mut missing = Vec::new();
        if toolchain::on_path("qemu-aarch64").is_none() {
            missing.push(QEMU_PACKAGES[0]);
        }
        if !loader.exists() {
            missing.push(QEMU_PACKAGES[1]);
        }
        missing
    };
    let needed = missing();
    if !needed.is_empty() {
        let by_hand = format!("apt-get install -y {}", needed.join(" "));
        if !is_root() {
            bail!(
                "qemu-aarch64 and the arm64 libc are needed to run the arm64 artifacts; run as root: {by_hand}"
            );
        }
        eprintln!("    installing {} with apt-get", needed.join(" "));
        let mut update = Command::new("apt-get");
        update.args(["update", "-qq"]);
        run(&mut update, "apt-get update", &by_hand)?;
        let mut install = Command::new("apt-get");
        install
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&needed)
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut install, "apt-get install", &by_hand)?;
        if !missing().is_empty() {
            bail!(
                "apt-get installed {} but qemu-aarch64 or {} is still missing",
                needed.join(" "),
                loader.display()
            );
        }
    }
    let qemu = toolchain::on_path("qemu-aarch64").context("qemu-aarch64 vanished from the PATH")?;
    Ok(Emulator {
        qemu: Some(qemu),
        sysroot,
    })
}

fn is_root() -> bool {
    // The effective uid, without a libc binding: /proc/self/status says it.
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

#[cfg(test)]
mod tests {
    use deployer::bundle::toolchain::Linker;

    use super::*;

    fn zig_arm64() -> BuildOptions {
        BuildOptions {
            arch: Arch::Arm64,
            linker: LinkerChoice::Zig,
        }
    }

    /// What a fresh machine's first build does: into an empty venv, the
    /// pinned zig and cargo-zigbuild (from PyPI), which the build then
    /// finds. A zig of the user's own on the PATH is used instead, and
    /// nothing is installed.
    #[test]
    fn an_empty_venv_gets_the_pinned_zig_and_the_build_finds_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let venv = dir.path().join("venv");
        let users_own = toolchain::on_path("cargo-zigbuild").is_some();
        ensure_toolchain(&venv, &zig_arm64()).expect("the toolchain installs");

        let linker = toolchain::find_linker(Arch::Arm64, LinkerChoice::Zig, &venv)
            .expect("the build finds zig");
        let Linker::Zig { cargo_zigbuild, .. } = linker else {
            panic!("not zig: {linker:?}");
        };
        if users_own {
            assert!(!venv.exists(), "nothing installed beside the user's zig");
            return;
        }
        assert!(
            cargo_zigbuild.starts_with(&venv),
            "{}",
            cargo_zigbuild.display()
        );
        let version = Command::new(&cargo_zigbuild)
            .arg("--version")
            .output()
            .expect("cargo-zigbuild runs");
        let version = String::from_utf8_lossy(&version.stdout);
        let pinned = CARGO_ZIGBUILD_REQUIREMENT.trim_start_matches("cargo-zigbuild==");
        assert!(version.contains(pinned), "{version}");
        // A second build finds it all and installs nothing.
        let marker = venv.join(ZIG_MARKER);
        let written = fs::metadata(&marker).and_then(|m| m.modified()).unwrap();
        ensure_toolchain(&venv, &zig_arm64()).unwrap();
        assert_eq!(
            fs::metadata(&marker).and_then(|m| m.modified()).unwrap(),
            written
        );
    }

    /// A venv whose zig was installed at other pins is brought to these.
    #[test]
    fn a_zig_installed_at_other_pins_is_not_taken_as_present() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path();
        fs::create_dir_all(venv.join("bin")).unwrap();
        fs::write(venv.join("bin").join("cargo-zigbuild"), "").unwrap();
        fs::write(venv.join(ZIG_MARKER), "ziglang==0.0.1\n").unwrap();
        assert!(!zig_present(venv));
        fs::write(venv.join(ZIG_MARKER), zig_marker()).unwrap();
        assert!(zig_present(venv));
    }
}
