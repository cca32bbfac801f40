//! Which compiler target and linker a Lambda build uses, found on this
//! machine before anything is compiled: a missing piece stops the build
//! with the command that installs it, instead of failing minutes later.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};

use super::Arch;

/// What `cargo xtask test` installs into the project venv for the zig path
/// (pinned: a new zig can change the glibc stubs it links against).
pub const ZIGLANG_REQUIREMENT: &str = "ziglang==0.17.1";
pub const CARGO_ZIGBUILD_REQUIREMENT: &str = "cargo-zigbuild==0.24.1";
/// The glibc zig links against: old enough for every Lambda runtime.
pub const ZIG_GLIBC: &str = "2.17";

/// Which linker a build asks for (`cargo xtask build --linker`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkerChoice {
    /// zig if present (glibc pinned to 2.17), else the cross gcc, else the
    /// native linker when building for this machine's architecture.
    #[default]
    Auto,
    /// cargo-zigbuild with zig, linking against glibc 2.17.
    Zig,
    /// Debian's cross gcc (`gcc-aarch64-linux-gnu`), or the native cc for the
    /// host's own architecture; links against that toolchain's glibc.
    Gcc,
}

/// Debian's cross gcc for an architecture: the driver a build links with
/// and the package that installs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrossGcc {
    pub driver: &'static str,
    pub package: &'static str,
}

impl CrossGcc {
    pub fn of(arch: Arch) -> CrossGcc {
        match arch {
            Arch::Arm64 => CrossGcc {
                driver: "aarch64-linux-gnu-gcc",
                package: "gcc-aarch64-linux-gnu",
            },
            Arch::X86_64 => CrossGcc {
                driver: "x86_64-linux-gnu-gcc",
                package: "gcc-x86-64-linux-gnu",
            },
        }
    }
}

/// The linker a build will use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linker {
    /// `cargo-zigbuild` at this path; `bin_dir` goes first on the child's
    /// PATH (it holds the venv's python with `ziglang`, which
    /// cargo-zigbuild runs when there is no `zig` on the PATH).
    Zig {
        cargo_zigbuild: PathBuf,
        bin_dir: Option<PathBuf>,
    },
    /// A gcc driver for the target (`aarch64-linux-gnu-gcc`).
    CrossGcc { gcc: String },
    /// The host's default linker: target and host architecture agree.
    Native,
}

impl Linker {
    pub fn describe(&self) -> String {
        match self {
            Linker::Zig { cargo_zigbuild, .. } => {
                format!("zig via {} (glibc {ZIG_GLIBC})", cargo_zigbuild.display())
            }
            Linker::CrossGcc { gcc } => format!("{gcc} (the cross toolchain's glibc)"),
            Linker::Native => "the host's cc (the host's glibc)".to_owned(),
        }
    }

    /// Short name for the manifest.
    pub fn name(&self) -> &'static str {
        match self {
            Linker::Zig { .. } => "zig",
            Linker::CrossGcc { .. } => "gcc",
            Linker::Native => "native",
        }
    }
}

/// The command lines that install what a build needs, for error messages
/// and the README.
pub struct Fixes {
    pub target: String,
    pub zig: String,
    pub gcc: String,
}

impl Fixes {
    pub fn new(arch: Arch, venv: &Path) -> Fixes {
        Fixes {
            target: format!("rustup target add {}", arch.triple()),
            zig: format!(
                "python3 -m venv {venv} && {venv}/bin/python -m pip install '{ZIGLANG_REQUIREMENT}' '{CARGO_ZIGBUILD_REQUIREMENT}'",
                venv = venv.display()
            ),
            gcc: format!("apt-get install -y {}", CrossGcc::of(arch).package),
        }
    }
}

/// Checks that the Rust standard library for `arch` is installed.
pub fn check_target(arch: Arch, venv: &Path) -> anyhow::Result<()> {
    let triple = arch.triple();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = super::child::command(&rustc)
        .args(["--print", "target-libdir", "--target", triple])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", rustc.to_string_lossy()))?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    // The directory exists once rust-std for the target is installed; rustc
    // prints its path either way.
    let installed = output.status.success()
        && std::fs::read_dir(&libdir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|entry| entry.file_name().to_string_lossy().starts_with("libstd-"))
        });
    if !installed {
        bail!(
            "the Rust standard library for {triple} is not installed; run: {}",
            Fixes::new(arch, venv).target
        );
    }
    Ok(())
}

