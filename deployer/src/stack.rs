//! The app's stack: the three tables, the five functions with one
//! least-privilege role and one log group each, the projector's stream
//! mapping, and the REST API behind an API key.
//!
//! The template names things after `AWS::StackName` and takes everything
//! deploy-specific (code location, API key, test stream) as parameters, so
//! one synthesized template deploys under any stack name.

use std::collections::BTreeMap;

use service::api::{DEFAULT_TEST_STREAM_ID, Route};
use service::dynamo::schema::{ENTRY, EVENT_ID, ITEM_ID, STREAM_ID};
use service::dynamo::{EVENTS_TABLE_ENV, READ_MODEL_TABLE_ENV, STREAM_INDEX_TABLE_ENV};
use service::settings::{DEFAULT_STACK_NAME, RawSettings, SettingError};
use sha2::{Digest, Sha256};

use crate::cfn::apigateway::{self, HttpMethod};
use crate::cfn::dynamodb::{self, AttributeType, BillingMode, KeyType, StreamViewType};
use crate::cfn::iam::{self, PolicyDocument, Statement};
use crate::cfn::lambda::{self, Architecture};
use crate::cfn::logs::{self, RetentionDays};
use crate::cfn::s3;
use crate::cfn::{Expr, LogicalId, Output, Parameter, Pseudo, Resource, ResourceId, Template};

/// The API's only stage; part of the URL.
pub const STAGE_NAME: &str = "prod";
/// How long the functions' logs are kept.
pub const LOG_RETENTION: RetentionDays = RetentionDays::Days30;
/// Lambda's limit on a function name's length.
pub const FUNCTION_NAME_MAX_LEN: usize = 64;
/// The longest stack name whose function names (`<stack>-<function>`) fit
/// Lambda's limit.
pub const STACK_NAME_MAX_LEN: usize = FUNCTION_NAME_MAX_LEN - 1 - Function::longest_name_len();

/// The stack's own S3 bucket for the functions' zips (and templates too
/// large to send inline). The deployer creates it in a first phase, alone,
/// before anything that needs code exists.
pub const ARTIFACT_BUCKET_ID: &str = "ArtifactBucket";
/// The output holding the artifact bucket's name.
pub const ARTIFACT_BUCKET_OUTPUT: &str = "ArtifactBucketName";
/// The output holding the API's base URL.
pub const API_URL_OUTPUT: &str = "ApiUrl";
/// The REST API's logical ID.
pub const API_ID: &str = "Api";

/// What the [`API_URL_OUTPUT`] output resolves to, for the REST API
/// `rest_api_id` in `region` (in the `aws` partition).
pub fn api_url(rest_api_id: &str, region: &str) -> String {
    format!("https://{rest_api_id}.execute-api.{region}.amazonaws.com/{STAGE_NAME}")
}
/// Parameter (`NoEcho`): the API key's value; never written in a template.
pub const API_KEY_PARAMETER: &str = "ApiKeyValue";
/// Parameter: the stream `GET /listTestItems` shows by default.
pub const TEST_STREAM_ID_PARAMETER: &str = "TestStreamId";

/// Read by `service::settings::RawSettings::test_stream_id`.
const TEST_STREAM_ID_ENV: &str = "TEST_STREAM_ID";
/// Read by `service::wiring::api_from_env`: present only where replays are
/// dispatched.
const REPLAY_FUNCTION_NAME_ENV: &str = "REPLAY_FUNCTION_NAME";
/// Lambda proxy integrations always call the function with POST.
const LAMBDA_INTEGRATION_METHOD: HttpMethod = HttpMethod::Post;

/// The event source mapping's batch size (records per invocation).
const PROJECTOR_BATCH_SIZE: u32 = 100;
/// Retries of a failing batch before its records are discarded, so one
/// poisoned record cannot block its shard; bisecting isolates it first.
const PROJECTOR_MAX_RETRIES: i32 = 10;
/// The stream keeps records for 24 hours: this bound only matters when
/// the retries have not discarded a record first.
const PROJECTOR_MAX_RECORD_AGE_SECONDS: i32 = 86_400;

