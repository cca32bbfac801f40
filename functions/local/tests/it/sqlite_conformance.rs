//! The SQLite adapter against the shared conformance suite (on a file and in
//! memory), plus what only it offers: reopening a file and the change feed.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use domain::{
    Amount, AppendCommand, ApplyMode, Checkpoints, DomainEvent, EventId, EventStore, ItemChange,
    ItemId, ListQuery, ParkedRecord, ParkedRecords, ReadModel, RecordedEvent, StoreError, StreamId,
};
use local::sqlite::{SqliteStore, feed_source};
use testkit::conformance::{Stores, unique_stream};

/// A file store in a new temporary directory, which goes with it.
fn temp_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A nested path also checks that `open` creates parent directories.
    let store = SqliteStore::open(&dir.path().join("data/store.db")).expect("open the store");
    (store, dir)
}

testkit::conformance_tests!(async {
    let (store, dir) = temp_store();
    Stores::from_one(store).keeping(dir)
});

mod in_memory {
    use super::*;

    testkit::conformance_tests!(async {
        Stores::from_one(SqliteStore::open_in_memory().expect("an in-memory store"))
    });
}

fn created(stream: &StreamId, item: &str, amount: u64) -> AppendCommand {
    AppendCommand {
        stream_id: stream.clone(),
        event: DomainEvent::ItemCreated {
            item_id: ItemId::parse(item, "itemId").expect("item id"),
            amount: Amount::new(amount).expect("amount"),
        },
        expected_version: None,
        idempotency: None,
        metadata: Default::default(),
    }
}

async fn append(store: &SqliteStore, command: AppendCommand) -> RecordedEvent {
    store.append(&command, Utc::now()).await.expect("append")
}