/// Finds the linker for `arch` as `choice` asks. `venv` is the project
/// venv, where `cargo xtask test` installs zig.
pub fn find_linker(arch: Arch, choice: LinkerChoice, venv: &Path) -> anyhow::Result<Linker> {
    let fixes = Fixes::new(arch, venv);
    let native = std::env::consts::ARCH == arch.rust_arch();
    let zig = || find_zig(venv);
    let cross_gcc = CrossGcc::of(arch).driver;
    let gcc = || {
        on_path(cross_gcc).map(|_| Linker::CrossGcc {
            gcc: cross_gcc.to_owned(),
        })
    };
    let found = match choice {
        LinkerChoice::Zig => zig(),
        LinkerChoice::Gcc if native => Some(Linker::Native),
        LinkerChoice::Gcc => gcc(),
        LinkerChoice::Auto => zig()
            .or_else(|| native.then_some(Linker::Native))
            .or_else(gcc),
    };
    if let Some(linker) = found {
        return Ok(linker);
    }
    let triple = arch.triple();
    match choice {
        LinkerChoice::Zig => bail!(
            "--linker zig: cargo-zigbuild with zig not found on the PATH nor in {}; install them with: {}",
            venv.display(),
            fixes.zig
        ),
        LinkerChoice::Gcc => bail!(
            "--linker gcc: {cross_gcc} not found on the PATH; install it with: {}",
            fixes.gcc
        ),
        LinkerChoice::Auto => bail!(
            "no linker for {triple}; install one of\n  \
             zig, glibc pinned to {ZIG_GLIBC} (no root needed): {}\n  \
             Debian's cross gcc, its glibc (2.36 on Debian 12; the check below refuses anything over 2.34): {}",
            fixes.zig,
            fixes.gcc
        ),
    }
}

/// cargo-zigbuild on the PATH, else in the venv; and a zig it can run.
fn find_zig(venv: &Path) -> Option<Linker> {
    let venv_bin = venv.join("bin");
    let (cargo_zigbuild, bin_dir) = match on_path("cargo-zigbuild") {
        Some(path) => (path, None),
        None => {
            let path = venv_bin.join("cargo-zigbuild");
            if !path.is_file() {
                return None;
            }
            (path, Some(venv_bin.clone()))
        }
    };
    // cargo-zigbuild runs `zig`, else `python3 -m ziglang`; check the same
    // way, with the PATH the build will have.
    let path = child_path(bin_dir.as_deref());
    let zig_runs = |program: &str, args: &[&str]| {
        super::child::command(program)
            .args(args)
            .env("PATH", &path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let python = bin_dir
        .as_ref()
        .map_or_else(|| PathBuf::from("python3"), |dir| dir.join("python3"));
    let python = python.to_string_lossy();
    (zig_runs("zig", &["version"]) || zig_runs(&python, &["-m", "ziglang", "version"])).then_some(
        Linker::Zig {
            cargo_zigbuild,
            bin_dir,
        },
    )
}

/// PATH with `first` in front.
pub fn child_path(first: Option<&Path>) -> OsString {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let Some(first) = first else {
        return current;
    };
    let dirs = std::iter::once(first.to_path_buf()).chain(std::env::split_paths(&current));
    std::env::join_paths(dirs).unwrap_or(current)
}

/// The first executable file called `program` on the PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixes_are_exact_commands() {
        let venv = Path::new("/nonexistent/venv");
        let fixes = Fixes::new(Arch::Arm64, venv);
        assert_eq!(fixes.target, "rustup target add aarch64-unknown-linux-gnu");
        assert_eq!(fixes.gcc, "apt-get install -y gcc-aarch64-linux-gnu");
        assert!(fixes.zig.contains("'cargo-zigbuild==0.24.1'"));
    }

    #[test]
    fn the_host_target_is_installed() {
        // Tests run on the host's target, so its std must be found.
        let host = match std::env::consts::ARCH {
            "x86_64" => Arch::X86_64,
            "aarch64" => Arch::Arm64,
            _ => return,
        };
        check_target(host, Path::new("/nonexistent/venv")).expect("host std");
    }

    #[test]
    fn an_empty_venv_offers_no_zig() {
        let dir = std::env::temp_dir().join(format!("evs-no-zig-{}", std::process::id()));
        if on_path("cargo-zigbuild").is_none() {
            assert_eq!(find_zig(&dir), None);
        }
    }
}
