//! What `cargo xtask test` installs for its arm64 step, when missing: the
//! Rust target, zig + cargo-zigbuild (pinned, into the project venv), and
//! qemu-user with the arm64 loader and libc (Debian packages). `cargo xtask
//! build` never calls this: it only says what to install.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use deployer::build::Arch;
use deployer::build::toolchain::{self, CARGO_ZIGBUILD_REQUIREMENT, Fixes, ZIGLANG_REQUIREMENT};
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

/// Installs what an arm64 build with zig needs; fails with the command to
/// run by hand when it cannot.
pub fn ensure_build_tools(venv: &Path) -> anyhow::Result<()> {
    let fixes = Fixes::new(Arch::Arm64, venv);
    if toolchain::check_target(Arch::Arm64, venv).is_err() {
        let mut rustup = Command::new("rustup");
        rustup.args(["target", "add", Arch::Arm64.triple()]);
        run(&mut rustup, "rustup target add", &fixes.target)?;
        toolchain::check_target(Arch::Arm64, venv)?;
    }
    ensure_zig(venv, &fixes.zig)
}

fn zig_marker() -> String {
    format!("{ZIGLANG_REQUIREMENT}\n{CARGO_ZIGBUILD_REQUIREMENT}\n")
}

/// `by_hand`: the commands that install zig, for a failure's message.
fn ensure_zig(venv: &Path, by_hand: &str) -> anyhow::Result<()> {
    let installed = || {
        venv.join("bin").join("cargo-zigbuild").is_file()
            && fs::read_to_string(venv.join(ZIG_MARKER)).is_ok_and(|m| m == zig_marker())
    };
    if installed() {
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
    if installed() {
        return Ok(());
    }
    eprintln!(
        "    installing {ZIGLANG_REQUIREMENT} and {CARGO_ZIGBUILD_REQUIREMENT} into {}",
        venv.display()
    );
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
