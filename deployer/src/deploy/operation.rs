//! What a command does to its stack through CloudFormation, each step
//! recorded in flight while it lasts (so that Ctrl-C can clean up after
//! it): a change set created, then executed or discarded; a stack created
//! from a template, or deleted. Each operation it starts is followed to
//! its end ([`super::follow`]) and fails as [`StackFailed`] unless it
//! succeeded.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::types::ChangeSetType;

use super::change_sets::{
    self, ChangeSet, ChangeSetRequest, Import, ReadyChangeSet, TemplateSource,
};
use super::follow::{self, StackFailed};
use super::in_flight::Step;
use super::session::Session;
use super::stacks::{self, StackInfo};
use super::status::OperationKind;

/// Creates a change set for the session's stack, tagged as the session's;
/// a ready one is in flight until it is executed or discarded.
pub(super) async fn create_change_set(
    session: &Session<'_>,
    kind: ChangeSetType,
    template: &TemplateSource,
    parameters: &BTreeMap<String, String>,
) -> anyhow::Result<ChangeSet> {
    create_change_set_with(session, kind, template, parameters, &[], &[]).await
}

/// [`create_change_set`] that also keeps the deployed value of
/// `kept_parameters`, and imports `imports`.
pub(super) async fn create_change_set_with(
    session: &Session<'_>,
    kind: ChangeSetType,
    template: &TemplateSource,
    parameters: &BTreeMap<String, String>,
    kept_parameters: &[String],
    imports: &[Import],
) -> anyhow::Result<ChangeSet> {
    let tags = session.ownership.tags();
    let request = ChangeSetRequest {
        stack_name: &session.stack_name,
        kind,
        template,
        parameters,
        kept_parameters,
        tags: &tags,
        imports,
    };
    let change_set = change_sets::create_change_set(
        &session.aws.cloudformation,
        &request,
        &session.options.waits,
    )
    .await?;
    if let ChangeSet::Ready(ready) = &change_set {
        session.in_flight.set(Step::ChangeSet {
            id: ready.id.clone(),
        });
    }
    Ok(change_set)
}

/// Creates the session's stack, absent until now, from `body` (through a
/// CREATE change set, so it carries the session's tags from the start);
/// the stack once created. `what` names it in messages ("the stack").
pub(super) async fn create_stack(
    session: &Session<'_>,
    what: &str,
    body: String,
) -> anyhow::Result<StackInfo> {
    let name = &session.stack_name;
    let change_set = create_change_set(
        session,
        ChangeSetType::Create,
        &TemplateSource::Body(body),
        &BTreeMap::new(),
    )
    .await?;
    let ChangeSet::Ready(ready) = change_set else {
        bail!("CloudFormation found nothing to create for {what} {name}");
    };
    execute(session, &ready, OperationKind::Creation).await?;
    stacks::describe(&session.aws.cloudformation, name)
        .await?
        .with_context(|| format!("{what} {name} vanished after its creation"))
}

/// Executes the change set and follows the operation it starts.
pub(super) async fn execute(
    session: &Session<'_>,
    ready: &ReadyChangeSet,
    kind: OperationKind,
) -> anyhow::Result<()> {
    let start = change_sets::execute_change_set(&session.aws.cloudformation, &ready.id);
    run(session, &ready.stack_id, kind, start).await
}

/// Deletes a change set that was only looked at.
pub(super) async fn discard(session: &Session<'_>, ready: &ReadyChangeSet) -> anyhow::Result<()> {
    change_sets::delete_change_set(&session.aws.cloudformation, &ready.id).await?;
    session.in_flight.set(Step::Idle);
    Ok(())
}

/// Deletes the stack and follows the deletion to its end; used by a
/// deploy that must recreate a stack and by destroy.
pub(super) async fn delete(session: &Session<'_>, info: &StackInfo) -> anyhow::Result<()> {
    let start = stacks::delete_stack(&session.aws.cloudformation, &info.id);
    run(session, &info.id, OperationKind::Deletion, start).await
}

/// Starts an operation on the stack `stack_id` (by awaiting `start`) and
/// follows it to its end, recorded as in flight meanwhile. [`StackFailed`]
/// unless it ended at [`OperationKind::success`].
async fn run(
    session: &Session<'_>,
    stack_id: &str,
    kind: OperationKind,
    start: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    // Taken before the start: every event after it is news.
    let mut seen = follow::seen_events(&session.aws.cloudformation, stack_id).await?;
    start.await?;
    session.in_flight.set(Step::Operation {
        stack: session.stack_name.to_owned(),
        kind,
    });
    let ending = follow::watch(session, stack_id, kind, &mut seen).await?;
    session.in_flight.set(Step::Idle);
    session.progress.status("");
    if ending.status != kind.success() {
        return Err(StackFailed {
            stack: session.stack_name.to_owned(),
            ending,
        }
        .into());
    }
    Ok(())
}
