//! The app stack's own steps: the stack made ready for a deploy (created
//! in its first phase, the artifact bucket alone, when it is absent or
//! unusable), its artifact bucket (the packages, and templates too large
//! to send inline), and the UPDATE change set that takes it to a template.

use anyhow::Context;
use aws_sdk_cloudformation::types::ChangeSetType;

use super::artifacts;
use super::change_sets::{self, ChangeSet, ReadyChangeSet, TemplateSource};
use super::operation;
use super::request::Rendered;
use super::session::Session;
use super::stacks::{self, StackInfo};
use super::status::{StackStatusExt, Standing};
use crate::bundle::Manifest;
use crate::stack::{ARTIFACT_BUCKET_ID, ARTIFACT_BUCKET_OUTPUT, bootstrap_stack};

/// The stack, settled and holding its artifact bucket: created (first
/// phase) when absent; deleted first when a failed or interrupted first
/// deploy left it unusable; refused when busy or stuck.
pub(super) async fn ready_stack(session: &Session<'_>) -> anyhow::Result<StackInfo> {
    let name = &session.stack_name;
    let Some(info) = stacks::describe(&session.aws.cloudformation, name).await? else {
        return create_bootstrap(session).await;
    };
    match info.standing() {
        Standing::Update => Ok(info),
        Standing::Busy | Standing::Stuck => Err(info.refusal(name)),
        Standing::Create => create_bootstrap(session).await,
        Standing::DeleteThenCreate => {
            let why = if info.status.is_rolled_back() {
                "after a failed first create"
            } else {
                "with nothing in it, left by an interrupted first deploy"
            };
            session.progress.line(format!(
                "the stack {name} is {} {why}; deleting it to create it again",
                info.status
            ));
            operation::delete(session, &info).await?;
            create_bootstrap(session).await
        }
    }
}

/// First phase of a new stack: the artifact bucket alone.
async fn create_bootstrap(session: &Session<'_>) -> anyhow::Result<StackInfo> {
    session.progress.line(format!(
        "creating the stack {} in {}: first its artifact bucket",
        session.stack_name, session.aws.region
    ));
    let body = bootstrap_stack()
        .to_yaml()
        .context("cannot render the bootstrap template")?;
    operation::create_stack(session, "the stack", body).await
}

/// The UPDATE change set that takes `stack` to `rendered`, its changes
/// shown; `None` when there is nothing to change (said to the user).
/// A deploy passes its `packages`, uploaded first; a diff needs none.
pub(super) async fn update_change_set(
    session: &Session<'_>,
    stack: &StackInfo,
    rendered: Rendered,
    packages: Option<&Manifest>,
) -> anyhow::Result<Option<ReadyChangeSet>> {
    let bucket = match packages {
        Some(manifest) => upload_packages(session, stack, manifest).await?,
        None => artifact_bucket(session, stack).await?,
    };
    let template = template_source(session, &bucket, rendered.body).await?;
    session.progress.status("creating the change set");
    let change_set = operation::create_change_set(
        session,
        ChangeSetType::Update,
        &template,
        &rendered.parameters,
    )
    .await?;
    match change_set {
        ChangeSet::NoChanges => {
            session.progress.line(format!(
                "no changes: the stack {} is up to date",
                session.stack_name
            ));
            Ok(None)
        }
        ChangeSet::Ready(ready) => {
            change_sets::print_changes(session.progress, &ready.changes);
            Ok(Some(ready))
        }
    }
}

/// Puts the packages in the stack's artifact bucket; the bucket.
pub(super) async fn upload_packages(
    session: &Session<'_>,
    stack: &StackInfo,
    manifest: &Manifest,
) -> anyhow::Result<String> {
    let bucket = artifact_bucket(session, stack).await?;
    artifacts::upload_packages(&session.aws.s3, &bucket, manifest, session.progress).await?;
    Ok(bucket)
}

/// The stack's artifact bucket.
pub(super) async fn artifact_bucket(
    session: &Session<'_>,
    stack: &StackInfo,
) -> anyhow::Result<String> {
    if let Some(bucket) = stack.outputs.get(ARTIFACT_BUCKET_OUTPUT) {
        return Ok(bucket.clone());
    }
    stacks::physical_ids(&session.aws.cloudformation, &stack.id)
        .await?
        .remove(ARTIFACT_BUCKET_ID)
        .with_context(|| {
            format!(
                "the stack {} has no {ARTIFACT_BUCKET_ID}: it was not made by cargo xtask deploy",
                stack.id
            )
        })
}

/// `body` inline, or through `bucket` when it is over the inline limit.
pub(super) async fn template_source(
    session: &Session<'_>,
    bucket: &str,
    body: String,
) -> anyhow::Result<TemplateSource> {
    if body.len() <= session.options.inline_template_limit {
        return Ok(TemplateSource::Body(body));
    }
    let aws = session.aws;
    let url = artifacts::upload_template(&aws.s3, bucket, &aws.region, &body).await?;
    Ok(TemplateSource::Url(url))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::deploy::aws::Aws;
    use crate::deploy::in_flight::InFlight;
    use crate::deploy::progress::Progress;
    use crate::deploy::request::DeployOptions;
    use crate::deploy::status::StackStatus;
    use crate::stack::tags::Ownership;

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
        let options = DeployOptions::for_emulator();
        let session = Session::new(
            &aws,
            Ownership::app(&stack),
            &options,
            &progress,
            &in_flight,
        );
        let body = bootstrap_stack().to_yaml().expect("renders");
        let change_set = operation::create_change_set(
            &session,
            ChangeSetType::Create,
            &TemplateSource::Body(body),
            &BTreeMap::new(),
        )
        .await
        .expect("a change set");
        let ChangeSet::Ready(ReadyChangeSet { id, stack_id, .. }) = change_set else {
            panic!("nothing to create");
        };

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
        let created = ready_stack(&session)
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
