//! The app's stack (and its data stack, `data.rs`): the tables, the functions with one
//! least-privilege role and one log group each, the projector's stream
//! mapping, the failure queue, and the REST API behind an API key with
//! its access log.
//!
//! The template names things after `AWS::StackName` and takes everything
//! deploy-specific (code location, API key, test stream) as parameters, so
//! one synthesized template deploys under any stack name.
//!
//! `build` puts the parts together: the artifact bucket, the parameters
//! (`parameters.rs`, and the data stack's tables, `data.rs`), the app's
//! own tables (`tables.rs`), the functions with their
//! roles and log groups (`functions.rs`, the roles' grants in
//! `grants.rs`), the failure queue and the
//! replay's asynchronous invocation settings (`failures.rs`), the REST API
//! (`api.rs`), the alarms (`alarms.rs`) and the dashboard
//! (`dashboard.rs`), then the outputs.

pub mod alarms;
mod api;
pub mod dashboard;
mod data;
mod failures;
mod function_resources;
mod functions;
mod grants;
mod parameters;
pub mod rows;
mod tables;
pub mod tags;

use service::settings::{RawSettings, SettingError};

use crate::settings::{self, AlarmSettings, DEFAULT_STACK_NAME, ReplayConcurrency, Throttle};

use crate::cfn::iam::{ConditionOperator, PolicyDocument, Statement};
use crate::cfn::lambda::Architecture;
use crate::cfn::s3;
use crate::cfn::{Expr, LogicalId, Output, Template};

pub(crate) use api::ApiRoute;
pub use api::{API_ID, STAGE_NAME, api_url};
pub use data::{
    DATA_STACK_SUFFIX, DataOutput, LOGGING_ROLE_ID, LOGGING_ROLE_OUTPUT, data_stack,
    data_stack_name, data_stack_with, in_data_stack,
};
pub use failures::{
    FAILURE_QUEUE_ARN_OUTPUT, FAILURE_QUEUE_ID, FAILURE_QUEUE_POLICY_ID, FAILURE_QUEUE_URL_OUTPUT,
};
pub use function_resources::FunctionResources;
pub use functions::{
    FAILURE_RECORD_MARGIN_SECONDS, LOG_RETENTION, PROJECTOR_MAX_RECORD_AGE_SECONDS,
    STREAM_RETENTION_SECONDS,
};
pub use grants::{Grant, Target};
pub use parameters::{API_KEY_PARAMETER, TEST_STREAM_ID_PARAMETER};
pub use service::dynamo::schema::Table;
pub use service::functions::Function;
pub use tables::TableResources;

/// The stack's own S3 bucket for the functions' zips (and templates too
/// large to send inline). The deployer creates it in a first phase, alone,
/// before anything that needs code exists.
pub const ARTIFACT_BUCKET_ID: &str = "ArtifactBucket";
/// The output holding the artifact bucket's name.
pub const ARTIFACT_BUCKET_OUTPUT: &str = "ArtifactBucketName";
/// The artifact bucket's resource policy: no request without TLS.
pub const ARTIFACT_BUCKET_POLICY_ID: &str = "ArtifactBucketPolicy";
/// The output holding the API's base URL.
pub const API_URL_OUTPUT: &str = "ApiUrl";

/// What the template depends on besides the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackOptions {
    /// The stack name deploy uses. Not written into the template (which
    /// uses `AWS::StackName`); validated here so a bad name stops synth too.
    pub stack_name: String,
    /// X-Ray active tracing for the functions and the API stage.
    pub tracing: bool,
    pub architecture: Architecture,
    /// What the usage plan lets the API key do.
    pub throttle: Throttle,
    /// The replay function's reserved concurrency (its cap), if any.
    pub replay_concurrency: ReplayConcurrency,
    /// The alarms' thresholds and where they notify.
    pub alarms: AlarmSettings,
    /// The managed policy bounding every role the stack creates
    /// (`PERMISSIONS_BOUNDARY`), if any.
    pub permissions_boundary: Option<String>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            stack_name: DEFAULT_STACK_NAME.to_owned(),
            tracing: false,
            architecture: Architecture::Arm64,
            throttle: Throttle::DEFAULT,
            replay_concurrency: ReplayConcurrency::DEFAULT,
            alarms: AlarmSettings::default(),
            permissions_boundary: None,
        }
    }
}