/// What the template depends on besides the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackOptions {
    /// The stack name deploy uses. Not written into the template (which
    /// uses `AWS::StackName`); validated here so a bad name stops synth too.
    pub stack_name: String,
    /// X-Ray active tracing for the functions and the API stage.
    pub tracing: bool,
    pub architecture: Architecture,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            stack_name: DEFAULT_STACK_NAME.to_owned(),
            tracing: false,
            architecture: Architecture::Arm64,
        }
    }
}

impl StackOptions {
    /// `STACK_NAME` and `TRACING`; the architecture stays arm64. Never
    /// reads `API_KEY`: the key is a deploy-time parameter.
    pub fn from_settings(settings: &RawSettings) -> Result<Self, SettingError> {
        let stack_name = settings.stack_name()?;
        if stack_name.len() > STACK_NAME_MAX_LEN {
            return Err(SettingError {
                name: "STACK_NAME",
                problem: format!(
                    "is {} characters long; at most {STACK_NAME_MAX_LEN} fit, because function names are <STACK_NAME>-<function> and Lambda allows {FUNCTION_NAME_MAX_LEN}",
                    stack_name.len()
                ),
            });
        }
        Ok(StackOptions {
            stack_name,
            tracing: settings.tracing()?,
            architecture: Architecture::Arm64,
        })
    }
}

/// The Lambda functions of the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    AddEvent,
    ListItems,
    TriggerReplay,
    Projector,
    Replay,
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::AddEvent,
        Function::ListItems,
        Function::TriggerReplay,
        Function::Projector,
        Function::Replay,
    ];

    /// The function's crate, and the suffix of its deployed name.
    pub const fn name(self) -> &'static str {
        match self {
            Function::AddEvent => "add-event",
            Function::ListItems => "list-items",
            Function::TriggerReplay => "trigger-replay",
            Function::Projector => "projector",
            Function::Replay => "replay",
        }
    }

    /// The stem of the function's logical IDs.
    fn stem(self) -> &'static str {
        match self {
            Function::AddEvent => "AddEvent",
            Function::ListItems => "ListItems",
            Function::TriggerReplay => "TriggerReplay",
            Function::Projector => "Projector",
            Function::Replay => "Replay",
        }
    }

    const fn longest_name_len() -> usize {
        let mut longest = 0;
        let mut i = 0;
        while i < Function::ALL.len() {
            let len = Function::ALL[i].name().len();
            if len > longest {
                longest = len;
            }
            i += 1;
        }
        longest
    }

    pub fn logical_id(self) -> ResourceId<lambda::Function> {
        ResourceId::new(format!("{}Function", self.stem()))
    }

    pub fn role_id(self) -> ResourceId<iam::Role> {
        ResourceId::new(format!("{}Role", self.stem()))
    }

    pub fn log_group_id(self) -> ResourceId<logs::LogGroup> {
        ResourceId::new(format!("{}LogGroup", self.stem()))
    }

    /// The parameter holding the S3 key of the function's zip.
    pub fn code_key_parameter(self) -> LogicalId {
        LogicalId::new(format!("{}CodeKey", self.stem()))
    }

    /// The function that serves `route`.
    pub fn for_route(route: Route) -> Function {
        match route {
            Route::AddEvent => Function::AddEvent,
            Route::ListItems => Function::ListItems,
            Route::TriggerReplay => Function::TriggerReplay,
        }
    }

    /// The deployed name, `<stack name>-<function>`: fixed so that the log
    /// group (which the role's policy names) can exist before the function.
    fn deployed_name(self) -> Expr {
        Expr::sub(format!("${{{}}}-{}", Pseudo::StackName.name(), self.name()))
    }

    fn memory_mb(self) -> u32 {
        match self {
            // CPU scales with memory; replays fold whole streams.
            Function::Replay => 512,
            _ => 256,
        }
    }

    fn timeout_seconds(self) -> u32 {
        match self {
            // API Gateway gives up after 29 s anyway.
            Function::AddEvent | Function::ListItems | Function::TriggerReplay => 10,
            Function::Projector => 60,
            // Replays are asynchronous and read a whole stream.
            Function::Replay => 900,
        }
    }

    /// What the function may do, on what: the one place the roles come
    /// from. Each list is exactly the calls its code makes
    /// (`service::dynamo`, `service::replay`):
    /// - add-event: TransactGetItems (Get on the stream index) and
    ///   TransactWriteItems (conditional Puts on the events table and the
    ///   stream index); no ConditionCheck items, so no ConditionCheckItem.
    /// - list-items: Query on the read model.
    /// - trigger-replay: an asynchronous Invoke of the replay function.
    /// - projector: conditional PutItem on the read model; Lambda reads the
    ///   events table's stream with the function's role.
    /// - replay: Query on the events table; Query, PutItem and (to clear)
    ///   BatchWriteItem on the read model.
    pub fn grants(self, tracing: bool) -> Vec<Grant> {
        let mut grants = vec![Grant {
            target: Target::OwnLogGroup,
            actions: &["logs:CreateLogStream", "logs:PutLogEvents"],
        }];
        grants.extend_from_slice(match self {
            Function::AddEvent => &[
                Grant {
                    target: Target::EventsTable,
                    actions: &["dynamodb:PutItem"],
                },
                Grant {
                    target: Target::StreamIndexTable,
                    actions: &["dynamodb:GetItem", "dynamodb:PutItem"],
                },
            ],
            Function::ListItems => &[Grant {
                target: Target::ReadModelTable,
                actions: &["dynamodb:Query"],
            }],
            Function::TriggerReplay => &[Grant {
                target: Target::ReplayFunction,
                actions: &["lambda:InvokeFunction"],
            }],
            Function::Projector => &[
                Grant {
                    target: Target::ReadModelTable,
                    actions: &["dynamodb:PutItem"],
                },
                Grant {
                    target: Target::EventsStream,
                    actions: &[
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                    ],
                },
                // ListStreams has no resource-level permissions: it only
                // lists stream ARNs, and "*" is the only resource it takes.
                Grant {
                    target: Target::AnyResource,
                    actions: &["dynamodb:ListStreams"],
                },
            ],
            Function::Replay => &[
                Grant {
                    target: Target::EventsTable,
                    actions: &["dynamodb:Query"],
                },
                Grant {
                    target: Target::ReadModelTable,
                    actions: &[
                        "dynamodb:BatchWriteItem",
                        "dynamodb:PutItem",
                        "dynamodb:Query",
                    ],
                },
            ],
        });
        if tracing {
            // X-Ray's write actions take no resource but "*".
            grants.push(Grant {
                target: Target::AnyResource,
                actions: &["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            });
        }
        grants
    }
}

/// Some actions on one resource, for one function's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub target: Target,
    pub actions: &'static [&'static str],
}

