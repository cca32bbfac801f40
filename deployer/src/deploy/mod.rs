//! The deploy engine: `deploy`, `diff` and `destroy` over CloudFormation,
//! S3 and Lambda through the AWS SDK.
//!
//! A new stack is made in two phases: first the artifact bucket alone
//! ([`crate::stack::bootstrap_stack`]), then, with the packages uploaded to
//! it, the whole app through a change set. Later deploys are one change set.

pub mod artifacts;
pub mod destroy;
pub mod progress;
pub mod stacks;
pub mod status;
pub mod wait;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::ChangeSetType;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::types::LastUpdateStatus;
use aws_sdk_s3::config::ProvideCredentials;

use crate::build::Manifest;
use crate::cfn::Template;
use crate::stack::{
    API_ID, API_KEY_PARAMETER, API_URL_OUTPUT, ARTIFACT_BUCKET_ID, ARTIFACT_BUCKET_OUTPUT,
    Function, TEST_STREAM_ID_PARAMETER, api_url, bootstrap_stack,
};
use progress::Progress;
use stacks::{ChangeSet, ChangeSetRequest, Ending, Operation, StackInfo, TemplateSource};
use status::{StackStatus, StackStatusExt, Standing};
use wait::{Wait, Waits};

/// The AWS clients the deployer uses, from one configuration.
#[derive(Clone, Debug)]
pub struct Aws {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub region: String,
}

impl Aws {
    /// Clients for `config`. S3 is addressed by path when an endpoint is
    /// configured (an emulator has no per-bucket host names).
    pub fn new(config: &SdkConfig) -> anyhow::Result<Aws> {
        let region = config
            .region()
            .map(|r| r.as_ref().to_owned())
            .context(
                "no AWS region is configured: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your AWS profile",
            )?;
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Ok(Aws {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            lambda: aws_sdk_lambda::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            region,
        })
    }

    /// The standard AWS configuration chain (environment, profile,
    /// `AWS_ENDPOINT_URL`, ...), checked for a region and credentials
    /// before any call is made.
    pub async fn from_environment() -> anyhow::Result<Aws> {
        let config = service::aws::sdk_config().await;
        let aws = Aws::new(&config)?;
        let provider = config.credentials_provider().context(
            "no AWS credentials provider: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )?;
        provider.provide_credentials().await.map_err(|err| {
            anyhow::anyhow!(
                "no AWS credentials found ({err}): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        })?;
        Ok(aws)
    }
}

/// What to deploy.
pub struct DeployRequest<'a> {
    pub stack_name: &'a str,
    pub template: &'a Template,
    pub manifest: &'a Manifest,
    /// Sent as the `NoEcho` parameter; never printed.
    pub api_key: &'a str,
    pub test_stream_id: &'a str,
}

/// How to deploy.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Update function code directly when nothing but code changed.
    pub hotswap: bool,
    /// How often AWS is asked for news, and how long each wait may last.
    pub waits: Waits,
    /// Templates longer than this go through S3.
    pub inline_template_limit: usize,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            hotswap: false,
            waits: Waits::default(),
            inline_template_limit: artifacts::INLINE_TEMPLATE_LIMIT,
        }
    }
}

/// How a deploy ended well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The stack already matches: nothing was touched.
    NoChanges,
    /// A change set ran; the stack's outputs afterwards.
    Deployed { outputs: BTreeMap<String, String> },
    /// Only code changed and `--hotswap` updated these functions directly.
    Hotswapped { functions: Vec<String> },
}

/// A stack operation that ended badly.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe_failure(.stack, .ending))]
pub struct StackFailed {
    pub stack: String,
    pub ending: Ending,
}

fn describe_failure(stack: &str, ending: &Ending) -> String {
    let mut message = format!("the stack {stack} ended {}", ending.status);
    if let Some(failure) = &ending.first_failure {
        message.push_str(&format!(
            "; the first failure: {} ({}) {}: {}",
            failure.logical_id, failure.resource_type, failure.status, failure.reason
        ));
    } else if let Some(reason) = &ending.status_reason {
        message.push_str(&format!(": {reason}"));
    }
    message
}

