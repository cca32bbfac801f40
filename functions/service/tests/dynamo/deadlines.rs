//! Every AWS call has a deadline: with DynamoDB (or Lambda) replaced by a
//! 127.0.0.1 server that never answers, or answers only after 12 s, each
//! route's handler, run with its function's deadline as Lambda runs it,
//! answers 503 with `Retry-After` before that deadline; a projector batch
//! and a replay step fail in time to be retried; and an append whose time
//! runs short answers contention instead of trying again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::Request;
use chrono::Utc;
use domain::{
    Amount, AppendCommand, AppendError, DomainEvent, EventId, EventStore, ItemId, LaneKey,
    ReplayJobs, ReplayScope, ReplayState, ReplayTarget, StoreError, StreamId, jobs,
};
use serde_json::{Value, json};
use service::api::{Api, Route};
use service::aws::{dynamodb_client, lambda_client, sdk_config_for_endpoint};
use service::deadline;
use service::dynamo::{DynamoStore, TableNames};
use service::functions::Function;
use service::replay_runs::{LambdaReplayDispatcher, ReplayRun, run_replay};
use testkit::stall::StallingProxy;
use testkit::unique_name;

use crate::common::{client, fresh_tables};

/// How much later than its deadline a handler counts as hung (the test
/// fails then rather than wait on).
const HUNG_AFTER: Duration = Duration::from_secs(10);

/// A store whose calls go to `endpoint`, with the functions' client.
async fn store_at(endpoint: &str, tables: TableNames) -> DynamoStore {
    DynamoStore::new(
        dynamodb_client(&sdk_config_for_endpoint(endpoint).await),
        tables,
    )
}

/// The handlers over `store`, dispatching replays with Lambda at `lambda`.
async fn api(store: DynamoStore, lambda: &str) -> Api {
    let store = Arc::new(store);
    let lambda = lambda_client(&sdk_config_for_endpoint(lambda).await);
    Api {
        events: store.clone(),
        read_model: store.clone(),
        replay_jobs: store,
        replays: Arc::new(LambdaReplayDispatcher::new(lambda, "replay".to_owned())),
        default_stream: StreamId::parse("deadlines", "streamId").unwrap(),
    }
}

/// A valid request to `route` about `stream`.
fn request(route: Route, stream: &str) -> aws_lambda_events::apigw::ApiGatewayProxyRequest {
    let (uri, body) = match route.function() {
        Function::AddEvent => (
            "/addEvent".to_owned(),
            json!({"streamId": stream, "type": "ITEM_CREATED", "data": {"itemId": "a", "amount": 1}})
                .to_string(),
        ),
        Function::ListItems => (format!("/listTestItems?streamId={stream}"), String::new()),
        Function::TriggerReplay => (
            "/triggerReplay".to_owned(),
            json!({"streamId": stream, "fromEventId": 0}).to_string(),
        ),
        Function::ReplayStatus => ("/replayStatus?replayId=r-1".to_owned(), String::new()),
        Function::ListStreams => ("/listStreams".to_owned(), String::new()),
        Function::ReadStream => (format!("/readStream?streamId={stream}"), String::new()),
        Function::Projector | Function::Replay => unreachable!("{route:?} is no route"),
    };
    let (parts, ()) = Request::builder()
        .method(route.method())
        .uri(uri)
        .body(())
        .unwrap()
        .into_parts();
    service::proxy::proxy_request(route, &parts, body.as_bytes(), "test")
}

/// Runs `route`'s handler as Lambda would, within its function's timeout;
/// what it answered and when.
async fn handled(api: &Api, route: Route, stream: &str) -> (ApiGatewayProxyResponse, Duration) {
    let timeout = route.function().timeout();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let event = request(route, stream);
    let answer = deadline::within(deadline, api.handle(route, &event));
    let response = tokio::time::timeout(timeout + HUNG_AFTER, answer)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{route:?} had not answered {:?} after its deadline",
                HUNG_AFTER
            )
        });
    (response, started.elapsed())
}

/// The answer is the 503 to retry, before the function's time limit.
fn assert_retry_in_time(route: Route, response: &ApiGatewayProxyResponse, took: Duration) {
    let Some(Body::Text(text)) = &response.body else {
        panic!("{route:?}: a text body");
    };
    let body: Value = serde_json::from_str(text).expect("a JSON body");
    assert_eq!(response.status_code, 503, "{route:?}: {body}");
    assert_eq!(
        response
            .headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1"),
        "{route:?}"
    );
    assert_eq!(
        body["error"]["code"], "STORE_UNAVAILABLE",
        "{route:?}: {body}"
    );
    let limit = route.function().timeout();
    assert!(
        took < limit,
        "{route:?} answered after {took:?}, past its function's {limit:?}"
    );
}

