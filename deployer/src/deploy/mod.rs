//! The deploy engine: `deploy`, `diff` and `destroy` over CloudFormation,
//! S3 and Lambda through the AWS SDK.
//!
//! The event store lives in a data stack of its own
//! ([`crate::stack::data_stack`], `data.rs`), created or brought up to
//! date first; the app stack takes its tables as parameters. A new app
//! stack is made in two phases: first the artifact bucket alone
//! ([`crate::stack::bootstrap_stack`]), then, with the packages uploaded to
//! it, the whole app through a change set. Later deploys are one change set.
//!
//! Before it changes anything, a deploy checks that the account can make
//! the replay function's concurrency reservation ([`concurrency`]).
//!
//! [`deploy`], [`diff`] and [`destroy::destroy`] are made of the steps in
//! `session.rs`, which call CloudFormation through [`stacks`],
//! [`change_sets`] and [`operation`]; [`status`] says what a stack's
//! status means.

pub mod artifacts;
pub(crate) mod aws;
pub mod change_sets;
pub mod concurrency;
mod data;
pub mod destroy;
mod hotswap;
mod in_flight;
pub mod operation;
pub mod progress;
mod session;
pub mod stacks;
pub mod status;
pub mod wait;

use std::collections::BTreeMap;

use anyhow::Context;

use crate::build::Manifest;
use crate::cfn::Template;
use crate::stack::FunctionResources;
use crate::stack::{
    API_ID, API_KEY_PARAMETER, API_URL_OUTPUT, Function, TEST_STREAM_ID_PARAMETER, Table,
    TableResources, data_stack, data_stack_name, in_data_stack,
};
use change_sets::ResourceChange;
use operation::OperationKind;
use progress::Progress;
use session::Session;
use status::Standing;

pub use aws::Aws;
pub use in_flight::InFlight;
pub use operation::StackFailed;

/// What to deploy.
pub struct DeployRequest<'a> {
    pub stack_name: &'a str,
    pub template: &'a Template,
    pub manifest: &'a Manifest,
    /// Sent as the `NoEcho` parameter; never printed.
    pub api_key: &'a str,
    pub test_stream_id: &'a str,
}

/// A request as CloudFormation gets it.
struct Rendered {
    /// The template's text.
    body: String,
    /// The template's parameters for this deploy.
    parameters: BTreeMap<String, String>,
}

impl DeployRequest<'_> {
    /// The template's text and its parameters; every function must have a
    /// package.
    fn render(&self) -> anyhow::Result<Rendered> {
        let body = self
            .template
            .to_yaml()
            .context("cannot render the template")?;
        let mut parameters = BTreeMap::new();
        for function in Function::ALL {
            let artifact = self
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
        parameters.insert(API_KEY_PARAMETER.to_owned(), self.api_key.to_owned());
        parameters.insert(
            TEST_STREAM_ID_PARAMETER.to_owned(),
            self.test_stream_id.to_owned(),
        );
        Ok(Rendered { body, parameters })
    }
}

/// How to deploy.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Update function code directly when nothing but code changed.
    pub hotswap: bool,
    /// How often AWS is asked for news, and how long each wait may last.
    pub waits: wait::Waits,
    /// Templates longer than this go through S3.
    pub inline_template_limit: usize,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            hotswap: false,
            waits: wait::Waits::default(),
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

/// Deploys the app: creates the stack (two phases) or updates it through
/// a change set; see the module documentation.
pub async fn deploy(
    aws: &Aws,
    request: &DeployRequest<'_>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Outcome> {
    let session = Session::new(aws, request.stack_name, options, progress, in_flight);
    let mut rendered = request.render()?;
    concurrency::check_replay_concurrency(aws, request.stack_name, request.template, progress)
        .await?;
    refuse_tables_in_the_app_stack(&session).await?;
    let data_name = data_stack_name(request.stack_name);
    let data = Session::new(aws, &data_name, options, progress, in_flight)
        .ensure_data_stack()
        .await?;
    rendered.parameters.extend(data.0);
    let stack = session.ready_stack().await?;
    let outcome = deploy_app(&session, &stack, request, options, rendered).await?;
    start_rebuild_if_new(aws, request.stack_name, progress).await?;
    Ok(outcome)
}

/// A read model deployed new over a kept log holds nothing the stream
/// mapping does not deliver, which is the last 24 hours at most: every
/// stream is replayed into it, once, by a rebuild started here.
async fn start_rebuild_if_new(
    aws: &Aws,
    stack_name: &str,
    progress: &Progress,
) -> anyhow::Result<()> {
    let replays = crate::replays::DeployedReplays::find(aws, stack_name).await?;
    let rebuild = replays.rebuild_if_empty().await.with_context(|| {
        format!(
            "the stack {stack_name} is deployed, but the rebuild of its new read model could not start; start it with: cargo xtask replay --all"
        )
    })?;
    if let Some(id) = rebuild {
        progress.line(format!(
            "the read model is new and the event log is not: rebuilding it from every stream, replay {id}; follow it with: cargo xtask replay --status {id} --wait"
        ));
    }
    Ok(())
}

