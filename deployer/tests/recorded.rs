//! The deployer's handling of what moto cannot produce (per-resource
//! events, rollbacks, throttling), tested with recorded CloudFormation and
//! S3 responses replayed in order by the SDK's own test client.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_cloudformation::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use deployer::build::{Arch, Artifact, Manifest};
use deployer::cfn::Template;
use deployer::deploy::progress::Progress;
use deployer::deploy::{Aws, DeployOptions, DeployRequest, InFlight, StackFailed, deploy, diff};
use deployer::stack::{ARTIFACT_BUCKET_OUTPUT, Function};
use deployer::{StackOptions, app_stack};

const STACK: &str = "recorded";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/recorded/0b1c";
const XMLNS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

fn response(status: u16, body: String) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .uri("https://recorded.invalid/")
            .body(SdkBody::empty())
            .expect("request"),
        http::Response::builder()
            .status(status)
            .header("content-type", "text/xml")
            .body(SdkBody::from(body))
            .expect("response"),
    )
}

fn ok(action: &str, result: &str) -> ReplayEvent {
    response(
        200,
        format!(
            "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

fn error(code: &str, message: &str) -> ReplayEvent {
    response(
        400,
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        ),
    )
}

fn stack(status: &str) -> ReplayEvent {
    ok(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackId>{STACK_ID}</StackId><StackName>{STACK}</StackName>\
             <StackStatus>{status}</StackStatus><CreationTime>2026-01-01T00:00:00Z</CreationTime>\
             <Outputs><member><OutputKey>{ARTIFACT_BUCKET_OUTPUT}</OutputKey>\
             <OutputValue>recorded-bucket</OutputValue></member></Outputs></member></Stacks>"
        ),
    )
}

/// Stack events, newest first: (id, logical id, type, status, reason).
fn events(events: &[(&str, &str, &str, &str, &str)]) -> ReplayEvent {
    let members: String = events
        .iter()
        .map(|(id, logical, kind, status, reason)| {
            format!(
                "<member><StackId>{STACK_ID}</StackId><StackName>{STACK}</StackName>\
                 <EventId>{id}</EventId><LogicalResourceId>{logical}</LogicalResourceId>\
                 <ResourceType>{kind}</ResourceType><Timestamp>2026-01-01T00:00:00Z</Timestamp>\
                 <ResourceStatus>{status}</ResourceStatus>\
                 <ResourceStatusReason>{reason}</ResourceStatusReason></member>"
            )
        })
        .collect();
    ok(
        "DescribeStackEvents",
        &format!("<StackEvents>{members}</StackEvents>"),
    )
}

fn head_object_found() -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .uri("https://recorded.invalid/")
            .body(SdkBody::empty())
            .expect("request"),
        http::Response::builder()
            .status(200)
            .header("content-length", "0")
            .body(SdkBody::empty())
            .expect("response"),
    )
}

async fn aws(replay: &StaticReplayClient) -> Aws {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(replay.clone())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(5)))
        .load()
        .await;
    Aws::new(&config).expect("clients")
}

fn manifest() -> Manifest {
    Manifest {
        arch: Arch::Arm64,
        target: Arch::Arm64.triple().to_owned(),
        linker: "test".to_owned(),
        functions: Function::ALL
            .iter()
            .map(|f| {
                (
                    f.name().to_owned(),
                    Artifact {
                        path: "/nonexistent.zip".into(),
                        key: format!("{}/abc.zip", f.name()),
                        size: 1,
                        sha256: "abc".to_owned(),
                        linkage: "test".to_owned(),
                    },
                )
            })
            .collect(),
    }
}

fn request<'a>(template: &'a Template, manifest: &'a Manifest) -> DeployRequest<'a> {
    DeployRequest {
        stack_name: STACK,
        template,
        manifest,
        api_key: "recorded-key-0123456789abcdef",
        test_stream_id: "s",
    }
}

fn options() -> DeployOptions {
    DeployOptions {
        poll: Duration::from_millis(1),
        ..DeployOptions::default()
    }
}

