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
//! the replay function's concurrency reservation ([`concurrency`]), that
//! both stacks are this deployment's ([`survey`], [`ownership`]), and, when
//! the data stack is missing, where the event store is ([`event_store`],
//! `attach.rs`, [`adopt`]). Before the app stack changes, the account's API
//! Gateway CloudWatch role is made to name a role that stays
//! ([`logging_role`]).
//!
//! [`deploy`] (here), [`diff()`] (`diff.rs`) and [`destroy::destroy`] read
//! top-down as a list of steps. A step is a function of the module that
//! owns it, taking the command's `Session` first (`session.rs`: the
//! clients, the stack and whose it is, the options, progress, what is in
//! flight): `app::ready_stack`, `data::ensure_data_stack`,
//! `operation::execute`. Not methods on the session: a call then names
//! where its step lives, and `session.rs` depends on no step, so the
//! imports run one way, from the commands down to `operation.rs` (change
//! sets and stack operations, each recorded in flight), `follow.rs`
//! (following an operation to its end), [`stacks`] and [`change_sets`]
//! (the CloudFormation calls) and [`status`] (what a stack's status
//! means).

pub mod adopt;
mod app;
pub mod artifacts;
mod attach;
pub(crate) mod aws;
pub mod change_sets;
pub mod concurrency;
mod data;
pub mod destroy;
pub mod detach;
mod diff;
pub mod event_store;
pub mod follow;
mod hotswap;
mod in_flight;
pub mod logging_role;
mod operation;
pub mod ownership;
pub mod progress;
mod request;
mod session;
pub mod stacks;
pub mod status;
pub mod survey;
pub mod wait;

use std::collections::BTreeSet;

use anyhow::Context;

use crate::replays::DeployedReplays;
use crate::stack::tags::Ownership;
use crate::stack::{API_ID, API_URL_OUTPUT};
use progress::Progress;
use request::Rendered;
use session::Session;
use status::OperationKind;

pub use aws::Aws;
pub use diff::diff;
pub use event_store::EventStoreChoice;
pub use follow::StackFailed;
pub use in_flight::InFlight;
pub use request::{DeployOptions, DeployRequest, Outcome, Question};

/// Deploys the app: creates the stack (two phases) or updates it through
/// a change set; see the module documentation.
pub async fn deploy(
    aws: &Aws,
    request: &DeployRequest<'_>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Outcome> {
    let name = request.stack_name;
    let session = Session::new(aws, Ownership::app(name), options, progress, in_flight);
    let data_session = Session::new(aws, Ownership::data(name), options, progress, in_flight);
    let mut rendered = request.render()?;
    concurrency::check_replay_concurrency(aws, name, request.template, progress).await?;
    let survey = survey::survey(aws, name).await?;
    let data_stack = attach::attach_event_store(&session, &data_session, &survey, request).await?;
    let (values, tables) = data::data_values(aws, &data_stack).await?;
    for table in &tables {
        ownership::tag_table(aws, table, &data_session.ownership).await?;
    }
    rendered.parameters.extend(values.0);
    // Roles the app stack holds that its new template does not declare go
    // with this deploy (an earlier version's logging role among them).
    let doomed: BTreeSet<String> = survey
        .app_roles()
        .into_iter()
        .filter(|(id, _)| !request.template.resources.keys().any(|k| k.as_str() == id))
        .map(|(_, role)| role)
        .collect();
    logging_role::ensure_logging_role(aws, &data_stack, &doomed, &options.waits, progress).await?;
    let stack = app::ready_stack(&session).await?;
    let outcome = deploy_app(&session, &stack, request, rendered).await?;
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
    let replays = DeployedReplays::find(aws, stack_name).await?;
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
    rendered: Rendered,
) -> anyhow::Result<Outcome> {
    let (aws, progress) = (session.aws, session.progress);
    if session.options.hotswap {
        match hotswap::try_hotswap(session, stack, request.manifest, &rendered).await? {
            Some(outcome) => return Ok(outcome),
            None => progress.line("hotswap: more than function code changed; doing a full deploy"),
        }
    }
    let change_set =
        app::update_change_set(session, stack, rendered, Some(request.manifest)).await?;
    let Some(ready) = change_set else {
        return Ok(Outcome::NoChanges);
    };
    operation::execute(session, &ready, OperationKind::Update).await?;
    let mut outputs = stacks::describe(&aws.cloudformation, &session.stack_name)
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
