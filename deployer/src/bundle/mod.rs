//! The functions' bundles (`cargo xtask build`): every Lambda function
//! compiled for Lambda's architecture in one cargo invocation, each
//! checked to load on `provided.al2023` and packaged as a
//! content-addressed `bootstrap` zip, listed in a [`Manifest`].

pub mod child;
pub mod elf;
pub mod package;
pub mod toolchain;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use service::functions::Function;

use elf::ElfInfo;
use toolchain::{Linker, LinkerChoice, ZIG_GLIBC};

/// The Cargo profile the functions are built with (root Cargo.toml).
pub const PROFILE: &str = "lambda";

/// Where packages land, under the Cargo target directory. Not `lambda/`:
/// with `--target`, Cargo keeps the profile's host artifacts there.
pub const ARTIFACTS_DIR: &str = "lambda-artifacts";

/// A Lambda instruction set architecture: the template's type, so the
/// build and the template cannot disagree.
pub use crate::cfn::lambda::Architecture as Arch;

impl Arch {
    /// The Rust target: glibc, like the `provided.al2023` runtime.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// As `std::env::consts::ARCH` names it.
    pub fn rust_arch(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// The ELF `e_machine` of its executables.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::Arm64 => object::elf::EM_AARCH64.0,
            Arch::X86_64 => object::elf::EM_X86_64.0,
        }
    }
}

/// What to build for and how to link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    pub arch: Arch,
    pub linker: LinkerChoice,
}

/// One packaged function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// The zip, `<target>/lambda-artifacts/<function>/<sha256>.zip`.
    pub path: PathBuf,
    /// `<function>/<sha256>.zip`: a content-addressed object key.
    pub key: String,
    /// Bytes of the zip.
    pub size: u64,
    /// SHA-256 of the zip, hex.
    pub sha256: String,
    /// What the binary needs to load: `glibc 2.17`, `static`.
    pub linkage: String,
}

/// What a build produced: `<target>/lambda-artifacts/manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub arch: Arch,
    pub target: String,
    pub linker: String,
    /// Function name → its package.
    pub functions: BTreeMap<String, Artifact>,
}

impl Manifest {
    pub fn path(target_dir: &Path) -> PathBuf {
        target_dir.join(ARTIFACTS_DIR).join("manifest.json")
    }
}

/// The Cargo target directory (honours `CARGO_TARGET_DIR` and config).
pub fn target_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let output = child::command(cargo_program())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed ({})", output.status);
    }
    #[derive(Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("cannot parse cargo metadata's output")?;
    Ok(metadata.target_directory)
}

fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The build command: one cargo invocation for all functions.
fn cargo_command(root: &Path, arch: Arch, linker: &Linker) -> Command {
    let triple = arch.triple();
    let mut command = match linker {
        Linker::Zig {
            cargo_zigbuild,
            bin_dir,
        } => {
            let mut command = child::command(cargo_zigbuild);
            command
                .arg("zigbuild")
                .env("PATH", toolchain::child_path(bin_dir.as_deref()));
            command
        }
        Linker::CrossGcc { .. } | Linker::Native => {
            let mut command = child::command(cargo_program());
            command.arg("build");
            command
        }
    };
    let target = match linker {
        // cargo-zigbuild reads the glibc version off the target; output
        // still goes to target/<triple>/.
        Linker::Zig { .. } => format!("{triple}.{ZIG_GLIBC}"),
        _ => triple.to_owned(),
    };
    command
        .current_dir(root)
        .args(["--profile", PROFILE, "--target", &target]);
    for function in Function::ALL {
        command.args(["-p", function.name()]);
    }
    if let Linker::CrossGcc { gcc } = linker {
        let upper = triple.to_uppercase().replace('-', "_");
        let lower = triple.replace('-', "_");
        command
            .env(format!("CARGO_TARGET_{upper}_LINKER"), gcc)
            // ring's C code: the cc crate would guess the same, but say it.
            .env(format!("CC_{lower}"), gcc);
    }
    command
}

