//! The storage conformance suite: what every adapter of the domain ports
//! (`EventStore`, `ReadModel`, `Checkpoints`) must do, whatever its backend.
//!
//! Each case is a public async function taking a fresh [`Stores`]; the
//! [`conformance_tests!`](crate::conformance_tests) macro turns all of them
//! into `#[tokio::test]`s for one adapter (the calling crate needs `tokio`
//! with the `macros` and `rt-multi-thread` features). Every case uses stream
//! ids and checkpoint names of its own, so adapters may share tables between
//! cases and runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ApplyOutcome::{Superseded, Written};
use chrono::{DateTime, Utc};
use domain::event::format_timestamp;
use domain::replay::{self, ReplayTarget};
use domain::{
    Amount, AppendCommand, AppendError, ApplyMode, ApplyOutcome, Checkpoints, DomainEvent, EventId,
    EventStore, EventType, ItemChange, ItemId, ItemState, ItemView, ReadModel, RecordedEvent,
    Rejection, StoreError, StreamFold, StreamId, Version, coalesce,
};

// Typed empties to compare results with.
const NO_EVENTS: [RecordedEvent; 0] = [];
const NO_ITEMS: [(ItemId, Amount); 0] = [];
const NO_OUTCOMES: [ApplyOutcome; 0] = [];

/// A fresh, isolated set of the three ports under test.
#[derive(Clone)]
pub struct Stores {
    pub events: Arc<dyn EventStore>,
    pub read_model: Arc<dyn ReadModel>,
    pub checkpoints: Arc<dyn Checkpoints>,
}

impl Stores {
    /// The set made of one value that implements all three ports.
    pub fn from_one<S>(store: S) -> Self
    where
        S: EventStore + ReadModel + Checkpoints + 'static,
    {
        let store = Arc::new(store);
        Stores {
            events: store.clone(),
            read_model: store.clone(),
            checkpoints: store,
        }
    }
}

/// Expands into one `#[tokio::test]` per conformance case. `$make` is an
/// expression whose value is a future of a fresh [`Stores`]; it is evaluated
/// once per test.
///
/// ```text
/// testkit::conformance_tests!(async { Stores::from_one(MyStore::new().await) });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            appends_get_contiguous_ids_and_read_back_intact,
            read_stream_pages_from_an_id_with_a_limit,
            creating_a_live_item_again_is_rejected_and_stores_nothing,
            changing_or_deleting_an_absent_item_is_rejected_and_stores_nothing,
            an_item_can_be_created_again_after_its_deletion,
            a_stale_expected_version_is_rejected_with_the_current_version,
            concurrent_appends_get_unique_contiguous_ids,
            concurrent_creates_of_one_item_admit_exactly_one,
            concurrent_appends_expecting_one_version_admit_exactly_one,
            streams_are_independent,
            unicode_and_maximum_length_ids_round_trip,
            projection_writes_newer_changes_and_supersedes_same_or_older,
            a_late_older_change_does_not_undo_a_delete,
            replay_mode_rewrites_the_same_version_but_not_an_older_one,
            list_is_sorted_by_byte_order_and_excludes_tombstones,
            clear_forgets_one_stream_only,
            repeated_split_and_reordered_batches_converge_to_the_fold,
            replay_from_zero_over_a_corrupted_read_model_equals_the_fold,
            replay_from_k_repairs_the_items_touched_since_k,
            checkpoints_start_empty_then_save_and_overwrite,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::conformance::$case(($make).await).await
            }
        )+
    };
}

// ---------------------------------------------------------------- helpers

/// A stream id no other case, run or process uses.
pub fn unique_stream(label: &str) -> StreamId {
    StreamId::parse(unique_name(label), "streamId").expect("a valid stream id")
}

fn unique_name(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("conformance-{label}-{}-{nanos:x}-{n}", std::process::id())
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id, "itemId").expect("a valid item id")
}

fn amount(n: u64) -> Amount {
    Amount::new(n).expect("a valid amount")
}

fn version(v: i64) -> Version {
    Version::new(v).expect("a valid version")
}

fn created(stream: &StreamId, id: &str, n: u64) -> AppendCommand {
    command(
        stream,
        DomainEvent::ItemCreated {
            item_id: item(id),
            amount: amount(n),
        },
    )
}

