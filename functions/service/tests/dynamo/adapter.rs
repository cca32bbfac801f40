//! The DynamoDB adapter against moto: table setup, the stored layout, and
//! decoding of bad items. The port semantics are in `conformance.rs`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeyType, PutRequest, StreamViewType, TableDescription, WriteRequest,
};
use chrono::{TimeZone, Utc};
use domain::{
    Amount, AppendCommand, AppendError, ApplyMode, Checkpoints, DomainEvent, EventId, EventStore,
    ItemChange, ItemId, ItemState, ItemView, ListQuery, PageSize, ReadModel, StoreError, StreamId,
    coalesce,
};
use service::dynamo::schema::{self, Table};
use service::dynamo::{DynamoStore, TableNames, ensure_tables, event_from_item};

use crate::common::{client, fresh_store, fresh_tables};
use futures::StreamExt;
use testkit::aws_calls::{RequestLog, counted_dynamodb};
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
        (
            table
                .range_key()
                .expect("a table with a range key")
                .0
                .to_owned(),
            range,
        ),
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
        (&tables.events, Some(schema::EVENT_ID)),
        (&tables.stream_index, Some(schema::ENTRY)),
        (&tables.read_model, Some(schema::ITEM_ID)),
        (&tables.replays, None),
    ] {
        let hash = if range.is_some() {
            schema::STREAM_ID
        } else {
            schema::REPLAY_KEY
        };
        let expected: Vec<(String, KeyType)> = std::iter::once((hash.to_owned(), KeyType::Hash))
            .chain(range.map(|range| (range.to_owned(), KeyType::Range)))
            .collect();
        assert_eq!(keys(&describe(&client, name).await), expected, "{name}");
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

/// The seeded stream of the paging test: `i00000` to `i02499`, deleted at
/// the start, in a run of 300 in the middle, at the end and every seventh.
const PAGED_ITEMS: u64 = 2500;

fn paged_item_is_deleted(i: u64) -> bool {
    i < 40 || (1000..1300).contains(&i) || i >= 2450 || i.is_multiple_of(7)
}

/// Writes the paging test's rows as `apply` lays them out, 25 to a
/// BatchWriteItem and several of those at once (far quicker on moto than a
/// PutItem each).
async fn seed_paged_stream(store: &DynamoStore, stream: &str) {
    let expires_at =
        (Utc::now().timestamp() + domain::limits::TOMBSTONE_RETENTION_SECS).to_string();
    let rows: Vec<WriteRequest> = (0..PAGED_ITEMS)
        .map(|i| {
            let mut row = HashMap::from([
                (schema::STREAM_ID.to_owned(), s(stream)),
                (schema::ITEM_ID.to_owned(), s(&format!("i{i:05}"))),
                (schema::VERSION.to_owned(), n(&i.to_string())),
            ]);
            if paged_item_is_deleted(i) {
                row.insert(schema::DELETED.to_owned(), AttributeValue::Bool(true));
                row.insert(schema::EXPIRES_AT.to_owned(), n(&expires_at));
            } else {
                row.insert(schema::DELETED.to_owned(), AttributeValue::Bool(false));
                row.insert(schema::AMOUNT.to_owned(), n(&i.to_string()));
            }
            let put = PutRequest::builder().set_item(Some(row)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let table = &store.tables().read_model;
    let batches = rows.chunks(25).map(|batch| async move {
        let output = store
            .client()
            .batch_write_item()
            .request_items(table.clone(), batch.to_vec())
            .send()
            .await
            .expect("batch_write_item");
        // moto processes every item; a real table might not.
        let left = output.unprocessed_items.unwrap_or_default();
        assert!(left.values().all(Vec::is_empty), "{left:?}");
    });
    futures::stream::iter(batches)
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// Lists `stream` in pages of `limit` to its end: each page is full while
/// items remain and says exactly whether more follow, and all of them
/// together are `expected`.
async fn list_all(store: &DynamoStore, stream: &StreamId, limit: usize, expected: &[String]) {
    let mut seen: Vec<String> = Vec::new();
    let mut query = ListQuery {
        limit: PageSize::new(limit).unwrap(),
        ..ListQuery::first_page(stream.clone())
    };
    loop {
        let page = store.list(&query).await.expect("a page");
        // Full pages while items remain, and `more` exactly when some do.
        let left = expected.len().saturating_sub(seen.len());
        assert_eq!(
            page.items.len(),
            limit.min(left),
            "limit {limit} after {seen:?}"
        );
        assert_eq!(page.more, left > limit, "limit {limit} after {seen:?}");
        seen.extend(page.items.iter().map(|view| view.item_id.to_string()));
        match page.next_cursor() {
            Some(cursor) => query.after = Some(cursor.into_item_id()),
            None => break,
        }
    }
    assert_eq!(seen, expected, "limit {limit}");
}

#[tokio::test]
async fn a_stream_of_2500_items_pages_completely_across_runs_of_tombstones() {
    let log = RequestLog::default();
    let client = counted_dynamodb(testkit::moto::shared_endpoint(), &log).await;
    let tables = fresh_tables(&client, "adapter-pages").await;
    let store = DynamoStore::new(client, tables);
    let stream_name = "pages";
    let stream = StreamId::parse(stream_name, "streamId").unwrap();
    seed_paged_stream(&store, stream_name).await;
    let expected: Vec<String> = (0..PAGED_ITEMS)
        .filter(|&i| !paged_item_is_deleted(i))
        .map(|i| format!("i{i:05}"))
        .collect();
    for limit in [1000, 7] {
        list_all(&store, &stream, limit, &expected).await;
    }

    // The page right before the run of 300 tombstones crosses it in a few
    // Queries (each asks twice the previous), not one per 8 rows.
    log.take();
    let query = ListQuery {
        limit: PageSize::new(7).unwrap(),
        after: Some(item("i00995")),
        ..ListQuery::first_page(stream.clone())
    };
    let page = store.list(&query).await.expect("a page");
    let ids: Vec<String> = page.items.iter().map(|v| v.item_id.to_string()).collect();
    let next = expected
        .iter()
        .position(|id| id.as_str() > "i00995")
        .unwrap();
    assert_eq!(ids, expected[next..next + 7]);
    assert_eq!(ids[4], "i01300", "the page spans the run");
    assert!(page.more);
    let queries = log.take();
    assert!(
        queries.iter().all(|op| op == "Query") && queries.len() <= 7,
        "{queries:?}"
    );

    // `rows` sees every row, tombstones included, in item order.
    let mut rows = Vec::new();
    let mut after: Option<ItemId> = None;
    loop {
        let page = store
            .rows(&stream, after.as_ref(), 1000)
            .await
            .expect("rows");
        let Some(last) = page.last() else { break };
        after = Some(last.item_id.clone());
        let full = page.len() == 1000;
        rows.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(rows.len(), PAGED_ITEMS as usize);
    for (i, row) in (0..PAGED_ITEMS).zip(&rows) {
        assert_eq!(row.item_id.as_str(), format!("i{i:05}"));
        assert_eq!(row.version, EventId::new(i));
        let state = if paged_item_is_deleted(i) {
            ItemState::Deleted
        } else {
            ItemState::Live {
                amount: Amount::new(i).unwrap(),
            }
        };
        assert_eq!(row.state, state, "item {i}");
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
async fn ensure_tables_refuses_a_read_model_expiring_rows_by_another_attribute() {
    let client = client().await;
    let tables = TableNames::with_prefix(&unique_name("adapter-wrong-ttl"));
    ensure_tables(&client, &tables).await.expect("setup");
    // TTL can be switched to another attribute only through off (and, on
    // AWS, an hour): what someone else's setup could have left.
    for (attribute, enabled) in [(schema::EXPIRES_AT, false), ("ttl", true)] {
        client
            .update_time_to_live()
            .table_name(&tables.read_model)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(enabled)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("update_time_to_live");
    }
    match ensure_tables(&client, &tables).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains(&tables.read_model), "{message}");
            assert!(message.contains("\"ttl\""), "{message}");
            assert!(message.contains(schema::EXPIRES_AT), "{message}");
        }
        other => panic!("expected a TTL mismatch, got {other:?}"),
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
            idempotency: None,
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
        idempotency: None,
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
    // A tombstone flag that is not a boolean is reported too, not skipped
    // by the listing's filter as if the row were a tombstone.
    store
        .client()
        .put_item()
        .table_name(&store.tables().read_model)
        .item(schema::STREAM_ID, s("t"))
        .item(schema::ITEM_ID, s("y"))
        .item(schema::VERSION, n("1"))
        .item(schema::AMOUNT, n("1"))
        .item(schema::DELETED, s("yes"))
        .send()
        .await
        .expect("put a bad row");
    let stream = StreamId::parse("t", "streamId").unwrap();
    match store.list(&ListQuery::first_page(stream)).await {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains("\"y\""), "{message}");
            assert!(message.contains(schema::DELETED), "{message}");
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
        idempotency: None,
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
