//! The account's API Gateway CloudWatch role: one setting per account and
//! region (`GetAccount` / `UpdateAccount`'s `cloudwatchRoleArn`) that every
//! API whose stage logs relies on. A stage with an access log cannot be
//! deployed without it, and a setting naming a deleted role breaks every
//! such deploy in the region, this project's or not.
//!
//! So a deploy keeps a setting that names a role that exists and API
//! Gateway may assume, unless this very deploy deletes that role; else it
//! points the setting at the data stack's role ([`LOGGING_ROLE_ID`]),
//! which `destroy` keeps. Before any command deletes roles, a setting that
//! names one of them is pointed at a role that stays, or cleared.

use std::collections::BTreeSet;

use anyhow::Context;
use aws_sdk_apigateway::types::{Op, PatchOperation};

use super::aws::Aws;
use super::aws::SdkResultExt;
use super::progress::Progress;
use super::stacks::{self, StackInfo};
use super::wait::{Wait, Waits};
use crate::stack::LOGGING_ROLE_ID;

/// The patch path of the setting.
const SETTING_PATH: &str = "/cloudwatchRoleArn";
/// The service a role must trust to be of use to the setting.
const API_GATEWAY: &str = "apigateway.amazonaws.com";

/// The role the setting names now, by ARN; `None` when it names none.
pub async fn account_role(aws: &Aws) -> anyhow::Result<Option<String>> {
    let account = aws
        .apigateway
        .get_account()
        .send()
        .await
        .with_sdk_context(|| "cannot read the account's API Gateway settings")?;
    Ok(account
        .cloudwatch_role_arn()
        .filter(|arn| !arn.is_empty())
        .map(str::to_owned))
}

/// The role name in a role ARN (`arn:aws:iam::1:role/path/name` → `name`).
pub fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The ARN of the role `name` when it exists and API Gateway may assume
/// it; `None` otherwise.
pub async fn usable_role(aws: &Aws, name: &str) -> anyhow::Result<Option<String>> {
    let role = match aws.iam.get_role().role_name(name).send().await {
        Ok(found) => found.role,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(None);
        }
        Err(err) => {
            return Err(err).with_sdk_context(|| format!("cannot read the IAM role {name}"));
        }
    };
    let Some(role) = role else {
        return Ok(None);
    };
    // IAM returns the trust policy URL-encoded; a service name has no
    // character that encoding changes.
    let trusted = role
        .assume_role_policy_document()
        .is_some_and(|policy| policy.contains(API_GATEWAY));
    Ok(trusted.then(|| role.arn().to_owned()))
}

/// The data stack `data`'s logging role, by ARN, when it has one that
/// API Gateway may assume.
pub async fn data_stack_role(aws: &Aws, data: &StackInfo) -> anyhow::Result<Option<String>> {
    let physical = stacks::physical_ids(&aws.cloudformation, &data.id).await?;
    match physical.get(LOGGING_ROLE_ID) {
        Some(name) => usable_role(aws, name).await,
        None => Ok(None),
    }
}

/// Points the setting at `arn`. IAM takes a while to show a new role to
/// API Gateway, which refuses it meanwhile ("The role ARN does not have
/// required permissions set to API Gateway"): retried within the table
/// update's limits.
async fn set_account_role(aws: &Aws, arn: &str, waits: &Waits) -> anyhow::Result<()> {
    let mut wait = Wait::new(
        format!("API Gateway to accept the role {arn} as the account's CloudWatch role"),
        waits.table_update,
        waits.poll,
        "check that the role exists and trusts apigateway.amazonaws.com, then run the command again",
    );
    loop {
        let patch = PatchOperation::builder()
            .op(Op::Replace)
            .path(SETTING_PATH)
            .value(arn)
            .build();
        match aws
            .apigateway
            .update_account()
            .patch_operations(patch)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(err)
                if !arn.is_empty()
                    && err
                        .as_service_error()
                        .is_some_and(|e| e.is_bad_request_exception()) =>
            {
                wait.saw(
                    err.as_service_error()
                        .and_then(|e| e.meta().message())
                        .unwrap_or("refused"),
                );
                wait.pause().await?;
            }
            Err(err) => {
                return Err(err).with_sdk_context(|| {
                    format!("cannot set the account's API Gateway CloudWatch role to {arn:?}")
                });
            }
        }
    }
}

/// Before an app stack deploy: makes the setting name a usable role that
/// survives it. `doomed`: the names of the roles this deploy deletes;
/// `data`: the data stack, whose role is the fallback.
pub async fn ensure_logging_role(
    aws: &Aws,
    data: &StackInfo,
    doomed: &BTreeSet<String>,
    waits: &Waits,
    progress: &Progress,
) -> anyhow::Result<()> {
    let current = account_role(aws).await?;
    let why = match &current {
        Some(arn) if doomed.contains(role_name(arn)) => {
            format!("names {arn}, which this deploy deletes")
        }
        Some(arn) => match usable_role(aws, role_name(arn)).await? {
            Some(_) => return Ok(()),
            None => format!("names {arn}, which does not exist or does not trust {API_GATEWAY}"),
        },
        None => "names no role".to_owned(),
    };
    let ours = data_stack_role(aws, data).await?.with_context(|| {
        format!(
            "the data stack {} has no usable {LOGGING_ROLE_ID} for the account's API Gateway CloudWatch role",
            data.id
        )
    })?;
    set_account_role(aws, &ours, waits).await?;
    progress.line(format!(
        "the account's API Gateway CloudWatch role (one setting for every API in {}) {why}: set it to {ours}, which the data stack keeps",
        aws.region
    ));
    Ok(())
}

/// Before roles named `doomed` are deleted: a setting that names one of
/// them is pointed at `fallback` (a usable role that stays), or cleared
/// when there is none, so it never names a deleted role. Fails, and so
/// stops the deletion, when the setting cannot be changed.
pub async fn release_logging_role(
    aws: &Aws,
    doomed: &BTreeSet<String>,
    fallback: Option<&str>,
    waits: &Waits,
    progress: &Progress,
) -> anyhow::Result<()> {
    let Some(current) = account_role(aws).await? else {
        return Ok(());
    };
    if !doomed.contains(role_name(&current)) {
        return Ok(());
    }
    let replacement = fallback.unwrap_or_default();
    set_account_role(aws, replacement, waits).await?;
    progress.line(match fallback {
        Some(arn) => format!(
            "the account's API Gateway CloudWatch role named {current}, which is about to be deleted: set it to {arn}"
        ),
        None => format!(
            "the account's API Gateway CloudWatch role named {current}, which is about to be deleted: cleared it (the next deploy of a stack whose API logs sets it again)"
        ),
    });
    Ok(())
}

/// The names of the IAM roles among `stack`'s resources.
pub async fn stack_roles(aws: &Aws, stack: &StackInfo) -> anyhow::Result<BTreeSet<String>> {
    Ok(stacks::resources(&aws.cloudformation, &stack.id)
        .await?
        .into_iter()
        .filter(|resource| resource.resource_type == "AWS::IAM::Role")
        .filter_map(|resource| resource.physical_id)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_named_by_the_last_part_of_its_arn() {
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/evs-data-ApiCloudWatchRole-1A"),
            "evs-data-ApiCloudWatchRole-1A"
        );
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/service-role/x"),
            "x"
        );
    }
}