fn changed(stream: &StreamId, id: &str, n: u64) -> AppendCommand {
    command(
        stream,
        DomainEvent::ItemAmountChanged {
            item_id: item(id),
            amount: amount(n),
        },
    )
}

fn deleted(stream: &StreamId, id: &str) -> AppendCommand {
    command(stream, DomainEvent::ItemDeleted { item_id: item(id) })
}

fn command(stream: &StreamId, event: DomainEvent) -> AppendCommand {
    AppendCommand {
        stream_id: stream.clone(),
        event,
        expected_version: None,
    }
}

fn expecting(mut command: AppendCommand, v: i64) -> AppendCommand {
    command.expected_version = Some(version(v));
    command
}

/// A distinct instant per `n`, with the millisecond precision stores keep.
fn at(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_795_000_000_123 + n * 1_001).expect("a valid instant")
}

/// Appends, retrying only what the port calls retryable (`Contention`).
async fn try_append(
    events: &dyn EventStore,
    command: &AppendCommand,
    recorded_at: DateTime<Utc>,
) -> Result<RecordedEvent, AppendError> {
    let mut attempts = 0;
    loop {
        match events.append(command, recorded_at).await {
            Err(AppendError::Store(StoreError::Contention(_))) if attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5 * attempts)).await;
            }
            other => return other,
        }
    }
}

async fn append(stores: &Stores, command: AppendCommand, n: i64) -> RecordedEvent {
    let recorded_at = at(n);
    let event = try_append(&*stores.events, &command, recorded_at)
        .await
        .unwrap_or_else(|err| panic!("append {command:?} failed: {err:?}"));
    assert_eq!(
        event.stream_id, command.stream_id,
        "appended to another stream"
    );
    assert_eq!(event.event, command.event, "the appended event differs");
    assert_eq!(event.timestamp(), format_timestamp(recorded_at));
    event
}

async fn rejection(stores: &Stores, command: AppendCommand) -> Rejection {
    match try_append(&*stores.events, &command, at(999)).await {
        Err(AppendError::Rejected(rejection)) => rejection,
        other => panic!("{command:?} should be rejected, got {other:?}"),
    }
}

/// The whole stream, read in pages.
async fn read_all(stores: &Stores, stream: &StreamId) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    loop {
        let next = all
            .last()
            .map_or(EventId::FIRST, |e: &RecordedEvent| e.event_id.next());
        let page = stores
            .events
            .read_stream(stream, next, 100)
            .await
            .expect("read_stream");
        let done = page.len() < 100;
        all.extend(page);
        if done {
            return all;
        }
    }
}

fn ids(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.event_id.get()).collect()
}

async fn listed(stores: &Stores, stream: &StreamId) -> Vec<(ItemId, Amount)> {
    stores
        .read_model
        .list(stream)
        .await
        .expect("list")
        .into_iter()
        .map(|ItemView { item_id, amount }| (item_id, amount))
        .collect()
}

fn live(stream: &StreamId, id: &str, v: u64, n: u64) -> ItemChange {
    ItemChange {
        stream_id: stream.clone(),
        item_id: item(id),
        version: EventId::new(v),
        state: ItemState::Live { amount: amount(n) },
    }
}

fn gone(stream: &StreamId, id: &str, v: u64) -> ItemChange {
    ItemChange {
        stream_id: stream.clone(),
        item_id: item(id),
        version: EventId::new(v),
        state: ItemState::Deleted,
    }
}

async fn apply(stores: &Stores, changes: &[ItemChange], mode: ApplyMode) -> Vec<ApplyOutcome> {
    let outcomes = stores.read_model.apply(changes, mode).await;
    assert_eq!(outcomes.len(), changes.len(), "one outcome per change");
    outcomes
        .into_iter()
        .map(|outcome| outcome.expect("apply"))
        .collect()
}

fn items(pairs: &[(&str, u64)]) -> Vec<(ItemId, Amount)> {
    pairs.iter().map(|(id, n)| (item(id), amount(*n))).collect()
}

// ------------------------------------------------------------ event store

