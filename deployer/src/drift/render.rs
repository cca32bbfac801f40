//! A drift report as lines for a terminal: each stack's verdict, each
//! drifted resource (logical id, type, status) and each property that
//! differs (path, expected and actual value, kind of difference), and why
//! a function's code drifts after a hotswap deploy.

use std::fmt::Write as _;

use super::DriftReport;

/// Why a function's `Code` drifts, and what ends it.
pub const HOTSWAP_EXPLANATION: &str = "A function whose Code drifted was most likely updated by `cargo xtask deploy --hotswap`, which gives Lambda the new code directly and leaves the stack's template naming the previous package: the code stays drifted until the next plain `cargo xtask deploy`.";

/// Longest value shown in full; longer ones are cut (a policy document can
/// run to kilobytes).
const VALUE_SHOWN: usize = 200;

/// The report as lines.
pub fn render(report: &DriftReport) -> String {
    let mut out = String::new();
    for stack in &report.stacks {
        if !stack.drifted() {
            let _ = writeln!(out, "{}: IN_SYNC, nothing drifted", stack.stack);
            continue;
        }
        let _ = writeln!(
            out,
            "{}: {}, {} resource{} drifted",
            stack.stack,
            stack.status,
            stack.resources.len(),
            if stack.resources.len() == 1 { "" } else { "s" }
        );
        for resource in &stack.resources {
            let _ = writeln!(
                out,
                "  {}  {}  {}",
                resource.logical_id, resource.resource_type, resource.status
            );
            for difference in &resource.differences {
                let _ = writeln!(
                    out,
                    "    {} ({}): expected {}, actual {}",
                    difference.path,
                    difference.kind,
                    shown(&difference.expected),
                    shown(&difference.actual)
                );
            }
        }
    }
    if report.drifted_resources().any(|r| r.is_function_code()) {
        let _ = writeln!(out, "{HOTSWAP_EXPLANATION}");
    }
    out
}

fn shown(value: &str) -> String {
    if value.is_empty() {
        return "(none)".to_owned();
    }
    if value.chars().count() <= VALUE_SHOWN {
        return value.to_owned();
    }
    let cut: String = value.chars().take(VALUE_SHOWN).collect();
    format!("{cut}…")
}
