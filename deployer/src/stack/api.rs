//! The REST API: one resource and method per route, each a Lambda proxy
//! integration behind the API key, the permissions that let API Gateway
//! invoke the functions, a deployment named after a fingerprint of the
//! routes so that changing them deploys them, and the stage's access log.

use std::collections::BTreeMap;

use service::api::Route;
use sha2::{Digest, Sha256};

use super::parameters::Parameters;
use super::{Function, StackOptions};
use crate::cfn::apigateway::{self, HttpMethod};
use crate::cfn::lambda;
use crate::cfn::logs;
use crate::cfn::{Expr, LogicalId, Pseudo, Resource, ResourceId, Template};
use crate::stack::{FunctionResources, LOG_RETENTION};

/// The API's only stage; part of the URL.
pub const STAGE_NAME: &str = "prod";
/// The REST API's logical ID.
pub const API_ID: &str = "Api";

/// What the [`API_URL_OUTPUT`](super::API_URL_OUTPUT) output resolves to, for the REST API
/// `rest_api_id` in `region`, in whichever partition that is.
pub fn api_url(rest_api_id: &str, region: &str) -> String {
    format!(
        "https://{rest_api_id}.execute-api.{region}.{}/{STAGE_NAME}",
        crate::partition::dns_suffix(region)
    )
}

/// The fields of an access log line and the `$context` variables they hold
/// (API Gateway's "Variables for access logging"). The caller's key is
/// named by its id, never its value: `$context.identity.apiKey` is the key
/// itself and must not reach a log.
const ACCESS_LOG_FIELDS: [(&str, &str); 10] = [
    ("requestId", "$context.requestId"),
    ("ip", "$context.identity.sourceIp"),
    ("requestTime", "$context.requestTime"),
    ("httpMethod", "$context.httpMethod"),
    ("resourcePath", "$context.resourcePath"),
    ("status", "$context.status"),
    ("protocol", "$context.protocol"),
    ("responseLength", "$context.responseLength"),
    ("integrationLatency", "$context.integrationLatency"),
    ("apiKeyId", "$context.identity.apiKeyId"),
];

/// The stage's access log line: one JSON object per request, on one line.
fn access_log_format() -> String {
    let fields: serde_json::Map<String, serde_json::Value> = ACCESS_LOG_FIELDS
        .iter()
        .map(|(name, variable)| ((*name).to_owned(), (*variable).into()))
        .collect();
    // A map of strings always serializes.
    serde_json::to_string(&fields).expect("a JSON object of strings")
}

/// Lambda proxy integrations always call the function with POST.
const LAMBDA_INTEGRATION_METHOD: HttpMethod = HttpMethod::Post;

/// One HTTP route of the API, as the template needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiRoute {
    pub path_part: String,
    pub method: HttpMethod,
    pub function: Function,
}

impl ApiRoute {
    /// The routes `service::api::Route::ALL` declares.
    pub(super) fn all() -> Vec<ApiRoute> {
        Route::ALL
            .into_iter()
            .map(|route| ApiRoute {
                path_part: route.path_part().to_owned(),
                method: http_method(route),
                function: route.function(),
            })
            .collect()
    }

    /// `AddEvent` for `addEvent`: the path, as a logical ID stem.
    fn stem(&self) -> String {
        let mut stem: String = self
            .path_part
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        if let Some(first) = stem.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        stem
    }

    fn resource_id(&self) -> LogicalId {
        LogicalId::new(format!("{}Resource", self.stem()))
    }

    fn method_id(&self) -> LogicalId {
        LogicalId::new(format!(
            "{}{}Method",
            self.stem(),
            pascal(self.method.as_str())
        ))
    }

    fn permission_id(&self) -> LogicalId {
        LogicalId::new(format!(
            "{}{}Permission",
            self.stem(),
            pascal(self.method.as_str())
        ))
    }
}

/// `Post` for `POST`.
fn pascal(upper: &str) -> String {
    let lower = upper.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// The route's method in the template's vocabulary. Route methods are
/// code, and API Gateway has no other methods: anything else is a bug in
/// `Route` that the tests of this crate catch.
fn http_method(route: Route) -> HttpMethod {
    match route.method().as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "HEAD" => HttpMethod::Head,
        "OPTIONS" => HttpMethod::Options,
        other => panic!("route {route:?} uses {other}, which API Gateway cannot route"),
    }
}