/// Ids 0, 1, 2, ... and a read returns exactly what was appended.
pub async fn appends_get_contiguous_ids_and_read_back_intact(stores: Stores) {
    let s = unique_stream("contiguous");
    let max = domain::MAX_AMOUNT;
    let appended = vec![
        append(&stores, created(&s, "a", 1), 0).await,
        append(&stores, created(&s, "b", max), 1).await,
        append(&stores, changed(&s, "a", 0), 2).await,
        append(&stores, deleted(&s, "b"), 3).await,
    ];
    assert_eq!(ids(&appended), [0, 1, 2, 3]);
    let read = stores
        .events
        .read_stream(&s, EventId::FIRST, 100)
        .await
        .expect("read_stream");
    assert_eq!(read, appended, "data and timestamps must round-trip");
    assert_eq!(
        read[1].event.data(),
        serde_json::json!({"itemId": "b", "amount": max})
    );
    assert_eq!(read[3].timestamp(), format_timestamp(at(3)));

    let unknown = unique_stream("never-written");
    let none = stores
        .events
        .read_stream(&unknown, EventId::FIRST, 10)
        .await;
    assert_eq!(none, Ok(Vec::new()));
}

/// `read_stream` starts at `from` and returns at most `limit` events.
pub async fn read_stream_pages_from_an_id_with_a_limit(stores: Stores) {
    let s = unique_stream("paging");
    let mut appended = Vec::new();
    for i in 0..7 {
        appended.push(append(&stores, created(&s, &format!("i{i}"), i), i as i64).await);
    }
    let read = |from: u64, limit: usize| {
        let (events, s) = (stores.events.clone(), s.clone());
        async move {
            events
                .read_stream(&s, EventId::new(from), limit)
                .await
                .expect("read_stream")
        }
    };
    assert_eq!(read(3, 100).await, appended[3..]);
    assert_eq!(read(0, 2).await, appended[..2]);
    assert_eq!(read(5, 1).await, appended[5..6]);
    assert_eq!(read(6, 10).await, appended[6..]);
    assert_eq!(read(7, 10).await, NO_EVENTS);
    assert_eq!(read(1000, 10).await, NO_EVENTS);
    let mut paged = Vec::new();
    loop {
        let next = paged.len() as u64;
        let page = read(next, 3).await;
        assert!(page.len() <= 3, "a page is never over the limit");
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, appended);
}

/// `ITEM_CREATED` of a live item: `ItemAlreadyExists`, nothing stored.
pub async fn creating_a_live_item_again_is_rejected_and_stores_nothing(stores: Stores) {
    let s = unique_stream("create-twice");
    let first = append(&stores, created(&s, "a", 1), 0).await;
    assert_eq!(
        rejection(&stores, created(&s, "a", 2)).await,
        Rejection::ItemAlreadyExists { item_id: item("a") }
    );
    // A matching expected version does not make it acceptable.
    assert_eq!(
        rejection(&stores, expecting(created(&s, "a", 3), 0)).await,
        Rejection::ItemAlreadyExists { item_id: item("a") }
    );
    assert_eq!(read_all(&stores, &s).await, [first]);
    // The rejected attempts used no id.
    assert_eq!(
        append(&stores, changed(&s, "a", 4), 1).await.event_id.get(),
        1
    );
}

/// Change or delete of an item that never existed or is deleted:
/// `ItemNotFound`, nothing stored.
pub async fn changing_or_deleting_an_absent_item_is_rejected_and_stores_nothing(stores: Stores) {
    let s = unique_stream("absent");
    let not_found = |event_type| Rejection::ItemNotFound {
        item_id: item("x"),
        event_type,
    };
    assert_eq!(
        rejection(&stores, changed(&s, "x", 1)).await,
        not_found(EventType::ItemAmountChanged)
    );
    assert_eq!(
        rejection(&stores, deleted(&s, "x")).await,
        not_found(EventType::ItemDeleted)
    );
    assert_eq!(read_all(&stores, &s).await, NO_EVENTS);
    // The stream is still new: version -1.
    let first = append(&stores, expecting(created(&s, "x", 1), -1), 0).await;
    assert_eq!(first.event_id, EventId::FIRST);
    let second = append(&stores, deleted(&s, "x"), 1).await;
    assert_eq!(
        rejection(&stores, changed(&s, "x", 2)).await,
        not_found(EventType::ItemAmountChanged)
    );
    assert_eq!(
        rejection(&stores, deleted(&s, "x")).await,
        not_found(EventType::ItemDeleted)
    );
    assert_eq!(read_all(&stores, &s).await, [first, second]);
}