/// The `Action=` of each request CloudFormation received (S3 requests
/// have none and are left out).
fn actions(replay: &StaticReplayClient) -> Vec<String> {
    replay
        .actual_requests()
        .filter_map(|request| {
            let body = std::str::from_utf8(request.body().bytes()?)
                .ok()?
                .to_owned();
            body.split('&')
                .find_map(|pair| pair.strip_prefix("Action="))
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_failed_update_reports_the_first_failed_resource_and_the_final_status() {
    let stack_event = "AWS::CloudFormation::Stack";
    let function = "AWS::Lambda::Function";
    let table = "AWS::DynamoDB::Table";
    let old = ("e0", STACK, stack_event, "UPDATE_COMPLETE", "");
    let mut replay = vec![stack("UPDATE_COMPLETE")];
    replay.extend((0..Function::ALL.len()).map(|_| head_object_found()));
    replay.extend([
        ok(
            "CreateChangeSet",
            &format!("<Id>cs-arn</Id><StackId>{STACK_ID}</StackId>"),
        ),
        ok(
            "DescribeChangeSet",
            "<Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus>\
             <Changes><member><Type>Resource</Type><ResourceChange><Action>Modify</Action>\
             <LogicalResourceId>AddEventFunction</LogicalResourceId>\
             <ResourceType>AWS::Lambda::Function</ResourceType><Replacement>False</Replacement>\
             </ResourceChange></member></Changes>",
        ),
        events(&[old]),
        ok("ExecuteChangeSet", ""),
        stack("UPDATE_ROLLBACK_IN_PROGRESS"),
        events(&[
            (
                "e4",
                STACK,
                stack_event,
                "UPDATE_ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to update: [AddEventFunction].",
            ),
            (
                "e3",
                "ReadModelTable",
                table,
                "UPDATE_FAILED",
                "Resource update cancelled",
            ),
            (
                "e2",
                "AddEventFunction",
                function,
                "UPDATE_FAILED",
                "Error occurred while GetObject. S3 Error Code: NoSuchKey.",
            ),
            (
                "e1",
                STACK,
                stack_event,
                "UPDATE_IN_PROGRESS",
                "User Initiated",
            ),
            old,
        ]),
        stack("UPDATE_ROLLBACK_COMPLETE"),
        events(&[
            ("e5", STACK, stack_event, "UPDATE_ROLLBACK_COMPLETE", ""),
            ("e4", STACK, stack_event, "UPDATE_ROLLBACK_IN_PROGRESS", ""),
        ]),
    ]);
    let replay = StaticReplayClient::new(replay);
    let aws = aws(&replay).await;
    let template = app_stack(&StackOptions::default());
    let manifest = manifest();
    let progress = Progress::recorded();
    let err = deploy(
        &aws,
        &request(&template, &manifest),
        &options(),
        &progress,
        &InFlight::default(),
    )
    .await
    .expect_err("the update failed");
    let failed = err.downcast_ref::<StackFailed>().expect("a stack failure");
    assert_eq!(failed.ending.status, "UPDATE_ROLLBACK_COMPLETE");
    let first = failed
        .ending
        .first_failure
        .as_ref()
        .expect("a first failure");
    assert_eq!(first.logical_id, "AddEventFunction");
    let message = err.to_string();
    assert!(
        message.contains("UPDATE_ROLLBACK_COMPLETE")
            && message.contains("AddEventFunction")
            && message.contains("NoSuchKey"),
        "{message}"
    );
    // Each event is shown once, oldest first.
    let lines = progress.lines();
    let shown: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("UPDATE_FAILED"))
        .collect();
    assert_eq!(shown.len(), 2, "{lines:#?}");
    assert!(shown[0].contains("AddEventFunction"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Modify") && l.contains("AddEventFunction"))
    );
    assert_eq!(
        actions(&replay),
        [
            "DescribeStacks",
            "CreateChangeSet",
            "DescribeChangeSet",
            "DescribeStackEvents",
            "ExecuteChangeSet",
            "DescribeStacks",
            "DescribeStackEvents",
            "DescribeStacks",
            "DescribeStackEvents",
        ]
    );
}

#[tokio::test]
async fn a_stack_left_rolled_back_by_a_failed_create_is_deleted_and_created_again() {
    let stack_event = "AWS::CloudFormation::Stack";
    let replay = StaticReplayClient::new(vec![
        stack("ROLLBACK_COMPLETE"),
        events(&[("e1", STACK, stack_event, "ROLLBACK_COMPLETE", "")]),
        ok("DeleteStack", ""),
        stack("DELETE_COMPLETE"),
        events(&[
            ("e2", STACK, stack_event, "DELETE_COMPLETE", ""),
            ("e1", STACK, stack_event, "ROLLBACK_COMPLETE", ""),
        ]),
        // The recreation's first step; the test ends there.
        error("ValidationError", "recorded: the test stops here"),
    ]);
    let aws = aws(&replay).await;
    let template = app_stack(&StackOptions::default());
    let manifest = manifest();
    let progress = Progress::recorded();
    let err = deploy(
        &aws,
        &request(&template, &manifest),
        &options(),
        &progress,
        &InFlight::default(),
    )
    .await
    .expect_err("the recorded run ends early");
    assert!(
        format!("{err:#}").contains("the test stops here"),
        "{err:#}"
    );
    let lines = progress.lines().join("\n");
    assert!(
        lines.contains("ROLLBACK_COMPLETE after a failed first create; deleting it"),
        "{lines}"
    );
    assert_eq!(
        actions(&replay),
        [
            "DescribeStacks",
            "DescribeStackEvents",
            "DeleteStack",
            "DescribeStacks",
            "DescribeStackEvents",
            "CreateChangeSet",
        ]
    );
    let create = replay
        .actual_requests()
        .last()
        .and_then(|r| {
            r.body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        })
        .unwrap_or_default();
    assert!(create.contains("ChangeSetType=CREATE"), "{create}");
}

#[tokio::test]
async fn throttling_is_retried() {
    let replay = StaticReplayClient::new(vec![
        error("Throttling", "Rate exceeded"),
        error("ValidationError", "Stack with id recorded does not exist"),
    ]);
    let aws = aws(&replay).await;
    let template = app_stack(&StackOptions::default());
    let manifest = manifest();
    let progress = Progress::recorded();
    let changes = diff(
        &aws,
        &request(&template, &manifest),
        &options(),
        &progress,
        &InFlight::default(),
    )
    .await
    .expect("diff after a throttled call");
    assert_eq!(changes.len(), template.resources.len());
    assert!(changes.iter().all(|c| c.action == "Add"));
    assert_eq!(actions(&replay), ["DescribeStacks", "DescribeStacks"]);
}
