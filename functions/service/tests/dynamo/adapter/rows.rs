//! The DynamoDB adapter's rows: the layout an append, a projection and a
//! checkpoint store, and bad rows read as corrupt, naming their key, never
//! as a panic or contention.

use super::*;

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
            metadata: Default::default(),
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
        metadata: Default::default(),
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
        metadata: Default::default(),
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