/// Deletion ends an item's life; `ITEM_CREATED` starts a new one.
pub async fn an_item_can_be_created_again_after_its_deletion(stores: Stores) {
    let s = unique_stream("recreate");
    append(&stores, created(&s, "a", 1), 0).await;
    append(&stores, deleted(&s, "a"), 1).await;
    let again = append(&stores, created(&s, "a", 5), 2).await;
    assert_eq!(again.event_id.get(), 2);
    append(&stores, changed(&s, "a", 6), 3).await;
    let log = read_all(&stores, &s).await;
    assert_eq!(ids(&log), [0, 1, 2, 3]);
    assert_eq!(StreamFold::of(&log).items(), items(&[("a", 6)]));
}

/// `expectedVersion` must equal the stream's version (-1 when new).
pub async fn a_stale_expected_version_is_rejected_with_the_current_version(stores: Stores) {
    let s = unique_stream("expected-version");
    assert_eq!(
        rejection(&stores, expecting(created(&s, "a", 1), 0)).await,
        Rejection::VersionConflict {
            expected: version(0),
            current: Version::EMPTY
        }
    );
    assert_eq!(read_all(&stores, &s).await, NO_EVENTS);
    let e0 = append(&stores, expecting(created(&s, "a", 1), -1), 0).await;
    assert_eq!(e0.event_id.get(), 0);
    assert_eq!(
        rejection(&stores, expecting(created(&s, "b", 1), -1)).await,
        Rejection::VersionConflict {
            expected: Version::EMPTY,
            current: version(0)
        }
    );
    let e1 = append(&stores, expecting(created(&s, "b", 2), 0), 1).await;
    assert_eq!(e1.event_id.get(), 1);
    for stale in [0, 2, 7] {
        assert_eq!(
            rejection(&stores, expecting(changed(&s, "a", 9), stale)).await,
            Rejection::VersionConflict {
                expected: version(stale),
                current: version(1)
            }
        );
    }
    // Without an expected version, the append goes after whatever is there.
    let e2 = append(&stores, changed(&s, "a", 3), 2).await;
    assert_eq!(read_all(&stores, &s).await, [e0, e1, e2]);
}

/// 50 concurrent appends to one stream: ids exactly 0..=49.
pub async fn concurrent_appends_get_unique_contiguous_ids(stores: Stores) {
    let s = unique_stream("concurrent");
    let tasks: Vec<_> = (0..50u64)
        .map(|i| {
            let (events, command) = (stores.events.clone(), created(&s, &format!("item-{i}"), i));
            tokio::spawn(async move { try_append(&*events, &command, at(i as i64)).await })
        })
        .collect();
    let mut appended = Vec::new();
    for result in futures::future::join_all(tasks).await {
        let event = result
            .expect("the task ran")
            .unwrap_or_else(|err| panic!("a concurrent append failed: {err:?}"));
        appended.push(event);
    }
    appended.sort_by_key(|e| e.event_id);
    assert_eq!(ids(&appended), (0..50).collect::<Vec<_>>());
    let log = read_all(&stores, &s).await;
    assert_eq!(log, appended, "the log holds what each append returned");
    let mut seen: Vec<&ItemId> = log.iter().map(|e| e.event.item_id()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 50, "every item once");
}

