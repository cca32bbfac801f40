//! Where the lines are: each function's log group, found among the
//! stack's resources.

use std::collections::HashMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use service::functions::Function;

use super::options::LogsLimits;
use crate::deploy::Aws;
use crate::stack::FunctionResources;

/// A function's log group, as the stack names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroup {
    pub function: Function,
    pub name: String,
}

/// The log groups of `functions` (all when empty), from one listing of the
/// stack's resources, in [`Function::ALL`]'s order.
pub async fn log_groups(
    aws: &Aws,
    stack: &str,
    functions: &[Function],
    limits: &LogsLimits,
) -> anyhow::Result<Vec<LogGroup>> {
    let mut physical_ids = HashMap::new();
    let mut token: Option<String> = None;
    // CloudFormation lists 100 resources a page, and a stack holds at
    // most 500.
    for _ in 0..10 {
        let request = aws
            .cloudformation
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token.take())
            .send();
        let page = match tokio::time::timeout(limits.request_deadline, request).await {
            Err(_) => bail!(
                "no answer from CloudFormation within {} s to the listing of the stack {stack}'s resources",
                limits.request_deadline.as_secs()
            ),
            Ok(Err(err))
                if err.code() == Some("ValidationError")
                    && err.message().is_some_and(|m| m.contains("does not exist")) =>
            {
                bail!(
                    "no stack named {stack} in {}; deploy first (cargo xtask deploy)",
                    aws.region
                )
            }
            Ok(result) => result.map_err(|err| {
                anyhow::anyhow!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&err)
                )
                .context(format!("cannot list the stack {stack}'s resources"))
            })?,
        };
        for resource in page.stack_resource_summaries() {
            if let (Some(logical), Some(physical)) = (
                resource.logical_resource_id(),
                resource.physical_resource_id(),
            ) {
                physical_ids.insert(logical.to_owned(), physical.to_owned());
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Function::ALL
        .into_iter()
        .filter(|f| functions.is_empty() || functions.contains(f))
        .map(|function| {
            let id = function.log_group_id();
            let name = physical_ids.get(id.as_str()).with_context(|| {
                format!(
                    "the stack {stack} has no log group for the function {function} (no resource {}); is it this app's stack, fully deployed?",
                    id.as_str()
                )
            })?;
            Ok(LogGroup {
                function,
                name: name.clone(),
            })
        })
        .collect()
}
