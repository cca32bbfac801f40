//! Checks of the architecture's invariants that read the tree itself:
//! every file says what it is, every function's `main` only wires, and the
//! function crates are exactly the list in `service::functions`.

use std::path::{Path, PathBuf};

use service::functions::Function;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_owned()
}

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
    let root = workspace_root();
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
    let root = workspace_root();
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