/// `${Id}` in a `Fn::Sub` template.
fn sub_ref(id: &LogicalId) -> String {
    format!("${{{id}}}")
}

pub(super) fn add_api(
    template: &mut Template,
    options: &StackOptions,
    routes: &[ApiRoute],
    parameters: &Parameters,
) {
    let api = template.resource(
        API_ID,
        apigateway::RestApi {
            name: Pseudo::StackName.reference(),
            description: Some("The event-sourcing service's HTTP API".to_owned()),
            endpoint_configuration: apigateway::EndpointConfiguration {
                types: vec![apigateway::EndpointType::Regional],
            },
            api_key_source_type: Some(apigateway::ApiKeySourceType::Header),
        },
    );

    // The resources and methods, kept aside to fingerprint the deployment.
    let mut api_shape: BTreeMap<LogicalId, Resource> = BTreeMap::new();
    for route in routes {
        let resource_id = route.resource_id();
        api_shape.insert(
            resource_id.clone(),
            apigateway::Resource {
                rest_api_id: api.reference(),
                parent_id: api.root_resource_id(),
                path_part: route.path_part.clone(),
            }
            .into(),
        );
        let function = route.function.logical_id();
        api_shape.insert(
            route.method_id(),
            apigateway::Method {
                rest_api_id: api.reference(),
                resource_id: resource_id.reference(),
                http_method: route.method,
                // No IAM or Cognito authorizer: API Gateway checks the key
                // (the usage plan binds it), as the README's HTTP API says.
                authorization_type: apigateway::AuthorizationType::None,
                api_key_required: true,
                integration: apigateway::Integration {
                    kind: apigateway::IntegrationType::AwsProxy,
                    integration_http_method: Some(LAMBDA_INTEGRATION_METHOD),
                    uri: Some(Expr::sub(format!(
                        "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/{}/invocations",
                        function.sub_arn()
                    ))),
                },
            }
            .into(),
        );
        template.resource(
            route.permission_id().as_str(),
            lambda::Permission {
                action: lambda::PermissionAction::InvokeFunction,
                function_name: function.arn(),
                principal: "apigateway.amazonaws.com".to_owned(),
                // This method of this API only, from any stage.
                source_arn: Some(Expr::sub(format!(
                    "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:{}/*/{}/{}",
                    sub_ref(&api),
                    route.method.as_str(),
                    route.path_part
                ))),
            },
        );
    }

    let deployment_id = format!("ApiDeployment{}", fingerprint(&api_shape));
    let methods: Vec<LogicalId> = routes.iter().map(ApiRoute::method_id).collect();
    let route_list: Vec<String> = routes
        .iter()
        .map(|route| format!("{} /{}", route.method.as_str(), route.path_part))
        .collect();
    for (id, resource) in api_shape {
        template.resource(id.as_str(), resource);
    }
    let deployment = template.resource(
        &deployment_id,
        // A deployment snapshots the methods that exist when it is
        // created, so it must come after all of them.
        Resource::from(apigateway::Deployment {
            rest_api_id: api.reference(),
            description: Some(format!("Routes: {}", route_list.join(", "))),
        })
        .depends_on(methods),
    );
    let access_logs = ResourceId::<logs::LogGroup>::new("ApiAccessLogGroup");
    template.resource(
        access_logs.as_str(),
        // Kept as long as the functions' logs, and gone with the stack.
        Resource::from(logs::LogGroup {
            log_group_name: Some(Expr::sub(format!(
                "/aws/apigateway/${{{}}}/access",
                Pseudo::StackName.name()
            ))),
            retention_in_days: Some(LOG_RETENTION),
        })
        .deleted(),
    );
    let stage = template.resource(
        "ApiStage",
        // A stage that logs needs the account's CloudWatch role in place:
        // deploy sets it before this stack changes (`deploy::logging_role`).
        Resource::from(apigateway::Stage {
            rest_api_id: api.reference(),
            deployment_id: deployment.reference(),
            stage_name: STAGE_NAME.to_owned(),
            description: None,
            tracing_enabled: options.tracing,
            access_log_setting: Some(apigateway::AccessLogSetting {
                destination_arn: access_logs.arn(),
                format: access_log_format(),
            }),
        }),
    );
    let key = template.resource(
        "ApiKey",
        apigateway::ApiKey {
            name: Some(Pseudo::StackName.reference()),
            description: Some("The key clients send in x-api-key".to_owned()),
            enabled: true,
            value: Some(parameters.api_key.reference()),
        },
    );
    let plan = template.resource(
        "ApiUsagePlan",
        apigateway::UsagePlan {
            usage_plan_name: Some(Pseudo::StackName.reference()),
            description: Some("Binds the API key to the stage, with its throttle".to_owned()),
            api_stages: vec![apigateway::ApiStage {
                api_id: api.reference(),
                stage: stage.reference(),
            }],
            throttle: Some(apigateway::ThrottleSettings {
                burst_limit: options.throttle.burst_limit,
                rate_limit: f64::from(options.throttle.rate_limit),
            }),
        },
    );
    template.resource(
        "ApiUsagePlanKey",
        apigateway::UsagePlanKey {
            key_id: key.reference(),
            key_type: apigateway::UsagePlanKeyType::ApiKey,
            usage_plan_id: plan.reference(),
        },
    );
}

