//! What moto cannot be made to answer, replayed by the SDK's own test
//! client: a request DynamoDB refuses as invalid is reported as not
//! retryable (an HTTP 500, never a 503 "retry shortly"), after one try;
//! a write answered "in progress" whose id another event took is a lost
//! race; a refused write whose reasons carry the current rows is decided
//! again on them, without a read.

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use chrono::Utc;
use domain::{
    Amount, AppendCommand, AppendError, ApplyMode, DomainEvent, EventId, EventStore, ItemChange,
    ItemId, ItemState, ListQuery, ReadModel, StoreError, StreamId,
};
use service::dynamo::{DynamoStore, TableNames};

/// A store whose requests get `responses`, in order, whatever they ask.
fn replayed(responses: Vec<ReplayEvent>) -> (DynamoStore, StaticReplayClient) {
    let replay = StaticReplayClient::new(responses);
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(replay.clone())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        // The SDK's own retries would not resend these either; off, so a
        // retry by the adapter shows as a request with no response left.
        .retry_config(RetryConfig::disabled())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    (
        DynamoStore::new(client, TableNames::with_prefix("recorded")),
        replay,
    )
}

/// DynamoDB's JSON answer `status` with `body`, to whatever comes next.
fn answer(status: u16, body: &str) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .uri("https://dynamodb.us-east-1.amazonaws.com/")
            .body(SdkBody::empty())
            .expect("request"),
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(SdkBody::from(body.to_owned()))
            .expect("response"),
    )
}

/// What DynamoDB answers a key over its size limit.
fn validation_exception() -> ReplayEvent {
    answer(
        400,
        r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"}"#,
    )
}

/// A transaction cancelled because one of its parts is invalid.
fn cancelled_as_invalid() -> ReplayEvent {
    answer(
        400,
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [ValidationError, None, None]","CancellationReasons":[{"Code":"ValidationError","Message":"Item size has exceeded the maximum allowed size"},{"Code":"None"},{"Code":"None"}]}"#,
    )
}