/// The app stack's part of a deploy, once its stack is ready: hotswap,
/// or a change set.
async fn deploy_app(
    session: &Session<'_>,
    stack: &stacks::StackInfo,
    request: &DeployRequest<'_>,
    options: &DeployOptions,
    rendered: Rendered,
) -> anyhow::Result<Outcome> {
    let (aws, progress) = (session.aws, session.progress);
    if options.hotswap {
        match hotswap::try_hotswap(session, stack, request.manifest, &rendered).await? {
            Some(outcome) => return Ok(outcome),
            None => progress.line("hotswap: more than function code changed; doing a full deploy"),
        }
    }
    let change_set = session
        .update_change_set(stack, rendered, Some(request.manifest))
        .await?;
    let Some(ready) = change_set else {
        return Ok(Outcome::NoChanges);
    };
    session.execute(&ready, OperationKind::Update).await?;
    let mut outputs = session
        .describe()
        .await?
        .map(|info| info.outputs)
        .unwrap_or_default();
    if !outputs.contains_key(API_URL_OUTPUT) {
        // Some CloudFormation implementations (moto) leave stacks made
        // through change sets without outputs; the URL is still known.
        let physical = stacks::physical_ids(&aws.cloudformation, &ready.stack_id).await?;
        if let Some(api) = physical.get(API_ID) {
            outputs.insert(
                API_URL_OUTPUT.to_owned(),
                crate::stack::api_url(api, &aws.region),
            );
        }
    }
    Ok(Outcome::Deployed { outputs })
}

/// What a deploy would change, in the data stack and the app stack, from
/// change sets that are then deleted; for a stack that does not exist yet,
/// the resources it would create.
pub async fn diff(
    aws: &Aws,
    request: &DeployRequest<'_>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Vec<ResourceChange>> {
    let session = Session::new(aws, request.stack_name, options, progress, in_flight);
    let mut rendered = request.render()?;
    let data_name = data_stack_name(request.stack_name);
    let data_session = Session::new(aws, &data_name, options, progress, in_flight);
    let data_changes = match data_session.describe().await? {
        Some(info) if info.standing() == Standing::Update => {
            rendered
                .parameters
                .extend(data::data_values(aws, &info).await?.0);
            data_session.data_stack_changes(&info).await?
        }
        Some(info) if matches!(info.standing(), Standing::Busy | Standing::Stuck) => {
            return Err(data_session.refusal(&info));
        }
        other => {
            // Without the data stack there is nothing to attach the app
            // to: a deploy creates both.
            let mut changes = created_anew(&data_session, &data_stack(), other);
            let app = session.describe().await?;
            changes.extend(created_anew(&session, request.template, app));
            return Ok(changes);
        }
    };
    let stack = match session.describe().await? {
        Some(info) if info.standing() == Standing::Update => info,
        Some(info) if matches!(info.standing(), Standing::Busy | Standing::Stuck) => {
            return Err(session.refusal(&info));
        }
        other => {
            let mut changes = data_changes;
            changes.extend(created_anew(&session, request.template, other));
            return Ok(changes);
        }
    };
    let mut changes = data_changes;
    if let Some(ready) = session.update_change_set(&stack, rendered, None).await? {
        session.discard(&ready).await?;
        changes.extend(ready.changes);
    }
    Ok(changes)
}

/// Stops a deploy over an app stack made before the event store had a
/// stack of its own: its tables are the app stack's, and a deploy would
/// leave them behind (retained, but detached) and start an empty event
/// store. They can be moved into the data stack with CloudFormation's
/// resource import; until then, nothing is changed.
async fn refuse_tables_in_the_app_stack(session: &Session<'_>) -> anyhow::Result<()> {
    let Some(app) = session.describe().await? else {
        return Ok(());
    };
    let physical = stacks::physical_ids(&session.aws.cloudformation, &app.id).await?;
    let held: Vec<String> = Table::ALL
        .into_iter()
        .filter(|table| in_data_stack(*table))
        .filter_map(|table| physical.get(table.logical_id().as_str()).cloned())
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "the stack {} holds the event store's tables ({}) itself, as stacks made by earlier versions did; this version keeps them in a data stack, {}. Nothing was changed. To move them without losing an event: in the CloudFormation console, remove EventsTable and StreamIndexTable from {} (they are retained), then create {} by importing those two tables (Stacks > Create stack > With existing resources), using the template `cargo xtask synth --data` prints; then deploy again",
        session.stack_name,
        held.join(", "),
        data_stack_name(session.stack_name),
        session.stack_name,
        data_stack_name(session.stack_name),
    )
}

/// What a deploy does to a stack that is absent, or must be deleted first
/// (`existing`): it creates every resource of `template`; said to the user.
fn created_anew(
    session: &Session<'_>,
    template: &Template,
    existing: Option<stacks::StackInfo>,
) -> Vec<ResourceChange> {
    let name = session.stack_name;
    let changes: Vec<ResourceChange> = template
        .resources
        .iter()
        .map(|(id, resource)| ResourceChange {
            action: "Add".to_owned(),
            logical_id: id.to_string(),
            resource_type: resource.type_name().to_owned(),
            replacement: None,
        })
        .collect();
    session.progress.line(match existing {
        Some(info) => format!(
            "the stack {name} is {}: a deploy deletes it and creates it again",
            info.status
        ),
        None => format!(
            "the stack {name} does not exist in {}: a deploy creates it",
            session.aws.region
        ),
    });
    session::print_changes(session.progress, &changes);
    changes
}