impl StackOptions {
    /// `STACK_NAME`, `TRACING`, the throttle, `REPLAY_CONCURRENCY`, the
    /// alarms' settings and `PERMISSIONS_BOUNDARY`; the architecture stays
    /// arm64. Never
    /// reads `API_KEY`: the key is a deploy-time parameter.
    pub fn from_settings(settings: &RawSettings) -> Result<Self, SettingError> {
        Ok(StackOptions {
            stack_name: settings::stack_name(settings)?,
            tracing: settings::tracing(settings)?,
            architecture: Architecture::Arm64,
            throttle: settings::throttle(settings)?,
            replay_concurrency: settings::replay_concurrency(settings)?,
            alarms: settings::alarm_settings(settings)?,
            permissions_boundary: settings::permissions_boundary(settings)?,
        })
    }
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
    template.resource(
        ARTIFACT_BUCKET_POLICY_ID,
        s3::BucketPolicy {
            bucket: bucket.reference(),
            policy_document: PolicyDocument::new(vec![
                deny_without_tls(
                    &["s3:*"],
                    vec![bucket.arn(), Expr::sub(format!("{}/*", bucket.sub_arn()))],
                )
                .with_sid("DenyRequestsWithoutTls"),
            ]),
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

/// A resource policy's statement refusing `actions` on `resources` to
/// anyone who does not use TLS (`aws:SecureTransport` is false for a plain
/// HTTP request), whatever their own permissions say: an explicit deny
/// wins over every allow.
pub(crate) fn deny_without_tls(actions: &[&str], resources: Vec<Expr>) -> Statement {
    Statement::deny_everyone_when(
        actions,
        resources,
        ConditionOperator::Bool,
        "aws:SecureTransport",
        &["false"],
    )
}

/// The app's template serving `routes`: [`app_stack`] passes every route;
/// tests pass others to see what a change of the routes does.
pub(crate) fn build(options: &StackOptions, routes: &[ApiRoute]) -> Template {
    let mut template = Template::new(
        "Event-sourcing service: event store, projector, replay and HTTP API (generated by cargo xtask synth; do not edit)",
    );
    let code_bucket = add_artifact_bucket(&mut template);
    let parameters = parameters::add_parameters(&mut template, code_bucket);
    for output in DataOutput::ALL {
        output.add_parameter(&mut template);
    }
    for table in Table::ALL.into_iter().filter(|t| !in_data_stack(*t)) {
        template.resource(table.logical_id().as_str(), table.definition());
    }
    failures::add_failure_queue(&mut template);
    for function in Function::ALL {
        functions::add_function(&mut template, function, options, &parameters);
    }
    functions::add_projector_source(&mut template);
    functions::add_replay_sweep(&mut template);
    failures::add_replay_invoke_config(&mut template);
    api::add_api(&mut template, options, routes, &parameters);
    alarms::add_alarms(&mut template, &options.alarms);
    dashboard::add_dashboard(&mut template);
    add_outputs(&mut template);
    template
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
    for table in Table::ALL.into_iter().filter(|t| !in_data_stack(*t)) {
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

    #[test]
    fn options_refuse_a_stack_name_that_leaves_no_room_for_function_names() {
        use crate::settings::STACK_NAME_MAX_LEN;
        let fits = "s".repeat(STACK_NAME_MAX_LEN);
        let settings =
            |name: &str| RawSettings::from_map([("STACK_NAME".to_owned(), name.to_owned())].into());
        assert!(StackOptions::from_settings(&settings(&fits)).is_ok());
        let err = StackOptions::from_settings(&settings(&format!("{fits}s"))).unwrap_err();
        assert_eq!(err.name, "STACK_NAME");
    }
}