/// The resource a grant is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The function's own log group (and so its log streams).
    OwnLogGroup,
    EventsTable,
    /// The events table's DynamoDB stream.
    EventsStream,
    StreamIndexTable,
    ReadModelTable,
    ReplayFunction,
    /// `*`, for actions without resource-level permissions.
    AnyResource,
}

/// The three tables: logical IDs, the environment variable that names
/// each for the functions, and their keys as `service::dynamo` creates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Events,
    StreamIndex,
    ReadModel,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Events, Table::StreamIndex, Table::ReadModel];

    pub fn logical_id(self) -> ResourceId<dynamodb::Table> {
        ResourceId::new(match self {
            Table::Events => "EventsTable",
            Table::StreamIndex => "StreamIndexTable",
            Table::ReadModel => "ReadModelTable",
        })
    }

    pub fn env_var(self) -> &'static str {
        match self {
            Table::Events => EVENTS_TABLE_ENV,
            Table::StreamIndex => STREAM_INDEX_TABLE_ENV,
            Table::ReadModel => READ_MODEL_TABLE_ENV,
        }
    }

    /// (hash key, S) and (range key, its type): `service::dynamo::ensure_tables`'s layout.
    fn range_key(self) -> (&'static str, AttributeType) {
        match self {
            Table::Events => (EVENT_ID, AttributeType::N),
            Table::StreamIndex => (ENTRY, AttributeType::S),
            Table::ReadModel => (ITEM_ID, AttributeType::S),
        }
    }

    fn output_id(self) -> &'static str {
        match self {
            Table::Events => "EventsTableName",
            Table::StreamIndex => "StreamIndexTableName",
            Table::ReadModel => "ReadModelTableName",
        }
    }

    /// Whether the table outlives the stack (it holds data nothing can
    /// rebuild).
    pub fn is_retained(self) -> bool {
        self.definition().deletion_policy == Some(crate::cfn::Policy::Retain)
    }

    fn definition(self) -> Resource {
        let (range, range_type) = self.range_key();
        let table = dynamodb::Table {
            table_name: None,
            attribute_definitions: vec![
                dynamodb::AttributeDefinition {
                    attribute_name: STREAM_ID.to_owned(),
                    attribute_type: AttributeType::S,
                },
                dynamodb::AttributeDefinition {
                    attribute_name: range.to_owned(),
                    attribute_type: range_type,
                },
            ],
            key_schema: vec![
                dynamodb::KeySchemaElement {
                    attribute_name: STREAM_ID.to_owned(),
                    key_type: KeyType::Hash,
                },
                dynamodb::KeySchemaElement {
                    attribute_name: range.to_owned(),
                    key_type: KeyType::Range,
                },
            ],
            billing_mode: BillingMode::PayPerRequest,
            stream_specification: (self == Table::Events).then_some(
                dynamodb::StreamSpecification {
                    stream_view_type: StreamViewType::NewImage,
                },
            ),
        };
        match self {
            // The log is the only copy of the data: removing the stack or
            // replacing the table must never delete it.
            Table::Events => Resource::from(table).retained(),
            // The log's version index: nothing rebuilds it, and a kept log
            // without it could not be appended to (every eventId would
            // look taken), so it is kept with the log.
            Table::StreamIndex => Resource::from(table).retained(),
            // A replay rebuilds it from the log.
            Table::ReadModel => Resource::from(table).deleted(),
        }
    }
}