/// The stream rules hold under a race: one creation of an item wins.
pub async fn concurrent_creates_of_one_item_admit_exactly_one(stores: Stores) {
    let s = unique_stream("create-race");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (events, command) = (stores.events.clone(), created(&s, "only", i));
            tokio::spawn(async move { try_append(&*events, &command, at(i as i64)).await })
        })
        .collect();
    let mut winners = Vec::new();
    for result in futures::future::join_all(tasks).await {
        match result.expect("the task ran") {
            Ok(event) => winners.push(event),
            Err(AppendError::Rejected(Rejection::ItemAlreadyExists { item_id })) => {
                assert_eq!(item_id, item("only"));
            }
            Err(other) => panic!("unexpected failure: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one creation wins");
    assert_eq!(read_all(&stores, &s).await, winners);
}

/// Optimistic concurrency under a race: one append per expected version.
pub async fn concurrent_appends_expecting_one_version_admit_exactly_one(stores: Stores) {
    let s = unique_stream("version-race");
    let first = append(&stores, created(&s, "seed", 1), 0).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let events = stores.events.clone();
            let command = expecting(created(&s, &format!("racer-{i}"), i), 0);
            tokio::spawn(async move { try_append(&*events, &command, at(i as i64)).await })
        })
        .collect();
    let mut winners = Vec::new();
    for result in futures::future::join_all(tasks).await {
        match result.expect("the task ran") {
            Ok(event) => winners.push(event),
            Err(AppendError::Rejected(rejection)) => assert_eq!(
                rejection,
                Rejection::VersionConflict {
                    expected: version(0),
                    current: version(1)
                }
            ),
            Err(other) => panic!("unexpected failure: {other:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one append expecting version 0 wins"
    );
    assert_eq!(winners[0].event_id.get(), 1);
    let mut expected = vec![first];
    expected.extend(winners);
    assert_eq!(read_all(&stores, &s).await, expected);
}

/// Ids, versions and item liveness are per stream.
pub async fn streams_are_independent(stores: Stores) {
    let (s1, s2) = (
        unique_stream("independent-1"),
        unique_stream("independent-2"),
    );
    assert_eq!(
        append(&stores, created(&s1, "a", 1), 0)
            .await
            .event_id
            .get(),
        0
    );
    assert_eq!(
        append(&stores, created(&s2, "a", 2), 1)
            .await
            .event_id
            .get(),
        0
    );
    assert_eq!(
        append(&stores, changed(&s2, "a", 3), 2)
            .await
            .event_id
            .get(),
        1
    );
    assert_eq!(
        append(&stores, deleted(&s1, "a"), 3).await.event_id.get(),
        1
    );
    assert_eq!(
        append(&stores, created(&s1, "b", 4), 4)
            .await
            .event_id
            .get(),
        2
    );
    // "a" is deleted in s1 though live in s2, and the reverse for "b".
    assert!(matches!(
        rejection(&stores, changed(&s1, "a", 5)).await,
        Rejection::ItemNotFound { .. }
    ));
    assert!(matches!(
        rejection(&stores, deleted(&s2, "b")).await,
        Rejection::ItemNotFound { .. }
    ));
    assert!(matches!(
        rejection(&stores, expecting(created(&s2, "c", 1), 2)).await,
        Rejection::VersionConflict { current, .. } if current == version(1)
    ));
    let (log1, log2) = (read_all(&stores, &s1).await, read_all(&stores, &s2).await);
    assert_eq!(ids(&log1), [0, 1, 2]);
    assert_eq!(ids(&log2), [0, 1]);
    assert!(log1.iter().all(|e| e.stream_id == s1));
    assert!(log2.iter().all(|e| e.stream_id == s2));
    assert_eq!(StreamFold::of(&log1).items(), items(&[("b", 4)]));
    assert_eq!(StreamFold::of(&log2).items(), items(&[("a", 3)]));
}

/// Ids of any characters, up to 256 of them, are stored and compared exactly.
pub async fn unicode_and_maximum_length_ids_round_trip(stores: Stores) {
    let mut stream = format!("{}-ünï🦀-", unique_name("unicode"));
    while stream.chars().count() < domain::MAX_STRING_CHARS {
        stream.push('é');
    }
    let s = StreamId::parse(stream, "streamId").expect("a 256-character stream id");
    let long_item: String = "ж".repeat(domain::MAX_STRING_CHARS);
    let names = [
        long_item.as_str(),
        "ключ-🦀",
        "quote\"back\\slash\nnewline",
        "e\u{301}",
        "é",
    ];
    let mut appended = Vec::new();
    for (i, id) in names.iter().enumerate() {
        appended.push(append(&stores, created(&s, id, i as u64), i as i64).await);
    }
    let log = read_all(&stores, &s).await;
    assert_eq!(log, appended);
    assert_eq!(log[0].event.item_id().as_str().chars().count(), 256);
    // "e" + combining accent and the precomposed "é" are distinct items.
    assert!(matches!(
        rejection(&stores, created(&s, "é", 9)).await,
        Rejection::ItemAlreadyExists { .. }
    ));
    for outcome in apply(&stores, &coalesce(&log), ApplyMode::Projection).await {
        assert_eq!(outcome, Written);
    }
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}

// ------------------------------------------------------------ read model

/// A projection write lands only over an older row; outcomes keep order.
pub async fn projection_writes_newer_changes_and_supersedes_same_or_older(stores: Stores) {
    let s = unique_stream("projection");
    let p = ApplyMode::Projection;
    assert_eq!(apply(&stores, &[], p).await, NO_OUTCOMES);
    assert_eq!(apply(&stores, &[live(&s, "a", 3, 5)], p).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("a", 5)]));
    assert_eq!(
        apply(&stores, &[live(&s, "a", 3, 7)], p).await,
        [Superseded]
    );
    assert_eq!(
        apply(&stores, &[live(&s, "a", 1, 9)], p).await,
        [Superseded]
    );
    assert_eq!(listed(&stores, &s).await, items(&[("a", 5)]));
    assert_eq!(apply(&stores, &[live(&s, "a", 4, 10)], p).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("a", 10)]));
    let batch = [
        live(&s, "b", 0, 1),
        live(&s, "a", 2, 99),
        live(&s, "c", 5, 2),
    ];
    assert_eq!(
        apply(&stores, &batch, p).await,
        [Written, Superseded, Written]
    );
    assert_eq!(
        listed(&stores, &s).await,
        items(&[("a", 10), ("b", 1), ("c", 2)])
    );
}

