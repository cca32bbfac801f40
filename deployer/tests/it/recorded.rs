//! The deployer's handling of what moto cannot produce (per-resource
//! events, rollbacks, throttling, an account's Lambda concurrency), tested
//! with recorded CloudFormation, S3 and Lambda responses replayed in order
//! by the SDK's own test client.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_cloudformation::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use deployer::build::{Arch, Artifact, Manifest};
use deployer::cfn::Template;
use deployer::deploy::change_sets::ResourceChange;
use deployer::deploy::concurrency::ReservationRefused;
use deployer::deploy::progress::Progress;
use deployer::deploy::status::StackStatus;
use deployer::deploy::wait::{Expiry, Limits, WaitExpired, Waits};
use deployer::deploy::{
    Aws, DeployOptions, DeployRequest, InFlight, Outcome, StackFailed, deploy, diff,
};
use deployer::settings::ReplayConcurrency;
use deployer::stack::{ARTIFACT_BUCKET_OUTPUT, Function};
use deployer::{StackOptions, app_stack};

const STACK: &str = "recorded";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/recorded/0b1c";
const XMLNS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
const CHANGE_SET_ARN: &str =
    "arn:aws:cloudformation:us-east-1:123456789012:changeSet/cargo-xtask-0a1b/5e6f";

/// `response` to whatever request comes next (the replay client does not
/// compare requests).
fn reply(response: http::response::Builder, body: SdkBody) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .uri("https://recorded.invalid/")
            .body(SdkBody::empty())
            .expect("request"),
        response.body(body).expect("response"),
    )
}

