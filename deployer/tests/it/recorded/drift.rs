//! `drift` against recorded responses: moto 5.2.5 has no drift detection
//! (no `DetectStackDrift` handler), so the answers are shaped as
//! CloudFormation's API reference gives them
//! (docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DetectStackDrift.html,
//! API_DescribeStackDriftDetectionStatus.html,
//! API_DescribeStackResourceDrifts.html).

use deployer::drift::{DriftWaits, HOTSWAP_EXPLANATION, detect, render};

use super::*;

/// Both stacks found and this deployment's (no tables in the data stack's
/// listing, so none is read).
fn surveyed() -> Vec<ReplayEvent> {
    vec![
        stack("UPDATE_COMPLETE"),
        resources(&[]),
        data_stack_in("UPDATE_COMPLETE"),
        resources(&[]),
    ]
}

fn detection_started(id: &str) -> ReplayEvent {
    ok(
        "DetectStackDrift",
        &format!("<StackDriftDetectionId>{id}</StackDriftDetectionId>"),
    )
}

/// DescribeStackDriftDetectionStatus: `detection` (DETECTION_...) and,
/// once complete, the stack's verdict with its count of drifted resources.
fn detection_status(
    stack_id: &str,
    detection: &str,
    verdict: Option<(&str, u32)>,
    reason: &str,
) -> ReplayEvent {
    let verdict = verdict
        .map(|(status, count)| {
            format!(
                "<StackDriftStatus>{status}</StackDriftStatus>\
                 <DriftedStackResourceCount>{count}</DriftedStackResourceCount>"
            )
        })
        .unwrap_or_default();
    ok(
        "DescribeStackDriftDetectionStatus",
        &format!(
            "<StackId>{stack_id}</StackId><StackDriftDetectionId>d-1</StackDriftDetectionId>\
             {verdict}<DetectionStatus>{detection}</DetectionStatus>\
             <DetectionStatusReason>{reason}</DetectionStatusReason>\
             <Timestamp>2026-01-01T00:00:00Z</Timestamp>"
        ),
    )
}

/// A member of DescribeStackResourceDrifts: (path, expected, actual, type)
/// per difference.
fn resource_drift(
    logical: &str,
    kind: &str,
    status: &str,
    differences: &[(&str, &str, &str, &str)],
) -> String {
    let differences: String = differences
        .iter()
        .map(|(path, expected, actual, difference)| {
            format!(
                "<member><PropertyPath>{path}</PropertyPath><ExpectedValue>{expected}</ExpectedValue>\
                 <ActualValue>{actual}</ActualValue><DifferenceType>{difference}</DifferenceType></member>"
            )
        })
        .collect();
    format!(
        "<member><StackId>{STACK_ID}</StackId><LogicalResourceId>{logical}</LogicalResourceId>\
         <PhysicalResourceId>{logical}-1A</PhysicalResourceId><ResourceType>{kind}</ResourceType>\
         <PropertyDifferences>{differences}</PropertyDifferences>\
         <StackResourceDriftStatus>{status}</StackResourceDriftStatus>\
         <Timestamp>2026-01-01T00:00:00Z</Timestamp></member>"
    )
}

fn resource_drifts(members: &[String], next_token: Option<&str>) -> ReplayEvent {
    let next = next_token
        .map(|token| format!("<NextToken>{token}</NextToken>"))
        .unwrap_or_default();
    ok(
        "DescribeStackResourceDrifts",
        &format!(
            "<StackResourceDrifts>{}</StackResourceDrifts>{next}",
            members.concat()
        ),
    )
}

fn waits() -> DriftWaits {
    DriftWaits {
        poll: Duration::from_millis(1),
        detection: Limits {
            deadline: Duration::from_secs(10),
            no_progress: Duration::from_secs(10),
        },
    }
}

