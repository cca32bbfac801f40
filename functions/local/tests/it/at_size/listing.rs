//! Local mode at size, listing: 100,000 items page by page over HTTP,
//! in order, whatever the tombstones among them.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_thousand_items_page_over_http_in_order() {
    const LIVE: u64 = 100_000;
    let data = tempfile::tempdir().expect("a temporary folder");
    let s = stream("at-size-list");

    // 100,000 live items, ids unpadded so byte order is not numeric order,
    // amid 60,000 tombstones (half of them long expired) that sort among
    // them, and a few after the last live item.
    let started = Instant::now();
    let now = Utc::now();
    let long_ago = now - TimeDelta::seconds(TOMBSTONE_RETENTION_SECS + 3600);
    let change = |id: String, version: u64, state: ItemState, recorded_at| ItemChange {
        stream_id: s.clone(),
        item_id: item(&id),
        version: EventId::new(version),
        state,
        recorded_at,
    };
    let mut changes: Vec<ItemChange> = (0..LIVE)
        .map(|i| {
            let state = ItemState::Live { amount: amount(i) };
            change(i.to_string(), i, state, now)
        })
        .collect();
    let tombstones = (LIVE..LIVE + 60_000).map(|i| (i.to_string(), i)).chain(
        // '~' sorts after every digit: only tombstones follow "99999".
        (0..100).map(|i| (format!("~{i}"), 200_000 + i)),
    );
    let (mut expired, mut fresh) = (0usize, 0usize);
    for (n, (id, version)) in tombstones.enumerate() {
        let recorded_at = if n % 2 == 0 {
            expired += 1;
            long_ago
        } else {
            fresh += 1;
            now
        };
        changes.push(change(id, version, ItemState::Deleted, recorded_at));
    }
    let store = store_in(data.path());
    apply_all(&store, &changes, 20_000).await;
    drop(changes);
    let seeded = started.elapsed();

    let server = start_server(data.path()).await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let (mut listed, mut pages, mut largest_page) = (Vec::new(), 0usize, 0usize);
    let mut cursor: Option<String> = None;
    loop {
        let page = get_page(&http, &server, &s, cursor.as_deref()).await;
        pages += 1;
        largest_page = largest_page.max(page.body_bytes);
        assert!(
            page.body_bytes < 256 * 1024,
            "page {pages} is {} bytes",
            page.body_bytes
        );
        let full = page.items.len() == domain::MAX_PAGE_ITEMS;
        listed.extend(page.items);
        match page.next_cursor {
            Some(next) => {
                assert!(full, "page {pages} has a cursor but is not full");
                cursor = Some(next);
            }
            None => break,
        }
    }
    let paged = started.elapsed();

    let mut expected: Vec<(String, u64)> = (0..LIVE).map(|i| (i.to_string(), i)).collect();
    expected.sort();
    assert_eq!(listed.len(), expected.len());
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].0.as_bytes() < w[1].0.as_bytes()),
        "strictly increasing in byte order, so no duplicates"
    );
    assert_eq!(listed, expected);
    // 100 full pages; the 100th says nothing follows, though tombstones do.
    assert_eq!(pages, 100);

    // The server purged the expired tombstones when it started.
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows = count_rows(&store, &s).await;
        if rows == LIVE as usize + fresh || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows, LIVE as usize + fresh, "{expired} expired tombstones");
    server.stop().await.expect("a clean stop");
    eprintln!(
        "at size: seeded {} rows in {seeded:?}; listed {LIVE} items in {pages} pages over HTTP in {paged:?}, largest page {largest_page} bytes",
        LIVE as usize + expired + fresh
    );
}

/// Every stored row of `stream`, tombstones included, counted in pages.
async fn count_rows(store: &SqliteStore, stream: &StreamId) -> usize {
    let (mut count, mut after) = (0, None::<ItemId>);
    loop {
        let page = store
            .rows(stream, after.as_ref(), 10_000)
            .await
            .expect("rows");
        count += page.len();
        match page.last() {
            Some(last) if page.len() == 10_000 => after = Some(last.item_id.clone()),
            _ => return count,
        }
    }
}
