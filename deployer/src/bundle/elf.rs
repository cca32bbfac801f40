//! Reads what a Lambda `bootstrap` asks of the machine that loads it: its
//! architecture, its interpreter, the shared libraries it needs and the
//! highest glibc symbol version it binds to.

use std::fmt;

use anyhow::{Context, bail};
use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, FileKind};

use super::Arch;

/// The glibc of Lambda's `provided.al2023` runtime (Amazon Linux 2023).
pub const LAMBDA_GLIBC: GlibcVersion = GlibcVersion(2, 34);

/// Libraries `provided.al2023` has and a Rust binary may link: glibc's own
/// and libgcc_s (unwinding). Anything else would fail to load there.
const RUNTIME_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libutil.so.1",
    "libgcc_s.so.1",
    "ld-linux-aarch64.so.1",
    "ld-linux-x86-64.so.2",
];

/// A `GLIBC_<major>.<minor>` version (a third component, as in 2.3.4, is
/// below the next minor version and does not matter here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32);

impl GlibcVersion {
    /// From a version-needed name such as `GLIBC_2.34`; `None` for other
    /// names (`GLIBC_PRIVATE`, `GCC_3.0`).
    pub fn parse(name: &str) -> Option<GlibcVersion> {
        let mut parts = name.strip_prefix("GLIBC_")?.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(GlibcVersion(major, minor))
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// What the loader needs for a binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_machine`: `EM_AARCH64` or `EM_X86_64` for a Lambda binary.
    pub machine: u16,
    /// The `PT_INTERP` path; `None` for a static binary.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` entries.
    pub needed: Vec<String>,
    /// The highest `GLIBC_x.y` any symbol binds to; `None` if none does.
    pub max_glibc: Option<GlibcVersion>,
}

impl ElfInfo {
    pub fn read(data: &[u8]) -> anyhow::Result<ElfInfo> {
        match FileKind::parse(data).context("not an object file")? {
            FileKind::Elf64 => {}
            other => bail!("not a 64-bit ELF executable ({other:?})"),
        }
        let file = ElfFile64::<Endianness>::parse(data).context("malformed ELF")?;
        let endian = file.endian();
        let machine = file.elf_header().e_machine(endian);

        let mut interpreter = None;
        for segment in file.elf_program_headers() {
            if let Some(path) = segment
                .interpreter(endian, data)
                .context("malformed PT_INTERP")?
            {
                interpreter = Some(String::from_utf8_lossy(path).into_owned());
            }
        }

        let sections = file.elf_section_table();
        let mut needed = Vec::new();
        let dynamic = sections
            .dynamic_table(endian, data)
            .context("malformed dynamic section")?;
        for entry in &dynamic {
            if entry.tag == elf::DT_NEEDED {
                let name = dynamic.string(entry).context("malformed DT_NEEDED")?;
                needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }

        let mut max_glibc = None;
        if let Some((mut verneeds, link)) = sections
            .gnu_verneed(endian, data)
            .context("malformed .gnu.version_r")?
        {
            let strings = sections
                .strings(endian, data, link)
                .context("malformed .gnu.version_r strings")?;
            while let Some((_, mut auxes)) = verneeds.next().context("malformed verneed")? {
                while let Some(aux) = auxes.next().context("malformed vernaux")? {
                    let name = aux.name(endian, strings).context("malformed vna_name")?;
                    let version = GlibcVersion::parse(&String::from_utf8_lossy(name));
                    max_glibc = max_glibc.max(version);
                }
            }
        }

        Ok(ElfInfo {
            machine: machine.0,
            interpreter,
            needed,
            max_glibc,
        })
    }

    /// Statically linked: nothing for the loader to resolve.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }

    /// Refuses a binary that `provided.al2023` on `arch` could not load.
    pub fn check_loads_on_lambda(&self, arch: Arch) -> anyhow::Result<()> {
        let expected = arch.elf_machine();
        if self.machine != expected {
            bail!(
                "built for ELF machine {} but {} Lambda needs {expected}",
                self.machine,
                arch.as_str()
            );
        }
        if let Some(version) = self.max_glibc
            && version > LAMBDA_GLIBC
        {
            bail!(
                "needs glibc {version} but provided.al2023 has {LAMBDA_GLIBC}: \
                 build with zig, which pins glibc 2.17 (--linker zig; see README \"Build for Lambda\")"
            );
        }
        let foreign: Vec<&str> = self
            .needed
            .iter()
            .map(String::as_str)
            .filter(|library| !RUNTIME_LIBRARIES.contains(library))
            .collect();
        if !foreign.is_empty() {
            bail!(
                "links {} which provided.al2023 does not have",
                foreign.join(", ")
            );
        }
        Ok(())
    }

    /// A short description for the build report: `glibc 2.17` or `static`.
    pub fn linkage(&self) -> String {
        match (self.is_static(), self.max_glibc) {
            (true, _) => "static".to_owned(),
            (false, Some(version)) => format!("glibc {version}"),
            (false, None) => "dynamic".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_parse_and_order() {
        assert_eq!(GlibcVersion::parse("GLIBC_2.34"), Some(GlibcVersion(2, 34)));
        assert_eq!(GlibcVersion::parse("GLIBC_2.3.4"), Some(GlibcVersion(2, 3)));
        assert_eq!(GlibcVersion::parse("GLIBC_PRIVATE"), None);
        assert_eq!(GlibcVersion::parse("GCC_3.0"), None);
        assert!(GlibcVersion(2, 35) > LAMBDA_GLIBC);
        assert!(GlibcVersion(2, 9) < GlibcVersion(2, 17));
    }

    fn info(machine: u16, max_glibc: Option<GlibcVersion>, needed: &[&str]) -> ElfInfo {
        ElfInfo {
            machine,
            interpreter: Some("/lib/ld-linux-aarch64.so.1".into()),
            needed: needed.iter().map(|s| s.to_string()).collect(),
            max_glibc,
        }
    }

    #[test]
    fn the_lambda_check_refuses_newer_glibc_wrong_machine_and_foreign_libraries() {
        let arm = elf::EM_AARCH64.0;
        let ok = info(
            arm,
            Some(GlibcVersion(2, 34)),
            &["libc.so.6", "libgcc_s.so.1"],
        );
        ok.check_loads_on_lambda(Arch::Arm64).expect("2.34 loads");
        assert!(ok.check_loads_on_lambda(Arch::X86_64).is_err());
        let newer = info(arm, Some(GlibcVersion(2, 35)), &["libc.so.6"]);
        let err = newer.check_loads_on_lambda(Arch::Arm64).unwrap_err();
        assert!(err.to_string().contains("glibc 2.35"), "{err}");
        let ssl = info(arm, Some(GlibcVersion(2, 17)), &["libssl.so.3"]);
        assert!(ssl.check_loads_on_lambda(Arch::Arm64).is_err());
    }

    #[test]
    fn reads_the_running_test_binary() {
        // Whatever this host is, its own executable is a valid ELF to read.
        let data = std::fs::read(std::env::current_exe().expect("exe")).expect("read exe");
        let info = ElfInfo::read(&data).expect("parses");
        let host = match std::env::consts::ARCH {
            "x86_64" => elf::EM_X86_64.0,
            "aarch64" => elf::EM_AARCH64.0,
            _ => return,
        };
        assert_eq!(info.machine, host);
        if !info.is_static() {
            assert!(info.needed.iter().any(|lib| lib.starts_with("libc.")));
            assert!(info.max_glibc.is_some());
        }
    }

    #[test]
    fn refuses_what_is_not_elf() {
        assert!(ElfInfo::read(b"#!/bin/sh\necho hi\n").is_err());
    }
}
