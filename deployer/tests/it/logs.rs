//! `deployer::logs` against moto's CloudFormation and CloudWatch Logs: a
//! stack holding only the functions' log groups, under the app's logical
//! IDs, and lines put into them shaped like the functions' own (JSON
//! lines in an invocation's span, Lambda's START/END/REPORT lines), and
//! a group whose answers cannot be read (an interceptor spoils them).

use std::time::Duration;

use aws_sdk_cloudwatchlogs::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_cloudwatchlogs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_cloudwatchlogs::error::BoxError;
use aws_smithy_types::body::SdkBody;
use deployer::cfn::{Template, logs};
use deployer::deploy::Aws;
use deployer::logs::{GroupsNotRead, LogsLimits, LogsOptions, Recorded, Since, show};
use deployer::stack::{Function, FunctionResources};
use tokio::time::Instant;

/// The request ID of the invocations below.
const REQUEST: &str = "8f5c2a1e-0b9d-4c4e-9d35-3f2a1b0c9d8e";

/// A stack of log groups on the emulator, under a name no other test uses.
struct LogStack {
    aws: Aws,
    stack: String,
}

impl LogStack {
    /// The stack with the log groups of `functions`.
    async fn new(functions: &[Function]) -> LogStack {
        let endpoint = testkit::moto::shared_endpoint();
        let config = service::aws::sdk_config_for_endpoint(endpoint).await;
        let aws = Aws::new(&config).expect("clients");
        let stack = format!("evs-logs-{}", uuid::Uuid::new_v4().simple());
        let mut template = Template::new("the functions' log groups");
        for function in functions {
            template.resource(
                function.log_group_id().as_str(),
                logs::LogGroup {
                    log_group_name: Some(format!("/aws/lambda/{stack}-{function}").into()),
                    retention_in_days: None,
                },
            );
        }
        aws.cloudformation
            .create_stack()
            .stack_name(&stack)
            .template_body(template.to_json().expect("a template"))
            .send()
            .await
            .expect("create the stack");
        let started = Instant::now();
        loop {
            let described = aws
                .cloudformation
                .describe_stacks()
                .stack_name(&stack)
                .send()
                .await
                .expect("describe the stack");
            let status = described.stacks()[0]
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            if status == "CREATE_COMPLETE" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the stack {stack} stayed {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        LogStack { aws, stack }
    }

    /// Puts `(timestamp, message)` lines into a new stream of `function`'s
    /// group, as Lambda does for one execution environment.
    async fn put(&self, function: Function, lines: &[(i64, String)]) {
        let group = format!("/aws/lambda/{}-{function}", self.stack);
        let stream = format!("2024/05/01/[$LATEST]{}", uuid::Uuid::new_v4().simple());
        self.aws
            .logs
            .create_log_stream()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .send()
            .await
            .expect("a log stream");
        let events = lines.iter().map(|(timestamp, message)| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*timestamp)
                .message(message)
                .build()
                .expect("an event")
        });
        self.aws
            .logs
            .put_log_events()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .set_log_events(Some(events.collect()))
            .send()
            .await
            .expect("put the lines");
    }

    /// What `show` prints for `options`, without following.
    async fn shown(
        &self,
        options: &LogsOptions,
        limits: &LogsLimits,
    ) -> (Vec<String>, Vec<String>) {
        let recorded = Recorded::default();
        show(
            &self.aws,
            &self.stack,
            options,
            limits,
            &mut recorded.clone(),
            std::future::pending(),
        )
        .await
        .expect("the lines");
        (recorded.lines(), recorded.notices())
    }
}

/// A function's JSON line, as `service::telemetry` writes it in an
/// invocation.
fn json_line(level: &str, message: &str, fields: &str) -> String {
    format!(
        r#"{{"timestamp":"2024-05-01T12:00:00.000000Z","level":"{level}","fields":{{"message":"{message}"{fields}}},"target":"service::api","spans":[{{"name":"Lambda runtime invoke","requestId":"{REQUEST}","xrayTraceId":"Root=1-66321c00-0123456789abcdef01234567"}}]}}"#
    )
}

