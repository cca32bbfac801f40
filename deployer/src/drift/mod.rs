//! `drift`: whether the deployed stacks still match their templates.
//! CloudFormation's drift detection runs on both stacks of a deployment
//! (after the same ownership check as deploy, diff, status and destroy),
//! each followed to its end through a bounded wait (`detect.rs`), and the
//! drifted resources with their property differences are rendered
//! (`render.rs`), with what a hotswap deploy leaves behind explained.

mod detect;
mod render;

use std::time::Duration;

use anyhow::bail;

use crate::deploy::Aws;
use crate::deploy::wait::Limits;
use crate::stack::data_stack_name;

pub use render::{HOTSWAP_EXPLANATION, render};

/// How a drift detection is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriftWaits {
    /// How often the detection's status is asked for.
    pub poll: Duration,
    /// How long one detection may take.
    pub detection: Limits,
}

impl Default for DriftWaits {
    fn default() -> Self {
        let waits = crate::deploy::wait::Waits::default();
        DriftWaits {
            poll: waits.poll,
            detection: waits.drift_detection,
        }
    }
}

/// One property of a drifted resource that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyDifference {
    /// Its path in the resource's properties, e.g. `/Code/S3Key`.
    pub path: String,
    pub expected: String,
    pub actual: String,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub kind: String,
}

/// A resource that differs from its template, or is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDrift {
    pub logical_id: String,
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    pub differences: Vec<PropertyDifference>,
}

impl ResourceDrift {
    /// A Lambda function whose code is not the template's: what a hotswap
    /// deploy does until the next plain deploy.
    pub fn is_function_code(&self) -> bool {
        self.resource_type == "AWS::Lambda::Function"
            && self
                .differences
                .iter()
                .any(|d| d.path == "/Code" || d.path.starts_with("/Code/"))
    }
}

/// One stack's drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackDrift {
    pub stack: String,
    /// CloudFormation's verdict: `DRIFTED` or `IN_SYNC`.
    pub status: String,
    pub resources: Vec<ResourceDrift>,
}

impl StackDrift {
    pub fn drifted(&self) -> bool {
        self.status != "IN_SYNC" || !self.resources.is_empty()
    }
}

/// Both stacks' drift, the app stack first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftReport {
    pub stacks: Vec<StackDrift>,
}

impl DriftReport {
    /// Whether any stack drifted: what makes `cargo xtask drift` fail.
    pub fn drifted(&self) -> bool {
        self.stacks.iter().any(StackDrift::drifted)
    }

    /// The drifted resources, of every stack.
    pub fn drifted_resources(&self) -> impl Iterator<Item = &ResourceDrift> {
        self.stacks.iter().flat_map(|stack| &stack.resources)
    }
}

/// Detects the drift of both stacks of the deployment `stack_name`, each
/// refused first when it is not this deployment's; a stack that does not
/// exist is an error naming it.
pub async fn detect(
    aws: &Aws,
    stack_name: &str,
    waits: &DriftWaits,
) -> anyhow::Result<DriftReport> {
    let survey = crate::deploy::survey::survey(aws, stack_name).await?;
    let data_name = data_stack_name(stack_name);
    // Both looked for before either is checked: a missing one is named
    // before any detection starts.
    let mut found = Vec::new();
    for (name, info) in [
        (stack_name, &survey.app),
        (data_name.as_str(), &survey.data),
    ] {
        let Some(info) = info else {
            bail!(
                "there is no stack named {name} in {}: nothing to check for drift there (cargo xtask deploy creates it)",
                aws.region
            );
        };
        found.push((name, info.id.clone()));
    }
    let mut stacks = Vec::new();
    for (name, id) in found {
        stacks.push(detect::stack_drift(aws, name, &id, waits).await?);
    }
    Ok(DriftReport { stacks })
}
