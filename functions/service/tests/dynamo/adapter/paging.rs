//! The DynamoDB adapter's listing at size: a stream of 2,500 items paged
//! to its end across runs of tombstones.

use super::*;

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