/// Milliseconds since the epoch, a whole second `seconds_ago` before now.
fn ago(seconds_ago: i64) -> i64 {
    (chrono::Utc::now().timestamp() - seconds_ago) * 1000
}

/// `HH:MM:SS.mmm` of `timestamp`, as the lines show it.
fn clock(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp_millis(timestamp)
        .expect("a time")
        .format("%H:%M:%S%.3f")
        .to_string()
}

/// Two invocations, of add-event and the projector, interleaved in time,
/// and an older line of list-items: the stack, and the start time `t`.
async fn two_invocations() -> (LogStack, i64) {
    let logs = LogStack::new(&Function::ALL).await;
    let t = ago(120);
    logs.put(
        Function::AddEvent,
        &[
            (t, format!("START RequestId: {REQUEST} Version: $LATEST")),
            (t + 20, json_line("INFO", "appended", r#","version":3"#)),
            (
                t + 40,
                format!("REPORT RequestId: {REQUEST}\tDuration: 1.52 ms"),
            ),
        ],
    )
    .await;
    logs.put(
        Function::Projector,
        &[
            (t + 10, json_line("WARN", "projected", r#","records":2"#)),
            (t + 20, format!("END RequestId: {REQUEST}")),
        ],
    )
    .await;
    logs.put(
        Function::ListItems,
        &[(ago(30 * 60), "an old line".to_owned())],
    )
    .await;
    (logs, t)
}

fn expected_lines(t: i64) -> Vec<String> {
    vec![
        format!(
            "{} add-event      START RequestId: {REQUEST} Version: $LATEST",
            clock(t)
        ),
        format!(
            "{} projector      WARN  8f5c2a1e projected records=2",
            clock(t + 10)
        ),
        format!(
            "{} add-event      INFO  8f5c2a1e appended version=3",
            clock(t + 20)
        ),
        format!("{} projector      END RequestId: {REQUEST}", clock(t + 20)),
        format!(
            "{} add-event      REPORT RequestId: {REQUEST}\tDuration: 1.52 ms",
            clock(t + 40)
        ),
    ]
}

#[tokio::test]
async fn every_functions_lines_merge_in_time_order_and_read_well() {
    let (logs, t) = two_invocations().await;
    // Pages of two: each group is read to its end.
    let limits = LogsLimits {
        page_size: Some(2),
        ..LogsLimits::default()
    };
    let (lines, notices) = logs.shown(&LogsOptions::default(), &limits).await;
    assert_eq!(lines, expected_lines(t));
    assert!(notices.is_empty(), "{notices:?}");
}

#[tokio::test]
async fn since_cuts_the_older_lines_and_reaches_back_as_far_as_asked() {
    let (logs, t) = two_invocations().await;
    let limits = LogsLimits::default();

    let from_t_plus_20 = LogsOptions {
        since: Since::At(chrono::DateTime::from_timestamp_millis(t + 20).expect("a time")),
        ..LogsOptions::default()
    };
    let (lines, _) = logs.shown(&from_t_plus_20, &limits).await;
    assert_eq!(lines, expected_lines(t)[2..]);

    let an_hour = LogsOptions {
        since: Since::parse("1h").expect("an age"),
        ..LogsOptions::default()
    };
    let (lines, _) = logs.shown(&an_hour, &limits).await;
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert!(
        lines[0].ends_with(" list-items     an old line"),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn only_the_functions_named_are_read() {
    let (logs, t) = two_invocations().await;
    let options = LogsOptions {
        functions: vec![Function::Projector],
        ..LogsOptions::default()
    };
    let (lines, _) = logs.shown(&options, &LogsLimits::default()).await;
    let expected = expected_lines(t);
    assert_eq!(lines, [expected[1].clone(), expected[3].clone()]);
}

#[tokio::test]
async fn the_filter_pattern_goes_to_cloudwatch_logs() {
    let (logs, t) = two_invocations().await;
    let options = LogsOptions {
        filter: Some("appended".to_owned()),
        ..LogsOptions::default()
    };
    let (lines, _) = logs.shown(&options, &LogsLimits::default()).await;
    assert_eq!(lines, [expected_lines(t)[2].clone()]);
}

#[tokio::test]
async fn a_group_with_more_pages_than_the_limit_says_what_it_left_out() {
    let (logs, t) = two_invocations().await;
    let limits = LogsLimits {
        page_size: Some(1),
        max_pages: 2,
        ..LogsLimits::default()
    };
    let (lines, notices) = logs.shown(&LogsOptions::default(), &limits).await;
    let expected = expected_lines(t);
    // add-event's REPORT line is on its third page.
    assert_eq!(lines, expected[..4]);
    assert_eq!(notices.len(), 1, "{notices:?}");
    let group = format!("/aws/lambda/{}-add-event", logs.stack);
    assert!(
        notices[0].contains(&group) && notices[0].contains("--since or --filter"),
        "{notices:?}"
    );
}

#[tokio::test]
async fn a_missing_stack_or_log_group_is_named() {
    let logs = LogStack::new(&[Function::AddEvent]).await;
    let missing = format!("{}-gone", logs.stack);
    let err = show(
        &logs.aws,
        &missing,
        &LogsOptions::default(),
        &LogsLimits::default(),
        &mut Recorded::default(),
        std::future::pending(),
    )
    .await
    .expect_err("no such stack");
    let message = format!("{err:#}");
    assert!(
        message.contains(&format!("no stack named {missing}")) && message.contains("deploy first"),
        "{message}"
    );

    let err = show(
        &logs.aws,
        &logs.stack,
        &LogsOptions {
            functions: vec![Function::AddEvent, Function::Replay],
            ..LogsOptions::default()
        },
        &LogsLimits::default(),
        &mut Recorded::default(),
        std::future::pending(),
    )
    .await
    .expect_err("no log group for replay");
    let message = format!("{err:#}");
    assert!(
        message.contains("no log group for the function replay")
            && message.contains("ReplayLogGroup"),
        "{message}"
    );
}

/// Waits until `recorded` holds `count` lines (or fails after 20 s).
async fn until_lines(recorded: &Recorded, count: usize) {
    let started = Instant::now();
    while recorded.lines().len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited for {count} lines; have {:#?}",
            recorded.lines()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn following_shows_each_new_line_once_until_stopped() {
    let logs = LogStack::new(&Function::ALL).await;
    let t = ago(30);
    logs.put(
        Function::AddEvent,
        &[(t, format!("START RequestId: {REQUEST} Version: $LATEST"))],
    )
    .await;

    let recorded = Recorded::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let following = tokio::spawn({
        let aws = logs.aws.clone();
        let stack = logs.stack.clone();
        let mut output = recorded.clone();
        async move {
            let options = LogsOptions {
                follow: true,
                ..LogsOptions::default()
            };
            // Fast polls that each look back over every line written here,
            // so only the de-duplication keeps them from showing twice.
            let limits = LogsLimits {
                poll: Duration::from_millis(50),
                overlap: Duration::from_secs(60),
                ..LogsLimits::default()
            };
            show(&aws, &stack, &options, &limits, &mut output, async {
                let _ = stopped.await;
            })
            .await
        }
    });
    until_lines(&recorded, 1).await;

    // In time order, so a poll between two puts cannot change the order.
    logs.put(
        Function::AddEvent,
        &[(t + 1000, json_line("INFO", "appended", ""))],
    )
    .await;
    logs.put(
        Function::Projector,
        &[(t + 2000, json_line("INFO", "projected", ""))],
    )
    .await;
    logs.put(
        Function::AddEvent,
        &[(t + 3000, format!("END RequestId: {REQUEST}"))],
    )
    .await;
    until_lines(&recorded, 4).await;
    // A few more polls: nothing is shown twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).expect("still following");
    tokio::time::timeout(Duration::from_secs(10), following)
        .await
        .expect("stops when told")
        .expect("the task")
        .expect("following ends without an error");

    let lines = recorded.lines();
    assert_eq!(
        lines,
        [
            format!(
                "{} add-event      START RequestId: {REQUEST} Version: $LATEST",
                clock(t)
            ),
            format!("{} add-event      INFO  8f5c2a1e appended", clock(t + 1000)),
            format!(
                "{} projector      INFO  8f5c2a1e projected",
                clock(t + 2000)
            ),
            format!(
                "{} add-event      END RequestId: {REQUEST}",
                clock(t + 3000)
            ),
        ]
    );
    assert!(recorded.notices().is_empty(), "{:?}", recorded.notices());
}

#[tokio::test]
async fn following_reports_failed_polls_and_gives_up_after_too_many_in_a_row() {
    let logs = LogStack::new(&[Function::AddEvent]).await;
    logs.put(Function::AddEvent, &[(ago(5), "a line".to_owned())])
        .await;
    let recorded = Recorded::default();
    let following = tokio::spawn({
        let aws = logs.aws.clone();
        let stack = logs.stack.clone();
        let mut output = recorded.clone();
        async move {
            let options = LogsOptions {
                functions: vec![Function::AddEvent],
                follow: true,
                ..LogsOptions::default()
            };
            let limits = LogsLimits {
                poll: Duration::from_millis(50),
                failed_polls: 3,
                ..LogsLimits::default()
            };
            show(
                &aws,
                &stack,
                &options,
                &limits,
                &mut output,
                std::future::pending(),
            )
            .await
        }
    });
    // Once following has begun, the group goes away under it.
    until_lines(&recorded, 1).await;
    let group = format!("/aws/lambda/{}-add-event", logs.stack);
    logs.aws
        .logs
        .delete_log_group()
        .log_group_name(&group)
        .send()
        .await
        .expect("delete the group");

    let err = tokio::time::timeout(Duration::from_secs(20), following)
        .await
        .expect("gives up in time")
        .expect("the task")
        .expect_err("three failed polls");
    let message = format!("{err:#}");
    assert!(
        message.contains("after 3 failed polls in a row") && message.contains(&group),
        "{message}"
    );
    let notices = recorded.notices();
    assert_eq!(notices.len(), 2, "{notices:#?}");
    assert!(
        notices[0].contains("failed poll 1 of at most 3") && notices[0].contains(&group),
        "{notices:#?}"
    );
}

/// Gives one log group's `FilterLogEvents` an answer that cannot be
/// parsed, as the emulator was seen to give for the projector's group;
/// every other request passes untouched. Counts what it spoiled.
#[derive(Clone, Debug)]
struct SpoiledGroup {
    group: String,
    spoiled: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

/// Marks a request whose answer [`SpoiledGroup`] replaces.
#[derive(Clone, Debug)]
struct Spoil;

impl aws_smithy_types::config_bag::Storable for Spoil {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for SpoiledGroup {
    fn name(&self) -> &'static str {
        "SpoiledGroup"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let filter = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|target| target.ends_with(".FilterLogEvents"));
        let body = request.body().bytes().unwrap_or_default();
        let names_the_group =
            String::from_utf8_lossy(body).contains(&format!("\"{}\"", self.group));
        if filter && names_the_group {
            cfg.interceptor_state().store_put(Spoil);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Spoil>().is_some() {
            self.spoiled
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            *context.response_mut().body_mut() =
                SdkBody::from("{\"events\": [{\"timestamp\": \"not");
        }
        Ok(())
    }
}

impl LogStack {
    /// The stack's clients, with `function`'s group answered malformed.
    async fn spoiling(&self, function: Function) -> (Aws, SpoiledGroup) {
        let spoiled = SpoiledGroup {
            group: format!("/aws/lambda/{}-{function}", self.stack),
            spoiled: Default::default(),
        };
        let config = service::aws::sdk_config_for_endpoint(testkit::moto::shared_endpoint()).await;
        let logs_config = aws_sdk_cloudwatchlogs::config::Builder::from(&config)
            .interceptor(spoiled.clone())
            .build();
        let mut aws = self.aws.clone();
        aws.logs = aws_sdk_cloudwatchlogs::Client::from_conf(logs_config);
        (aws, spoiled)
    }
}

/// One group that answers what cannot be read no longer hides the others:
/// it is named in one warning line, every other group's lines are shown,
/// and the end says which group was not read.
#[tokio::test]
async fn a_group_that_cannot_be_read_is_named_and_the_others_lines_are_still_shown() {
    let (logs, t) = two_invocations().await;
    let (aws, spoiled) = logs.spoiling(Function::Projector).await;
    let recorded = Recorded::default();
    let err = show(
        &aws,
        &logs.stack,
        &LogsOptions::default(),
        &LogsLimits::default(),
        &mut recorded.clone(),
        std::future::pending(),
    )
    .await
    .expect_err("the projector's group was not read");
    assert!(spoiled.spoiled.load(std::sync::atomic::Ordering::SeqCst) > 0);
    let expected = expected_lines(t);
    assert_eq!(
        recorded.lines(),
        [
            expected[0].clone(),
            expected[2].clone(),
            expected[4].clone()
        ]
    );
    let group = format!("/aws/lambda/{}-projector", logs.stack);
    let notices = recorded.notices();
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert!(
        notices[0].starts_with("warning: the projector function's lines are not shown")
            && notices[0].contains(&group)
            && !notices[0].contains('\n'),
        "{notices:#?}"
    );
    let not_read = err
        .downcast_ref::<GroupsNotRead>()
        .expect("the groups not read");
    assert_eq!(not_read.groups, std::slice::from_ref(&group));
    assert!(err.to_string().contains(&group), "{err}");
}

/// Following goes on with the groups it can read, names the one it cannot
/// once (not at every poll), and the end still says it was not read.
#[tokio::test]
async fn following_names_a_group_it_cannot_read_once_and_shows_the_others() {
    let logs = LogStack::new(&Function::ALL).await;
    let t = ago(30);
    logs.put(
        Function::AddEvent,
        &[(t, format!("START RequestId: {REQUEST} Version: $LATEST"))],
    )
    .await;
    let (aws, spoiled) = logs.spoiling(Function::Replay).await;
    let recorded = Recorded::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let following = tokio::spawn({
        let stack = logs.stack.clone();
        let mut output = recorded.clone();
        async move {
            let options = LogsOptions {
                follow: true,
                ..LogsOptions::default()
            };
            let limits = LogsLimits {
                poll: Duration::from_millis(50),
                failed_polls: 2,
                ..LogsLimits::default()
            };
            show(&aws, &stack, &options, &limits, &mut output, async {
                let _ = stopped.await;
            })
            .await
        }
    });
    until_lines(&recorded, 1).await;
    logs.put(
        Function::Projector,
        &[(t + 1000, json_line("INFO", "projected", ""))],
    )
    .await;
    until_lines(&recorded, 2).await;
    // Several more polls, each failing on the replay's group.
    let polls_before = spoiled.spoiled.load(std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    while spoiled.spoiled.load(std::sync::atomic::Ordering::SeqCst) < polls_before + 3 {
        assert!(started.elapsed() < Duration::from_secs(20), "no more polls");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).expect("still following");
    let err = tokio::time::timeout(Duration::from_secs(10), following)
        .await
        .expect("stops when told")
        .expect("the task")
        .expect_err("the replay's group was not read");
    let group = format!("/aws/lambda/{}-replay", logs.stack);
    assert_eq!(
        err.downcast_ref::<GroupsNotRead>()
            .expect("the groups not read")
            .groups,
        std::slice::from_ref(&group)
    );
    assert_eq!(
        recorded.lines(),
        [
            format!(
                "{} add-event      START RequestId: {REQUEST} Version: $LATEST",
                clock(t)
            ),
            format!(
                "{} projector      INFO  8f5c2a1e projected",
                clock(t + 1000)
            ),
        ]
    );
    let notices = recorded.notices();
    assert_eq!(notices.len(), 1, "named once: {notices:#?}");
    assert!(
        notices[0].contains("the replay function's lines are not shown")
            && notices[0].contains(&group),
        "{notices:#?}"
    );
}
