//! The template against an outside judge: cfn-lint, pinned, from the
//! project's venv. (CloudFormation itself, as moto implements it, takes
//! the template in the `deploy` tests.)

use std::path::PathBuf;
use std::process::Command;

use deployer::cfn::lambda::Architecture;
use deployer::{Format, StackOptions, app_stack};

/// cfn-lint rules that do not apply to this template, each with its reason.
/// Empty: the template is fixed instead of a rule being silenced.
const IGNORED_RULES: &[&str] = &[];

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the template");
    path
}

#[test]
fn cfn_lint_reports_no_error_and_no_warning() {
    let cfn_lint = testkit::venv::cfn_lint(&testkit::venv::project_root()).expect("the venv");
    let dir = tempfile::tempdir().expect("a temp dir");
    let default = app_stack(&StackOptions::default());
    let variant = app_stack(&StackOptions {
        tracing: true,
        architecture: Architecture::X86_64,
        ..StackOptions::default()
    });
    let render = |template, format| deployer::render(template, format).expect("renders");
    let files = [
        write(dir.path(), "default.yaml", &render(&default, Format::Yaml)),
        write(dir.path(), "default.json", &render(&default, Format::Json)),
        write(dir.path(), "traced.yaml", &render(&variant, Format::Yaml)),
        write(dir.path(), "traced.json", &render(&variant, Format::Json)),
        write(
            dir.path(),
            "data.yaml",
            &render(&deployer::stack::data_stack(), Format::Yaml),
        ),
    ];
    let mut command = Command::new(&cfn_lint);
    command.args(["--format", "parseable"]);
    if !IGNORED_RULES.is_empty() {
        command.arg("--ignore-checks").args(IGNORED_RULES);
    }
    let output = command
        .arg("--")
        .args(&files)
        .output()
        .expect("cfn-lint runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // parseable: file:line:column:end line:end column:rule:message
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            line.split(':')
                .nth(5)
                .is_some_and(|rule| rule.starts_with('E') || rule.starts_with('W'))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "cfn-lint found problems:\n{}",
        problems.join("\n")
    );
    // Exit code bits: 2 errors, 4 warnings, 8 informational; 1 is a crash.
    let code = output.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 8,
        "cfn-lint exited {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}
