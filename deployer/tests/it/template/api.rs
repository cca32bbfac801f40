//! The REST API: every route behind the API key and a Lambda proxy
//! integration, the usage plan's throttle, the deployment, the stage's
//! access log, and the role API Gateway logs with.

use std::collections::{BTreeMap, BTreeSet};

use deployer::cfn::apigateway::{AuthorizationType, HttpMethod, IntegrationType};
use deployer::cfn::{LogicalId, Policy, Properties};
use deployer::stack::FunctionResources;
use deployer::stack::{LOG_RETENTION, data_stack};
use deployer::{StackOptions, app_stack};
use service::api::Route;
use service::settings::RawSettings;

use super::{default_stack, resources_of, show};

#[test]
fn every_method_requires_the_api_key_and_proxies_to_lambda() {
    let template = default_stack();
    let methods = resources_of(&template, |p| match p {
        Properties::ApiGatewayMethod(m) => Some(m),
        _ => None,
    });
    assert_eq!(methods.len(), Route::ALL.len());
    for (id, method) in methods {
        assert!(method.api_key_required, "{id} does not require the API key");
        assert_eq!(method.authorization_type, AuthorizationType::None, "{id}");
        assert_eq!(method.integration.kind, IntegrationType::AwsProxy, "{id}");
        assert_eq!(
            method.integration.integration_http_method,
            Some(HttpMethod::Post),
            "{id}"
        );
    }
}

#[test]
fn every_route_has_its_resource_method_and_permission() {
    let template = default_stack();
    let resources = resources_of(&template, |p| match p {
        Properties::ApiGatewayResource(r) => Some(r),
        _ => None,
    });
    let methods = resources_of(&template, |p| match p {
        Properties::ApiGatewayMethod(m) => Some(m),
        _ => None,
    });
    // API Gateway's: the sweep's schedule has a permission of its own.
    let permissions = resources_of(&template, |p| match p {
        Properties::LambdaPermission(p) if p.principal == "apigateway.amazonaws.com" => Some(p),
        _ => None,
    });
    for route in Route::ALL {
        let (resource_id, _) = resources
            .iter()
            .find(|(_, r)| r.path_part == route.path_part())
            .unwrap_or_else(|| panic!("no resource for {route:?}"));
        let (_, method) = methods
            .iter()
            .find(|(_, m)| show(&m.resource_id) == resource_id.as_str())
            .unwrap_or_else(|| panic!("no method for {route:?}"));
        assert_eq!(method.http_method.as_str(), route.method().as_str());
        let function = route.function().logical_id();
        let uri = show(method.integration.uri.as_ref().expect("an integration URI"));
        assert!(
            uri.contains(&format!("${{{function}.Arn}}")),
            "{route:?} integrates {uri}"
        );
        let arn_suffix = format!(
            ":${{Api}}/*/{}/{}",
            route.method().as_str(),
            route.path_part()
        );
        let scoped: Vec<_> = permissions
            .iter()
            .filter(|(_, p)| show(&p.function_name) == format!("{function}.Arn"))
            .collect();
        assert_eq!(scoped.len(), 1, "{route:?}: one permission for {function}");
        let source = show(scoped[0].1.source_arn.as_ref().expect("a source ARN"));
        assert!(
            source.starts_with("Sub arn:${AWS::Partition}:execute-api:")
                && source.ends_with(&arn_suffix),
            "{route:?}: permission scoped to {source}"
        );
    }
    assert_eq!(
        permissions.len(),
        Route::ALL.len(),
        "only the API functions"
    );
}

#[test]
fn the_api_key_is_a_no_echo_parameter_bound_by_a_usage_plan() {
    let template = default_stack();
    let parameter = &template.parameters[&LogicalId::new("ApiKeyValue")];
    assert!(parameter.no_echo);
    assert_eq!(parameter.default, None);
    let keys = resources_of(&template, |p| match p {
        Properties::ApiGatewayApiKey(k) => Some(k),
        _ => None,
    });
    assert_eq!(keys.len(), 1);
    assert_eq!(
        keys[0].1.value.as_ref().map(show).as_deref(),
        Some("ApiKeyValue")
    );
    let plans = resources_of(&template, |p| match p {
        Properties::ApiGatewayUsagePlan(u) => Some(u),
        _ => None,
    });
    assert_eq!(plans.len(), 1);
    let stages: Vec<(String, String)> = plans[0]
        .1
        .api_stages
        .iter()
        .map(|s| (show(&s.api_id), show(&s.stage)))
        .collect();
    assert_eq!(stages, [("Api".to_owned(), "ApiStage".to_owned())]);
    let plan_keys = resources_of(&template, |p| match p {
        Properties::ApiGatewayUsagePlanKey(k) => Some(k),
        _ => None,
    });
    assert_eq!(plan_keys.len(), 1);
    assert_eq!(show(&plan_keys[0].1.key_id), keys[0].0.as_str());
    assert_eq!(show(&plan_keys[0].1.usage_plan_id), plans[0].0.as_str());
}

