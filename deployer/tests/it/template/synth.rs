//! Synthesis from the settings: the API key never in the template, bad
//! settings named, the same settings the same bytes, and both stacks
//! byte for byte against their snapshots.

use std::path::PathBuf;

use deployer::Format;
use deployer::cfn::Template;
use deployer::stack::data_stack;
use service::settings::RawSettings;

use super::{default_stack, settings};

const SECRET: &str = "Recognisable-Secret-Key-0123456789";

#[test]
fn the_api_key_never_reaches_the_template() {
    for tracing in ["false", "true"] {
        let settings = settings(&[
            ("API_KEY", SECRET),
            ("TRACING", tracing),
            ("STACK_NAME", "secret-check"),
        ]);
        for format in [Format::Yaml, Format::Json] {
            let text = deployer::synth(&settings, format).expect("synthesizes");
            assert!(!text.is_empty());
            assert!(
                !text.contains(SECRET),
                "{} holds the API key",
                format.name()
            );
            assert!(
                !text.contains("Recognisable"),
                "{} holds part of the key",
                format.name()
            );
        }
    }
}

/// The same through a `.env` file, as `cargo xtask synth` reads it.
#[test]
fn the_api_key_in_the_env_file_never_reaches_the_template() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, format!("API_KEY={SECRET}\nTRACING=true\n")).expect("write .env");
    let settings = RawSettings::load(&env_file).expect("loads");
    // The environment wins over the file; only then is the file's key unread.
    if std::env::var_os("API_KEY").is_none() {
        assert_eq!(settings.get("API_KEY"), Some(SECRET), "the key was read");
    }
    for format in [Format::Yaml, Format::Json] {
        let text = deployer::synth(&settings, format).expect("synthesizes");
        assert!(
            !text.contains(SECRET),
            "{} holds the API key",
            format.name()
        );
    }
}

#[test]
fn synth_needs_no_api_key_and_names_bad_settings() {
    assert!(deployer::synth(&settings(&[]), Format::Yaml).is_ok());
    let err = deployer::synth(&settings(&[("TRACING", "maybe")]), Format::Yaml).unwrap_err();
    assert!(err.to_string().contains("TRACING"), "{err}");
    let err = deployer::synth(&settings(&[("STACK_NAME", "9lives")]), Format::Json).unwrap_err();
    assert!(err.to_string().contains("STACK_NAME"), "{err}");
}

#[test]
fn synth_is_deterministic_and_follows_the_settings() {
    let traced = settings(&[("TRACING", "1")]);
    for format in [Format::Yaml, Format::Json] {
        let first = deployer::synth(&traced, format).expect("synthesizes");
        assert_eq!(deployer::synth(&traced, format).expect("again"), first);
        assert!(first.contains("Active"), "tracing is on");
        let plain = deployer::synth(&settings(&[]), format).expect("synthesizes");
        assert!(!plain.contains("Active"));
    }
    let json = deployer::synth(&settings(&[]), Format::Json).expect("synthesizes");
    let yaml = deployer::synth(&settings(&[]), Format::Yaml).expect("synthesizes");
    let from_json: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let from_yaml: serde_json::Value = serde_yaml::from_str(&yaml).expect("valid YAML");
    assert_eq!(from_json, from_yaml, "both formats hold the same template");
    // Resources in a stable (sorted) order.
    let ids: Vec<&String> = from_json["Resources"]
        .as_object()
        .expect("resources")
        .keys()
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/snapshots/{name}.yaml"))
}

/// `template` byte for byte against the snapshot `name`. A deliberate
/// change: rerun with `UPDATE_SNAPSHOTS=1`, review the diff, commit the
/// file.
fn matches_snapshot(template: &Template, name: &str) {
    let actual = deployer::render(template, Format::Yaml).expect("renders");
    let path = snapshot_path(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let first_difference = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or_else(
                || "one is a prefix of the other".to_owned(),
                |line| format!("first difference at line {}", line + 1),
            );
        panic!(
            "the synthesized template differs from {} ({first_difference}).\n\
             If the change is intended, run `UPDATE_SNAPSHOTS=1 cargo nextest run -p deployer the_yaml_matches`, \
             review the diff and commit the file.",
            path.display()
        );
    }
}

#[test]
fn the_yaml_matches_the_snapshot() {
    matches_snapshot(&default_stack(), "app-stack");
}

#[test]
fn the_data_stack_yaml_matches_the_snapshot() {
    matches_snapshot(&data_stack(), "data-stack");
}
