//! The storage conformance suite on the DynamoDB adapter, against moto:
//! fresh tables for every case.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use domain::RecordedEvent;
use domain::event::format_timestamp;
use futures::FutureExt;
use service::dynamo::schema::{
    DATA, ENTRY, EVENT_ID, EVENT_TYPE, HEAD_ENTRY, ITEM_ENTRY_PREFIX, LAST_EVENT_ID, LIVE,
    RECORDED_AT, STREAM_ENTRY_PREFIX, STREAM_ID, STREAMS_PARTITION, VERSION,
};
use service::dynamo::{DynamoStore, TableNames, json_to_attribute};
use testkit::conformance::Stores;

use crate::common::{client, fresh_tables};

async fn fresh_stores() -> Stores {
    let client = client().await;
    let tables = fresh_tables(&client, "conformance").await;
    let seed_client = client.clone();
    let seed_tables = tables.clone();
    Stores::from_one(DynamoStore::new(client, tables)).seeding_first_events_with(Arc::new(
        move |events| {
            let (client, tables) = (seed_client.clone(), seed_tables.clone());
            async move { seed_first_events(&client, &tables, &events).await }.boxed()
        },
    ))
}

/// Writes each event, the first of its stream, with the rows an append of
/// it writes (the event, its stream's HEAD, its item's row and its
/// stream's entry in the list of streams), 25 to a BatchWriteItem: moto
/// takes about a tenth of a second per append, so ten thousand appends
/// would take the case past its time limit.
async fn seed_first_events(client: &Client, tables: &TableNames, events: &[RecordedEvent]) {
    let s = |text: &str| AttributeValue::S(text.to_owned());
    let n = |number: u64| AttributeValue::N(number.to_string());
    let mut rows: Vec<(&str, HashMap<String, AttributeValue>)> = Vec::new();
    for event in events {
        assert_eq!(event.event_id.get(), 0, "only first events are seeded");
        let stream = event.stream_id.as_str();
        let at = format_timestamp(event.recorded_at);
        rows.push((
            &tables.events,
            HashMap::from([
                (STREAM_ID.to_owned(), s(stream)),
                (EVENT_ID.to_owned(), n(0)),
                (EVENT_TYPE.to_owned(), s(event.event.event_type().as_str())),
                (DATA.to_owned(), json_to_attribute(&event.event.data())),
                (RECORDED_AT.to_owned(), s(&at)),
            ]),
        ));
        let index_row = |entry: String, rest: Vec<(&str, AttributeValue)>| {
            let mut row = HashMap::from([
                (STREAM_ID.to_owned(), s(stream)),
                (ENTRY.to_owned(), s(&entry)),
            ]);
            row.extend(rest.into_iter().map(|(k, v)| (k.to_owned(), v)));
            row
        };
        rows.push((
            &tables.stream_index,
            index_row(
                HEAD_ENTRY.to_owned(),
                vec![(VERSION, n(0)), (RECORDED_AT, s(&at))],
            ),
        ));
        rows.push((
            &tables.stream_index,
            index_row(
                format!("{ITEM_ENTRY_PREFIX}{}", event.event.item_id()),
                vec![
                    (
                        LIVE,
                        AttributeValue::Bool(event.event.item_state_after().is_live()),
                    ),
                    (LAST_EVENT_ID, n(0)),
                ],
            ),
        ));
        rows.push((
            &tables.stream_index,
            HashMap::from([
                (STREAM_ID.to_owned(), s(STREAMS_PARTITION)),
                (
                    ENTRY.to_owned(),
                    s(&format!("{STREAM_ENTRY_PREFIX}{stream}")),
                ),
            ]),
        ));
    }
    for batch in rows.chunks(25) {
        let mut requests: HashMap<String, Vec<WriteRequest>> = HashMap::new();
        for (table, row) in batch {
            let put = PutRequest::builder()
                .set_item(Some(row.clone()))
                .build()
                .expect("a put");
            requests
                .entry((*table).to_owned())
                .or_default()
                .push(WriteRequest::builder().put_request(put).build());
        }
        let mut pending = Some(requests);
        for _ in 0..20 {
            let Some(items) = pending.take().filter(|items| !items.is_empty()) else {
                break;
            };
            let output = client
                .batch_write_item()
                .set_request_items(Some(items))
                .send()
                .await
                .expect("a batch write on moto");
            pending = output.unprocessed_items;
        }
        assert!(
            pending.is_none_or(|items| items.is_empty()),
            "moto left writes unprocessed"
        );
    }
}

testkit::conformance_tests!(fresh_stores());
