//! The DynamoDB adapter's tables: `ensure_tables` creates them once (the
//! events table streaming new images, the read model expiring tombstones
//! by TTL) and refuses tables of another shape.

use super::*;

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