/// After `deploy --hotswap`, the functions' code is not the template's:
/// the app stack is reported drifted, its functions' Code with both
/// values, read over two pages, with the hotswap explained; the data
/// stack is in sync.
#[tokio::test]
async fn a_hotswapped_function_is_reported_drifted_with_its_code_and_why() {
    let function = "AWS::Lambda::Function";
    let mut replay = surveyed();
    replay.extend([
        detection_started("d-app"),
        detection_status(STACK_ID, "DETECTION_IN_PROGRESS", None, ""),
        detection_status(STACK_ID, "DETECTION_COMPLETE", Some(("DRIFTED", 2)), ""),
        resource_drifts(
            &[resource_drift(
                "AddEventFunction",
                function,
                "MODIFIED",
                &[(
                    "/Code/S3Key",
                    "functions/add-event/0a1b.zip",
                    "functions/add-event/9f8e.zip",
                    "NOT_EQUAL",
                )],
            )],
            Some("page-2"),
        ),
        resource_drifts(
            &[resource_drift(
                "ProjectorLogGroup",
                "AWS::Logs::LogGroup",
                "DELETED",
                &[],
            )],
            None,
        ),
        detection_started("d-data"),
        detection_status(
            DATA_STACK_ID,
            "DETECTION_COMPLETE",
            Some(("IN_SYNC", 0)),
            "",
        ),
    ]);
    let replay = StaticReplayClient::new(replay);
    let aws = aws(&replay).await;
    let report = detect(&aws, STACK, &waits()).await.expect("a report");
    assert!(report.drifted());
    let [app, data] = &report.stacks[..] else {
        panic!("two stacks: {report:#?}");
    };
    assert_eq!(
        (app.stack.as_str(), app.status.as_str()),
        (STACK, "DRIFTED")
    );
    assert_eq!(
        app.resources
            .iter()
            .map(|r| (r.logical_id.as_str(), r.status.as_str()))
            .collect::<Vec<_>>(),
        [
            ("AddEventFunction", "MODIFIED"),
            ("ProjectorLogGroup", "DELETED")
        ]
    );
    assert!(app.resources[0].is_function_code());
    assert!(!data.drifted(), "{data:#?}");
    let shown = render(&report);
    for part in [
        "recorded: DRIFTED, 2 resources drifted",
        "AddEventFunction  AWS::Lambda::Function  MODIFIED",
        "/Code/S3Key (NOT_EQUAL): expected functions/add-event/0a1b.zip, actual functions/add-event/9f8e.zip",
        "ProjectorLogGroup  AWS::Logs::LogGroup  DELETED",
        "recorded-data: IN_SYNC, nothing drifted",
        HOTSWAP_EXPLANATION,
    ] {
        assert!(shown.contains(part), "{part:?} missing from:\n{shown}");
    }
    let forms = forms(&replay);
    // Both drift statuses asked for, and the second page by its token.
    assert_eq!(
        field(
            &forms,
            "DescribeStackResourceDrifts",
            0,
            "StackResourceDriftStatusFilters.member.1"
        )
        .as_deref(),
        Some("MODIFIED")
    );
    assert_eq!(
        field(
            &forms,
            "DescribeStackResourceDrifts",
            0,
            "StackResourceDriftStatusFilters.member.2"
        )
        .as_deref(),
        Some("DELETED")
    );
    assert_eq!(
        field(&forms, "DescribeStackResourceDrifts", 1, "NextToken").as_deref(),
        Some("page-2")
    );
    assert_eq!(
        field(&forms, "DetectStackDrift", 1, "StackName").as_deref(),
        Some(DATA_STACK_ID)
    );
}

/// After a plain deploy both stacks are in sync: nothing drifted, and no
/// resource listing is asked for.
#[tokio::test]
async fn both_stacks_in_sync_report_nothing_drifted() {
    let mut replay = surveyed();
    replay.extend([
        detection_started("d-app"),
        detection_status(STACK_ID, "DETECTION_COMPLETE", Some(("IN_SYNC", 0)), ""),
        detection_started("d-data"),
        detection_status(
            DATA_STACK_ID,
            "DETECTION_COMPLETE",
            Some(("IN_SYNC", 0)),
            "",
        ),
    ]);
    let replay = StaticReplayClient::new(replay);
    let aws = aws(&replay).await;
    let report = detect(&aws, STACK, &waits()).await.expect("a report");
    assert!(!report.drifted(), "{report:#?}");
    assert_eq!(report.drifted_resources().count(), 0);
    let shown = render(&report);
    assert_eq!(
        shown,
        "recorded: IN_SYNC, nothing drifted\nrecorded-data: IN_SYNC, nothing drifted\n"
    );
    assert!(!replay.actual_requests().any(|r| {
        String::from_utf8_lossy(r.body().bytes().unwrap_or_default())
            .contains("DescribeStackResourceDrifts")
    }));
}

