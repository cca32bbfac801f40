//! CloudFormation calls the deployer makes; what the statuses they return
//! mean is in [`super::status`].

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, StackEvent,
};

use super::progress::Progress;
use super::status::{ResourceStatusExt, StackStatus, StackStatusExt, Standing};
use super::wait::{Wait, Waits};

/// A stack as DescribeStacks shows it.
#[derive(Clone, Debug)]
pub struct StackInfo {
    pub id: String,
    pub status: StackStatus,
    pub status_reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
}

impl StackInfo {
    /// What a deploy does with this stack.
    pub fn standing(&self) -> Standing {
        self.status.standing()
    }
}

/// The stack called `name`, or `None` when there is none.
pub async fn describe(client: &Client, name: &str) -> anyhow::Result<Option<StackInfo>> {
    let response = match client.describe_stacks().stack_name(name).send().await {
        Ok(response) => response,
        Err(err) if err.code() == Some("ValidationError") && is_missing_stack(err.message()) => {
            return Ok(None);
        }
        Err(err) => {
            return Err(anyhow::anyhow!("{}", DisplayErrorContext(&err)))
                .with_context(|| format!("cannot describe the stack {name}"));
        }
    };
    let Some(stack) = response.stacks().first() else {
        return Ok(None);
    };
    // A stack without a status is judged as an unknown status: not fit
    // to deploy over.
    let status = stack
        .stack_status()
        .cloned()
        .unwrap_or_else(|| StackStatus::from(""));
    if status.is_deleted() {
        return Ok(None);
    }
    Ok(Some(StackInfo {
        id: stack.stack_id().unwrap_or(name).to_owned(),
        status,
        status_reason: stack.stack_status_reason().map(str::to_owned),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
    }))
}

fn is_missing_stack(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.contains("does not exist"))
}

/// Where CloudFormation reads a template from.
#[derive(Clone, Debug)]
pub enum TemplateSource {
    Body(String),
    /// An S3 URL: for templates over the inline limit.
    Url(String),
}

/// One resource change of a change set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for modifications.
    pub replacement: Option<String>,
}

/// A created change set, or the news that there is nothing to change.
#[derive(Clone, Debug)]
pub enum ChangeSet {
    NoChanges,
    Ready {
        /// The change set's ARN: every later call names it by ARN, never
        /// by name (some implementations look names up across stacks).
        id: String,
        stack_id: String,
        changes: Vec<ResourceChange>,
    },
}

/// A change-set name no other deploy shares, even one started in the
/// same millisecond.
pub fn unique_change_set_name() -> String {
    format!("cargo-xtask-{}", uuid::Uuid::new_v4().simple())
}

pub struct ChangeSetRequest<'a> {
    pub stack_name: &'a str,
    pub change_set_name: &'a str,
    pub kind: ChangeSetType,
    pub template: &'a TemplateSource,
    pub parameters: &'a BTreeMap<String, String>,
}

/// Creates a change set and waits until CloudFormation has worked it out.
/// "Nothing to change" (which CloudFormation reports as a failed change
/// set, and some emulators as a refused request) is [`ChangeSet::NoChanges`],
/// the failed change set deleted.
pub async fn create_change_set(
    client: &Client,
    request: &ChangeSetRequest<'_>,
    waits: &Waits,
) -> anyhow::Result<ChangeSet> {
    let parameters: Vec<Parameter> = request
        .parameters
        .iter()
        .map(|(key, value)| {
            Parameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build()
        })
        .collect();
    let mut call = client
        .create_change_set()
        .stack_name(request.stack_name)
        .change_set_name(request.change_set_name)
        .change_set_type(request.kind.clone())
        .capabilities(Capability::CapabilityIam)
        .set_parameters(Some(parameters))
        .description("cargo xtask deploy");
    call = match request.template {
        TemplateSource::Body(body) => call.template_body(body),
        TemplateSource::Url(url) => call.template_url(url),
    };
    let created = match call.send().await {
        Ok(created) => created,
        Err(err) if is_no_changes(err.message()) => return Ok(ChangeSet::NoChanges),
        Err(err) => {
            return Err(anyhow::anyhow!("{}", DisplayErrorContext(&err)))
                .context("CloudFormation refused the change set");
        }
    };
    let stack_id = created.stack_id().unwrap_or(request.stack_name).to_owned();
    let id = created
        .id()
        .context("CloudFormation created a change set without an id")?
        .to_owned();
    let mut wait = Wait::new(
        format!(
            "CloudFormation to work out the change set for the stack {}",
            request.stack_name
        ),
        waits.change_set,
        waits.poll,
        "run the command again; if it keeps happening, look at the stack's change sets in the CloudFormation console",
    );
    loop {
        let (status, reason, changes) = describe_change_set(client, &id).await?;
        wait.saw(status.as_str());
        match status {
            ChangeSetStatus::CreateComplete => {
                return Ok(ChangeSet::Ready {
                    id,
                    stack_id,
                    changes,
                });
            }
            ChangeSetStatus::Failed => {
                // Best effort: a failed change set is only clutter.
                let _ = delete_change_set(client, &id).await;
                if is_no_changes(reason.as_deref()) {
                    return Ok(ChangeSet::NoChanges);
                }
                bail!(
                    "CloudFormation could not create the change set: {}",
                    reason.unwrap_or_else(|| "no reason given".to_owned())
                );
            }
            _ => {
                if let Err(expired) = wait.pause().await {
                    let _ = delete_change_set(client, &id).await;
                    return Err(expired.into());
                }
            }
        }
    }
}