#[test]
fn the_usage_plan_throttles_the_key_as_the_settings_say() {
    let throttle_of = |settings: RawSettings| {
        let template = app_stack(&StackOptions::from_settings(&settings).expect("valid settings"));
        let plans = resources_of(&template, |p| match p {
            Properties::ApiGatewayUsagePlan(plan) => Some(plan),
            _ => None,
        });
        assert_eq!(plans.len(), 1);
        let throttle = plans[0].1.throttle.clone().expect("a throttle");
        (throttle.rate_limit, throttle.burst_limit)
    };
    assert_eq!(throttle_of(RawSettings::from_pairs(&[])), (100.0, 200));
    assert_eq!(
        throttle_of(RawSettings::from_pairs(&[
            ("THROTTLE_RATE_LIMIT", "25"),
            ("THROTTLE_BURST_LIMIT", "50"),
        ])),
        (25.0, 50)
    );
}

#[test]
fn the_deployment_waits_for_every_method() {
    let template = default_stack();
    let methods: BTreeSet<LogicalId> = resources_of(&template, |p| match p {
        Properties::ApiGatewayMethod(m) => Some(m),
        _ => None,
    })
    .into_iter()
    .map(|(id, _)| id.clone())
    .collect();
    let deployments: Vec<_> = template
        .resources
        .iter()
        .filter(|(_, r)| matches!(r.properties, Properties::ApiGatewayDeployment(_)))
        .collect();
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].1.depends_on, methods);
}

#[test]
fn the_stage_logs_each_request_as_one_json_line_naming_the_key_by_its_id() {
    let template = default_stack();
    let stages = resources_of(&template, |p| match p {
        Properties::ApiGatewayStage(s) => Some(s),
        _ => None,
    });
    assert_eq!(stages.len(), 1);
    let (stage_id, stage) = stages[0];
    let setting = stage.access_log_setting.as_ref().expect("access logging");
    assert_eq!(show(&setting.destination_arn), "ApiAccessLogGroup.Arn");
    assert!(!setting.format.contains('\n'), "{}", setting.format);
    let line: BTreeMap<String, String> =
        serde_json::from_str(&setting.format).expect("the format is a JSON object of strings");
    let fields: Vec<&str> = line.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        [
            "apiKeyId",
            "httpMethod",
            "integrationLatency",
            "ip",
            "protocol",
            "requestId",
            "requestTime",
            "resourcePath",
            "responseLength",
            "status"
        ]
    );
    assert_eq!(line["apiKeyId"], "$context.identity.apiKeyId");
    // The key's id, never the key.
    assert!(
        line.values().all(|v| v != "$context.identity.apiKey"),
        "{line:?}"
    );
    assert!(!setting.format.contains("apiKey\""), "{}", setting.format);
    assert!(
        !setting.format.contains("$context.identity.apiKey\""),
        "{}",
        setting.format
    );

    // The log group: kept as long as the functions' logs, gone with the stack.
    let group = &template.resources[&LogicalId::new("ApiAccessLogGroup")];
    let Properties::LogsLogGroup(definition) = &group.properties else {
        panic!("ApiAccessLogGroup is not a log group");
    };
    assert_eq!(definition.retention_in_days, Some(LOG_RETENTION));
    assert_eq!(group.deletion_policy, Some(Policy::Delete));

    // API Gateway writes it with the account's CloudWatch role, which the
    // deployer sets (the app stack does not: its deletion would leave the
    // setting naming a deleted role).
    assert!(
        template.resources[stage_id].depends_on.is_empty(),
        "the stage waits for nothing in the stack"
    );
    assert!(
        !template
            .resources
            .values()
            .any(|r| r.type_name() == "AWS::ApiGateway::Account"),
        "no stack sets the account's CloudWatch role"
    );
}

/// The role the account's API Gateway CloudWatch setting may name lives in
/// the data stack, which destroy keeps: API Gateway may assume it, with
/// AWS's managed policy for pushing logs and nothing else.
#[test]
fn the_logging_role_lives_in_the_data_stack() {
    let data = data_stack();
    assert!(
        !data
            .resources
            .values()
            .any(|r| r.type_name() == "AWS::ApiGateway::Account")
    );
    let Properties::IamRole(role) =
        &data.resources[&LogicalId::new(deployer::stack::LOGGING_ROLE_ID)].properties
    else {
        panic!("no logging role in the data stack");
    };
    let trusted: Vec<&str> = role
        .assume_role_policy_document
        .statement
        .iter()
        .flat_map(|s| s.principal.iter().flat_map(|p| p.service.iter()))
        .map(String::as_str)
        .collect();
    assert_eq!(trusted, ["apigateway.amazonaws.com"]);
    let managed: Vec<String> = role.managed_policy_arns.iter().map(show).collect();
    assert_eq!(
        managed,
        [
            "Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
        ]
    );
    assert!(role.policies.is_empty(), "nothing but the managed policy");
    assert_eq!(
        show(&data.outputs[&LogicalId::new(deployer::stack::LOGGING_ROLE_OUTPUT)].value),
        format!("{}.Arn", deployer::stack::LOGGING_ROLE_ID)
    );
}