/// Deletes leave a tombstone that older changes cannot overwrite.
pub async fn a_late_older_change_does_not_undo_a_delete(stores: Stores) {
    let s = unique_stream("tombstone");
    let p = ApplyMode::Projection;
    assert_eq!(
        apply(&stores, &[live(&s, "a", 0, 1), live(&s, "b", 1, 2)], p).await,
        [Written, Written]
    );
    assert_eq!(apply(&stores, &[gone(&s, "a", 2)], p).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("b", 2)]));
    assert_eq!(
        apply(&stores, &[live(&s, "a", 1, 7)], p).await,
        [Superseded]
    );
    assert_eq!(
        apply(&stores, &[live(&s, "a", 1, 7)], ApplyMode::Replay).await,
        [Superseded]
    );
    assert_eq!(
        apply(&stores, &[live(&s, "a", 2, 7)], p).await,
        [Superseded]
    );
    assert_eq!(listed(&stores, &s).await, items(&[("b", 2)]));
    // A delete of an item the read model never saw is kept as well.
    assert_eq!(apply(&stores, &[gone(&s, "c", 4)], p).await, [Written]);
    assert_eq!(
        apply(&stores, &[live(&s, "c", 3, 1)], p).await,
        [Superseded]
    );
    // A newer creation brings the item back.
    assert_eq!(apply(&stores, &[live(&s, "a", 5, 8)], p).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("a", 8), ("b", 2)]));
}

/// Replay writes over a row of the same version, never over a newer one.
pub async fn replay_mode_rewrites_the_same_version_but_not_an_older_one(stores: Stores) {
    let s = unique_stream("replay-mode");
    let r = ApplyMode::Replay;
    assert_eq!(
        apply(&stores, &[live(&s, "a", 2, 5)], ApplyMode::Projection).await,
        [Written]
    );
    assert_eq!(apply(&stores, &[live(&s, "a", 2, 6)], r).await, [Written]);
    assert_eq!(listed(&stores, &s).await, items(&[("a", 6)]));
    assert_eq!(
        apply(&stores, &[live(&s, "a", 1, 7)], r).await,
        [Superseded]
    );
    assert_eq!(listed(&stores, &s).await, items(&[("a", 6)]));
    assert_eq!(apply(&stores, &[gone(&s, "a", 2)], r).await, [Written]);
    assert_eq!(listed(&stores, &s).await, NO_ITEMS);
    assert_eq!(
        apply(&stores, &[live(&s, "a", 2, 9)], ApplyMode::Projection).await,
        [Superseded]
    );
    assert_eq!(apply(&stores, &[live(&s, "a", 2, 9)], r).await, [Written]);
    assert_eq!(
        apply(&stores, &[live(&s, "b", 0, 1), live(&s, "a", 3, 4)], r).await,
        [Written, Written]
    );
    assert_eq!(listed(&stores, &s).await, items(&[("a", 4), ("b", 1)]));
}