/// The change set's status, its reason and, once it is complete, every
/// change it lists (all pages).
async fn describe_change_set(
    client: &Client,
    id: &str,
) -> anyhow::Result<(ChangeSetStatus, Option<String>, Vec<ResourceChange>)> {
    let mut changes = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .describe_change_set()
            .change_set_name(id)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)))
            .context("cannot describe the change set")?;
        changes.extend(
            page.changes()
                .iter()
                .filter_map(|change| change.resource_change())
                .map(|resource| ResourceChange {
                    action: resource
                        .action()
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    logical_id: resource
                        .logical_resource_id()
                        .unwrap_or_default()
                        .to_owned(),
                    resource_type: resource.resource_type().unwrap_or_default().to_owned(),
                    replacement: resource.replacement().map(|r| r.as_str().to_owned()),
                }),
        );
        let status = page
            .status()
            .cloned()
            .unwrap_or_else(|| ChangeSetStatus::from(""));
        match page.next_token() {
            Some(token) if status == ChangeSetStatus::CreateComplete => {
                next_token = Some(token.to_owned());
            }
            _ => return Ok((status, page.status_reason().map(str::to_owned), changes)),
        }
    }
}

fn is_no_changes(message: Option<&str>) -> bool {
    message.is_some_and(|m| {
        m.contains("didn't contain changes")
            || m.contains("No updates are to be performed")
            || m.contains("No changes")
    })
}

/// Deletes the change set `id` (its ARN).
pub async fn delete_change_set(client: &Client, id: &str) -> anyhow::Result<()> {
    client
        .delete_change_set()
        .change_set_name(id)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)))
        .with_context(|| format!("cannot delete the change set {id}"))?;
    Ok(())
}

/// Executes the change set `id` (its ARN).
pub async fn execute_change_set(client: &Client, id: &str) -> anyhow::Result<()> {
    client
        .execute_change_set()
        .change_set_name(id)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)))
        .context("CloudFormation refused to execute the change set")?;
    Ok(())
}

/// How an operation on a stack ended.
#[derive(Clone, Debug)]
pub struct Ending {
    /// DELETE_COMPLETE once the stack is gone.
    pub status: StackStatus,
    pub status_reason: Option<String>,
    /// The earliest resource that failed, and why.
    pub first_failure: Option<Failure>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

/// An operation CloudFormation runs on a stack, as [`watch`] follows it.
#[derive(Clone, Copy, Debug)]
pub struct Operation<'a> {
    pub stack_id: &'a str,
    pub stack_name: &'a str,
    /// "creation", "update" or "deletion", for messages.
    pub what: &'static str,
}

/// Follows the operation just started on a stack, printing each new stack
/// event once, oldest first, until the operation ends. The end is a
/// terminal status together with evidence that this operation ran: a
/// status seen in progress, or a new stack-level event with a terminal
/// status (an emulator may finish before the first poll).
///
/// Bounded by `waits`: the operation's deadline and no-progress limit, and
/// [`Waits::execution_start`] for an operation that does not start (the
/// stack still `REVIEW_IN_PROGRESS`, or still at its old terminal status).
pub async fn watch(
    client: &Client,
    operation: Operation<'_>,
    seen: &mut HashSet<String>,
    progress: &Progress,
    waits: &Waits,
) -> anyhow::Result<Ending> {
    let Operation {
        stack_id,
        stack_name,
        what,
    } = operation;
    let mut wait = Wait::new(
        format!("the {what} of the stack {stack_name}"),
        waits.stack_operation,
        waits.poll,
        "CloudFormation goes on without this command: follow the stack's events in the CloudFormation console, and run the command again once the stack has settled",
    );
    let mut first_failure: Option<Failure> = None;
    let mut operation_ended = false;
    let mut saw_progress = false;
    loop {
        let current = describe(client, stack_id).await?;
        let mut fresh = recent_events(client, stack_id, seen).await?;
        if !fresh.is_empty() {
            wait.progressed();
        }
        fresh.reverse();
        for event in fresh {
            if let Some(id) = event.event_id() {
                seen.insert(id.to_owned());
            }
            if first_failure.is_none() {
                first_failure = failure_of(&event);
            }
            let stack_level = event.logical_resource_id() == Some(stack_name)
                && event.resource_type() == Some("AWS::CloudFormation::Stack");
            // A stack-level event carries a stack status.
            if stack_level
                && event
                    .resource_status()
                    .is_some_and(|s| StackStatus::from(s.as_str()).is_settled())
            {
                operation_ended = true;
            }
            progress.line(describe_event(&event));
        }
        let Some(info) = current else {
            return Ok(Ending {
                status: StackStatus::DeleteComplete,
                status_reason: None,
                first_failure,
            });
        };
        progress.status(info.status.to_string());
        wait.saw(info.status.as_str());
        if info.status == StackStatus::ReviewInProgress {
            // Left by CreateChangeSet; executing moves the stack on at once.
            wait.brief(waits.execution_start, || {
                format!("the stack {stack_name} is still REVIEW_IN_PROGRESS after its change set was executed, so the change set did not run; run the command again")
            })?;
        } else if info.status.is_in_progress() {
            saw_progress = true;
        } else if saw_progress || operation_ended {
            return Ok(Ending {
                status: info.status,
                status_reason: info.status_reason,
                first_failure,
            });
        } else {
            wait.brief(waits.execution_start, || {
                format!(
                    "the stack {stack_name} stayed {} and the {what} never started; run the command again",
                    info.status
                )
            })?;
        }
        wait.pause().await?;
    }
}

