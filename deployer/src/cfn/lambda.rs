//! `AWS::Lambda::Function`, `Permission` and `EventSourceMapping`.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::Expr;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_name: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub runtime: Runtime,
    pub handler: String,
    /// CloudFormation takes a list, but of exactly one architecture.
    #[serde(rename = "Architectures", serialize_with = "one_element_list")]
    pub architecture: Architecture,
    pub code: Code,
    /// The execution role's ARN.
    pub role: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u32>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing_config: Option<TracingConfig>,
}

fn one_element_list<S: Serializer, T: Serialize>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    [value].serialize(serializer)
}

/// Runtimes for native binaries named `bootstrap` (the only kind this
/// project deploys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Runtime {
    #[serde(rename = "provided.al2023")]
    ProvidedAl2023,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Architecture {
    #[default]
    #[serde(rename = "arm64")]
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Architecture {
    /// The name Lambda uses (what serialization writes).
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }
}

/// The deployment package, from S3.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Code {
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Expr,
    #[serde(rename = "S3Key")]
    pub s3_key: Expr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    pub variables: BTreeMap<String, Expr>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    pub mode: TracingMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TracingMode {
    Active,
    PassThrough,
}

/// A resource-based policy statement on a function: who may invoke it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    pub action: PermissionAction,
    pub function_name: Expr,
    /// A service principal, e.g. `apigateway.amazonaws.com`.
    pub principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<Expr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PermissionAction {
    #[serde(rename = "lambda:InvokeFunction")]
    InvokeFunction,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSourceMapping {
    pub event_source_arn: Expr,
    pub function_name: Expr,
    pub starting_position: StartingPosition,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bisect_batch_on_function_error: Option<bool>,
    /// -1 (the default for streams) retries until the record expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<i32>,
    /// -1 (the default for streams) means no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_record_age_in_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub function_response_types: Vec<FunctionResponseType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FunctionResponseType {
    /// The handler answers which records failed, not all-or-nothing.
    ReportBatchItemFailures,
}
