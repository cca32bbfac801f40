//! The DynamoDB adapter against moto: table setup, the stored layout, and
//! decoding of bad items. The port semantics are in `conformance.rs`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType, StreamViewType, TableDescription};
use chrono::{TimeZone, Utc};
use domain::{
    Amount, AppendCommand, AppendError, ApplyMode, Checkpoints, DomainEvent, EventId, EventStore,
    ItemChange, ItemId, ItemState, ItemView, ListQuery, PageSize, ReadModel, StoreError, StreamId,
    coalesce,
};
use service::dynamo::schema::{self, Table};
use service::dynamo::{DynamoStore, TableNames, ensure_tables, event_from_item};

use crate::common::{client, fresh_store};
use testkit::unique_name;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id, "itemId").expect("an item id")
}

fn n(value: &str) -> AttributeValue {
    AttributeValue::N(value.to_owned())
}

async fn describe(client: &Client, name: &str) -> TableDescription {
    client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("a description")
}

/// The (attribute, key type) pairs of a table's key schema, in order.
fn keys(table: &TableDescription) -> Vec<(String, KeyType)> {
    table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect()
}

/// The row of `table` under `stream` and range key value `range`, as stored.
async fn stored_row(
    store: &DynamoStore,
    table: Table,
    stream: &str,
    range: AttributeValue,
) -> Option<HashMap<String, AttributeValue>> {
    let key = HashMap::from([
        (schema::STREAM_ID.to_owned(), s(stream)),
        (table.range_key().0.to_owned(), range),
    ]);
    store
        .client()
        .get_item()
        .table_name(store.tables().name(table))
        .set_key(Some(key))
        .send()
        .await
        .expect("get_item")
        .item
}

#[tokio::test]
async fn ensure_tables_is_idempotent_and_the_events_table_streams_new_images() {
    let client = client().await;
    let tables = TableNames::with_prefix(&unique_name("adapter-ensure"));
    assert!(tables.events.ends_with("-events"));
    assert!(tables.stream_index.ends_with("-stream-index"));
    ensure_tables(&client, &tables)
        .await
        .expect("first ensure_tables");
    ensure_tables(&client, &tables)
        .await
        .expect("second ensure_tables");

    let events = describe(&client, &tables.events).await;
    let stream = events
        .stream_specification()
        .expect("a stream specification");
    assert!(stream.stream_enabled());
    assert_eq!(stream.stream_view_type(), Some(&StreamViewType::NewImage));
    assert!(
        events.latest_stream_arn().is_some(),
        "the stream has an ARN"
    );
    for (name, range) in [
        (&tables.events, schema::EVENT_ID),
        (&tables.stream_index, schema::ENTRY),
        (&tables.read_model, schema::ITEM_ID),
    ] {
        assert_eq!(
            keys(&describe(&client, name).await),
            [
                (schema::STREAM_ID.to_owned(), KeyType::Hash),
                (range.to_owned(), KeyType::Range)
            ]
        );
    }
}

#[tokio::test]
async fn tombstones_carry_their_expiry_and_the_read_model_expires_them_by_ttl() {
    let store = fresh_store("adapter-ttl").await;
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(&store.tables().read_model)
        .send()
        .await
        .expect("describe_time_to_live");
    let ttl = ttl.time_to_live_description().expect("a TTL description");
    assert_eq!(ttl.attribute_name(), Some(schema::EXPIRES_AT));
    assert_eq!(
        ttl.time_to_live_status(),
        Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
    );

    let stream = StreamId::parse("ttl", "streamId").unwrap();
    let deleted_at = Utc::now();
    let change = |id: &str, state| ItemChange {
        stream_id: stream.clone(),
        item_id: item(id),
        version: EventId::new(1),
        state,
        recorded_at: deleted_at,
    };
    let live = ItemState::Live {
        amount: Amount::new(1).unwrap(),
    };
    let outcomes = store
        .apply(
            &[change("gone", ItemState::Deleted), change("kept", live)],
            ApplyMode::Projection,
        )
        .await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let tombstone = stored_row(&store, Table::ReadModel, "ttl", s("gone"))
        .await
        .expect("the tombstone");
    let expected = deleted_at.timestamp() + domain::limits::TOMBSTONE_RETENTION_SECS;
    assert_eq!(
        tombstone.get(schema::EXPIRES_AT),
        Some(&n(&expected.to_string()))
    );
    let kept = stored_row(&store, Table::ReadModel, "ttl", s("kept"))
        .await
        .expect("the live row");
    assert_eq!(kept.get(schema::EXPIRES_AT), None, "live rows never expire");
    // A live write over the tombstone replaces the whole row, expiry too.
    let revived = ItemChange {
        version: EventId::new(2),
        ..change("gone", live)
    };
    store.apply(&[revived], ApplyMode::Projection).await;
    let row = stored_row(&store, Table::ReadModel, "ttl", s("gone"))
        .await
        .expect("the revived row");
    assert_eq!(row.get(schema::EXPIRES_AT), None);
}

