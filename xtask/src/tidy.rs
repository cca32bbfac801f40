//! Checks of the architecture's invariants (ARCHITECTURE.md) that read
//! the tree and the dependency graph: every file says what it is, every
//! function's `main` only wires and its crate checks its binary, the
//! function crates are exactly the list in `service::functions`, the
//! domain stays pure, only xtask's `flags/` parses command lines, and
//! xtask and the tests share their dependency builds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use service::functions::Function;

/// Every `.rs` file below `dir`, build output and hidden folders left out.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("a readable entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, found);
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

/// The lines that are code: no blank lines, no comments.
fn code_lines(source: &str) -> Vec<&str> {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .collect()
}

#[test]
fn every_rust_file_begins_with_a_module_doc() {
    let root = crate::project_root();
    let mut files = Vec::new();
    for crate_dir in ["domain", "functions", "deployer", "xtask"] {
        rust_files(&root.join(crate_dir), &mut files);
    }
    assert!(files.len() > 50, "found only {files:?}");
    let undocumented: Vec<String> = files
        .iter()
        .filter(|path| {
            let source = std::fs::read_to_string(path).expect("a readable file");
            !source.trim_start().starts_with("//!")
        })
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "these files do not begin with a `//!` line saying what they are: {undocumented:#?}"
    );
}

/// A function's `main` is one call; its code lives in `service`, where the
/// tests call it.
#[test]
fn every_function_main_only_wires() {
    let root = crate::project_root();
    for function in Function::ALL {
        let path = root.join(format!("functions/{}/src/main.rs", function.name()));
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let serve = format!("service::wiring::serve(Function::{function:?}).await");
        assert_eq!(
            code_lines(&source),
            [
                "use service::functions::Function;",
                "#[tokio::main]",
                "async fn main() -> Result<(), lambda_runtime::Error> {",
                serve.as_str(),
                "}",
            ],
            "{} does more than wire",
            path.display()
        );
    }
}

/// Each function crate runs its binary as Lambda would, through the
/// check `testkit::function_binary` has for it, and each API function's
/// also keeps the API key out of its logs: a new crate copies the test.
#[test]
fn every_function_crate_checks_its_binary() {
    let root = crate::project_root();
    for function in Function::ALL {
        let path = root.join(format!("functions/{}/tests/binary.rs", function.name()));
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        let source: String = source.split_whitespace().collect();
        let mut calls = vec![
            format!("env!(\"CARGO_BIN_EXE_{}\")", function.name()),
            format!("check_native_binary(Function::{function:?},binary)"),
        ];
        if function.route().is_some() {
            calls.push(format!(
                "check_native_binary_keeps_the_key_out_of_logs(Function::{function:?},binary"
            ));
        }
        for call in calls {
            assert!(
                source.contains(&call),
                "{} does not call {call}",
                path.display()
            );
        }
    }
}

/// Adding a function is its crate plus a variant of `Function`: the
/// workspace's binaries under `functions/` must be exactly that list.
#[test]
fn the_function_crates_are_exactly_the_function_list() {
    let root = crate::project_root();
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let functions_dir = root.join("functions");
    let binaries: BTreeSet<String> = metadata["packages"]
        .as_array()
        .expect("a package list")
        .iter()
        .filter(|package| {
            package["manifest_path"]
                .as_str()
                .is_some_and(|path| Path::new(path).starts_with(&functions_dir))
        })
        .flat_map(|package| package["targets"].as_array().cloned().unwrap_or_default())
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .filter_map(|target| target["name"].as_str().map(str::to_owned))
        .collect();
    let listed: BTreeSet<String> = Function::ALL.iter().map(|f| f.name().to_owned()).collect();
    assert_eq!(binaries, listed);
}

