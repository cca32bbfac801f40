//! One stack's drift, with the three calls CloudFormation's API reference
//! gives for it: `DetectStackDrift` starts a detection,
//! `DescribeStackDriftDetectionStatus` is asked until it is no longer
//! `DETECTION_IN_PROGRESS` (a bounded wait), and
//! `DescribeStackResourceDrifts`, page after page, lists the resources
//! found `MODIFIED` or `DELETED`.

use anyhow::{Context, bail};
use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackResourceDriftStatus};

use super::{DriftWaits, PropertyDifference, ResourceDrift, StackDrift};
use crate::deploy::Aws;
use crate::deploy::aws::SdkResultExt;
use crate::deploy::wait::Wait;

/// The most pages of drifted resources read: a stack holds at most 500
/// resources, listed 100 a page.
const MAX_PAGES: usize = 10;

/// Detects the drift of the stack `name` (its id `id`).
pub(super) async fn stack_drift(
    aws: &Aws,
    name: &str,
    id: &str,
    waits: &DriftWaits,
) -> anyhow::Result<StackDrift> {
    let started = aws
        .cloudformation
        .detect_stack_drift()
        .stack_name(id)
        .send()
        .await
        .with_sdk_context(|| format!("cannot start drift detection on the stack {name}"))?;
    let detection = started
        .stack_drift_detection_id()
        .with_context(|| {
            format!("CloudFormation started drift detection on the stack {name} without an id")
        })?
        .to_owned();
    let mut wait = Wait::new(
        format!("drift detection of the stack {name} (id {detection})"),
        waits.detection,
        waits.poll,
        "it may still end: run cargo xtask drift again, or see the stack's drift in the CloudFormation console",
    );
    let status = loop {
        let status = aws
            .cloudformation
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(&detection)
            .send()
            .await
            .with_sdk_context(|| format!("cannot read the drift detection of the stack {name}"))?;
        let detection_status = status
            .detection_status()
            .cloned()
            .unwrap_or_else(|| StackDriftDetectionStatus::from(""));
        wait.saw(detection_status.as_str());
        match detection_status {
            StackDriftDetectionStatus::DetectionComplete => break status,
            // "Failed for at least one resource": whatever was found is
            // not the whole answer, so none is given.
            StackDriftDetectionStatus::DetectionFailed => bail!(
                "drift detection of the stack {name} failed: {}; its result is incomplete, so drift cannot be judged: run cargo xtask drift again",
                status
                    .detection_status_reason()
                    .unwrap_or("CloudFormation gave no reason")
            ),
            StackDriftDetectionStatus::DetectionInProgress => wait.pause().await?,
            other => bail!(
                "drift detection of the stack {name} answered the status {other:?}, which this version does not know"
            ),
        }
    };
    let verdict = status
        .stack_drift_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "UNKNOWN".to_owned());
    let resources = if verdict == "IN_SYNC" {
        Vec::new()
    } else {
        drifted_resources(aws, name, id).await?
    };
    Ok(StackDrift {
        stack: name.to_owned(),
        status: verdict,
        resources,
    })
}

/// The stack's resources found `MODIFIED` or `DELETED`, every page.
async fn drifted_resources(aws: &Aws, name: &str, id: &str) -> anyhow::Result<Vec<ResourceDrift>> {
    let mut resources = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = aws
            .cloudformation
            .describe_stack_resource_drifts()
            .stack_name(id)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .set_next_token(token.clone())
            .send()
            .await
            .with_sdk_context(|| {
                format!("cannot list the drifted resources of the stack {name}")
            })?;
        resources.extend(page.stack_resource_drifts().iter().map(|drift| {
            ResourceDrift {
                logical_id: drift.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: drift.resource_type().unwrap_or_default().to_owned(),
                status: drift
                    .stack_resource_drift_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                differences: drift
                    .property_differences()
                    .iter()
                    .map(|difference| PropertyDifference {
                        path: difference.property_path().unwrap_or_default().to_owned(),
                        expected: difference.expected_value().unwrap_or_default().to_owned(),
                        actual: difference.actual_value().unwrap_or_default().to_owned(),
                        kind: difference
                            .difference_type()
                            .map(|t| t.as_str().to_owned())
                            .unwrap_or_default(),
                    })
                    .collect(),
            }
        }));
        let next = page.next_token().map(str::to_owned);
        // The same token again would read the same page forever.
        if next.is_none() || next == token {
            return Ok(resources);
        }
        token = next;
    }
    bail!(
        "the stack {name} lists more drifted resources than {MAX_PAGES} pages; see its drift in the CloudFormation console"
    )
}