/// A short hash of the API's resources and methods as serialized: it
/// changes exactly when something a deployment snapshots changes.
fn fingerprint(api_shape: &BTreeMap<LogicalId, Resource>) -> String {
    // Serializing these types cannot fail: every map key is a string.
    let bytes = serde_json::to_vec(api_shape).expect("template resources serialize to JSON");
    Sha256::digest(&bytes)
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::lambda::Architecture;
    use crate::stack::build;

    fn deployment_ids(template: &Template) -> Vec<String> {
        template
            .resources
            .iter()
            .filter(|(_, resource)| resource.type_name() == "AWS::ApiGateway::Deployment")
            .map(|(id, _)| id.to_string())
            .collect()
    }

    fn deployment_id(options: &StackOptions, routes: &[ApiRoute]) -> String {
        let ids = deployment_ids(&build(options, routes));
        assert_eq!(ids.len(), 1, "{ids:?}");
        ids[0].clone()
    }

    #[test]
    fn the_deployment_changes_with_the_routes_and_only_with_them() {
        let routes = ApiRoute::all();
        let base = deployment_id(&StackOptions::default(), &routes);
        assert!(base.starts_with("ApiDeployment"), "{base}");
        assert_eq!(deployment_id(&StackOptions::default(), &routes), base);

        // Not part of the API: same deployment.
        let other = StackOptions {
            stack_name: "other".to_owned(),
            tracing: true,
            architecture: Architecture::X86_64,
            throttle: crate::settings::Throttle {
                rate_limit: 1,
                burst_limit: 1,
            },
            replay_concurrency: crate::settings::ReplayConcurrency::Unreserved,
        };
        assert_eq!(deployment_id(&other, &routes), base);

        let mut renamed = routes.clone();
        renamed[0].path_part = "appendEvent".to_owned();
        let mut method = routes.clone();
        method[1].method = HttpMethod::Post;
        let mut target = routes.clone();
        target[2].function = Function::Replay;
        let fewer = routes[..2].to_vec();
        let mut changed = vec![base];
        for variant in [renamed, method, target, fewer] {
            let id = deployment_id(&StackOptions::default(), &variant);
            assert!(!changed.contains(&id), "{id} did not change");
            changed.push(id);
        }
    }

    #[test]
    fn route_methods_map_to_api_gateway_methods() {
        let methods: Vec<&str> = ApiRoute::all().iter().map(|r| r.method.as_str()).collect();
        let expected: Vec<String> = Route::ALL
            .iter()
            .map(|r| r.method().as_str().to_owned())
            .collect();
        assert_eq!(methods, expected);
    }

    /// A logical ID is a resource's identity: the routes' ids come from
    /// their paths and methods, and a new route adds its own without
    /// changing these.
    #[test]
    fn logical_id_stems_come_from_paths() {
        let ids: Vec<String> = ApiRoute::all()
            .iter()
            .map(|r| r.method_id().to_string())
            .collect();
        for kept in [
            "AddEventPostMethod",
            "ListTestItemsGetMethod",
            "TriggerReplayPostMethod",
            "ReplayStatusGetMethod",
        ] {
            assert!(ids.iter().any(|id| id == kept), "{kept} is not in {ids:?}");
        }
        assert_eq!(ids.len(), Route::ALL.len());
    }
}