/// What is in flight, so an interrupted command can clean up after itself.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Mutex<Step>>);

#[derive(Clone, Debug, Default)]
enum Step {
    #[default]
    Idle,
    /// A change set (its ARN) exists and has not been executed.
    ChangeSet { id: String },
    /// CloudFormation is running an operation on the stack.
    Operation { stack: String, what: &'static str },
}

impl InFlight {
    fn set(&self, step: Step) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = step;
    }

    /// After Ctrl-C: removes a change set that was not executed, or says
    /// that CloudFormation carries on with the running operation (it
    /// finishes or rolls back on its own; nothing is left half-done).
    pub async fn interrupted(&self, aws: &Aws, progress: &Progress) {
        let step = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match step {
            Step::Idle => progress.line("interrupted; nothing was in progress on AWS"),
            Step::ChangeSet { id } => match stacks::delete_change_set(&aws.cloudformation, &id)
                .await
            {
                Ok(()) => progress.line(format!(
                    "interrupted; deleted the change set {id}, which had not run: the stack is unchanged"
                )),
                Err(err) => progress.line(format!(
                    "interrupted; the change set {id} had not run, but deleting it failed ({err:#}); the next deploy replaces it"
                )),
            },
            Step::Operation { stack, what } => progress.line(format!(
                "interrupted; CloudFormation carries on with the {what} of {stack} on its own and completes or rolls it back; run the command again once it has finished"
            )),
        }
    }
}

/// Deploys the app: creates the stack (two phases) or updates it through
/// a change set; see the module documentation.
pub async fn deploy(
    aws: &Aws,
    request: &DeployRequest<'_>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Outcome> {
    let (parameters, body) = rendered(request)?;
    let name = request.stack_name;
    let cfn = &aws.cloudformation;

    let stack = ready_stack(aws, name, options, progress, in_flight).await?;

    if options.hotswap {
        match try_hotswap(aws, &stack, request, &body, &parameters, options, progress).await? {
            Some(outcome) => return Ok(outcome),
            None => progress.line("hotswap: more than function code changed; doing a full deploy"),
        }
    }

    let bucket = artifact_bucket(aws, &stack).await?;
    artifacts::upload_packages(&aws.s3, &bucket, request.manifest, progress).await?;
    let template = template_source(aws, &bucket, body, options).await?;
    let Some(ready) = update_change_set(
        aws,
        name,
        &template,
        &parameters,
        options,
        progress,
        in_flight,
    )
    .await?
    else {
        return Ok(Outcome::NoChanges);
    };
    let stack_id = ready.stack_id;
    let ending = execute(
        aws,
        &ready.id,
        Operation {
            stack_id: &stack_id,
            stack_name: name,
            what: "update",
        },
        options,
        progress,
        in_flight,
    )
    .await?;
    if ending.status != StackStatus::UpdateComplete {
        return Err(StackFailed {
            stack: name.to_owned(),
            ending,
        }
        .into());
    }
    let mut outputs = stacks::describe(cfn, name)
        .await?
        .map(|info| info.outputs)
        .unwrap_or_default();
    if !outputs.contains_key(API_URL_OUTPUT) {
        // Some CloudFormation implementations (moto) leave stacks made
        // through change sets without outputs; the URL is still known.
        if let Some(api) = stacks::physical_ids(cfn, &stack_id).await?.get(API_ID) {
            outputs.insert(API_URL_OUTPUT.to_owned(), api_url(api, &aws.region));
        }
    }
    Ok(Outcome::Deployed { outputs })
}

