//! `AWS::Lambda::Function`, `Permission`, `EventSourceMapping` and
//! `EventInvokeConfig`.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::Expr;

/// Lambda's limit on a function name's length ("CreateFunction",
/// <https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html>:
/// a name given alone, not as an ARN, is at most 64 characters).
pub const FUNCTION_NAME_MAX_LEN: usize = 64;

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
    /// Concurrent executions set aside for this function, which are also
    /// the most it may run at once. Absent: none reserved, no cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrent_executions: Option<u32>,
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
    /// Where Lambda sends a record of each batch it discards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_config: Option<DestinationConfig>,
}

/// Where Lambda reports what it gave up on: discarded stream batches (an
/// event source mapping) or failed asynchronous invocations (an
/// [`EventInvokeConfig`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    pub on_failure: OnFailure,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OnFailure {
    /// The ARN of the destination (here, a standard SQS queue).
    pub destination: Expr,
}

/// How Lambda handles a function's asynchronous invocations: retries,
/// how long an event may wait, and where failures go.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfig {
    pub function_name: Expr,
    pub qualifier: Qualifier,
    /// Retries after a function error: 0 to 2 (Lambda's default is 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<AsyncRetries>,
    /// How long an event may wait in Lambda's queue: 60 to 21,600 seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_config: Option<DestinationConfig>,
}

/// The version or alias an [`EventInvokeConfig`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Qualifier {
    /// The unpublished version, which is what this project invokes.
    #[serde(rename = "$LATEST")]
    Latest,
}

/// The retries Lambda allows for an asynchronous invocation (0 to 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncRetries {
    Zero,
    One,
    Two,
}

impl AsyncRetries {
    pub fn count(self) -> u32 {
        match self {
            AsyncRetries::Zero => 0,
            AsyncRetries::One => 1,
            AsyncRetries::Two => 2,
        }
    }
}

impl Serialize for AsyncRetries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.count())
    }
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