/// The ids of the stack's events so far: what [`watch`] must not report
/// as news.
pub async fn seen_events(client: &Client, stack_id: &str) -> anyhow::Result<HashSet<String>> {
    Ok(recent_events(client, stack_id, &HashSet::new())
        .await?
        .iter()
        .filter_map(|e| e.event_id().map(str::to_owned))
        .collect())
}

/// The newest events up to the first one already seen (one page is
/// enough while polling; CloudFormation pages hold 100).
async fn recent_events(
    client: &Client,
    stack_id: &str,
    seen: &HashSet<String>,
) -> anyhow::Result<Vec<StackEvent>> {
    let page = match client
        .describe_stack_events()
        .stack_name(stack_id)
        .send()
        .await
    {
        Ok(page) => page,
        Err(err) if is_missing_stack(err.message()) => return Ok(Vec::new()),
        Err(err) => {
            return Err(anyhow::anyhow!("{}", DisplayErrorContext(&err)))
                .context("cannot read the stack's events");
        }
    };
    Ok(page
        .stack_events()
        .iter()
        .take_while(|e| e.event_id().is_none_or(|id| !seen.contains(id)))
        .cloned()
        .collect())
}

fn describe_event(event: &StackEvent) -> String {
    let status = event
        .resource_status()
        .map(|s| s.as_str())
        .unwrap_or_default();
    let mut line = format!(
        "  {:<28} {:<36} {}",
        event.logical_resource_id().unwrap_or_default(),
        event.resource_type().unwrap_or_default(),
        status
    );
    if let Some(reason) = event.resource_status_reason().filter(|r| !r.is_empty()) {
        line.push_str(&format!(" ({reason})"));
    }
    line
}

fn failure_of(event: &StackEvent) -> Option<Failure> {
    let status = event.resource_status()?;
    if !status.is_failed() {
        return None;
    }
    let reason = event.resource_status_reason().unwrap_or_default();
    // Resources cancelled because another one failed are not the cause.
    if reason.contains("cancelled") {
        return None;
    }
    Some(Failure {
        logical_id: event.logical_resource_id().unwrap_or_default().to_owned(),
        resource_type: event.resource_type().unwrap_or_default().to_owned(),
        status: status.as_str().to_owned(),
        reason: reason.to_owned(),
    })
}

/// Starts deleting a stack.
pub async fn delete_stack(client: &Client, stack: &str) -> anyhow::Result<()> {
    client
        .delete_stack()
        .stack_name(stack)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)))
        .with_context(|| format!("CloudFormation refused to delete the stack {stack}"))?;
    Ok(())
}

/// The physical ID of each resource of the stack, by logical ID.
pub async fn physical_ids(
    client: &Client,
    stack: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let resources = client
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)))
        .context("cannot list the stack's resources")?;
    Ok(resources
        .stack_resources()
        .iter()
        .filter_map(|r| {
            Some((
                r.logical_resource_id()?.to_owned(),
                r.physical_resource_id()?.to_owned(),
            ))
        })
        .collect())
}

/// The template the stack was last deployed with, as it was sent.
pub async fn deployed_template(client: &Client, stack: &str) -> anyhow::Result<String> {
    let template = client
        .get_template()
        .stack_name(stack)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{}", DisplayErrorContext(&err)))
        .context("cannot read the deployed template")?;
    Ok(template.template_body().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_changes_message_means_no_changes() {
        assert!(is_no_changes(Some(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        )));
        assert!(is_no_changes(Some("No updates are to be performed.")));
        assert!(!is_no_changes(Some("Template format error")));
        assert!(!is_no_changes(None));
    }
}