/// One HTTP route of the API, as the template needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiRoute {
    pub path_part: String,
    pub method: HttpMethod,
    pub function: Function,
}

impl ApiRoute {
    /// The routes `service::api::Route::ALL` declares.
    fn all() -> Vec<ApiRoute> {
        Route::ALL
            .into_iter()
            .map(|route| ApiRoute {
                path_part: route.path_part().to_owned(),
                method: http_method(route),
                function: Function::for_route(route),
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

/// The app's template.
pub fn app_stack(options: &StackOptions) -> Template {
    build(options, &ApiRoute::all())
}

/// The first phase of a new stack: the artifact bucket alone (with the
/// same definition as in [`app_stack`], so the second phase leaves it as
/// it is), so code can be uploaded before the functions are created.
pub fn bootstrap_stack() -> Template {
    let mut template = Template::new(
        "Event-sourcing service, first phase: the artifact bucket (generated by cargo xtask deploy; do not edit)",
    );
    add_artifact_bucket(&mut template);
    template
}

fn add_artifact_bucket(template: &mut Template) -> LogicalId {
    let bucket = template.resource(
        ARTIFACT_BUCKET_ID,
        s3::Bucket {
            bucket_encryption: Some(s3::BucketEncryption {
                server_side_encryption_configuration: vec![s3::ServerSideEncryptionRule {
                    server_side_encryption_by_default: s3::ServerSideEncryptionByDefault {
                        sse_algorithm: s3::SseAlgorithm::Aes256,
                    },
                }],
            }),
            public_access_block_configuration: Some(
                s3::PublicAccessBlockConfiguration::all_blocked(),
            ),
            ownership_controls: Some(s3::OwnershipControls {
                rules: vec![s3::OwnershipControlsRule {
                    object_ownership: s3::ObjectOwnership::BucketOwnerEnforced,
                }],
            }),
        },
    );
    template.output(
        ARTIFACT_BUCKET_OUTPUT,
        Output::new(
            "The bucket holding the functions' packages; cargo xtask destroy empties it",
            bucket.reference(),
        ),
    );
    bucket.into()
}

pub(crate) fn build(options: &StackOptions, routes: &[ApiRoute]) -> Template {
    let mut template = Template::new(
        "Event-sourcing service: event store, projector, replay and HTTP API (generated by cargo xtask synth; do not edit)",
    );
    let code_bucket = add_artifact_bucket(&mut template);
    let parameters = add_parameters(&mut template, code_bucket);
    for table in Table::ALL {
        template.resource(table.logical_id().as_str(), table.definition());
    }
    for function in Function::ALL {
        add_function(&mut template, function, options, &parameters);
    }
    add_projector_source(&mut template);
    add_api(&mut template, options, routes, &parameters);
    add_outputs(&mut template);
    template
}

struct Parameters {
    code_bucket: LogicalId,
    api_key: LogicalId,
    test_stream_id: LogicalId,
}

fn add_parameters(template: &mut Template, code_bucket: LogicalId) -> Parameters {
    for function in Function::ALL {
        template.parameter(
            function.code_key_parameter().as_str(),
            Parameter {
                min_length: Some(1),
                // Content-addressed: a new build gets a new key, which is
                // what makes CloudFormation update the code.
                ..Parameter::string(format!(
                    "The S3 key of the {} package; a new build must use a new key",
                    function.name()
                ))
            },
        );
    }
    let api_key = template.parameter(
        API_KEY_PARAMETER,
        Parameter {
            no_echo: true,
            min_length: Some(20),
            max_length: Some(128),
            allowed_pattern: Some("^[!-~]+$".to_owned()),
            constraint_description: Some(
                "20 to 128 printable ASCII characters without spaces".to_owned(),
            ),
            ..Parameter::string("The value clients send in the x-api-key header")
        },
    );
    let test_stream_id = template.parameter(
        TEST_STREAM_ID_PARAMETER,
        Parameter {
            default: Some(DEFAULT_TEST_STREAM_ID.to_owned()),
            min_length: Some(1),
            max_length: Some(256),
            ..Parameter::string("The stream GET /listTestItems shows when no streamId is given")
        },
    );
    Parameters {
        code_bucket,
        api_key,
        test_stream_id,
    }
}

/// The resource a grant's actions apply to.
fn grant_resource(function: Function, target: Target) -> Expr {
    match target {
        Target::OwnLogGroup => function.log_group_id().arn(),
        Target::EventsTable => Table::Events.logical_id().arn(),
        Target::EventsStream => Table::Events.logical_id().stream_arn(),
        Target::StreamIndexTable => Table::StreamIndex.logical_id().arn(),
        Target::ReadModelTable => Table::ReadModel.logical_id().arn(),
        Target::ReplayFunction => Function::Replay.logical_id().arn(),
        Target::AnyResource => "*".into(),
    }
}

fn add_function(
    template: &mut Template,
    function: Function,
    options: &StackOptions,
    parameters: &Parameters,
) {
    template.resource(
        function.log_group_id().as_str(),
        // Logs expire anyway; they go with the stack.
        Resource::from(logs::LogGroup {
            log_group_name: Some(Expr::sub(format!(
                "/aws/lambda/${{{}}}-{}",
                Pseudo::StackName.name(),
                function.name()
            ))),
            retention_in_days: Some(LOG_RETENTION),
        })
        .deleted(),
    );

    let statements = function
        .grants(options.tracing)
        .into_iter()
        .map(|grant| Statement::allow(grant.actions, vec![grant_resource(function, grant.target)]))
        .collect();
    let role = template.resource(
        function.role_id().as_str(),
        iam::Role {
            description: Some(format!(
                "Execution role of the {} function",
                function.name()
            )),
            assume_role_policy_document: PolicyDocument::new(vec![
                Statement::service_may_assume_role("lambda.amazonaws.com"),
            ]),
            policies: vec![iam::InlinePolicy {
                policy_name: function.name().to_owned(),
                policy_document: PolicyDocument::new(statements),
            }],
        },
    );

    // Every function builds the DynamoDB store at start-up, which needs
    // all three names (names grant nothing; the role decides access).
    let mut variables: BTreeMap<String, Expr> = Table::ALL
        .into_iter()
        .map(|table| (table.env_var().to_owned(), table.logical_id().reference()))
        .collect();
    variables.insert("RUST_LOG".to_owned(), "info".into());
    match function {
        Function::ListItems => {
            variables.insert(
                TEST_STREAM_ID_ENV.to_owned(),
                parameters.test_stream_id.reference(),
            );
        }
        Function::TriggerReplay => {
            variables.insert(
                REPLAY_FUNCTION_NAME_ENV.to_owned(),
                Function::Replay.logical_id().reference(),
            );
        }
        Function::AddEvent | Function::Projector | Function::Replay => {}
    }

    template.resource(
        function.logical_id().as_str(),
        lambda::Function {
            function_name: Some(function.deployed_name()),
            description: Some(format!("The {} function", function.name())),
            runtime: lambda::Runtime::ProvidedAl2023,
            handler: "bootstrap".to_owned(),
            architecture: options.architecture,
            code: lambda::Code {
                s3_bucket: parameters.code_bucket.reference(),
                s3_key: function.code_key_parameter().reference(),
            },
            role: role.arn(),
            memory_size: Some(function.memory_mb()),
            timeout: Some(function.timeout_seconds()),
            environment: Some(lambda::Environment { variables }),
            tracing_config: options.tracing.then_some(lambda::TracingConfig {
                mode: lambda::TracingMode::Active,
            }),
        },
    );
}

fn add_projector_source(template: &mut Template) {
    template.resource(
        "ProjectorEventSource",
        lambda::EventSourceMapping {
            event_source_arn: Table::Events.logical_id().stream_arn(),
            function_name: Function::Projector.logical_id().reference(),
            // Everything the stream still holds: a new projector catches up.
            starting_position: lambda::StartingPosition::TrimHorizon,
            batch_size: Some(PROJECTOR_BATCH_SIZE),
            bisect_batch_on_function_error: Some(true),
            maximum_retry_attempts: Some(PROJECTOR_MAX_RETRIES),
            maximum_record_age_in_seconds: Some(PROJECTOR_MAX_RECORD_AGE_SECONDS),
            function_response_types: vec![lambda::FunctionResponseType::ReportBatchItemFailures],
        },
    );
}

fn add_api(
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
                // The API key is the access control (README, HTTP API).
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
    let stage = template.resource(
        "ApiStage",
        apigateway::Stage {
            rest_api_id: api.reference(),
            deployment_id: deployment.reference(),
            stage_name: STAGE_NAME.to_owned(),
            description: None,
            tracing_enabled: options.tracing,
        },
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
            description: Some("Binds the API key to the stage".to_owned()),
            api_stages: vec![apigateway::ApiStage {
                api_id: api.reference(),
                stage: stage.reference(),
            }],
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

fn add_outputs(template: &mut Template) {
    template.output(
        API_URL_OUTPUT,
        Output::new(
            "The API's base URL",
            Expr::sub(format!(
                "https://${{{API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{STAGE_NAME}"
            )),
        ),
    );
    for table in Table::ALL {
        template.output(
            table.output_id(),
            Output::new(
                format!("The {} table's name", table.env_var()),
                table.logical_id().reference(),
            ),
        );
    }
    for function in Function::ALL {
        template.output(
            &format!("{}FunctionName", function.stem()),
            Output::new(
                format!("The {} function's name", function.name()),
                function.logical_id().reference(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn logical_id_stems_come_from_paths() {
        let ids: Vec<String> = ApiRoute::all()
            .iter()
            .map(|r| r.method_id().to_string())
            .collect();
        assert_eq!(
            ids,
            [
                "AddEventPostMethod",
                "ListTestItemsGetMethod",
                "TriggerReplayPostMethod"
            ]
        );
    }

    #[test]
    fn the_stack_name_must_leave_room_for_function_names() {
        assert_eq!(STACK_NAME_MAX_LEN, 64 - "-trigger-replay".len());
        let fits = "s".repeat(STACK_NAME_MAX_LEN);
        let settings =
            |name: &str| RawSettings::from_map([("STACK_NAME".to_owned(), name.to_owned())].into());
        assert!(StackOptions::from_settings(&settings(&fits)).is_ok());
        let err = StackOptions::from_settings(&settings(&format!("{fits}s"))).unwrap_err();
        assert_eq!(err.name, "STACK_NAME");
    }
}