/// `list`: live items only, in the byte order of their UTF-8 ids (Rust's
/// `String` order), not case-folded, not UTF-16, not numeric.
pub async fn list_is_sorted_by_byte_order_and_excludes_tombstones(stores: Stores) {
    let s = unique_stream("sorted");
    let names = ["b", "a", "B", "10", "9", "a b", "～", "😀", "é", "z", "ab"];
    let changes: Vec<ItemChange> = names
        .iter()
        .enumerate()
        .map(|(i, id)| live(&s, id, i as u64, i as u64))
        .collect();
    apply(&stores, &changes, ApplyMode::Projection).await;
    apply(
        &stores,
        &[gone(&s, "z", 20), gone(&s, "9", 21)],
        ApplyMode::Projection,
    )
    .await;
    let mut expected: Vec<(ItemId, Amount)> = names
        .iter()
        .enumerate()
        .filter(|(_, id)| !["z", "9"].contains(id))
        .map(|(i, id)| (item(id), amount(i as u64)))
        .collect();
    expected.sort();
    assert_eq!(listed(&stores, &s).await, expected);
    assert_eq!(expected[0].0.as_str(), "10", "byte order puts digits first");

    let only_tombstones = unique_stream("only-tombstones");
    apply(
        &stores,
        &[gone(&only_tombstones, "x", 1)],
        ApplyMode::Projection,
    )
    .await;
    assert_eq!(listed(&stores, &only_tombstones).await, NO_ITEMS);
    assert_eq!(listed(&stores, &unique_stream("empty")).await, NO_ITEMS);
}

/// `clear` forgets a stream's rows (tombstones included) and nothing else.
pub async fn clear_forgets_one_stream_only(stores: Stores) {
    let (s1, s2) = (unique_stream("clear-1"), unique_stream("clear-2"));
    let p = ApplyMode::Projection;
    apply(
        &stores,
        &[
            live(&s1, "a", 3, 1),
            gone(&s1, "b", 5),
            live(&s2, "a", 4, 2),
        ],
        p,
    )
    .await;
    stores.read_model.clear(&s1).await.expect("clear");
    assert_eq!(listed(&stores, &s1).await, NO_ITEMS);
    assert_eq!(listed(&stores, &s2).await, items(&[("a", 2)]));
    // Nothing is remembered: older versions land again.
    assert_eq!(
        apply(&stores, &[live(&s1, "a", 0, 7), live(&s1, "b", 0, 8)], p).await,
        [Written, Written]
    );
    assert_eq!(listed(&stores, &s1).await, items(&[("a", 7), ("b", 8)]));
    stores
        .read_model
        .clear(&unique_stream("clear-unknown"))
        .await
        .expect("clearing an unknown stream");
    assert_eq!(listed(&stores, &s2).await, items(&[("a", 2)]));
}

/// At-least-once delivery: however the log's changes are batched, repeated
/// and reordered, the read model ends equal to the fold.
pub async fn repeated_split_and_reordered_batches_converge_to_the_fold(stores: Stores) {
    let s = unique_stream("converge");
    let log = append_mixed_log(&stores, &s).await;
    let p = ApplyMode::Projection;
    let half = log.len() / 2;
    apply(&stores, &coalesce(&log[half..]), p).await;
    apply(&stores, &coalesce(&log[..half]), p).await;
    apply(&stores, &coalesce(&log[2..half + 3]), p).await;
    apply(&stores, &coalesce(&log[half..]), p).await;
    for event in log.iter().rev() {
        apply(&stores, &coalesce([event]), p).await;
    }
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
    for outcome in apply(&stores, &coalesce(&log), p).await {
        assert_eq!(outcome, Superseded, "a full repeat changes nothing");
    }
}

/// A log that creates, changes, deletes and recreates items.
async fn append_mixed_log(stores: &Stores, s: &StreamId) -> Vec<RecordedEvent> {
    let commands = [
        created(s, "a", 1),
        created(s, "b", 2),
        created(s, "f", 6),
        created(s, "c", 3),
        changed(s, "a", 10),
        deleted(s, "b"),
        created(s, "d", 4),
        changed(s, "c", 30),
        created(s, "b", 20),
        deleted(s, "d"),
        changed(s, "a", 100),
        created(s, "e", 5),
        deleted(s, "c"),
        changed(s, "b", 200),
    ];
    let mut log = Vec::new();
    for (n, command) in commands.into_iter().enumerate() {
        log.push(append(stores, command, n as i64).await);
    }
    assert_eq!(
        StreamFold::of(&log).items(),
        items(&[("a", 100), ("b", 200), ("e", 5), ("f", 6)])
    );
    log
}