/// `cargo tree` lines `name version [features]` for `args`.
fn resolved(args: &[&str]) -> BTreeSet<String> {
    let output = crate::cargo()
        .args(["tree", "--prefix", "none", "--format", "{p} [{f}]"])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim_end_matches(" (*)").to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

/// `cargo xtask` compiles xtask alone; `cargo xtask test` then compiles
/// the workspace with its dev-dependencies. A dependency whose features
/// differ between the two is compiled twice, with everything above it
/// (one differing tokio feature rebuilds the whole AWS SDK). The fix is
/// the feature-unification list at the end of xtask/Cargo.toml.
#[test]
fn the_xtask_binary_and_the_tests_share_every_dependency_build() {
    let xtask = resolved(&["--package", "xtask", "--edges", "normal,build"]);
    let tests = resolved(&["--workspace", "--edges", "normal,build,dev"]);
    assert!(
        xtask
            .iter()
            .any(|line| line.starts_with("aws-sdk-dynamodb "))
    );
    let differing: Vec<&String> = xtask.difference(&tests).collect();
    let names: BTreeSet<&str> = differing
        .iter()
        .filter_map(|line| line.split(' ').next())
        .collect();
    let as_tests_build_them: Vec<&String> = tests
        .iter()
        .filter(|line| line.split(' ').next().is_some_and(|n| names.contains(n)))
        .collect();
    assert!(
        differing.is_empty(),
        "built with other features by cargo xtask than by the tests: {differing:#?}\nthe tests build: {as_tests_build_them:#?}\nadd those features to the feature-unification list in xtask/Cargo.toml"
    );
}

/// The rules live in `domain` once, for Lambda, local mode and tests:
/// nothing of AWS and no async runtime may reach it.
#[test]
fn the_domain_depends_on_no_aws_crate_and_no_async_runtime() {
    let domain = resolved(&["--package", "domain", "--edges", "normal"]);
    assert!(domain.iter().any(|line| line.starts_with("domain ")));
    let forbidden: Vec<&String> = domain
        .iter()
        .filter(|line| {
            line.starts_with("aws")
                || ["tokio ", "async-std ", "smol ", "lambda_runtime "]
                    .iter()
                    .any(|name| line.starts_with(name))
        })
        .collect();
    assert!(forbidden.is_empty(), "domain depends on {forbidden:#?}");
}

/// The command line is parsed in xtask alone, in its `flags/` folder: the
/// libraries take plain config structs, so none depends on clap, and no
/// other file of xtask names it.
#[test]
fn only_xtask_depends_on_clap() {
    let dependents = resolved(&[
        "--workspace",
        "--edges",
        "normal,build,dev",
        "--invert",
        "clap",
        "--depth",
        "1",
    ]);
    let names: BTreeSet<&str> = dependents
        .iter()
        .filter_map(|line| line.split(' ').next())
        .collect();
    assert_eq!(names, BTreeSet::from(["clap", "xtask"]), "{dependents:#?}");

    let root = crate::project_root();
    let flags = root.join("xtask/src/flags");
    let mut files = Vec::new();
    rust_files(&root.join("xtask"), &mut files);
    assert!(
        files.iter().any(|path| path.starts_with(&flags)),
        "no flags/ in {files:?}"
    );
    let naming_clap: Vec<&PathBuf> = files
        .iter()
        // This file names clap to look for it.
        .filter(|path| !path.starts_with(&flags) && !path.ends_with("src/tidy.rs"))
        .filter(|path| {
            let source = std::fs::read_to_string(path).expect("a readable file");
            code_lines(&source)
                .iter()
                .any(|line| line.contains("clap::") || line.starts_with("use clap"))
        })
        .collect();
    assert!(
        naming_clap.is_empty(),
        "only xtask/src/flags/ may parse the command line: {naming_clap:#?}"
    );
}

/// The modules `file` declares (`mod name;`), test modules left out.
fn declared_modules(file: &Path) -> Vec<String> {
    let source =
        std::fs::read_to_string(file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    let mut modules = Vec::new();
    let mut previous = "";
    for line in source.lines().map(str::trim) {
        let declaration = line
            .strip_prefix("pub ")
            .or_else(|| line.strip_prefix("pub(crate) "))
            .or_else(|| line.strip_prefix("pub(super) "))
            .unwrap_or(line);
        if let Some(name) = declaration
            .strip_prefix("mod ")
            .and_then(|rest| rest.strip_suffix(';'))
            && !previous.contains("cfg(test)")
            && name != "tests"
        {
            modules.push(name.to_owned());
        }
        if !line.is_empty() {
            previous = line;
        }
    }
    modules
}

/// The file of module `name` declared in `parent`: `name.rs` or
/// `name/mod.rs` beside a crate root or a `mod.rs`, under `parent`'s own
/// folder otherwise.
fn module_file(parent: &Path, name: &str) -> PathBuf {
    let stem = parent.file_stem().unwrap_or_default();
    let dir = if ["lib", "main", "mod"].iter().any(|root| stem == *root) {
        parent.parent().expect("a folder").to_path_buf()
    } else {
        parent.with_extension("")
    };
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

/// ARCHITECTURE.md's section of a crate: from its `### \`dir/\`` heading
/// to the next heading.
fn architecture_section<'a>(architecture: &'a str, crate_dir: &str) -> &'a str {
    let heading = format!("### `{crate_dir}/`");
    let start = architecture
        .find(&heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no section {heading}"));
    let rest = &architecture[start + heading.len()..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    &rest[..end]
}

/// Whether `section` names module `name` in code: `name`, `name.rs`,
/// `name/` or a path through it, in backticks.
fn names_module(section: &str, name: &str) -> bool {
    section.split('`').skip(1).step_by(2).any(|code| {
        code.split(['/', ':', ' ', '(', ',', '{', '}'])
            .any(|part| part == name || part == format!("{name}.rs"))
    })
}

/// The code map names every module of every library and of xtask, and
/// every module of their folder modules: a module added without a word
/// in ARCHITECTURE.md fails here.
#[test]
fn architecture_names_every_module_of_every_crate() {
    let root = crate::project_root();
    let architecture =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let crates = [
        ("domain", "domain/src/lib.rs"),
        ("functions/service", "functions/service/src/lib.rs"),
        ("functions/local", "functions/local/src/lib.rs"),
        ("functions/testkit", "functions/testkit/src/lib.rs"),
        ("deployer", "deployer/src/lib.rs"),
        ("xtask", "xtask/src/main.rs"),
    ];
    let mut unnamed = Vec::new();
    let mut checked = 0;
    for (crate_dir, crate_root) in crates {
        let section = architecture_section(&architecture, crate_dir);
        let crate_root = root.join(crate_root);
        for module in declared_modules(&crate_root) {
            let file = module_file(&crate_root, &module);
            let mut modules = vec![(module.clone(), module.clone())];
            if file.ends_with("mod.rs") {
                modules.extend(
                    declared_modules(&file)
                        .into_iter()
                        .map(|inner| (format!("{module}::{inner}"), inner)),
                );
            }
            for (path, name) in modules {
                checked += 1;
                if !names_module(section, &name) {
                    unnamed.push(format!("{crate_dir}: {path}"));
                }
            }
        }
    }
    assert!(checked > 100, "found only {checked} modules");
    assert!(
        unnamed.is_empty(),
        "ARCHITECTURE.md's code map does not name these modules in their crate's section: {unnamed:#?}"
    );
}