/// TransactGetItems finding neither HEAD nor the item row: a new stream.
fn empty_stream_state() -> ReplayEvent {
    answer(200, r#"{"Responses":[{},{}]}"#)
}

fn stream() -> StreamId {
    StreamId::parse("recorded", "streamId").unwrap()
}

fn create() -> AppendCommand {
    AppendCommand {
        stream_id: stream(),
        event: DomainEvent::ItemCreated {
            item_id: ItemId::parse("a", "itemId").unwrap(),
            amount: Amount::new(1).unwrap(),
        },
        expected_version: None,
        idempotency: None,
        metadata: Default::default(),
    }
}

/// Not retryable: a 500, and no `Retry-After`.
fn assert_not_retryable(err: &StoreError) {
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let response = service::http::store_failure(err);
    assert_eq!(response.status_code, 500, "{err:?}");
    assert!(!response.headers.contains_key("retry-after"));
}

fn store_error(err: AppendError) -> StoreError {
    match err {
        AppendError::Store(err) => err,
        AppendError::Rejected(rejection) => panic!("rejected: {rejection:?}"),
    }
}

#[tokio::test]
async fn an_append_refused_as_invalid_is_not_retried_nor_retryable() {
    // Refused at the read of the stream's state.
    let (store, replay) = replayed(vec![validation_exception()]);
    let err = store.append(&create(), Utc::now()).await.unwrap_err();
    assert_not_retryable(&store_error(err));
    assert_eq!(replay.actual_requests().count(), 1);

    // Refused at the write: a ValidationException...
    let (store, replay) = replayed(vec![empty_stream_state(), validation_exception()]);
    let err = store.append(&create(), Utc::now()).await.unwrap_err();
    assert_not_retryable(&store_error(err));
    assert_eq!(replay.actual_requests().count(), 2);

    // ... or a transaction cancelled as invalid, at the write or the read,
    // which a conflict would have retried.
    let (store, replay) = replayed(vec![empty_stream_state(), cancelled_as_invalid()]);
    let err = store.append(&create(), Utc::now()).await.unwrap_err();
    assert_not_retryable(&store_error(err));
    assert_eq!(replay.actual_requests().count(), 2);
    let (store, replay) = replayed(vec![cancelled_as_invalid()]);
    let err = store.append(&create(), Utc::now()).await.unwrap_err();
    assert_not_retryable(&store_error(err));
    assert_eq!(replay.actual_requests().count(), 1);
}

#[tokio::test]
async fn reads_and_writes_refused_as_invalid_are_not_retryable() {
    let (store, _) = replayed(vec![validation_exception()]);
    let err = store
        .list(&ListQuery::first_page(stream()))
        .await
        .unwrap_err();
    assert_not_retryable(&err);

    let (store, _) = replayed(vec![validation_exception()]);
    let item = ItemId::parse("a", "itemId").unwrap();
    let err = store.rows(&stream(), Some(&item), 10).await.unwrap_err();
    assert_not_retryable(&err);

    let (store, _) = replayed(vec![validation_exception()]);
    let err = store
        .latest_event_ids(&stream(), std::slice::from_ref(&item))
        .await
        .unwrap_err();
    assert_not_retryable(&err);

    let (store, _) = replayed(vec![validation_exception()]);
    let err = store
        .remove(&stream(), &item, EventId::new(0))
        .await
        .unwrap_err();
    assert_not_retryable(&err);

    let (store, replay) = replayed(vec![validation_exception()]);
    let change = ItemChange {
        stream_id: stream(),
        item_id: item,
        version: EventId::new(0),
        state: ItemState::Deleted,
        recorded_at: Utc::now(),
    };
    let outcomes = store.apply(&[change], ApplyMode::Projection).await;
    let [Err(err)] = outcomes.as_slice() else {
        panic!("{outcomes:?}")
    };
    assert_not_retryable(err);
    assert_eq!(replay.actual_requests().count(), 1);
}

/// TransactGetItems finding the stream at version 0, the item row absent.
fn stream_at_version_0() -> ReplayEvent {
    answer(
        200,
        r#"{"Responses":[{"Item":{"streamId":{"S":"recorded"},"entry":{"S":"HEAD"},"version":{"N":"0"}}},{}]}"#,
    )
}

/// What DynamoDB answers a TransactWriteItems whose transaction is still
/// being applied
/// (docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html):
/// the write may land or not.
fn transaction_in_progress() -> ReplayEvent {
    answer(
        400,
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionInProgressException","message":"The transaction with the given request token is already in progress."}"#,
    )
}

/// An append's write is answered "in progress"; reading the log back finds
/// another event at its id (a concurrent append won): a lost race, so the
/// append reads the state again and is stored under the next id, once.
#[tokio::test]
async fn a_write_in_progress_whose_id_another_event_took_is_tried_again_as_a_lost_race() {
    let other_event = answer(
        200,
        r#"{"Responses":[{"Item":{"streamId":{"S":"recorded"},"eventId":{"N":"0"},"type":{"S":"ITEM_CREATED"},"data":{"M":{"itemId":{"S":"other"},"amount":{"N":"9"}}},"recordedAt":{"S":"2026-01-01T00:00:00.000Z"}}}]}"#,
    );
    let (store, replay) = replayed(vec![
        empty_stream_state(),
        transaction_in_progress(),
        other_event,
        stream_at_version_0(),
        answer(200, "{}"),
    ]);
    let recorded = store.append(&create(), Utc::now()).await.expect("stored");
    assert_eq!(recorded.event_id, EventId::new(1));
    let operations: Vec<String> = replay
        .actual_requests()
        .map(|request| {
            let target = request.headers().get("x-amz-target").unwrap_or_default();
            target.rsplit('.').next().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        operations,
        [
            "TransactGetItems",
            "TransactWriteItems",
            "TransactGetItems",
            "TransactGetItems",
            "TransactWriteItems"
        ],
        "read, write, read back, read again, write"
    );
}

/// A refused write, as DynamoDB answers a TransactWriteItems whose puts
/// ask `ReturnValuesOnConditionCheckFailure: ALL_OLD`: one reason per put,
/// in the request's order, `Code` "None" where the condition held, and the
/// row as it was (`Item`) where it failed
/// (docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html,
/// docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CancellationReason.html).
fn refused(reasons: &[&str]) -> ReplayEvent {
    let codes: Vec<&str> = reasons
        .iter()
        .map(|reason| {
            if reason.contains("ConditionalCheckFailed") {
                "ConditionalCheckFailed"
            } else {
                "None"
            }
        })
        .collect();
    answer(
        400,
        &format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [{}]","CancellationReasons":[{}]}}"#,
            codes.join(", "),
            reasons.join(",")
        ),
    )
}

const HELD: &str = r#"{"Code":"None"}"#;

fn failed_on(row: &str) -> String {
    format!(
        r#"{{"Code":"ConditionalCheckFailed","Item":{row},"Message":"The conditional request failed"}}"#
    )
}

/// A warm store's write meets a stream moved on by others: the refusal's
/// HEAD row says version 3, so the event is decided again as id 4 and
/// written, with no read; a change of an item the refusal's row shows
/// deleted is refused as the rules say, with no read either.
#[tokio::test]
async fn a_refusal_carrying_the_current_rows_is_decided_again_without_a_read() {
    let head_at_3 = failed_on(
        r#"{"streamId":{"S":"recorded"},"entry":{"S":"HEAD"},"version":{"N":"3"},"recordedAt":{"S":"2026-01-01T00:00:00.000Z"}}"#,
    );
    let a_deleted = failed_on(
        r#"{"streamId":{"S":"recorded"},"entry":{"S":"ITEM#a"},"live":{"BOOL":false},"lastEventId":{"N":"4"}}"#,
    );
    let (store, replay) = replayed(vec![
        empty_stream_state(),
        answer(200, "{}"),
        refused(&[HELD, &head_at_3, HELD]),
        answer(200, "{}"),
        refused(&[HELD, HELD, &a_deleted]),
    ]);
    assert_eq!(
        store.append(&create(), Utc::now()).await.unwrap().event_id,
        EventId::new(0)
    );
    let mut create_b = create();
    create_b.event = DomainEvent::ItemCreated {
        item_id: ItemId::parse("b", "itemId").unwrap(),
        amount: Amount::new(2).unwrap(),
    };
    assert_eq!(
        store.append(&create_b, Utc::now()).await.unwrap().event_id,
        EventId::new(4)
    );
    let change_a = AppendCommand {
        event: DomainEvent::ItemAmountChanged {
            item_id: ItemId::parse("a", "itemId").unwrap(),
            amount: Amount::new(3).unwrap(),
        },
        ..create()
    };
    let err = store.append(&change_a, Utc::now()).await.unwrap_err();
    assert!(
        matches!(
            err,
            AppendError::Rejected(domain::Rejection::ItemNotFound { .. })
        ),
        "{err:?}"
    );
    let operations: Vec<String> = replay
        .actual_requests()
        .map(|request| {
            let target = request.headers().get("x-amz-target").unwrap_or_default();
            target.rsplit('.').next().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        operations,
        [
            "TransactGetItems",
            "TransactWriteItems",
            "TransactWriteItems",
            "TransactWriteItems",
            "TransactWriteItems"
        ],
        "read and write once, then writes only"
    );
    // The writes asked for the rows that failed their conditions.
    let second_write = replay.actual_requests().nth(2).unwrap();
    let body = std::str::from_utf8(second_write.body().bytes().unwrap()).unwrap();
    assert_eq!(
        body.matches(r#""ReturnValuesOnConditionCheckFailure":"ALL_OLD""#)
            .count(),
        2,
        "{body}"
    );
}
