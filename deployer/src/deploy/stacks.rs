//! Stacks as CloudFormation describes them: their status, outputs,
//! parameters, resources and deployed template; and deleting one. What a
//! status means is in [`super::status`].

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;

use super::aws::SdkResultExt;
use super::status::{StackStatus, StackStatusExt, Standing};

/// A stack as DescribeStacks shows it.
#[derive(Clone, Debug)]
pub struct StackInfo {
    pub id: String,
    pub status: StackStatus,
    pub status_reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    /// The stack's tags: whose it is (`crate::stack::tags`), and others.
    pub tags: BTreeMap<String, String>,
}

impl StackInfo {
    /// What a deploy does with this stack.
    pub fn standing(&self) -> Standing {
        self.status.standing()
    }

    /// Why nothing may be deployed over this stack, called `name`, now: it
    /// is busy or stuck.
    pub fn refusal(&self, name: &str) -> anyhow::Error {
        if self.standing() == Standing::Busy {
            anyhow::anyhow!(
                "the stack {name} is {}: another operation is running on it; wait for it to finish, then run the command again",
                self.status
            )
        } else {
            anyhow::anyhow!(
                "the stack {name} is {}{}; it needs a hand in the CloudFormation console (e.g. continue the rollback) before it can be deployed",
                self.status,
                self.status_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        }
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
            return Err(err).with_sdk_context(|| format!("cannot describe the stack {name}"));
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
        tags: stack
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
            .collect(),
    }))
}

/// Whether an error message says the stack is not there.
pub(super) fn is_missing_stack(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.contains("does not exist"))
}

/// Starts deleting a stack.
pub async fn delete_stack(client: &Client, stack: &str) -> anyhow::Result<()> {
    client
        .delete_stack()
        .stack_name(stack)
        .send()
        .await
        .with_sdk_context(|| format!("CloudFormation refused to delete the stack {stack}"))?;
    Ok(())
}

/// The physical ID of each resource of the stack, by logical ID.
pub async fn physical_ids(
    client: &Client,
    stack: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(resources(client, stack)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.logical_id, r.physical_id?)))
        .collect())
}

/// One resource of a stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackResource {
    pub logical_id: String,
    /// Absent while it is being created (or when it never was).
    pub physical_id: Option<String>,
    pub resource_type: String,
}

/// Every resource of the stack that has a logical ID (some emulators list
/// resources they did not create without one).
pub async fn resources(client: &Client, stack: &str) -> anyhow::Result<Vec<StackResource>> {
    let resources = client
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .with_sdk_context(|| "cannot list the stack's resources")?;
    Ok(resources
        .stack_resources()
        .iter()
        .filter_map(|r| {
            Some(StackResource {
                logical_id: r.logical_resource_id()?.to_owned(),
                physical_id: r.physical_resource_id().map(str::to_owned),
                resource_type: r.resource_type().unwrap_or_default().to_owned(),
            })
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
        .with_sdk_context(|| "cannot read the deployed template")?;
    Ok(template.template_body().unwrap_or_default().to_owned())
}