fn response(status: u16, body: String) -> ReplayEvent {
    let response = http::Response::builder()
        .status(status)
        .header("content-type", "text/xml");
    reply(response, SdkBody::from(body))
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

/// A Lambda (REST-JSON) answer.
fn lambda(status: u16, error_type: Option<&str>, body: &str) -> ReplayEvent {
    let mut response = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(error_type) = error_type {
        response = response.header("x-amzn-errortype", error_type);
    }
    reply(response, SdkBody::from(body.to_owned()))
}

/// `GetAccountSettings`: the account's concurrency limit and what of it
/// is unreserved.
fn account_settings(limit: u32, unreserved: u32) -> ReplayEvent {
    lambda(
        200,
        None,
        &format!(
            "{{\"AccountLimit\":{{\"ConcurrentExecutions\":{limit},\"UnreservedConcurrentExecutions\":{unreserved},\
             \"CodeSizeUnzipped\":262144000,\"CodeSizeZipped\":52428800,\"TotalCodeSize\":80530636800}},\
             \"AccountUsage\":{{\"FunctionCount\":0,\"TotalCodeSize\":0}}}}"
        ),
    )
}

/// The check a deploy starts with, on an account with the default limit
/// and a replay function that reserves nothing yet.
fn concurrency_affordable() -> Vec<ReplayEvent> {
    vec![account_settings(1000, 1000), lambda(200, None, "{}")]
}

fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn table_resource(logical: &str, physical: &str) -> String {
    format!(
        "<member><StackName>{STACK}-data</StackName><LogicalResourceId>{logical}</LogicalResourceId>\
         <PhysicalResourceId>{physical}</PhysicalResourceId><ResourceType>AWS::DynamoDB::Table</ResourceType>\
         <Timestamp>2026-01-01T00:00:00Z</Timestamp><ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>"
    )
}

/// DynamoDB `DescribeTable` of the data stack's table `name`.
fn table_described(name: &str) -> ReplayEvent {
    let arn = format!("arn:aws:dynamodb:us-east-1:123456789012:table/{name}");
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/x-amz-json-1.0");
    reply(
        response,
        SdkBody::from(format!(
            "{{\"Table\":{{\"TableName\":\"{name}\",\"TableArn\":\"{arn}\",\"LatestStreamArn\":\"{arn}/stream/2026-01-01T00:00:00.000\"}}}}"
        )),
    )
}

/// What a deploy asks before it works on the app stack: whether the app
/// stack (in `app_status`, or absent) holds the event store's tables
/// itself, then the data stack, settled and up to date, and its tables.
fn attached_to_the_data_stack(app_status: Option<&str>) -> Vec<ReplayEvent> {
    let mut replay = match app_status {
        Some(status) => vec![
            stack(status),
            ok(
                "DescribeStackResources",
                "<StackResources></StackResources>",
            ),
        ],
        None => vec![error(
            "ValidationError",
            "Stack with id recorded does not exist",
        )],
    };
    let data_template = deployer::stack::data_stack()
        .to_yaml()
        .expect("the data template");
    replay.extend([
        stack("UPDATE_COMPLETE"),
        ok(
            "GetTemplate",
            &format!(
                "<TemplateBody>{}</TemplateBody>",
                xml_escaped(&data_template)
            ),
        ),
    ]);
    replay.extend(data_stack_tables());
    replay
}

/// The data stack's two tables, as deploy and diff read them: its
/// resources, then DynamoDB's description of each.
fn data_stack_tables() -> [ReplayEvent; 3] {
    [
        ok(
            "DescribeStackResources",
            &format!(
                "<StackResources>{}{}</StackResources>",
                table_resource("EventsTable", "recorded-events"),
                table_resource("StreamIndexTable", "recorded-stream-index")
            ),
        ),
        table_described("recorded-events"),
        table_described("recorded-stream-index"),
    ]
}

/// The CloudFormation actions of [`attached_to_the_data_stack`] with the
/// app stack there.
const ATTACHING: [&str; 5] = [
    "DescribeStacks",
    "DescribeStackResources",
    "DescribeStacks",
    "GetTemplate",
    "DescribeStackResources",
];

/// A change set that CloudFormation creates with one change: `logical`
/// (of `resource_type`) modified.
fn change_set_modifying(logical: &str, resource_type: &str) -> [ReplayEvent; 2] {
    [
        ok(
            "CreateChangeSet",
            &format!("<Id>{CHANGE_SET_ARN}</Id><StackId>{STACK_ID}</StackId>"),
        ),
        ok(
            "DescribeChangeSet",
            &format!(
                "<Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus>\
                 <Changes><member><Type>Resource</Type><ResourceChange><Action>Modify</Action>\
                 <LogicalResourceId>{logical}</LogicalResourceId>\
                 <ResourceType>{resource_type}</ResourceType><Replacement>False</Replacement>\
                 </ResourceChange></member></Changes>"
            ),
        ),
    ]
}

fn head_object_found() -> ReplayEvent {
    let response = http::Response::builder()
        .status(200)
        .header("content-length", "0");
    reply(response, SdkBody::empty())
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

/// A deploy or diff of the app's stack against recorded responses.
struct Recorded {
    replay: StaticReplayClient,
    aws: Aws,
    template: Template,
    manifest: Manifest,
    progress: Progress,
}

impl Recorded {
    /// The engine will get `responses`, in order, whatever it asks.
    async fn new(responses: Vec<ReplayEvent>) -> Recorded {
        let replay = StaticReplayClient::new(responses);
        Recorded {
            aws: aws(&replay).await,
            replay,
            template: app_stack(&StackOptions::default()),
            manifest: manifest(),
            progress: Progress::recorded(),
        }
    }

    fn request(&self) -> DeployRequest<'_> {
        DeployRequest {
            stack_name: STACK,
            template: &self.template,
            manifest: &self.manifest,
            api_key: "recorded-key-0123456789abcdef",
            test_stream_id: "s",
        }
    }

    async fn deploy(&self, options: &DeployOptions) -> anyhow::Result<Outcome> {
        let in_flight = InFlight::default();
        deploy(
            &self.aws,
            &self.request(),
            options,
            &self.progress,
            &in_flight,
        )
        .await
    }

    async fn diff(&self) -> anyhow::Result<Vec<ResourceChange>> {
        let in_flight = InFlight::default();
        diff(
            &self.aws,
            &self.request(),
            &options(),
            &self.progress,
            &in_flight,
        )
        .await
    }

    /// The `Action=` of each request CloudFormation received (S3 requests
    /// have none and are left out).
    fn actions(&self) -> Vec<String> {
        self.replay
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
}

fn options() -> DeployOptions {
    DeployOptions {
        waits: Waits {
            poll: Duration::from_millis(1),
            ..Waits::for_emulator()
        },
        ..DeployOptions::default()
    }
}

/// The form fields of each CloudFormation request, in order.
fn forms(replay: &StaticReplayClient) -> Vec<Vec<(String, String)>> {
    replay
        .actual_requests()
        .filter_map(|request| {
            let body = request.body().bytes()?;
            Some(form_urlencoded::parse(body).into_owned().collect())
        })
        .collect()
}

/// The start of an update that reaches ExecuteChangeSet: the stack, the
/// packages already uploaded, a change set with one change.
fn update_until_execute() -> Vec<ReplayEvent> {
    let mut replay = concurrency_affordable();
    replay.extend(attached_to_the_data_stack(Some("UPDATE_COMPLETE")));
    replay.push(stack("UPDATE_COMPLETE"));
    replay.extend((0..Function::ALL.len()).map(|_| head_object_found()));
    replay.extend(change_set_modifying(
        "AddEventFunction",
        "AWS::Lambda::Function",
    ));
    replay.extend([
        events(&[(
            "e0",
            STACK,
            "AWS::CloudFormation::Stack",
            "UPDATE_COMPLETE",
            "",
        )]),
        ok("ExecuteChangeSet", ""),
    ]);
    replay
}

#[tokio::test]
async fn a_failed_update_reports_the_first_failed_resource_and_the_final_status() {
    let stack_event = "AWS::CloudFormation::Stack";
    let function = "AWS::Lambda::Function";
    let table = "AWS::DynamoDB::Table";
    let old = ("e0", STACK, stack_event, "UPDATE_COMPLETE", "");
    let mut replay = update_until_execute();
    replay.extend([
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
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("the update failed");
    let failed = err.downcast_ref::<StackFailed>().expect("a stack failure");
    assert_eq!(failed.ending.status, StackStatus::UpdateRollbackComplete);
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
    let lines = recorded.progress.lines();
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
    let mut expected = ATTACHING.to_vec();
    expected.extend([
        "DescribeStacks",
        "CreateChangeSet",
        "DescribeChangeSet",
        "DescribeStackEvents",
        "ExecuteChangeSet",
        "DescribeStacks",
        "DescribeStackEvents",
        "DescribeStacks",
        "DescribeStackEvents",
    ]);
    assert_eq!(recorded.actions(), expected);
}

#[tokio::test]
async fn a_stack_left_rolled_back_by_a_failed_create_is_deleted_and_created_again() {
    let stack_event = "AWS::CloudFormation::Stack";
    let mut replay = concurrency_affordable();
    replay.extend(attached_to_the_data_stack(Some("ROLLBACK_COMPLETE")));
    replay.extend([
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
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("the recorded run ends early");
    assert!(
        format!("{err:#}").contains("the test stops here"),
        "{err:#}"
    );
    let lines = recorded.progress.lines().join("\n");
    assert!(
        lines.contains("ROLLBACK_COMPLETE after a failed first create; deleting it"),
        "{lines}"
    );
    let mut expected = ATTACHING.to_vec();
    expected.extend([
        "DescribeStacks",
        "DescribeStackEvents",
        "DeleteStack",
        "DescribeStacks",
        "DescribeStackEvents",
        "CreateChangeSet",
    ]);
    assert_eq!(recorded.actions(), expected);
    let create = recorded
        .replay
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

/// A new account (limit 10) cannot reserve the replay function's
/// concurrency: the deploy stops before any CloudFormation call, saying
/// which setting to change and what the account has.
#[tokio::test]
async fn a_reservation_the_account_cannot_make_stops_the_deploy_before_any_change() {
    let recorded = Recorded::new(vec![
        account_settings(10, 10),
        lambda(
            404,
            Some("ResourceNotFoundException"),
            "{\"Type\":\"User\",\"message\":\"Function not found\"}",
        ),
    ])
    .await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("a refused reservation");
    let refused = err
        .downcast_ref::<ReservationRefused>()
        .expect("a refused reservation");
    assert_eq!((refused.wanted, refused.most), (5, 0));
    let message = err.to_string();
    assert!(
        message.contains("REPLAY_CONCURRENCY=5")
            && message.contains("limit is 10")
            && message.contains("REPLAY_CONCURRENCY=none")
            && message.contains("Service Quotas"),
        "{message}"
    );
    assert_eq!(recorded.replay.actual_requests().count(), 2);
    assert!(recorded.actions().is_empty(), "{:?}", recorded.actions());
}

/// `REPLAY_CONCURRENCY=none`: nothing to reserve, nothing asked of Lambda.
#[tokio::test]
async fn without_a_reservation_the_deploy_asks_lambda_nothing() {
    let mut recorded = Recorded::new(vec![error(
        "ValidationError",
        "recorded: the test stops here",
    )])
    .await;
    recorded.template = app_stack(&StackOptions {
        replay_concurrency: ReplayConcurrency::Unreserved,
        ..StackOptions::default()
    });
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("the recorded run ends early");
    assert!(
        format!("{err:#}").contains("the test stops here"),
        "{err:#}"
    );
    assert_eq!(recorded.actions(), ["DescribeStacks"]);
}

#[tokio::test]
async fn throttling_is_retried() {
    let recorded = Recorded::new(vec![
        error("Throttling", "Rate exceeded"),
        error(
            "ValidationError",
            "Stack with id recorded-data does not exist",
        ),
        error("ValidationError", "Stack with id recorded does not exist"),
    ])
    .await;
    let changes = recorded.diff().await.expect("diff after a throttled call");
    // Neither stack exists: a deploy creates both.
    assert_eq!(
        changes.len(),
        deployer::stack::data_stack().resources.len() + recorded.template.resources.len()
    );
    assert!(changes.iter().all(|c| c.action == "Add"));
    assert_eq!(
        recorded.actions(),
        ["DescribeStacks", "DescribeStacks", "DescribeStacks"]
    );
}

/// CloudFormation scopes change-set names per stack, but an implementation
/// that looks a bare name up across stacks runs another deploy's change
/// set: every call after CreateChangeSet names it by its ARN.
#[tokio::test]
async fn change_sets_get_unique_names_and_are_described_and_executed_by_arn() {
    let mut replay = update_until_execute();
    replay.extend([
        stack("UPDATE_COMPLETE"),
        events(&[(
            "e1",
            STACK,
            "AWS::CloudFormation::Stack",
            "UPDATE_COMPLETE",
            "",
        )]),
        stack("UPDATE_COMPLETE"),
        ok(
            "DescribeStackResources",
            "<StackResources></StackResources>",
        ),
    ]);
    let recorded = Recorded::new(replay).await;
    recorded
        .deploy(&options())
        .await
        .expect("the update succeeds");
    let forms = forms(&recorded.replay);
    let field = |action: &str, name: &str| -> Option<String> {
        forms
            .iter()
            .find(|form| form.contains(&("Action".to_owned(), action.to_owned())))
            .unwrap_or_else(|| panic!("no {action} request"))
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let name = field("CreateChangeSet", "ChangeSetName").expect("a change-set name");
    assert!(
        name.len() <= 128
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "{name} is not a valid change-set name"
    );
    assert_ne!(
        name,
        deployer::deploy::change_sets::unique_change_set_name(),
        "names repeat"
    );
    for action in ["DescribeChangeSet", "ExecuteChangeSet"] {
        assert_eq!(
            field(action, "ChangeSetName").as_deref(),
            Some(CHANGE_SET_ARN),
            "{action}"
        );
        assert_eq!(field(action, "StackName"), None, "{action}");
    }
}

/// An update whose stack, once its change set was executed, keeps
/// showing `status` with no new event: the deploy's error, and how many
/// requests it made.
async fn update_stuck_at(status: &str, options: &DeployOptions) -> (anyhow::Error, usize) {
    let mut replay = update_until_execute();
    let old_event = (
        "e0",
        STACK,
        "AWS::CloudFormation::Stack",
        "UPDATE_COMPLETE",
        "",
    );
    replay.extend([stack(status), events(&[old_event])]);
    let recorded = Recorded::new(replay).await;
    let err = recorded.deploy(options).await.expect_err("a stuck update");
    (err, recorded.replay.actual_requests().count())
}

/// ExecuteChangeSet moves the stack out of REVIEW_IN_PROGRESS; a stack
/// still there afterwards never runs the change set, so watching it would
/// wait forever.
#[tokio::test]
async fn a_stack_still_in_review_after_its_change_set_ran_is_an_error_not_a_wait() {
    let mut options = options();
    options.waits.execution_start = Duration::ZERO;
    let (err, requests) = update_stuck_at("REVIEW_IN_PROGRESS", &options).await;
    let expired = err
        .downcast_ref::<WaitExpired>()
        .expect("a wait that ended");
    assert_eq!(expired.expiry, Expiry::Brief);
    let message = format!("{err:#}");
    assert!(
        message.contains("the update of the stack recorded")
            && message.contains("still REVIEW_IN_PROGRESS after its change set was executed")
            && message.contains("last status seen: REVIEW_IN_PROGRESS"),
        "{message}"
    );
    assert_eq!(requests, update_until_execute().len() + 2);
}

/// A stack whose operation shows no news stops the deploy with what it
/// waited for, the last status and what to do, instead of polling forever.
#[tokio::test]
async fn an_operation_without_progress_stops_the_wait_with_the_last_status() {
    let mut options = options();
    options.waits.stack_operation = Limits {
        deadline: Duration::from_secs(60),
        no_progress: Duration::ZERO,
    };
    let (err, _) = update_stuck_at("UPDATE_IN_PROGRESS", &options).await;
    let expired = err
        .downcast_ref::<WaitExpired>()
        .expect("a wait that ended");
    assert_eq!(expired.expiry, Expiry::NoProgress);
    assert_eq!(expired.last_seen.as_deref(), Some("UPDATE_IN_PROGRESS"));
    let message = format!("{err:#}");
    assert!(
        message.contains("the update of the stack recorded")
            && message.contains("nothing changed")
            && message.contains("CloudFormation goes on without this command"),
        "{message}"
    );
}

const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

fn listed_objects(keys: &[&str]) -> ReplayEvent {
    let contents: String = keys
        .iter()
        .map(|key| format!("<Contents><Key>{key}</Key><Size>1</Size></Contents>"))
        .collect();
    response(
        200,
        format!(
            "<ListBucketResult xmlns=\"{S3_XMLNS}\"><Name>recorded-bucket</Name>\
             <KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>\
             {contents}</ListBucketResult>",
            keys.len()
        ),
    )
}

fn deleted_objects(refused: &[(&str, &str)]) -> ReplayEvent {
    let errors: String = refused
        .iter()
        .map(|(key, code)| {
            format!("<Error><Key>{key}</Key><Code>{code}</Code><Message>no</Message></Error>")
        })
        .collect();
    response(
        200,
        format!("<DeleteResult xmlns=\"{S3_XMLNS}\">{errors}</DeleteResult>"),
    )
}

/// DeleteObjects answers 200 and lists, per object, what it could not
/// delete (S3 API reference, DeleteObjects: "Errors" in quiet mode).
#[tokio::test]
async fn emptying_a_bucket_names_an_object_s3_refuses_to_delete() {
    let replay = StaticReplayClient::new(vec![
        listed_objects(&["add-event/abc.zip", "projector/def.zip"]),
        deleted_objects(&[("projector/def.zip", "AccessDenied")]),
    ]);
    let aws = aws(&replay).await;
    let err = deployer::deploy::artifacts::empty_bucket(&aws.s3, "recorded-bucket", 3)
        .await
        .expect_err("a refused delete");
    let message = format!("{err:#}");
    assert!(
        message.contains("s3://recorded-bucket/projector/def.zip")
            && message.contains("AccessDenied"),
        "{message}"
    );
}

/// Objects that stay listed after deletes S3 accepted (a versioned or
/// replicated bucket, another writer) stop the loop after a few rounds.
#[tokio::test]
async fn emptying_a_bucket_whose_objects_never_go_stops_after_rounds_without_progress() {
    let replay = StaticReplayClient::new(vec![
        listed_objects(&["a.zip"]),
        deleted_objects(&[]),
        listed_objects(&["a.zip"]),
        deleted_objects(&[]),
        listed_objects(&["a.zip"]),
        deleted_objects(&[]),
        listed_objects(&["a.zip"]),
    ]);
    let aws = aws(&replay).await;
    let err = deployer::deploy::artifacts::empty_bucket(&aws.s3, "recorded-bucket", 3)
        .await
        .expect_err("objects that never go");
    let message = format!("{err:#}");
    assert!(
        message.contains("s3://recorded-bucket") && message.contains("a.zip"),
        "{message}"
    );
    assert_eq!(replay.actual_requests().count(), 7);
}

/// HeadObject answers 403 for a missing key to a caller without
/// `s3:ListBucket` (S3 API reference, HeadObject, "Permissions"): the
/// upload goes ahead instead of failing the deploy. The URL carries the
/// region's partition suffix.
#[tokio::test]
async fn a_key_hidden_by_a_missing_list_permission_is_uploaded() {
    let forbidden = http::Response::builder()
        .status(403)
        .header("content-length", "0");
    let stored = http::Response::builder()
        .status(200)
        .header("etag", "\"abc\"");
    let replay = StaticReplayClient::new(vec![
        reply(forbidden, SdkBody::empty()),
        reply(stored, SdkBody::empty()),
    ]);
    let aws = aws(&replay).await;
    let url = deployer::deploy::artifacts::upload_template(
        &aws.s3,
        "recorded-bucket",
        "cn-north-1",
        "Resources: {}\n",
    )
    .await
    .expect("the upload goes ahead");
    assert!(
        url.starts_with("https://recorded-bucket.s3.cn-north-1.amazonaws.com.cn/"),
        "{url}"
    );
    let methods: Vec<String> = replay
        .actual_requests()
        .map(|request| request.method().to_owned())
        .collect();
    assert_eq!(methods, ["HEAD", "PUT"]);
}

/// A stack deployed before the event store had a stack of its own holds
/// the tables itself: a deploy would detach them and start an empty
/// store, so it stops before any change and says how to move them.
#[tokio::test]
async fn an_app_stack_holding_the_event_store_is_refused_before_any_change() {
    let replay = {
        let mut replay = concurrency_affordable();
        replay.extend([
            stack("UPDATE_COMPLETE"),
            ok(
                "DescribeStackResources",
                &format!(
                    "<StackResources>{}</StackResources>",
                    table_resource("EventsTable", "recorded-EventsTable-1A2B")
                ),
            ),
        ]);
        replay
    };
    let recorded = Recorded::new(replay).await;
    let err = recorded
        .deploy(&options())
        .await
        .expect_err("a refused deploy");
    let message = format!("{err:#}");
    assert!(
        message.contains("recorded-EventsTable-1A2B")
            && message.contains("recorded-data")
            && message.contains("Nothing was changed")
            && message.contains("cargo xtask synth --data"),
        "{message}"
    );
    assert_eq!(
        recorded.actions(),
        ["DescribeStacks", "DescribeStackResources"]
    );
}

/// `diff` shows what a deploy would change in the data stack too: here its
/// template differs from the one deployed, and the app stack is absent.
#[tokio::test]
async fn diff_shows_a_change_of_the_data_stack_and_deletes_its_change_set() {
    let mut replay = vec![stack("UPDATE_COMPLETE")];
    replay.extend(data_stack_tables());
    replay.push(ok(
        "GetTemplate",
        "<TemplateBody>Resources: {}</TemplateBody>",
    ));
    replay.extend(change_set_modifying(
        "StreamIndexTable",
        "AWS::DynamoDB::Table",
    ));
    replay.push(ok("DeleteChangeSet", ""));
    replay.push(error(
        "ValidationError",
        "Stack with id recorded does not exist",
    ));
    let recorded = Recorded::new(replay).await;
    let changes = recorded.diff().await.expect("diff");
    assert_eq!(changes[0].logical_id, "StreamIndexTable");
    assert_eq!(changes[0].action, "Modify");
    assert_eq!(changes.len(), 1 + recorded.template.resources.len());
    let lines = recorded.progress.lines().join("\n");
    assert!(
        lines.contains("the data stack recorded-data would change"),
        "{lines}"
    );
    let actions = recorded.actions();
    assert!(
        actions.contains(&"DeleteChangeSet".to_owned()),
        "{actions:?}"
    );
    assert!(
        !actions.contains(&"ExecuteChangeSet".to_owned()),
        "{actions:?}"
    );
}
