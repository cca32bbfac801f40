//! Change sets: created under a unique name, worked out by
//! CloudFormation (a bounded wait), shown one change a line, then
//! executed or deleted by ARN.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, ResourceToImport, Tag,
};

use super::aws::SdkResultExt;
use super::progress::Progress;
use super::wait::{Wait, Waits};

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
    Ready(ReadyChangeSet),
}

/// A change set CloudFormation has worked out, not yet executed.
#[derive(Clone, Debug)]
pub struct ReadyChangeSet {
    /// The change set's ARN: every later call names it by ARN, never by
    /// name (some implementations look names up across stacks).
    pub id: String,
    pub stack_id: String,
    pub changes: Vec<ResourceChange>,
}

/// A change-set name no other deploy shares, even one started in the
/// same millisecond.
pub fn unique_change_set_name() -> String {
    format!("cargo-xtask-{}", uuid::Uuid::new_v4().simple())
}

/// What [`create_change_set`] asks CloudFormation for.
pub struct ChangeSetRequest<'a> {
    pub stack_name: &'a str,
    pub kind: ChangeSetType,
    pub template: &'a TemplateSource,
    pub parameters: &'a BTreeMap<String, String>,
    /// Parameters that keep the value they have (`UsePreviousValue`).
    pub kept_parameters: &'a [String],
    /// The stack's tags. Always sent: a change set without tags would
    /// keep the old ones, and the tags say whose the stack is.
    pub tags: &'a BTreeMap<String, String>,
    /// For an IMPORT change set: the resources it brings into the stack.
    pub imports: &'a [Import],
}

/// A resource an IMPORT change set brings into a stack: the template's
/// `logical_id`, of `resource_type`, found by its identifier property
/// (e.g. `TableName`) and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub logical_id: String,
    pub resource_type: String,
    pub identifier: (String, String),
}

/// Creates a change set under a [`unique_change_set_name`] and waits until
/// CloudFormation has worked it out.
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
        .chain(request.kept_parameters.iter().map(|key| {
            Parameter::builder()
                .parameter_key(key)
                .use_previous_value(true)
                .build()
        }))
        .collect();
    let tags: Vec<Tag> = request
        .tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect();
    let imports: Vec<ResourceToImport> = request
        .imports
        .iter()
        .map(|import| {
            ResourceToImport::builder()
                .logical_resource_id(&import.logical_id)
                .resource_type(&import.resource_type)
                .resource_identifier(&import.identifier.0, &import.identifier.1)
                .build()
        })
        .collect();
    let mut call = client
        .create_change_set()
        .stack_name(request.stack_name)
        .change_set_name(unique_change_set_name())
        .change_set_type(request.kind.clone())
        .capabilities(Capability::CapabilityIam)
        .set_parameters(Some(parameters))
        .set_tags(Some(tags))
        .set_resources_to_import((!imports.is_empty()).then_some(imports))
        .description("cargo xtask deploy");
    call = match request.template {
        TemplateSource::Body(body) => call.template_body(body),
        TemplateSource::Url(url) => call.template_url(url),
    };
    let created = match call.send().await {
        Ok(created) => created,
        Err(err) if is_no_changes(err.message()) => return Ok(ChangeSet::NoChanges),
        Err(err) => {
            return Err(err).with_sdk_context(|| "CloudFormation refused the change set");
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
                return Ok(ChangeSet::Ready(ReadyChangeSet {
                    id,
                    stack_id,
                    changes,
                }));
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
            .with_sdk_context(|| "cannot describe the change set")?;
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
        .with_sdk_context(|| format!("cannot delete the change set {id}"))?;
    Ok(())
}

/// Executes the change set `id` (its ARN).
pub async fn execute_change_set(client: &Client, id: &str) -> anyhow::Result<()> {
    client
        .execute_change_set()
        .change_set_name(id)
        .send()
        .await
        .with_sdk_context(|| "CloudFormation refused to execute the change set")?;
    Ok(())
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