/// Every route at once, each within its own deadline.
async fn every_route_answers_retry_in_time(api: &Api, stream: &str) {
    let answers =
        futures::future::join_all(Route::ALL.map(|route| handled(api, route, stream))).await;
    for (route, (response, took)) in Route::ALL.into_iter().zip(answers) {
        assert_retry_in_time(route, &response, took);
    }
}

#[tokio::test]
async fn every_route_answers_503_in_time_when_aws_never_answers() {
    let silent = StallingProxy::silent();
    let store = store_at(&silent.endpoint(), TableNames::with_prefix("silent")).await;
    let api = api(store, &silent.endpoint()).await;
    every_route_answers_retry_in_time(&api, &unique_name("silent")).await;
    assert!(
        silent.connections() > 0,
        "the calls went to the silent server"
    );
}

#[tokio::test]
async fn every_route_answers_503_in_time_when_aws_answers_after_12_seconds() {
    let tables = fresh_tables(&client().await, "late").await;
    let late = StallingProxy::forwarding(testkit::moto::shared_endpoint());
    late.delay_answers(Duration::from_secs(12));
    let api = api(store_at(&late.endpoint(), tables).await, &late.endpoint()).await;
    every_route_answers_retry_in_time(&api, &unique_name("late")).await;
}

/// DynamoDB answers, Lambda's Invoke does not: the trigger answers 503 in
/// time, and records the replay it could not start, so the stream's lane
/// is free for the next trigger instead of held until its lease ends.
#[tokio::test]
async fn a_trigger_whose_invoke_never_answers_answers_503_in_time_and_frees_the_lane() {
    let tables = fresh_tables(&client().await, "invoke").await;
    let store = store_at(testkit::moto::shared_endpoint(), tables).await;
    let silent = StallingProxy::silent();
    let api = api(store.clone(), &silent.endpoint()).await;
    let stream = unique_name("invoke");
    let trigger = Function::TriggerReplay.route().expect("a route");
    let (response, took) = handled(&api, trigger, &stream).await;
    assert_retry_in_time(trigger, &response, took);
    let lane = store
        .lane(&LaneKey::Stream(
            StreamId::parse(&stream, "streamId").unwrap(),
        ))
        .await
        .expect("the lane reads")
        .expect("the trigger made the lane");
    assert_eq!(
        lane.lane.running, None,
        "the replay that could not start is recorded, not left running"
    );
}

/// A projector batch whose writes never answer: every record is reported
/// for retry before the projector function's time limit.
#[tokio::test]
async fn a_projector_batch_whose_writes_never_answer_fails_in_time_to_be_retried() {
    let silent = StallingProxy::silent();
    let store = store_at(&silent.endpoint(), TableNames::with_prefix("silent")).await;
    let image = |id: u64, item: &str| {
        json!({
            "streamId": {"S": "s"},
            "eventId": {"N": id.to_string()},
            "type": {"S": "ITEM_CREATED"},
            "data": {"M": {"itemId": {"S": item}, "amount": {"N": "1"}}},
            "recordedAt": {"S": "2026-11-26T10:00:00.000Z"}
        })
    };
    let record = |sequence: &str, image: Value| {
        json!({
            "eventID": sequence, "eventName": "INSERT", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {"Keys": {}, "NewImage": image, "SequenceNumber": sequence,
                         "SizeBytes": 100, "StreamViewType": "NEW_IMAGE"}
        })
    };
    let batch: aws_lambda_events::dynamodb::Event = serde_json::from_value(json!({
        "Records": [record("100", image(0, "a")), record("200", image(1, "b"))]
    }))
    .expect("a stream event");
    let timeout = Function::Projector.timeout();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let projected = service::projector::handle_stream_batch(&store, &store, &batch);
    let response =
        tokio::time::timeout(timeout + HUNG_AFTER, deadline::within(deadline, projected))
            .await
            .expect("the batch ends");
    let mut failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .filter_map(|failure| failure.item_identifier.clone())
        .collect();
    failed.sort();
    assert_eq!(failed, ["100", "200"], "both records are retried");
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
}

