//! The build's child processes (cargo, cargo-zigbuild, rustc, zig) start
//! from an empty environment plus what a Rust build reads: the command
//! that deploys holds `API_KEY`, the deployment's settings and AWS
//! credentials, and a build script or proc macro of any dependency could
//! read (and send) whatever it inherits. Every child of `bundle/` is made by
//! [`command`].

use std::ffi::{OsStr, OsString};
use std::process::Command;

/// Passed on by exact name: where things are (PATH, HOME, the temporary
/// directory), the locale and terminal, proxies and certificates for
/// crates.io, the C toolchain some crates compile with, and make's job
/// server.
const KEPT_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "SOURCE_DATE_EPOCH",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "CC",
    "CXX",
    "AR",
    "CFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "PKG_CONFIG_PATH",
    "MAKEFLAGS",
    "MFLAGS",
];

/// Passed on by prefix: cargo's and rustup's own settings (target
/// directory, toolchain, registries' addresses), rustc's, the locale's,
/// per-target C toolchains, zig's cache.
const KEPT_PREFIXES: &[&str] = &[
    "CARGO",
    "RUSTUP_",
    "RUSTC",
    "RUSTDOC",
    "RUSTFLAGS",
    "RUST_",
    "LC_",
    "CC_",
    "CXX_",
    "AR_",
    "CFLAGS_",
    "CXXFLAGS_",
    "ZIG_",
];

/// Never passed on, even under a kept prefix: a build reads no secret
/// (`CARGO_REGISTRY_TOKEN` and `CARGO_REGISTRIES_<name>_TOKEN` publish,
/// they do not build).
const SECRET_MARKS: &[&str] = &["TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "PRIVATE"];

/// Whether the variable `name` reaches a build's child process.
pub fn passes_on(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let upper = name.to_ascii_uppercase();
    if SECRET_MARKS.iter().any(|mark| upper.contains(mark)) {
        return false;
    }
    KEPT_NAMES.contains(&name) || KEPT_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// What of `parent` (an environment) a build's child process gets.
pub fn child_environment(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    parent
        .into_iter()
        .filter(|(name, _)| passes_on(name))
        .collect()
}

/// `program` with this process's environment narrowed to what a build
/// reads; callers add what they set themselves (`.env(...)`).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    command_from(program, std::env::vars_os())
}

/// [`command`], from the environment `parent`.
fn command_from(
    program: impl AsRef<OsStr>,
    parent: impl IntoIterator<Item = (OsString, OsString)>,
) -> Command {
    let mut command = Command::new(program);
    command.env_clear().envs(child_environment(parent));
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(name, value)| (OsString::from(name), OsString::from(value)))
            .collect()
    }

    /// What a deploy's environment holds: the settings, AWS credentials and
    /// a registry token stay behind; what cargo and rustup read goes on.
    fn deploying() -> Vec<(OsString, OsString)> {
        env(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/home/me"),
            ("CARGO_HOME", "/home/me/.cargo"),
            ("CARGO_TARGET_DIR", "/t"),
            ("RUSTUP_TOOLCHAIN", "stable"),
            ("RUSTFLAGS", "-Dwarnings"),
            ("LC_ALL", "C.UTF-8"),
            ("API_KEY", "the-api-key-0123456789"),
            ("STACK_NAME", "evs"),
            ("TRACING", "true"),
            ("TEST_STREAM_ID", "s"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_PROFILE", "prod"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("CARGO_REGISTRY_TOKEN", "publish"),
            ("CARGO_REGISTRIES_INTERNAL_TOKEN", "publish"),
            ("GITHUB_TOKEN", "gh"),
        ])
    }

    #[test]
    fn a_build_gets_what_cargo_reads_and_no_setting_or_secret() {
        let passed: Vec<String> = child_environment(deploying())
            .into_iter()
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            passed,
            [
                "PATH",
                "HOME",
                "CARGO_HOME",
                "CARGO_TARGET_DIR",
                "RUSTUP_TOOLCHAIN",
                "RUSTFLAGS",
                "LC_ALL"
            ]
        );
    }

    /// The same, as a real child process sees it.
    #[test]
    fn a_child_process_sees_only_the_passed_environment() {
        let output = command_from("env", deploying()).output().expect("env runs");
        assert!(output.status.success());
        let seen = String::from_utf8_lossy(&output.stdout);
        let mut names: Vec<&str> = seen
            .lines()
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "CARGO_HOME",
                "CARGO_TARGET_DIR",
                "HOME",
                "LC_ALL",
                "PATH",
                "RUSTFLAGS",
                "RUSTUP_TOOLCHAIN"
            ],
            "{seen}"
        );
        assert!(!seen.contains("the-api-key") && !seen.contains("secret"));
    }

    /// Every child of the build is made here: no other file of `bundle/`
    /// starts a process.
    #[test]
    fn every_child_of_the_build_starts_through_command() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bundle");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("src/bundle") {
            let path = entry.expect("an entry").path();
            if path.file_name().is_some_and(|name| name == "child.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            assert!(
                !text.contains("Command::new("),
                "{} starts a process without bundle::child::command",
                path.display()
            );
            checked += 1;
        }
        assert!(checked >= 4, "only {checked} files read");
    }
}