/// The stack `name`, settled and holding its artifact bucket: created
/// (first phase) when absent; deleted first when a failed or interrupted
/// first deploy left it unusable; refused when busy or stuck.
async fn ready_stack(
    aws: &Aws,
    name: &str,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<StackInfo> {
    match stacks::describe(&aws.cloudformation, name).await? {
        Some(info) => match info.standing() {
            Standing::Update => Ok(info),
            Standing::Busy => bail!(busy_message(name, &info)),
            Standing::Stuck => bail!(stuck_message(name, &info)),
            Standing::Create => create_bootstrap(aws, name, options, progress, in_flight).await,
            Standing::DeleteThenCreate => {
                let why = if info.status.is_rolled_back() {
                    "after a failed first create"
                } else {
                    "with nothing in it, left by an interrupted first deploy"
                };
                progress.line(format!(
                    "the stack {name} is {} {why}; deleting it to create it again",
                    info.status
                ));
                delete_and_wait(aws, &info, options, progress, in_flight).await?;
                create_bootstrap(aws, name, options, progress, in_flight).await
            }
        },
        None => create_bootstrap(aws, name, options, progress, in_flight).await,
    }
}

/// What a deploy would change, from a change set that is then deleted;
/// for a stack that does not exist yet, the resources it would create.
pub async fn diff(
    aws: &Aws,
    request: &DeployRequest<'_>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Vec<stacks::ResourceChange>> {
    let (parameters, body) = rendered(request)?;
    let name = request.stack_name;
    let cfn = &aws.cloudformation;
    let stack = stacks::describe(cfn, name).await?;
    let stack = match stack {
        Some(info) if info.standing() == Standing::Update => info,
        Some(info) if info.standing() == Standing::Busy => bail!(busy_message(name, &info)),
        Some(info) if info.standing() == Standing::Stuck => bail!(stuck_message(name, &info)),
        other => {
            let changes: Vec<stacks::ResourceChange> = request
                .template
                .resources
                .iter()
                .map(|(id, resource)| stacks::ResourceChange {
                    action: "Add".to_owned(),
                    logical_id: id.to_string(),
                    resource_type: resource.type_name().to_owned(),
                    replacement: None,
                })
                .collect();
            progress.line(match other {
                Some(info) => format!(
                    "the stack {name} is {}: a deploy deletes it and creates it again",
                    info.status
                ),
                None => format!(
                    "the stack {name} does not exist in {}: a deploy creates it",
                    aws.region
                ),
            });
            print_changes(progress, &changes);
            return Ok(changes);
        }
    };
    let bucket = artifact_bucket(aws, &stack).await?;
    let template = template_source(aws, &bucket, body, options).await?;
    let Some(ready) = update_change_set(
        aws,
        name,
        &template,
        &parameters,
        options,
        progress,
        in_flight,
    )
    .await?
    else {
        return Ok(Vec::new());
    };
    stacks::delete_change_set(cfn, &ready.id).await?;
    in_flight.set(Step::Idle);
    Ok(ready.changes)
}

/// A change set CloudFormation has worked out, not yet executed.
struct ReadyChangeSet {
    /// The change set's ARN.
    id: String,
    stack_id: String,
    changes: Vec<stacks::ResourceChange>,
}

/// Creates an UPDATE change set and shows its changes; `None` when there
/// is nothing to change (said to the user). The change set is recorded as
/// in flight until it is executed or deleted.
async fn update_change_set(
    aws: &Aws,
    name: &str,
    template: &TemplateSource,
    parameters: &BTreeMap<String, String>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Option<ReadyChangeSet>> {
    progress.status("creating the change set");
    let change_set = stacks::create_change_set(
        &aws.cloudformation,
        &ChangeSetRequest {
            stack_name: name,
            change_set_name: &stacks::unique_change_set_name(),
            kind: ChangeSetType::Update,
            template,
            parameters,
        },
        &options.waits,
    )
    .await?;
    match change_set {
        ChangeSet::NoChanges => {
            progress.line(format!("no changes: the stack {name} is up to date"));
            Ok(None)
        }
        ChangeSet::Ready {
            id,
            stack_id,
            changes,
        } => {
            in_flight.set(Step::ChangeSet { id: id.clone() });
            print_changes(progress, &changes);
            Ok(Some(ReadyChangeSet {
                id,
                stack_id,
                changes,
            }))
        }
    }
}

/// The request's parameters and its template as sent to CloudFormation.
fn rendered(request: &DeployRequest<'_>) -> anyhow::Result<(BTreeMap<String, String>, String)> {
    let body = request
        .template
        .to_yaml()
        .context("cannot render the template")?;
    Ok((parameters(request)?, body))
}

/// The template's parameters for this deploy; every function must have a
/// package.
fn parameters(request: &DeployRequest<'_>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut parameters = BTreeMap::new();
    for function in Function::ALL {
        let artifact = request
            .manifest
            .functions
            .get(function.name())
            .with_context(|| {
                format!(
                    "the build has no package for {}; run cargo xtask build",
                    function.name()
                )
            })?;
        parameters.insert(
            function.code_key_parameter().to_string(),
            artifacts::object_key(artifact),
        );
    }
    parameters.insert(API_KEY_PARAMETER.to_owned(), request.api_key.to_owned());
    parameters.insert(
        TEST_STREAM_ID_PARAMETER.to_owned(),
        request.test_stream_id.to_owned(),
    );
    Ok(parameters)
}

fn busy_message(name: &str, info: &StackInfo) -> String {
    format!(
        "the stack {name} is {}: another operation is running on it; wait for it to finish, then run the command again",
        info.status
    )
}

fn stuck_message(name: &str, info: &StackInfo) -> String {
    format!(
        "the stack {name} is {}{}; it needs a hand in the CloudFormation console (e.g. continue the rollback) before it can be deployed",
        info.status,
        info.status_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}

/// First phase of a new stack: the artifact bucket alone.
async fn create_bootstrap(
    aws: &Aws,
    name: &str,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<StackInfo> {
    progress.line(format!(
        "creating the stack {name} in {}: first its artifact bucket",
        aws.region
    ));
    let body = bootstrap_stack()
        .to_yaml()
        .context("cannot render the bootstrap template")?;
    let change_set = stacks::create_change_set(
        &aws.cloudformation,
        &ChangeSetRequest {
            stack_name: name,
            change_set_name: &stacks::unique_change_set_name(),
            kind: ChangeSetType::Create,
            template: &TemplateSource::Body(body),
            parameters: &BTreeMap::new(),
        },
        &options.waits,
    )
    .await?;
    let ChangeSet::Ready { id, stack_id, .. } = change_set else {
        bail!("CloudFormation found nothing to create for the new stack {name}");
    };
    in_flight.set(Step::ChangeSet { id: id.clone() });
    let ending = execute(
        aws,
        &id,
        Operation {
            stack_id: &stack_id,
            stack_name: name,
            what: "creation",
        },
        options,
        progress,
        in_flight,
    )
    .await?;
    if ending.status != StackStatus::CreateComplete {
        return Err(StackFailed {
            stack: name.to_owned(),
            ending,
        }
        .into());
    }
    stacks::describe(&aws.cloudformation, name)
        .await?
        .with_context(|| format!("the stack {name} vanished after its creation"))
}

/// Executes the change set `change_set` (its ARN) and follows the
/// operation it starts to its end.
async fn execute(
    aws: &Aws,
    change_set: &str,
    operation: Operation<'_>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Ending> {
    let cfn = &aws.cloudformation;
    let mut seen: HashSet<String> = stacks::seen_events(cfn, operation.stack_id).await?;
    stacks::execute_change_set(cfn, change_set).await?;
    in_flight.set(Step::Operation {
        stack: operation.stack_name.to_owned(),
        what: operation.what,
    });
    let ending = stacks::watch(cfn, operation, &mut seen, progress, &options.waits).await?;
    in_flight.set(Step::Idle);
    progress.status("");
    Ok(ending)
}

/// Deletes the stack and follows the deletion to its end; used by a deploy
/// that must recreate a stack and by destroy.
pub(crate) async fn delete_and_wait(
    aws: &Aws,
    info: &StackInfo,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<()> {
    let cfn = &aws.cloudformation;
    let stack_name = stack_name_of(&info.id);
    let mut seen = stacks::seen_events(cfn, &info.id).await?;
    stacks::delete_stack(cfn, &info.id).await?;
    in_flight.set(Step::Operation {
        stack: stack_name.to_owned(),
        what: "deletion",
    });
    let ending = stacks::watch(
        cfn,
        Operation {
            stack_id: &info.id,
            stack_name,
            what: "deletion",
        },
        &mut seen,
        progress,
        &options.waits,
    )
    .await?;
    in_flight.set(Step::Idle);
    progress.status("");
    if !ending.status.is_deleted() {
        return Err(StackFailed {
            stack: stack_name.to_owned(),
            ending,
        }
        .into());
    }
    Ok(())
}

/// `arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>` → name;
/// a plain name stays as it is.
fn stack_name_of(id: &str) -> &str {
    id.split('/').nth(1).unwrap_or(id)
}

/// The stack's artifact bucket.
async fn artifact_bucket(aws: &Aws, stack: &StackInfo) -> anyhow::Result<String> {
    if let Some(bucket) = stack.outputs.get(ARTIFACT_BUCKET_OUTPUT) {
        return Ok(bucket.clone());
    }
    stacks::physical_ids(&aws.cloudformation, &stack.id)
        .await?
        .remove(ARTIFACT_BUCKET_ID)
        .with_context(|| {
            format!(
                "the stack {} has no {ARTIFACT_BUCKET_ID}: it was not made by cargo xtask deploy",
                stack.id
            )
        })
}

async fn template_source(
    aws: &Aws,
    bucket: &str,
    body: String,
    options: &DeployOptions,
) -> anyhow::Result<TemplateSource> {
    if body.len() <= options.inline_template_limit {
        return Ok(TemplateSource::Body(body));
    }
    let url = artifacts::upload_template(&aws.s3, bucket, &aws.region, &body).await?;
    Ok(TemplateSource::Url(url))
}

fn print_changes(progress: &Progress, changes: &[stacks::ResourceChange]) {
    if changes.is_empty() {
        progress.line("changes: none listed");
        return;
    }
    progress.line(format!("changes ({}):", changes.len()));
    for change in changes {
        let replacement = match change.replacement.as_deref() {
            Some("True") => "  (replaced)",
            Some("Conditional") => "  (may be replaced)",
            _ => "",
        };
        progress.line(format!(
            "  {:<7} {:<28} {}{replacement}",
            change.action, change.logical_id, change.resource_type
        ));
    }
}

/// `--hotswap`: when the template and every parameter but the code keys
/// are as deployed, updates the changed functions' code directly. `None`
/// when a full deploy is needed.
async fn try_hotswap(
    aws: &Aws,
    stack: &StackInfo,
    request: &DeployRequest<'_>,
    body: &str,
    parameters: &BTreeMap<String, String>,
    options: &DeployOptions,
    progress: &Progress,
) -> anyhow::Result<Option<Outcome>> {
    let deployed = stacks::deployed_template(&aws.cloudformation, &stack.id).await?;
    if deployed != body {
        return Ok(None);
    }
    let mut changed = Vec::new();
    for (key, value) in parameters {
        // NoEcho: CloudFormation shows a mask, so it cannot be compared.
        if key == API_KEY_PARAMETER {
            continue;
        }
        if stack.parameters.get(key) == Some(value) {
            continue;
        }
        match Function::ALL
            .into_iter()
            .find(|f| f.code_key_parameter().as_str() == key)
        {
            Some(function) => changed.push((function, value.clone())),
            None => return Ok(None),
        }
    }
    if changed.is_empty() {
        return Ok(None);
    }
    let bucket = artifact_bucket(aws, stack).await?;
    artifacts::upload_packages(&aws.s3, &bucket, request.manifest, progress).await?;
    let physical = stacks::physical_ids(&aws.cloudformation, &stack.id).await?;
    let mut updated = Vec::new();
    for (function, key) in changed {
        let function_name = physical
            .get(function.logical_id().as_str())
            .with_context(|| format!("the stack has no {}", function.logical_id()))?;
        progress.status(format!("updating the code of {function_name}"));
        aws.lambda
            .update_function_code()
            .function_name(function_name)
            .s3_bucket(&bucket)
            .s3_key(&key)
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)))
            .with_context(|| format!("cannot update the code of {function_name}"))?;
        wait_for_function_update(aws, function_name, &options.waits).await?;
        progress.line(format!("  hotswapped {function_name}"));
        updated.push(function.name().to_owned());
    }
    progress.line(
        "warning: hotswap updated code outside CloudFormation: the stack drifts (its parameters name the old packages) until the next deploy without --hotswap, which also applies a changed API_KEY",
    );
    Ok(Some(Outcome::Hotswapped { functions: updated }))
}

async fn wait_for_function_update(
    aws: &Aws,
    function_name: &str,
    waits: &Waits,
) -> anyhow::Result<()> {
    let mut wait = Wait::new(
        format!("Lambda to apply the new code of {function_name}"),
        waits.function_update,
        waits.poll,
        "look at the function in the Lambda console, then run the command again (without --hotswap to go through CloudFormation)",
    );
    loop {
        let configuration = aws
            .lambda
            .get_function_configuration()
            .function_name(function_name)
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)))
            .with_context(|| format!("cannot read the state of {function_name}"))?;
        let status = configuration.last_update_status();
        wait.saw(status.map_or("no status", LastUpdateStatus::as_str));
        match status {
            Some(LastUpdateStatus::InProgress) => wait.pause().await?,
            Some(LastUpdateStatus::Failed) => bail!(
                "updating the code of {function_name} failed: {}",
                configuration
                    .last_update_status_reason()
                    .unwrap_or("no reason given")
            ),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ctrl-C between creating a change set and executing it: the change
    /// set is deleted and the next deploy goes through.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_interrupted_deploy_leaves_a_stack_the_next_deploy_takes_over() {
        let endpoint = testkit::moto::shared_endpoint();
        let aws =
            Aws::new(&service::aws::sdk_config_for_endpoint(endpoint).await).expect("clients");
        let stack = format!(
            "evs-interrupt-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let progress = Progress::recorded();
        let in_flight = InFlight::default();
        let body = bootstrap_stack().to_yaml().expect("renders");
        let ChangeSet::Ready { id, stack_id, .. } = stacks::create_change_set(
            &aws.cloudformation,
            &ChangeSetRequest {
                stack_name: &stack,
                change_set_name: &stacks::unique_change_set_name(),
                kind: ChangeSetType::Create,
                template: &TemplateSource::Body(body),
                parameters: &BTreeMap::new(),
            },
            &Waits::for_emulator(),
        )
        .await
        .expect("a change set") else {
            panic!("nothing to create");
        };
        in_flight.set(Step::ChangeSet { id: id.clone() });

        in_flight.interrupted(&aws, &progress).await;
        let lines = progress.lines().join("\n");
        assert!(lines.contains("deleted the change set"), "{lines}");
        assert!(
            aws.cloudformation
                .describe_change_set()
                .change_set_name(&id)
                .send()
                .await
                .is_err(),
            "the change set {id} is still there"
        );
        // moto 5.2.5 lists every stack's change sets whatever the filter,
        // and other tests share the emulator: only this stack's count.
        let left = aws
            .cloudformation
            .list_change_sets()
            .stack_name(&stack_id)
            .send()
            .await
            .expect("list change sets");
        let left: Vec<_> = left
            .summaries()
            .iter()
            .filter(|summary| summary.stack_id() == Some(stack_id.as_str()))
            .collect();
        assert!(left.is_empty(), "{left:?}");

        // What is left is what the next deploy takes over.
        let created = ready_stack(
            &aws,
            &stack,
            &DeployOptions {
                waits: Waits::for_emulator(),
                ..DeployOptions::default()
            },
            &progress,
            &in_flight,
        )
        .await
        .expect("the next deploy's first phase");
        assert_eq!(created.status, StackStatus::CreateComplete);
        let info = stacks::describe(&aws.cloudformation, &stack)
            .await
            .expect("describe")
            .expect("the stack");
        assert_eq!(info.status, StackStatus::CreateComplete, "{info:?}");
    }
}