#[tokio::test]
async fn pages_cross_long_runs_of_tombstones_on_dynamodb() {
    let store = fresh_store("adapter-pages").await;
    let stream = StreamId::parse("pages", "streamId").unwrap();
    // 1,200 items; 300 tombstones in a row in the middle, and every
    // seventh item elsewhere.
    let changes: Vec<ItemChange> = (0..1200u64)
        .map(|i| ItemChange {
            stream_id: stream.clone(),
            item_id: item(&format!("i{i:05}")),
            version: EventId::new(i),
            state: if (400..700).contains(&i) || i % 7 == 0 {
                ItemState::Deleted
            } else {
                ItemState::Live {
                    amount: Amount::new(i).unwrap(),
                }
            },
            recorded_at: Utc::now(),
        })
        .collect();
    for outcome in store.apply(&changes, ApplyMode::Projection).await {
        outcome.expect("seeding");
    }
    let expected: Vec<String> = (0..1200u64)
        .filter(|i| !((400..700).contains(i) || i % 7 == 0))
        .map(|i| format!("i{i:05}"))
        .collect();
    for limit in [7, 1000] {
        let mut seen: Vec<String> = Vec::new();
        let mut query = ListQuery {
            limit: PageSize::new(limit).unwrap(),
            ..ListQuery::first_page(stream.clone())
        };
        loop {
            let page = store.list(&query).await.expect("a page");
            assert!(page.items.len() <= limit);
            assert!(!page.more || page.items.len() == limit, "limit {limit}");
            seen.extend(page.items.iter().map(|view| view.item_id.to_string()));
            match page.next_cursor() {
                Some(cursor) => query.after = Some(cursor.into_item_id()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "limit {limit}");
    }
}

#[tokio::test]
async fn ensure_tables_refuses_an_existing_table_with_other_keys() {
    let client = client().await;
    let prefix = unique_name("adapter-wrong-keys");
    // A read-model table where the events table should be.
    let wrong = TableNames::with_prefix(&prefix);
    let imposter = TableNames {
        read_model: wrong.events.clone(),
        ..TableNames::with_prefix(&unique_name("adapter-imposter"))
    };
    ensure_tables(&client, &imposter).await.expect("setup");
    match ensure_tables(&client, &wrong).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains(&wrong.events), "{message}");
            assert!(message.contains("expected"), "{message}");
        }
        other => panic!("expected a key mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn append_read_list_and_checkpoints_smoke() {
    let store = fresh_store("adapter-smoke").await;
    let stream = StreamId::parse("smoke-stream", "streamId").unwrap();
    let item = |id: &str| ItemId::parse(id, "itemId").unwrap();
    let at = Utc.timestamp_millis_opt(1_795_000_000_123).unwrap();
    let commands = [
        DomainEvent::ItemCreated {
            item_id: item("b"),
            amount: Amount::new(2).unwrap(),
        },
        DomainEvent::ItemCreated {
            item_id: item("a"),
            amount: Amount::new(225).unwrap(),
        },
        DomainEvent::ItemAmountChanged {
            item_id: item("b"),
            amount: Amount::new(3).unwrap(),
        },
        DomainEvent::ItemDeleted { item_id: item("a") },
    ];
    let mut appended = Vec::new();
    for event in commands {
        let command = AppendCommand {
            stream_id: stream.clone(),
            event,
            expected_version: None,
        };
        appended.push(store.append(&command, at).await.expect("append"));
    }
    let ids: Vec<u64> = appended.iter().map(|e| e.event_id.get()).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    let read = store
        .read_stream(&stream, EventId::FIRST, 100)
        .await
        .expect("read_stream");
    assert_eq!(read, appended);

    // The stored layout, as the projector and the template expect it.
    let raw = stored_row(&store, Table::Events, "smoke-stream", n("1"))
        .await
        .expect("event 1 is stored");
    assert_eq!(raw.get(schema::EVENT_TYPE), Some(&s("ITEM_CREATED")));
    assert_eq!(
        raw.get(schema::DATA),
        Some(&AttributeValue::M(HashMap::from([
            ("itemId".to_owned(), s("a")),
            ("amount".to_owned(), n("225")),
        ])))
    );
    assert_eq!(
        raw.get(schema::RECORDED_AT),
        Some(&s("2026-11-18T11:06:40.123Z"))
    );
    assert_eq!(event_from_item(&raw).as_ref(), Ok(&appended[1]));
    let head = stored_row(&store, Table::StreamIndex, "smoke-stream", s("HEAD"))
        .await
        .expect("HEAD is stored");
    assert_eq!(head.get(schema::VERSION), Some(&n("3")));

    let outcomes = store.apply(&coalesce(&read), ApplyMode::Projection).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(
        store
            .list(&ListQuery::first_page(stream.clone()))
            .await
            .expect("list")
            .items,
        [ItemView {
            item_id: item("b"),
            amount: Amount::new(3).unwrap()
        }]
    );

    assert_eq!(store.load("smoke").await, Ok(None));
    store.save("smoke", "seq-1").await.expect("save");
    assert_eq!(store.load("smoke").await, Ok(Some("seq-1".to_owned())));
    // A stream named like the checkpoint partition does not collide with it.
    let clash = StreamId::parse(schema::CHECKPOINTS_STREAM, "streamId").unwrap();
    let command = AppendCommand {
        stream_id: clash.clone(),
        event: DomainEvent::ItemCreated {
            item_id: item("smoke"),
            amount: Amount::new(1).unwrap(),
        },
        expected_version: None,
    };
    store
        .append(&command, at)
        .await
        .expect("append to `checkpoints`");
    assert_eq!(store.load("smoke").await, Ok(Some("seq-1".to_owned())));
}

#[tokio::test]
async fn a_corrupt_read_model_row_is_reported_not_panicked_on() {
    let store = fresh_store("adapter-corrupt-row").await;
    store
        .client()
        .put_item()
        .table_name(&store.tables().read_model)
        .item(schema::STREAM_ID, s("s"))
        .item(schema::ITEM_ID, s("x"))
        .item(schema::VERSION, n("1"))
        .item(schema::AMOUNT, s("lots"))
        .send()
        .await
        .expect("put a bad row");
    let stream = StreamId::parse("s", "streamId").unwrap();
    match store.list(&ListQuery::first_page(stream)).await {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains("\"x\""), "{message}");
            assert!(message.contains(schema::AMOUNT), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn an_event_the_stream_index_does_not_know_is_corrupt_not_contention() {
    let store = fresh_store("adapter-index-behind").await;
    // Event 0 exists, but no HEAD row says so (as after a hand edit).
    let mut item = good_item();
    item.insert(schema::STREAM_ID.into(), s("behind"));
    item.insert(schema::EVENT_ID.into(), n("0"));
    store
        .client()
        .put_item()
        .table_name(&store.tables().events)
        .set_item(Some(item))
        .send()
        .await
        .expect("put a stray event");
    let command = AppendCommand {
        stream_id: StreamId::parse("behind", "streamId").unwrap(),
        event: DomainEvent::ItemCreated {
            item_id: ItemId::parse("i", "itemId").unwrap(),
            amount: Amount::new(1).unwrap(),
        },
        expected_version: None,
    };
    match store.append(&command, Utc::now()).await {
        Err(AppendError::Store(StoreError::Corrupt(message))) => {
            assert!(message.contains("already holds event 0"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

fn good_item() -> HashMap<String, AttributeValue> {
    HashMap::from([
        (schema::STREAM_ID.to_owned(), s("stream-1")),
        (schema::EVENT_ID.to_owned(), n("7")),
        (schema::EVENT_TYPE.to_owned(), s("ITEM_CREATED")),
        (
            schema::DATA.to_owned(),
            AttributeValue::M(HashMap::from([
                ("itemId".to_owned(), s("i")),
                ("amount".to_owned(), n("5")),
            ])),
        ),
        (
            schema::RECORDED_AT.to_owned(),
            s("2026-11-26T10:00:00.123Z"),
        ),
    ])
}

#[test]
fn event_from_item_decodes_a_good_item() {
    let event = event_from_item(&good_item()).expect("a good item decodes");
    assert_eq!(event.event_id, EventId::new(7));
    assert_eq!(event.timestamp(), "2026-11-26T10:00:00.123Z");
}

#[test]
fn event_from_item_reports_wrong_types_as_corrupt_naming_the_key() {
    let bad_amount = AttributeValue::M(HashMap::from([
        ("itemId".to_owned(), s("i")),
        ("amount".to_owned(), s("5")),
    ]));
    // (what the message must name, the attribute spoiled, its new value or
    // `None` to remove it)
    let cases = [
        ("eventId", schema::EVENT_ID, Some(s("7"))),
        ("eventId", schema::EVENT_ID, Some(n("-1"))),
        ("type", schema::EVENT_TYPE, Some(AttributeValue::Bool(true))),
        (
            "ITEM_EXPLODED",
            schema::EVENT_TYPE,
            Some(s("ITEM_EXPLODED")),
        ),
        ("data", schema::DATA, Some(s("{\"itemId\":\"i\"}"))),
        ("data.amount", schema::DATA, Some(bad_amount)),
        ("recordedAt", schema::RECORDED_AT, Some(s("yesterday"))),
        ("recordedAt", schema::RECORDED_AT, None),
        ("streamId", schema::STREAM_ID, Some(s(""))),
    ];
    for (culprit, attribute, value) in cases {
        let mut item = good_item();
        match value {
            Some(value) => item.insert(attribute.to_owned(), value),
            None => item.remove(attribute),
        };
        match event_from_item(&item) {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains(culprit), "{culprit}: {message}");
                // The key, as far as it is readable, locates the record.
                if culprit != "streamId" {
                    assert!(message.contains("\"stream-1\""), "{message}");
                }
            }
            other => panic!("{culprit}: expected Corrupt, got {other:?}"),
        }
    }
    let empty = event_from_item(&HashMap::new());
    assert!(
        matches!(&empty, Err(StoreError::Corrupt(m)) if m.contains("<missing>")),
        "{empty:?}"
    );
}