/// 400 appends over 16 streams from 64 tasks at once, a third of them
/// refused (creating an existing item, a stale expected version, changing
/// a missing item) and some racing on one expected version: each gets one
/// answer, and each stream's log is exactly what was acknowledged, in id
/// order with no gap, however the group commit batched them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_over_many_streams_store_exactly_what_was_acknowledged() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use domain::{AppendError, Rejection, Version};

    const STREAMS: usize = 16;
    const APPENDS: usize = 400;
    const TASKS: usize = 64;
    let (store, _dir) = temp_store();
    let streams: Vec<StreamId> = (0..STREAMS)
        .map(|i| unique_stream(&format!("group-{i}")))
        .collect();
    for stream in &streams {
        append(&store, created(stream, "seed", 0)).await;
    }
    let before = store.append_stats();

    /// What an append is expected to get.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Expect {
        Stored,
        Refused,
        /// Expects version 0: the first of its stream to run wins.
        Races,
    }
    let commands: Vec<(AppendCommand, Expect)> = (0..APPENDS)
        .map(|i| {
            let stream = &streams[i % STREAMS];
            let item = format!("item-{i}");
            match i % 6 {
                0 => (created(stream, "seed", 1), Expect::Refused),
                1 => (
                    AppendCommand {
                        expected_version: Some(Version::EMPTY),
                        ..created(stream, &item, 1)
                    },
                    Expect::Refused,
                ),
                2 => (
                    AppendCommand {
                        stream_id: stream.clone(),
                        event: DomainEvent::ItemAmountChanged {
                            item_id: ItemId::parse(&item, "itemId").expect("item id"),
                            amount: Amount::new(2).expect("amount"),
                        },
                        expected_version: None,
                        idempotency: None,
                        metadata: Default::default(),
                    },
                    Expect::Refused,
                ),
                3 => (
                    AppendCommand {
                        expected_version: Some(Version::new(0).expect("a version")),
                        ..created(stream, &item, 1)
                    },
                    Expect::Races,
                ),
                _ => (created(stream, &item, i as u64), Expect::Stored),
            }
        })
        .collect();
    let commands = Arc::new(commands);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, commands, next) = (store.clone(), commands.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((command, _)) = commands.get(i) else {
                    return outcomes;
                };
                outcomes.push((i, store.append(command, Utc::now()).await));
            }
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.expect("an appending task"));
    }
    outcomes.sort_by_key(|(i, _)| *i);
    assert_eq!(
        outcomes.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..APPENDS).collect::<Vec<_>>(),
        "one answer per append"
    );

    let mut acknowledged: Vec<Vec<RecordedEvent>> = vec![Vec::new(); STREAMS];
    let mut race_winners = [0; STREAMS];
    for (i, outcome) in outcomes {
        let (command, expect) = &commands[i];
        match (outcome, expect) {
            (Ok(event), Expect::Stored | Expect::Races) => {
                assert_eq!(event.stream_id, command.stream_id);
                assert_eq!(&event.event, &command.event);
                if *expect == Expect::Races {
                    assert_eq!(event.event_id.get(), 1, "a race is won at version 0 only");
                    race_winners[i % STREAMS] += 1;
                }
                acknowledged[i % STREAMS].push(event);
            }
            (Err(AppendError::Rejected(rejection)), Expect::Refused) => match i % 6 {
                0 => assert!(matches!(rejection, Rejection::ItemAlreadyExists { .. })),
                1 => assert!(matches!(rejection, Rejection::VersionConflict { .. })),
                _ => assert!(matches!(rejection, Rejection::ItemNotFound { .. })),
            },
            (Err(AppendError::Rejected(Rejection::VersionConflict { .. })), Expect::Races) => {}
            (other, expect) => panic!("append {i} expected {expect:?}, got {other:?}"),
        }
    }
    for (s, stream) in streams.iter().enumerate() {
        assert!(race_winners[s] <= 1, "at most one race won per stream");
        let mut expected = acknowledged[s].clone();
        expected.sort_by_key(|event| event.event_id);
        let log = store
            .read_stream(stream, EventId::new(1), 1000)
            .await
            .expect("read the stream");
        assert_eq!(
            log, expected,
            "stream {s} holds exactly what was acknowledged"
        );
        let ids: Vec<u64> = log.iter().map(|event| event.event_id.get()).collect();
        assert_eq!(ids, (1..=log.len() as u64).collect::<Vec<_>>(), "no gap");
    }
    let stats = store.append_stats();
    assert_eq!(stats.appends - before.appends, APPENDS as u64);
    assert!(stats.largest_batch <= 256, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    let s = unique_stream("reopen");
    let store = SqliteStore::open(&path).expect("open");
    let first = vec![
        append(&store, created(&s, "a", 1)).await,
        append(&store, created(&s, "b", 2)).await,
    ];
    let change = ItemChange::from_event(&first[0]);
    assert!(store.apply(&[change], ApplyMode::Projection).await[0].is_ok());
    store.save("projector", "2").await.expect("save");
    let parked = ParkedRecord::new(feed_source(7), "bad row", "", Utc::now());
    store.park(&parked).await.expect("park");
    drop(store);

    let store = SqliteStore::open(&path).expect("reopen");
    let read = store
        .read_stream(&s, EventId::FIRST, 10)
        .await
        .expect("read");
    assert_eq!(read, first);
    assert_eq!(
        *store.feed_position().borrow(),
        2,
        "the feed resumes at the last seq"
    );
    let next = append(&store, created(&s, "c", 3)).await;
    assert_eq!(next.event_id.get(), 2);
    let page = store
        .list(&ListQuery::first_page(s.clone()))
        .await
        .expect("list");
    assert_eq!((page.items.len(), page.more), (1, false));
    assert_eq!(store.load("projector").await, Ok(Some("2".to_owned())));
    assert_eq!(
        store.parked(None, 10).await.map(|all| all.len()),
        Ok(1),
        "the parked record survives a reopen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_lists_commits_in_order_and_wakes_followers() {
    let (store, _dir) = temp_store();
    let (s1, s2) = (unique_stream("feed-1"), unique_stream("feed-2"));
    assert!(store.read_feed(0, 10).await.expect("feed").is_empty());
    let mut position = store.feed_position();
    assert_eq!(*position.borrow_and_update(), 0);

    let appended = vec![
        append(&store, created(&s1, "a", 1)).await,
        append(&store, created(&s2, "a", 2)).await,
        append(&store, created(&s1, "b", 3)).await,
    ];
    let feed = store.read_feed(0, 10).await.expect("feed");
    let seqs: Vec<i64> = feed.iter().map(|entry| entry.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs grow: {seqs:?}");
    let events: Vec<RecordedEvent> = feed
        .into_iter()
        .map(|entry| entry.event.expect("decodes"))
        .collect();
    assert_eq!(events, appended);
    assert_eq!(*position.borrow_and_update(), seqs[2]);

    let after_first = store.read_feed(seqs[0], 1).await.expect("feed");
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].seq, seqs[1]);
    assert!(store.read_feed(seqs[2], 10).await.expect("feed").is_empty());

    // A follower waiting on the position wakes as soon as an append commits.
    let waiter = tokio::spawn(async move {
        position.changed().await.expect("the store is alive");
        *position.borrow_and_update()
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    append(&store, created(&s2, "b", 4)).await;
    let woke_at = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the follower woke")
        .expect("the follower ran");
    let tail = store.read_feed(seqs[2], 10).await.expect("feed");
    assert_eq!(tail.len(), 1);
    assert_eq!(woke_at, tail[0].seq);

    // A rejected append moves nothing.
    let before = *store.feed_position().borrow();
    assert!(
        store
            .append(&created(&s2, "b", 5), Utc::now())
            .await
            .is_err()
    );
    assert_eq!(*store.feed_position().borrow(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_row_is_reported_alone_and_can_be_parked() {
    let (store, dir) = temp_store();
    let s = unique_stream("corrupt");
    let good = append(&store, created(&s, "a", 1)).await;
    insert_raw(&dir.path().join("data/store.db"), &s, 1, "not json");
    let after = append(&store, created(&s, "c", 3)).await;
    assert_eq!(
        after.event_id.get(),
        2,
        "the corrupt row still holds its id"
    );

    let feed = store.read_feed(0, 10).await.expect("feed");
    assert_eq!(feed.len(), 3);
    assert_eq!(feed[0].event.as_ref().ok(), Some(&good));
    let Err(StoreError::Corrupt(message)) = &feed[1].event else {
        panic!("the raw row must be corrupt: {:?}", feed[1].event);
    };
    assert!(
        message.contains(s.as_str()) && message.contains("event 1"),
        "{message}"
    );
    assert_eq!(feed[2].event.as_ref().ok(), Some(&after));

    // Reading the stream through the corrupt row fails and names it.
    match store.read_stream(&s, EventId::FIRST, 10).await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("event 1"), "{message}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        store.read_stream(&s, EventId::new(2), 10).await,
        Ok(vec![after])
    );

    assert_eq!(store.parked(None, 10).await, Ok(vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_stores_are_private() {
    let (one, two) = (
        SqliteStore::open_in_memory().expect("open"),
        SqliteStore::open_in_memory().expect("open"),
    );
    let s = unique_stream("private");
    append(&one, created(&s, "a", 1)).await;
    assert_eq!(two.read_stream(&s, EventId::FIRST, 10).await, Ok(vec![]));
    assert_eq!(*one.feed_position().borrow(), 1);
    assert_eq!(one.read_feed(0, 10).await.expect("feed").len(), 1);
}

/// Writes a row the adapter would never write, as a hand edit would.
fn insert_raw(path: &Path, stream: &StreamId, event_id: i64, data: &str) {
    let conn = rusqlite::Connection::open(path).expect("open raw");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn.execute(
        "INSERT INTO events (stream_id, event_id, item_id, type, data, recorded_at)
         VALUES (?1, ?2, 'b', 'ITEM_CREATED', ?3, '2026-01-01T00:00:00.000Z')",
        rusqlite::params![stream.as_str(), event_id, data],
    )
    .expect("insert raw");
}
