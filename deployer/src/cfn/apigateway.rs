//! `AWS::ApiGateway::*`: a REST API with Lambda proxy integrations, its
//! deployment and stage, and API-key access through a usage plan.

use serde::Serialize;

use super::Expr;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestApi {
    pub name: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub endpoint_configuration: EndpointConfiguration,
    /// Where API keys are read from (default `HEADER`: `x-api-key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_source_type: Option<ApiKeySourceType>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfiguration {
    pub types: Vec<EndpointType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndpointType {
    Edge,
    Regional,
    Private,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiKeySourceType {
    Header,
    Authorizer,
}

/// A path segment of the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    pub rest_api_id: Expr,
    pub parent_id: Expr,
    pub path_part: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Method {
    pub rest_api_id: Expr,
    pub resource_id: Expr,
    pub http_method: HttpMethod,
    pub authorization_type: AuthorizationType,
    pub api_key_required: bool,
    pub integration: Integration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl HttpMethod {
    /// The method as HTTP (and execute-api ARNs) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Any => "ANY",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationType {
    None,
    AwsIam,
    Custom,
    CognitoUserPools,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Integration {
    #[serde(rename = "Type")]
    pub kind: IntegrationType,
    /// The method API Gateway uses towards the backend (always POST for
    /// Lambda, whatever the client's method).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_http_method: Option<HttpMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<Expr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntegrationType {
    Aws,
    AwsProxy,
    Http,
    HttpProxy,
    Mock,
}

/// A snapshot of the API's methods; CloudFormation creates one only when
/// the resource is new, so its logical ID must change with the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Deployment {
    pub rest_api_id: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stage {
    pub rest_api_id: Expr,
    pub deployment_id: Expr,
    pub stage_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// X-Ray active tracing.
    pub tracing_enabled: bool,
    /// One log line per request, written by API Gateway itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log_setting: Option<AccessLogSetting>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessLogSetting {
    /// The ARN of the CloudWatch Logs group the lines go to.
    pub destination_arn: Expr,
    /// The line, with `$context` variables.
    pub format: String,
}

/// The region's API Gateway settings for the whole account: the role API
/// Gateway uses to write logs to CloudWatch Logs. There is one per
/// account and region; the last stack to set it wins, and deleting the
/// resource does not reset it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    pub cloud_watch_role_arn: Expr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    /// The key itself; from a `NoEcho` parameter, never a literal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsagePlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_plan_name: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub api_stages: Vec<ApiStage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSettings>,
}

/// A usage plan's (or a stage's) request limits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleSettings {
    pub burst_limit: u32,
    /// Requests per second (CloudFormation takes a number).
    pub rate_limit: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiStage {
    pub api_id: Expr,
    /// The stage's name (`Ref` of the stage, which also orders creation).
    pub stage: Expr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsagePlanKey {
    pub key_id: Expr,
    pub key_type: UsagePlanKeyType,
    pub usage_plan_id: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UsagePlanKeyType {
    ApiKey,
}