/// Builds, checks and packages every function; writes and returns the
/// manifest. Installs nothing: a missing target or linker is an error that
/// names the command to run.
pub fn build(root: &Path, venv: &Path, options: &BuildOptions) -> anyhow::Result<Manifest> {
    let arch = options.arch;
    toolchain::check_target(arch, venv)?;
    let linker = toolchain::find_linker(arch, options.linker, venv)?;
    let target_dir = target_dir(root)?;

    eprintln!(
        "==> building {} for {} ({}) with {}",
        Function::ALL.map(Function::name).join(", "),
        arch.as_str(),
        arch.triple(),
        linker.describe()
    );
    let started = Instant::now();
    let mut command = cargo_command(root, arch, &linker);
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("the build failed ({status})");
    }
    eprintln!("    compiled in {:.1} s", started.elapsed().as_secs_f64());

    let binaries = target_dir.join(arch.triple()).join(PROFILE);
    let out = target_dir.join(ARTIFACTS_DIR);
    let mut functions = BTreeMap::new();
    for function in Function::ALL.map(Function::name) {
        let binary = binaries.join(function);
        let artifact = package_function(function, &binary, arch, &out)
            .with_context(|| format!("{function} ({})", binary.display()))?;
        println!(
            "{function:<15} {:>9} bytes  sha256 {}  {}  {}",
            artifact.size,
            artifact.sha256,
            artifact.linkage,
            artifact.path.display()
        );
        functions.insert(function.to_owned(), artifact);
    }
    let manifest = Manifest {
        arch,
        target: arch.triple().to_owned(),
        linker: linker.name().to_owned(),
        functions,
    };
    let path = Manifest::path(&target_dir);
    let json = serde_json::to_string_pretty(&manifest).context("cannot encode the manifest")?;
    write_atomically(&path, json.as_bytes())?;
    println!("manifest: {}", path.display());
    Ok(manifest)
}

/// Checks one binary, zips it to `<out>/<function>/<sha256>.zip` and
/// removes that function's older zips.
fn package_function(
    function: &str,
    binary: &Path,
    arch: Arch,
    out: &Path,
) -> anyhow::Result<Artifact> {
    let data = fs::read(binary).context("cannot read the binary")?;
    let info = ElfInfo::read(&data)?;
    info.check_loads_on_lambda(arch)
        .context("refused: it would not load on Lambda's provided.al2023")?;
    let zip = package::zip_bootstrap(&data)?;
    let sha256 = package::sha256_hex(&zip);
    let dir = out.join(function);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file_name = format!("{sha256}.zip");
    let path = dir.join(&file_name);
    write_atomically(&path, &zip)?;
    // Keep only the current package: the key of an old one would be stale.
    for entry in fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
    {
        let name = entry.file_name();
        if name != file_name.as_str() && name.to_string_lossy().ends_with(".zip") {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(Artifact {
        path,
        key: format!("{function}/{file_name}"),
        size: zip.len() as u64,
        sha256,
        linkage: info.linkage(),
    })
}

/// Writes through a temporary file and a rename, so a reader never sees
/// half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&temporary, bytes)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cargo_invocation_builds_every_function_with_the_lambda_profile() {
        let gcc = Linker::CrossGcc {
            gcc: "aarch64-linux-gnu-gcc".into(),
        };
        let command = cargo_command(Path::new("."), Arch::Arm64, &gcc);
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let packages: String = Function::ALL
            .map(|function| format!(" -p {}", function.name()))
            .concat();
        assert_eq!(
            args.join(" "),
            format!("build --profile lambda --target aarch64-unknown-linux-gnu{packages}")
        );
        let linker_env = command
            .get_envs()
            .find(|(key, _)| *key == "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER");
        assert_eq!(
            linker_env.and_then(|(_, value)| value),
            Some(std::ffi::OsStr::new("aarch64-linux-gnu-gcc"))
        );

        let zig = Linker::Zig {
            cargo_zigbuild: "cargo-zigbuild".into(),
            bin_dir: None,
        };
        let command = cargo_command(Path::new("."), Arch::Arm64, &zig);
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[0], "zigbuild");
        assert!(args.contains(&"aarch64-unknown-linux-gnu.2.17".to_owned()));
    }

    #[test]
    fn the_manifest_round_trips() {
        let manifest = Manifest {
            arch: Arch::Arm64,
            target: "aarch64-unknown-linux-gnu".into(),
            linker: "zig".into(),
            functions: BTreeMap::from([(
                "replay".to_owned(),
                Artifact {
                    path: "/t/lambda-artifacts/replay/ab.zip".into(),
                    key: "replay/ab.zip".into(),
                    size: 3,
                    sha256: "ab".into(),
                    linkage: "glibc 2.17".into(),
                },
            )]),
        };
        let json = serde_json::to_string(&manifest).expect("encode");
        assert!(json.contains(r#""arch":"arm64""#), "{json}");
        assert_eq!(
            serde_json::from_str::<Manifest>(&json).expect("decode"),
            manifest
        );
    }
}
