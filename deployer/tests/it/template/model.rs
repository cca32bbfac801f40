//! The template as a whole: every reference resolves, the outputs, typed
//! attributes, and the first phase's artifact bucket.

use std::collections::{BTreeMap, BTreeSet};

use deployer::cfn::{Expr, LogicalId, Properties, ResourceId};
use deployer::cfn::{apigateway, dynamodb, lambda};
use deployer::stack::{DataOutput, Function, Table, data_stack, in_data_stack};
use deployer::stack::{FunctionResources, TableResources};

use super::{default_stack, resources_of, show, traced_stack};

/// Every `Ref`, `GetAtt` and `${...}` names something the template has.
#[test]
fn every_reference_resolves() {
    for template in [default_stack(), traced_stack()] {
        let json = serde_json::to_value(&template).expect("serializable");
        let known: BTreeSet<String> = template
            .parameters
            .keys()
            .chain(template.resources.keys())
            .map(LogicalId::to_string)
            .collect();
        let mut names = Vec::new();
        collect_references(&json, &mut names);
        assert!(!names.is_empty());
        for name in names {
            assert!(
                name.starts_with("AWS::") || known.contains(&name),
                "{name} is not defined"
            );
        }
    }
}

fn collect_references(value: &serde_json::Value, names: &mut Vec<String>) {
    use serde_json::Value as Json;
    match value {
        Json::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Json::String(name)) => names.push(name.clone()),
                    ("Fn::GetAtt", Json::Array(parts)) => {
                        names.push(parts[0].as_str().unwrap_or_default().to_owned());
                    }
                    ("Fn::Sub", Json::String(text)) => {
                        for placeholder in text.split("${").skip(1) {
                            let name = placeholder.split('}').next().unwrap_or_default();
                            names.push(name.split('.').next().unwrap_or_default().to_owned());
                        }
                    }
                    _ => {}
                }
                collect_references(inner, names);
            }
        }
        Json::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, names)),
        _ => {}
    }
}

#[test]
fn the_outputs_give_the_url_tables_and_functions() {
    let template = default_stack();
    let outputs: BTreeMap<String, String> = template
        .outputs
        .iter()
        .map(|(id, output)| (id.to_string(), show(&output.value)))
        .collect();
    assert_eq!(
        outputs["ApiUrl"],
        "Sub https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod"
    );
    // The app's own tables; the data stack's are in its outputs.
    for table in Table::ALL.into_iter().filter(|t| !in_data_stack(*t)) {
        assert!(
            outputs
                .values()
                .any(|v| *v == table.logical_id().to_string())
        );
    }
    let data = data_stack();
    for output in DataOutput::ALL {
        assert!(
            data.outputs.contains_key(&LogicalId::new(output.name())),
            "{output:?}"
        );
        assert!(
            template
                .parameters
                .contains_key(&LogicalId::new(output.name())),
            "{output:?}"
        );
    }
    for function in Function::ALL {
        assert!(
            outputs
                .values()
                .any(|v| *v == function.logical_id().to_string())
        );
    }
    assert!(outputs.values().all(|v| !v.contains("ApiKey")));
}

/// A resource offers only the attributes its type has: `stream_arn()`
/// exists on a table's id and nowhere else, so a wrong `GetAtt` does not
/// compile (`ResourceId::<lambda::Function>::new("X").stream_arn()` is a
/// compile error).
#[test]
fn attributes_are_typed_by_the_resource() {
    let table = ResourceId::<dynamodb::Table>::new("X");
    let stream: Expr = table.stream_arn();
    let arn: Expr = table.arn();
    assert_eq!(show(&stream), "X.StreamArn");
    assert_eq!(show(&arn), "X.Arn");
    let api = ResourceId::<apigateway::RestApi>::new("Api");
    let root: Expr = api.root_resource_id();
    assert_eq!(show(&root), "Api.RootResourceId");
    assert_eq!(
        ResourceId::<lambda::Function>::new("F").sub_arn(),
        "${F.Arn}"
    );
}

#[test]
fn the_first_phase_holds_the_artifact_bucket_exactly_as_the_app_does() {
    let bootstrap = deployer::stack::bootstrap_stack();
    let app = default_stack();
    let id = LogicalId::new(deployer::stack::ARTIFACT_BUCKET_ID);
    let policy = LogicalId::new(deployer::stack::ARTIFACT_BUCKET_POLICY_ID);
    assert_eq!(bootstrap.resources.len(), 2);
    assert_eq!(bootstrap.resources.get(&id), app.resources.get(&id));
    assert_eq!(bootstrap.resources.get(&policy), app.resources.get(&policy));
    assert!(bootstrap.parameters.is_empty());
    // Every function's code comes from that bucket.
    for (_, function) in resources_of(&app, |p| match p {
        Properties::LambdaFunction(f) => Some(f),
        _ => None,
    }) {
        assert_eq!(show(&function.code.s3_bucket), id.to_string());
    }
}