/// Replay from 0 rebuilds the read model from nothing, whatever it held.
pub async fn replay_from_zero_over_a_corrupted_read_model_equals_the_fold(stores: Stores) {
    let s = unique_stream("replay-zero");
    let log = append_mixed_log(&stores, &s).await;
    let wrong = [
        live(&s, "a", 100, 1),  // a wrong amount claiming a future version
        gone(&s, "b", 100),     // a live item deleted
        live(&s, "c", 100, 3),  // a deleted item live
        live(&s, "zz", 100, 9), // an item the log never had
    ];
    apply(&stores, &wrong, ApplyMode::Projection).await;
    let target = ReplayTarget {
        stream_id: s.clone(),
        from_event_id: EventId::FIRST,
    };
    let report = replay::run(&*stores.events, &*stores.read_model, &target)
        .await
        .expect("replay");
    assert_eq!(report.events_read, log.len() as u64);
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
    // Replaying again changes nothing.
    replay::run(&*stores.events, &*stores.read_model, &target)
        .await
        .expect("second replay");
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}

/// Replay from k sets every item touched since k to its latest event's state,
/// even over rows claiming that version, and leaves older items alone.
pub async fn replay_from_k_repairs_the_items_touched_since_k(stores: Stores) {
    let s = unique_stream("replay-k");
    let log = append_mixed_log(&stores, &s).await;
    // The projection lost the events of "e"; "f" is only touched before k.
    let projected: Vec<ItemChange> = coalesce(&log)
        .into_iter()
        .filter(|change| change.item_id != item("e"))
        .collect();
    apply(&stores, &projected, ApplyMode::Projection).await;
    let k = 8; // events 8.. touch b, d, a, e, c
    assert!(
        log[k as usize..]
            .iter()
            .all(|e| e.event.item_id() != &item("f"))
    );
    let latest = |id: &str| {
        log.iter()
            .rev()
            .find(|e| e.event.item_id().as_str() == id)
            .map(|e| e.event_id.get())
            .expect("the item is in the log")
    };
    let wrong = [
        live(&s, "a", latest("a"), 1), // right version, wrong amount
        gone(&s, "b", latest("b")),    // right version, wrongly deleted
        live(&s, "c", latest("c"), 3), // right version, wrongly live
    ];
    apply(&stores, &wrong, ApplyMode::Replay).await;
    assert_ne!(listed(&stores, &s).await, StreamFold::of(&log).items());
    let target = ReplayTarget {
        stream_id: s.clone(),
        from_event_id: EventId::new(k),
    };
    let report = replay::run(&*stores.events, &*stores.read_model, &target)
        .await
        .expect("replay");
    assert_eq!(report.events_read, log.len() as u64 - k);
    assert_eq!(listed(&stores, &s).await, StreamFold::of(&log).items());
}

// ----------------------------------------------------------- checkpoints

/// A checkpoint is absent until saved, then holds the last position saved.
pub async fn checkpoints_start_empty_then_save_and_overwrite(stores: Stores) {
    let (name, other) = (unique_name("checkpoint"), unique_name("checkpoint-other"));
    let cp = &stores.checkpoints;
    assert_eq!(cp.load(&name).await, Ok(None));
    cp.save(&name, "position-1").await.expect("save");
    assert_eq!(cp.load(&name).await, Ok(Some("position-1".to_owned())));
    cp.save(&name, "position-2 ünï").await.expect("overwrite");
    assert_eq!(cp.load(&name).await, Ok(Some("position-2 ünï".to_owned())));
    assert_eq!(cp.load(&other).await, Ok(None));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// A case written here but left out of `conformance_tests!` would
    /// never run on any adapter: every `pub async fn ...(stores: Stores)`
    /// of this file must be in the macro's list, and nothing else.
    #[test]
    fn every_case_is_in_the_macro_list() {
        let source = include_str!("conformance.rs");
        let cases: BTreeSet<&str> = source
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter(|rest| rest.contains("(stores: Stores)"))
            .filter_map(|rest| rest.split('(').next())
            .collect();
        let start = source
            .find("@cases $make;\n")
            .expect("the macro's list of cases");
        let listed: BTreeSet<&str> = source[start..]
            .lines()
            .skip(1)
            .take_while(|line| !line.trim_start().starts_with(')'))
            .map(|line| line.trim().trim_end_matches(','))
            .filter(|name| !name.is_empty())
            .collect();
        assert!(cases.len() >= 20, "found only {cases:?}");
        assert_eq!(
            cases.difference(&listed).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "cases missing from conformance_tests!"
        );
        assert_eq!(
            listed.difference(&cases).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "listed in conformance_tests! but not a case"
        );
    }
}
