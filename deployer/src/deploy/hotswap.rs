//! `--hotswap`: when only the functions' code changed, the new code goes
//! straight to Lambda instead of through a change set (faster; the stack
//! drifts until the next full deploy).

use anyhow::{Context, bail};
use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::LastUpdateStatus;

use super::app;
use super::aws::SdkResultExt;
use super::request::{Outcome, Rendered};
use super::session::Session;
use super::stacks::{self, StackInfo};
use super::wait::{Wait, Waits};
use crate::bundle::Manifest;
use crate::stack::FunctionResources;
use crate::stack::{API_KEY_PARAMETER, Function};

/// `--hotswap`: when the template and every parameter but the code keys
/// are as deployed, updates the changed functions' code directly. `None`
/// when a full deploy is needed.
pub(super) async fn try_hotswap(
    session: &Session<'_>,
    stack: &StackInfo,
    manifest: &Manifest,
    rendered: &Rendered,
) -> anyhow::Result<Option<Outcome>> {
    let (aws, progress) = (session.aws, session.progress);
    let deployed = stacks::deployed_template(&aws.cloudformation, &stack.id).await?;
    if deployed != rendered.body {
        return Ok(None);
    }
    let mut changed = Vec::new();
    for (key, value) in &rendered.parameters {
        // NoEcho: CloudFormation shows a mask, so it cannot be compared.
        if key == API_KEY_PARAMETER {
            continue;
        }
        if stack.parameters.get(key) == Some(value) {
            continue;
        }
        match Function::ALL
            .into_iter()
            .find(|f| f.code_key_parameter().as_str() == key)
        {
            Some(function) => changed.push((function, value.clone())),
            None => return Ok(None),
        }
    }
    if changed.is_empty() {
        return Ok(None);
    }
    let bucket = app::upload_packages(session, stack, manifest).await?;
    let physical = stacks::physical_ids(&aws.cloudformation, &stack.id).await?;
    let mut updated = Vec::new();
    for (function, key) in changed {
        let function_name = physical
            .get(function.logical_id().as_str())
            .with_context(|| format!("the stack has no {}", function.logical_id()))?;
        progress.status(format!("updating the code of {function_name}"));
        aws.lambda
            .update_function_code()
            .function_name(function_name)
            .s3_bucket(&bucket)
            .s3_key(&key)
            .send()
            .await
            .with_sdk_context(|| format!("cannot update the code of {function_name}"))?;
        wait_for_function_update(&aws.lambda, function_name, &session.options.waits).await?;
        progress.line(format!("  hotswapped {function_name}"));
        updated.push(function.name().to_owned());
    }
    progress.line(
        "warning: hotswap updated code outside CloudFormation: the stack drifts (its parameters name the old packages) until the next deploy without --hotswap, which also applies a changed API_KEY",
    );
    Ok(Some(Outcome::Hotswapped { functions: updated }))
}

/// Waits until Lambda has applied new code to the function.
async fn wait_for_function_update(
    lambda: &Client,
    function_name: &str,
    waits: &Waits,
) -> anyhow::Result<()> {
    let mut wait = Wait::new(
        format!("Lambda to apply the new code of {function_name}"),
        waits.function_update,
        waits.poll,
        "look at the function in the Lambda console, then run the command again (without --hotswap to go through CloudFormation)",
    );
    loop {
        let configuration = lambda
            .get_function_configuration()
            .function_name(function_name)
            .send()
            .await
            .with_sdk_context(|| format!("cannot read the state of {function_name}"))?;
        let status = configuration.last_update_status();
        wait.saw(status.map_or("no status", LastUpdateStatus::as_str));
        match status {
            Some(LastUpdateStatus::InProgress) => wait.pause().await?,
            Some(LastUpdateStatus::Failed) => bail!(
                "updating the code of {function_name} failed: {}",
                configuration
                    .last_update_status_reason()
                    .unwrap_or("no reason given")
            ),
            _ => return Ok(()),
        }
    }
}
