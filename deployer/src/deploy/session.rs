//! The steps deploy, diff and destroy are made of, as methods of a
//! [`Session`]: what every step of one command shares (the clients, the
//! stack, the waits, where progress goes, what is in flight).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::types::ChangeSetType;

use super::change_sets::{
    self, ChangeSet, ChangeSetRequest, Import, ReadyChangeSet, ResourceChange, TemplateSource,
};
use super::in_flight::{InFlight, Step};
use super::operation::{self, OperationKind};
use super::progress::Progress;
use super::stacks::{self, StackInfo};
use super::status::{StackStatusExt, Standing};
use super::{Aws, DeployOptions, Rendered, artifacts};
use crate::bundle::Manifest;
use crate::stack::tags::Ownership;
use crate::stack::{ARTIFACT_BUCKET_ID, ARTIFACT_BUCKET_OUTPUT, bootstrap_stack};

/// One command's work on one stack.
pub(crate) struct Session<'a> {
    pub aws: &'a Aws,
    /// Whose the stack is: its name, and the tags its change sets carry.
    pub ownership: Ownership,
    pub stack_name: String,
    pub options: &'a DeployOptions,
    pub progress: &'a Progress,
    pub in_flight: &'a InFlight,
}

impl<'a> Session<'a> {
    /// For the public entry points, which take these one by one.
    pub fn new(
        aws: &'a Aws,
        ownership: Ownership,
        options: &'a DeployOptions,
        progress: &'a Progress,
        in_flight: &'a InFlight,
    ) -> Session<'a> {
        Session {
            aws,
            stack_name: ownership.stack_name(),
            ownership,
            options,
            progress,
            in_flight,
        }
    }

    /// The stack, or `None` when there is none.
    pub async fn describe(&self) -> anyhow::Result<Option<StackInfo>> {
        stacks::describe(&self.aws.cloudformation, &self.stack_name).await
    }

    /// The stack, settled and holding its artifact bucket: created (first
    /// phase) when absent; deleted first when a failed or interrupted
    /// first deploy left it unusable; refused when busy or stuck.
    pub async fn ready_stack(&self) -> anyhow::Result<StackInfo> {
        let Some(info) = self.describe().await? else {
            return self.create_bootstrap().await;
        };
        match info.standing() {
            Standing::Update => Ok(info),
            Standing::Busy | Standing::Stuck => Err(self.refusal(&info)),
            Standing::Create => self.create_bootstrap().await,
            Standing::DeleteThenCreate => {
                let why = if info.status.is_rolled_back() {
                    "after a failed first create"
                } else {
                    "with nothing in it, left by an interrupted first deploy"
                };
                self.progress.line(format!(
                    "the stack {} is {} {why}; deleting it to create it again",
                    self.stack_name, info.status
                ));
                self.delete(&info).await?;
                self.create_bootstrap().await
            }
        }
    }

    /// Why nothing may be deployed over the stack `info` now: it is busy
    /// or stuck.
    pub fn refusal(&self, info: &StackInfo) -> anyhow::Error {
        let name = &self.stack_name;
        if info.standing() == Standing::Busy {
            anyhow::anyhow!(
                "the stack {name} is {}: another operation is running on it; wait for it to finish, then run the command again",
                info.status
            )
        } else {
            anyhow::anyhow!(
                "the stack {name} is {}{}; it needs a hand in the CloudFormation console (e.g. continue the rollback) before it can be deployed",
                info.status,
                info.status_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        }
    }

    /// First phase of a new stack: the artifact bucket alone.
    async fn create_bootstrap(&self) -> anyhow::Result<StackInfo> {
        let name = &self.stack_name;
        self.progress.line(format!(
            "creating the stack {name} in {}: first its artifact bucket",
            self.aws.region
        ));
        let body = bootstrap_stack()
            .to_yaml()
            .context("cannot render the bootstrap template")?;
        let template = TemplateSource::Body(body);
        let change_set = self
            .create_change_set(ChangeSetType::Create, &template, &BTreeMap::new())
            .await?;
        let ChangeSet::Ready(ready) = change_set else {
            bail!("CloudFormation found nothing to create for the new stack {name}");
        };
        self.execute(&ready, OperationKind::Creation).await?;
        self.describe()
            .await?
            .with_context(|| format!("the stack {name} vanished after its creation"))
    }

    /// Creates a change set for the stack, tagged as the session's; a
    /// ready one is in flight until it is executed or deleted.
    pub(super) async fn create_change_set(
        &self,
        kind: ChangeSetType,
        template: &TemplateSource,
        parameters: &BTreeMap<String, String>,
    ) -> anyhow::Result<ChangeSet> {
        self.create_change_set_with(kind, template, parameters, &[], &[])
            .await
    }

    /// [`Session::create_change_set`] that also keeps the deployed value
    /// of `kept_parameters`, and imports `imports`.
    pub(super) async fn create_change_set_with(
        &self,
        kind: ChangeSetType,
        template: &TemplateSource,
        parameters: &BTreeMap<String, String>,
        kept_parameters: &[String],
        imports: &[Import],
    ) -> anyhow::Result<ChangeSet> {
        let tags = self.ownership.tags();
        let request = ChangeSetRequest {
            stack_name: &self.stack_name,
            kind,
            template,
            parameters,
            kept_parameters,
            tags: &tags,
            imports,
        };
        let change_set =
            change_sets::create_change_set(&self.aws.cloudformation, &request, &self.options.waits)
                .await?;
        if let ChangeSet::Ready(ready) = &change_set {
            self.in_flight.set(Step::ChangeSet {
                id: ready.id.clone(),
            });
        }
        Ok(change_set)
    }

    /// The UPDATE change set that takes `stack` to `rendered`, its changes
    /// shown; `None` when there is nothing to change (said to the user).
    /// A deploy passes its `packages`, uploaded first; a diff needs none.
    pub async fn update_change_set(
        &self,
        stack: &StackInfo,
        rendered: Rendered,
        packages: Option<&Manifest>,
    ) -> anyhow::Result<Option<ReadyChangeSet>> {
        let bucket = match packages {
            Some(manifest) => self.upload_packages(stack, manifest).await?,
            None => self.artifact_bucket(stack).await?,
        };
        let template = self.template_source(&bucket, rendered.body).await?;
        self.progress.status("creating the change set");
        let change_set = self
            .create_change_set(ChangeSetType::Update, &template, &rendered.parameters)
            .await?;
        match change_set {
            ChangeSet::NoChanges => {
                self.progress.line(format!(
                    "no changes: the stack {} is up to date",
                    self.stack_name
                ));
                Ok(None)
            }
            ChangeSet::Ready(ready) => {
                print_changes(self.progress, &ready.changes);
                Ok(Some(ready))
            }
        }
    }

    /// Executes the change set and follows the operation it starts.
    pub async fn execute(&self, ready: &ReadyChangeSet, kind: OperationKind) -> anyhow::Result<()> {
        let start = change_sets::execute_change_set(&self.aws.cloudformation, &ready.id);
        operation::run(self, &ready.stack_id, kind, start).await
    }

    /// Deletes a change set that was only looked at.
    pub async fn discard(&self, ready: &ReadyChangeSet) -> anyhow::Result<()> {
        change_sets::delete_change_set(&self.aws.cloudformation, &ready.id).await?;
        self.in_flight.set(Step::Idle);
        Ok(())
    }

    /// Deletes the stack and follows the deletion to its end; used by a
    /// deploy that must recreate a stack and by destroy.
    pub async fn delete(&self, info: &StackInfo) -> anyhow::Result<()> {
        let start = stacks::delete_stack(&self.aws.cloudformation, &info.id);
        operation::run(self, &info.id, OperationKind::Deletion, start).await
    }

    /// Puts the packages in the stack's artifact bucket; the bucket.
    pub async fn upload_packages(
        &self,
        stack: &StackInfo,
        manifest: &Manifest,
    ) -> anyhow::Result<String> {
        let bucket = self.artifact_bucket(stack).await?;
        artifacts::upload_packages(&self.aws.s3, &bucket, manifest, self.progress).await?;
        Ok(bucket)
    }

    /// The stack's artifact bucket.
    pub(super) async fn artifact_bucket(&self, stack: &StackInfo) -> anyhow::Result<String> {
        if let Some(bucket) = stack.outputs.get(ARTIFACT_BUCKET_OUTPUT) {
            return Ok(bucket.clone());
        }
        stacks::physical_ids(&self.aws.cloudformation, &stack.id)
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
        &self,
        bucket: &str,
        body: String,
    ) -> anyhow::Result<TemplateSource> {
        if body.len() <= self.options.inline_template_limit {
            return Ok(TemplateSource::Body(body));
        }
        let aws = self.aws;
        let url = artifacts::upload_template(&aws.s3, bucket, &aws.region, &body).await?;
        Ok(TemplateSource::Url(url))
    }
}

/// A change set's changes, one line each.
pub(super) fn print_changes(progress: &Progress, changes: &[ResourceChange]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::status::StackStatus;
    use crate::deploy::wait::Waits;

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
        let options = DeployOptions {
            waits: Waits::for_emulator(),
            ..DeployOptions::default()
        };
        let session = Session::new(
            &aws,
            Ownership::app(&stack),
            &options,
            &progress,
            &in_flight,
        );
        let body = bootstrap_stack().to_yaml().expect("renders");
        let change_set = session
            .create_change_set(
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
        let created = session
            .ready_stack()
            .await
            .expect("the next deploy's first phase");
        assert_eq!(created.status, StackStatus::CreateComplete);
        let info = session
            .describe()
            .await
            .expect("describe")
            .expect("the stack");
        assert_eq!(info.status, StackStatus::CreateComplete, "{info:?}");
    }
}