/// DETECTION_FAILED ("failed for at least one resource") gives no whole
/// answer: an error naming the stack and CloudFormation's reason.
#[tokio::test]
async fn a_detection_that_fails_is_an_error_naming_the_stack_and_the_reason() {
    let mut replay = surveyed();
    replay.extend([
        detection_started("d-app"),
        detection_status(
            STACK_ID,
            "DETECTION_FAILED",
            None,
            "Failed to detect drift on resource [ApiKey]: Internal Failure",
        ),
    ]);
    let replay = StaticReplayClient::new(replay);
    let aws = aws(&replay).await;
    let err = detect(&aws, STACK, &waits())
        .await
        .expect_err("the detection failed");
    let message = format!("{err:#}");
    assert!(
        message.contains("drift detection of the stack recorded failed")
            && message.contains("Failed to detect drift on resource [ApiKey]"),
        "{message}"
    );
}

/// A detection still in progress at the deadline: an error saying what
/// it waited for and the status it last saw.
#[tokio::test]
async fn a_detection_that_never_completes_stops_at_its_deadline() {
    let mut replay = surveyed();
    replay.push(detection_started("d-app"));
    replay.extend((0..5000).map(|_| detection_status(STACK_ID, "DETECTION_IN_PROGRESS", None, "")));
    let replay = StaticReplayClient::new(replay);
    let aws = aws(&replay).await;
    let waits = DriftWaits {
        poll: Duration::from_millis(1),
        detection: Limits {
            deadline: Duration::from_millis(100),
            no_progress: Duration::from_millis(100),
        },
    };
    let err = detect(&aws, STACK, &waits)
        .await
        .expect_err("never completes");
    let expired = err
        .downcast_ref::<WaitExpired>()
        .expect("a wait that ran out");
    assert!(
        expired
            .what
            .contains("drift detection of the stack recorded"),
        "{expired:?}"
    );
    assert_eq!(expired.last_seen.as_deref(), Some("DETECTION_IN_PROGRESS"));
    assert!(
        err.to_string().contains("run cargo xtask drift again"),
        "{err}"
    );
}

/// A data stack that does not exist is an error naming it; nothing is
/// detected on the app stack first.
#[tokio::test]
async fn a_stack_that_does_not_exist_is_named() {
    let replay = StaticReplayClient::new(vec![
        stack("UPDATE_COMPLETE"),
        resources(&[]),
        no_stack(DATA_STACK),
    ]);
    let aws = aws(&replay).await;
    let err = detect(&aws, STACK, &waits())
        .await
        .expect_err("no data stack");
    let message = format!("{err:#}");
    assert!(
        message.contains("there is no stack named recorded-data"),
        "{message}"
    );
    assert_eq!(replay.actual_requests().count(), 3);
}

/// A stack under this deployment's name that another deployment tagged is
/// refused, as by every other command, before any detection starts.
#[tokio::test]
async fn another_deployments_stack_is_refused_before_any_detection() {
    let theirs = Ownership::app("someone-else").tags();
    let replay = StaticReplayClient::new(vec![
        described(STACK, STACK_ID, "UPDATE_COMPLETE", &theirs, ""),
        resources(&[]),
    ]);
    let aws = aws(&replay).await;
    let err = detect(&aws, STACK, &waits())
        .await
        .expect_err("not this deployment's");
    let message = format!("{err:#}");
    assert!(
        message.contains("the stack recorded is not") && message.contains("Nothing was changed"),
        "{message}"
    );
    assert_eq!(replay.actual_requests().count(), 2);
}
