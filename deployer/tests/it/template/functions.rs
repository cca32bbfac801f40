//! The functions: runtime and architecture, the table names the wiring
//! reads, a log group each, the replay's concurrency cap, tracing.

use deployer::cfn::lambda::{Architecture, Runtime};
use deployer::cfn::{Properties, Template};
use deployer::settings::ReplayConcurrency;
use deployer::stack::{DataOutput, Function, Table};
use deployer::stack::{FunctionResources, TableResources};
use deployer::{Format, StackOptions, app_stack};

use super::{default_stack, resources_of, settings, show, traced_stack};

fn check_functions(template: &Template, architecture: Architecture) {
    let functions = resources_of(template, |p| match p {
        Properties::LambdaFunction(f) => Some(f),
        _ => None,
    });
    assert_eq!(functions.len(), Function::ALL.len());
    for (id, function) in functions {
        assert_eq!(function.architecture, architecture, "{id}");
        assert_eq!(function.runtime, Runtime::ProvidedAl2023, "{id}");
        assert_eq!(function.handler, "bootstrap", "{id}");
    }
    // The list form CloudFormation wants, with the one architecture.
    let json = serde_json::to_value(template).expect("serializable");
    for function in Function::ALL {
        assert_eq!(
            json["Resources"][function.logical_id().as_str()]["Properties"]["Architectures"],
            serde_json::json!([architecture.as_str()])
        );
    }
}

#[test]
fn every_function_is_a_provided_al2023_bootstrap_on_arm64_by_default() {
    check_functions(&default_stack(), Architecture::Arm64);
}

#[test]
fn functions_are_x86_64_when_asked() {
    let template = app_stack(&StackOptions {
        architecture: Architecture::X86_64,
        ..StackOptions::default()
    });
    check_functions(&template, Architecture::X86_64);
}

#[test]
fn the_functions_get_the_table_names_the_wiring_reads() {
    let template = default_stack();
    for (id, function) in resources_of(&template, |p| match p {
        Properties::LambdaFunction(f) => Some(f),
        _ => None,
    }) {
        let variables = &function
            .environment
            .as_ref()
            .expect("environment")
            .variables;
        for table in Table::ALL {
            // The data stack's tables by the parameters deploy fills from it.
            let expected = match table {
                Table::Events => DataOutput::EventsTableName.name().to_owned(),
                Table::StreamIndex => DataOutput::StreamIndexTableName.name().to_owned(),
                Table::ReadModel | Table::Replays => table.logical_id().to_string(),
            };
            assert_eq!(
                variables.get(table.env_var()).map(show),
                Some(expected),
                "{id}"
            );
        }
        assert_eq!(variables.get("RUST_LOG").map(show).as_deref(), Some("info"));
    }
    let env = |function: Function, name: &str| match &template.resources[function.logical_id().id()]
        .properties
    {
        Properties::LambdaFunction(f) => f
            .environment
            .as_ref()
            .and_then(|e| e.variables.get(name))
            .map(show),
        _ => None,
    };
    assert_eq!(
        env(Function::ListItems, "TEST_STREAM_ID").as_deref(),
        Some("TestStreamId")
    );
    assert_eq!(
        env(Function::TriggerReplay, "REPLAY_FUNCTION_NAME").as_deref(),
        Some("ReplayFunction")
    );
    // Only trigger-replay and replay-status start replay runs (the wiring
    // keys on the variable).
    for function in Function::ALL {
        assert_eq!(
            env(function, "REPLAY_FUNCTION_NAME").is_some(),
            matches!(function, Function::TriggerReplay | Function::ReplayStatus),
            "{}",
            function.name()
        );
    }
}

#[test]
fn every_function_logs_to_its_own_group_with_retention() {
    let template = default_stack();
    for function in Function::ALL {
        let Properties::LogsLogGroup(group) =
            &template.resources[function.log_group_id().id()].properties
        else {
            panic!("no log group for {}", function.name());
        };
        assert!(group.retention_in_days.is_some());
        let Properties::LambdaFunction(definition) =
            &template.resources[function.logical_id().id()].properties
        else {
            panic!("no function {}", function.name());
        };
        let name = show(definition.function_name.as_ref().expect("a fixed name"));
        let group_name = show(group.log_group_name.as_ref().expect("a name"));
        assert_eq!(
            group_name.replace("Sub /aws/lambda/", "Sub "),
            name,
            "the group is /aws/lambda/<function name>"
        );
    }
}

#[test]
fn the_replay_function_is_capped_as_replay_concurrency_says() {
    let reservations = |replay_concurrency| {
        let template = app_stack(&StackOptions {
            replay_concurrency,
            ..StackOptions::default()
        });
        resources_of(&template, |p| match p {
            Properties::LambdaFunction(f) => Some(f),
            _ => None,
        })
        .into_iter()
        .filter_map(|(id, f)| {
            f.reserved_concurrent_executions
                .map(|n| (id.to_string(), n))
        })
        .collect::<Vec<_>>()
    };
    let replay = Function::Replay.logical_id().to_string();
    assert_eq!(
        reservations(ReplayConcurrency::DEFAULT),
        [(replay.clone(), 5)]
    );
    assert_eq!(
        reservations(ReplayConcurrency::Reserved(40)),
        [(replay, 40)]
    );
    assert!(reservations(ReplayConcurrency::Unreserved).is_empty());
    // `none` leaves the property out of the template altogether.
    let text = deployer::synth(&settings(&[("REPLAY_CONCURRENCY", "none")]), Format::Yaml)
        .expect("synthesizes");
    assert!(!text.contains("ReservedConcurrentExecutions"), "{text}");
    let err = deployer::synth(&settings(&[("REPLAY_CONCURRENCY", "0")]), Format::Yaml)
        .expect_err("0 reserves nothing and stops every replay");
    assert!(err.to_string().contains("REPLAY_CONCURRENCY"), "{err}");
}

#[test]
fn tracing_turns_on_x_ray_for_functions_and_stage() {
    for (template, tracing) in [(default_stack(), false), (traced_stack(), true)] {
        for (id, function) in resources_of(&template, |p| match p {
            Properties::LambdaFunction(f) => Some(f),
            _ => None,
        }) {
            assert_eq!(function.tracing_config.is_some(), tracing, "{id}");
        }
        for (id, stage) in resources_of(&template, |p| match p {
            Properties::ApiGatewayStage(s) => Some(s),
            _ => None,
        }) {
            assert_eq!(stage.tracing_enabled, tracing, "{id}");
        }
    }
}
