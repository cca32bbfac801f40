//! Following an operation CloudFormation runs on a stack (a creation,
//! update, deletion or import) to its end, showing each stack event once,
//! and judging how it ended.

use std::collections::HashSet;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::StackEvent;

use super::aws::SdkResultExt;
use super::session::Session;
use super::stacks::{describe, is_missing_stack};
use super::status::{OperationKind, ResourceStatusExt, StackStatus, StackStatusExt};
use super::wait::Wait;

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

/// How an operation on a stack ended.
#[derive(Clone, Debug)]
pub struct Ending {
    /// DELETE_COMPLETE once the stack is gone.
    pub status: StackStatus,
    pub status_reason: Option<String>,
    /// The earliest resource that failed, and why.
    pub first_failure: Option<Failure>,
}

/// A resource whose part of the operation failed, as its event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

/// Follows the operation just started on a stack, printing each new stack
/// event once, oldest first, until the operation ends. The end is a
/// terminal status together with evidence that this operation ran: a
/// status seen in progress, or a new stack-level event with a terminal
/// status (an emulator may finish before the first poll).
///
/// Bounded by the session's waits: the operation's deadline and
/// no-progress limit, and [`Waits::execution_start`] for an operation that
/// does not start (the stack still `REVIEW_IN_PROGRESS`, or still at its
/// old terminal status).
///
/// [`Waits::execution_start`]: super::wait::Waits::execution_start
pub(super) async fn watch(
    session: &Session<'_>,
    stack_id: &str,
    kind: OperationKind,
    seen: &mut HashSet<String>,
) -> anyhow::Result<Ending> {
    let (client, progress, waits) = (
        &session.aws.cloudformation,
        session.progress,
        &session.options.waits,
    );
    let (stack_name, what) = (session.stack_name.as_str(), kind.noun());
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
pub(super) async fn seen_events(
    client: &Client,
    stack_id: &str,
) -> anyhow::Result<HashSet<String>> {
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
            return Err(err).with_sdk_context(|| "cannot read the stack's events");
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