/// A replay whose log and read model never answer: each step fails in
/// time, is tried again, and the replay is recorded failed, all long
/// before the replay function's time limit, where Lambda would have
/// killed it mid-call with its lane still held.
#[tokio::test]
async fn a_replay_whose_store_never_answers_fails_its_steps_in_time_and_is_recorded() {
    let tables = fresh_tables(&client().await, "replay-stall").await;
    let jobs_store = store_at(testkit::moto::shared_endpoint(), tables.clone()).await;
    let silent = StallingProxy::silent();
    let stalled = store_at(&silent.endpoint(), tables).await;
    let stream = StreamId::parse(unique_name("replay-stall"), "streamId").unwrap();
    let scope = ReplayScope::Stream(ReplayTarget {
        stream_id: stream,
        from_event_id: EventId::FIRST,
    });
    let admitted = jobs::admit(&jobs_store, &unique_name("replay"), &scope, Utc::now())
        .await
        .unwrap();
    let request = admitted.start.expect("a free lane: the replay starts");
    let timeout = Function::Replay.timeout();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let dispatcher = testkit::faults::RecordingDispatcher::default();
    let run = run_replay(
        &stalled,
        &stalled,
        &jobs_store,
        &dispatcher,
        &request,
        &|| false,
    );
    // Far less than the function's 15 minutes: each call gives up after
    // `aws::CALL_LIMIT`, and a step is tried three times.
    let limit = Duration::from_secs(120);
    let run = tokio::time::timeout(limit, deadline::within(deadline, run))
        .await
        .unwrap_or_else(|_| panic!("the replay was still running after {limit:?}"))
        .expect("its job is recorded");
    let ReplayRun::Ended(Some(job)) = run else {
        panic!("the replay should end: {run:?}");
    };
    assert_eq!(job.state, ReplayState::Failed, "{job:?}");
    assert!(
        job.error.as_deref().unwrap_or("").contains("timeout"),
        "{job:?}"
    );
    assert!(started.elapsed() < limit);
}

fn created(stream: &StreamId, n: u64) -> AppendCommand {
    AppendCommand {
        stream_id: stream.clone(),
        event: DomainEvent::ItemCreated {
            item_id: ItemId::parse(format!("i{n}"), "itemId").unwrap(),
            amount: Amount::new(n).unwrap(),
        },
        expected_version: None,
        idempotency: None,
        metadata: Default::default(),
    }
}

/// An append with no time left sends nothing and answers "retry".
#[tokio::test]
async fn an_append_past_its_deadline_sends_nothing_and_answers_unavailable() {
    let silent = StallingProxy::silent();
    let store = store_at(&silent.endpoint(), TableNames::with_prefix("past")).await;
    let stream = StreamId::parse("past", "streamId").unwrap();
    let past = tokio::time::Instant::now();
    let outcome = deadline::within(past, store.append(&created(&stream, 0), Utc::now())).await;
    match outcome {
        Err(AppendError::Store(StoreError::Unavailable(message))) => {
            assert!(message.contains("no time left"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(silent.connections(), 0, "nothing was sent");
}

/// Each answer comes 2 s late and the request has 7 s: time for one try
/// (a read and a write, 4 s) but not for a second. Of 12 appends racing on
/// one stream, one wins; the others answer `Contention` at once instead
/// of retrying past the deadline, and the log has no gap.
#[tokio::test]
async fn appends_short_of_time_for_another_try_answer_contention() {
    let tables = fresh_tables(&client().await, "adapter-deadline").await;
    let slow = StallingProxy::forwarding(testkit::moto::shared_endpoint());
    slow.delay_answers(Duration::from_secs(2));
    let store = store_at(&slow.endpoint(), tables.clone()).await;
    let stream = StreamId::parse(unique_name("deadline"), "streamId").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(7);
    let outcomes = futures::future::join_all((0..12).map(|n| {
        let (store, command) = (store.clone(), created(&stream, n));
        async move { deadline::within(deadline, store.append(&command, Utc::now())).await }
    }))
    .await;
    let mut ids = Vec::new();
    let mut contended = 0;
    for outcome in outcomes {
        match outcome {
            Ok(recorded) => ids.push(recorded.event_id.get()),
            Err(AppendError::Store(StoreError::Contention(message))) => {
                assert!(message.contains("no time left"), "{message}");
                contended += 1;
            }
            Err(other) => panic!("expected an event or Contention, got {other:?}"),
        }
    }
    assert_eq!(ids, [0], "one wins the race; the rest do not try again");
    assert_eq!(contended, 11);
    let stored = store_at(testkit::moto::shared_endpoint(), tables)
        .await
        .read_stream(&stream, EventId::FIRST, 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
}
