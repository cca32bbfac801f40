//! A warm store writes against what it remembers of a stream; these show
//! that remembering never makes an append wrong: when another store moved
//! the stream, the write is refused, the refusal's rows give the current
//! state, and the append is decided again on it (ids stay contiguous, the
//! rules and keys hold); without rows in the refusal, the state is read.

use chrono::Utc;
use domain::{
    Amount, AppendCommand, AppendError, DomainEvent, EventStore, IdempotencyKey, ItemId, Rejection,
    StreamId, Version,
};
use service::dynamo::DynamoStore;
use testkit::aws_calls::{RequestLog, RowlessRefusals};

use crate::common::fresh_tables;

/// Two stores over the same fresh tables, the first one's requests
/// counted; with `rowless`, refusals of its writes carry no rows.
async fn two_stores(
    label: &str,
    rowless: Option<&RowlessRefusals>,
) -> (DynamoStore, DynamoStore, RequestLog) {
    let log = RequestLog::default();
    let sdk = service::aws::sdk_config_for_endpoint(testkit::moto::shared_endpoint()).await;
    let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(log.clone());
    if let Some(rowless) = rowless {
        config = config.interceptor(rowless.clone());
    }
    let counted = aws_sdk_dynamodb::Client::from_conf(config.build());
    let tables = fresh_tables(&counted, label).await;
    log.take();
    let other = aws_sdk_dynamodb::Client::new(&sdk);
    (
        DynamoStore::new(counted, tables.clone()),
        DynamoStore::new(other, tables),
        log,
    )
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id, "itemId").unwrap()
}

fn create(stream: &StreamId, id: &str) -> AppendCommand {
    let amount = Amount::new(1).unwrap();
    AppendCommand::new(
        stream.clone(),
        DomainEvent::ItemCreated {
            item_id: item(id),
            amount,
        },
        None,
    )
}

fn change(stream: &StreamId, id: &str) -> AppendCommand {
    let amount = Amount::new(2).unwrap();
    AppendCommand::new(
        stream.clone(),
        DomainEvent::ItemAmountChanged {
            item_id: item(id),
            amount,
        },
        None,
    )
}

fn delete(stream: &StreamId, id: &str) -> AppendCommand {
    AppendCommand::new(
        stream.clone(),
        DomainEvent::ItemDeleted { item_id: item(id) },
        None,
    )
}

fn rejection(result: Result<domain::RecordedEvent, AppendError>) -> Rejection {
    match result {
        Err(AppendError::Rejected(rejection)) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// The ids of the stream's events, in order.
async fn ids(store: &DynamoStore, stream: &StreamId) -> Vec<u64> {
    let events = store
        .read_stream(stream, domain::EventId::FIRST, 1000)
        .await
        .unwrap();
    events.iter().map(|event| event.event_id.get()).collect()
}

/// Another store appends between the warm store's appends: every stale
/// assumption costs one refused write, whose rows decide again; the rules
/// refuse on the current state, never on the remembered one.
async fn stale_memory_is_corrected(rowless: Option<&RowlessRefusals>, refused_then: &[&str]) {
    let (warm, other, log) = two_stores("warm", rowless).await;
    let stream = StreamId::parse("warm", "streamId").unwrap();
    warm.append(&create(&stream, "x"), Utc::now())
        .await
        .unwrap();
    assert_eq!(log.take(), ["TransactGetItems", "TransactWriteItems"]);

    // The stream moved twice: the warm store's write at version 0 is refused.
    other
        .append(&create(&stream, "y"), Utc::now())
        .await
        .unwrap();
    other
        .append(&create(&stream, "z"), Utc::now())
        .await
        .unwrap();
    let event = warm
        .append(&create(&stream, "w"), Utc::now())
        .await
        .unwrap();
    assert_eq!(event.event_id.get(), 3);
    assert_eq!(log.take(), refused_then);

    // x deleted elsewhere: a change of it is refused on the current state.
    other
        .append(&delete(&stream, "x"), Utc::now())
        .await
        .unwrap();
    let refused = rejection(warm.append(&change(&stream, "x"), Utc::now()).await);
    assert!(
        matches!(refused, Rejection::ItemNotFound { .. }),
        "{refused:?}"
    );
    log.take();
    // ...and created again elsewhere: a creation of it is refused, then a
    // change appended on top of the other store's creation.
    other
        .append(&create(&stream, "x"), Utc::now())
        .await
        .unwrap();
    let refused = rejection(warm.append(&create(&stream, "x"), Utc::now()).await);
    assert!(
        matches!(refused, Rejection::ItemAlreadyExists { .. }),
        "{refused:?}"
    );
    let changed = warm
        .append(&change(&stream, "x"), Utc::now())
        .await
        .unwrap();
    assert_eq!(changed.event_id.get(), 6);

    // An expectedVersion the remembered state calls stale but the stream
    // has reached: the refusal is not believed before a read confirms it.
    other
        .append(&create(&stream, "v"), Utc::now())
        .await
        .unwrap();
    log.take();
    let mut at_7 = create(&stream, "u");
    at_7.expected_version = Some(Version::new(7).unwrap());
    let event = warm.append(&at_7, Utc::now()).await.unwrap();
    assert_eq!(event.event_id.get(), 8);
    assert_eq!(log.take(), ["TransactGetItems", "TransactWriteItems"]);
    // A stale expectedVersion is refused, naming the current version.
    let refused = rejection(warm.append(&at_7, Utc::now()).await);
    assert_eq!(
        refused,
        Rejection::VersionConflict {
            expected: Version::new(7).unwrap(),
            current: Version::new(8).unwrap()
        }
    );

    assert_eq!(ids(&other, &stream).await, (0..=8).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_stale_memory_costs_a_refused_write_never_a_wrong_append() {
    // The refusal's rows say where the stream is: no read.
    stale_memory_is_corrected(None, &["TransactWriteItems", "TransactWriteItems"]).await;
}

#[tokio::test]
async fn a_refusal_without_rows_falls_back_to_reading_the_state() {
    let rowless = RowlessRefusals::default();
    stale_memory_is_corrected(
        Some(&rowless),
        &[
            "TransactWriteItems",
            "TransactGetItems",
            "TransactWriteItems",
        ],
    )
    .await;
    assert!(rowless.changed() > 0);
}

/// A key another store used: the warm store reads the key's row with the
/// state (a keyed append is never written on remembered state), and the
/// row answers the first event, or refuses another request under it.
#[tokio::test]
async fn a_key_another_store_used_answers_from_its_row() {
    let (warm, other, log) = two_stores("warm-key", None).await;
    let stream = StreamId::parse("warm-key", "streamId").unwrap();
    warm.append(&create(&stream, "x"), Utc::now())
        .await
        .unwrap();
    let key = IdempotencyKey::parse(&testkit::unique_name("warm")).unwrap();
    let keyed = change(&stream, "x").with_idempotency_key(key.clone());
    let first = other.append(&keyed, Utc::now()).await.unwrap();
    log.take();

    let again = warm.append(&keyed, Utc::now()).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(log.take(), ["TransactGetItems"]);

    let another = delete(&stream, "x").with_idempotency_key(key.clone());
    let refused = rejection(warm.append(&another, Utc::now()).await);
    assert_eq!(refused, Rejection::IdempotencyKeyReused { key });
    assert_eq!(log.take(), ["TransactGetItems"]);
    assert_eq!(ids(&warm, &stream).await, [0, 1]);
}
