//! What the cases share: unique stream ids, command and change builders,
//! and the port calls with their expectations.

pub(super) use ApplyOutcome::{Superseded, Written};
pub(super) use chrono::{DateTime, Utc};
pub(super) use domain::event::format_timestamp;
pub(super) use domain::replay::{self, ReplayTarget};
pub(super) use domain::{
    Amount, AppendCommand, AppendError, ApplyMode, ApplyOutcome, DomainEvent, EventId, EventStore,
    EventType, IdempotencyKey, ItemChange, ItemId, ItemState, ListQuery, PageSize, RecordedEvent,
    Rejection, StoreError, StoredItem, StreamFold, StreamId, Version, coalesce, decide,
};

// Typed empties to compare results with.
pub(super) const NO_EVENTS: [RecordedEvent; 0] = [];
pub(super) const NO_ITEMS: [(ItemId, Amount); 0] = [];
pub(super) const NO_OUTCOMES: [ApplyOutcome; 0] = [];
pub(super) use super::Stores;
pub(super) use crate::unique_name;

/// A stream id no other case, run or process uses.
pub fn unique_stream(label: &str) -> StreamId {
    StreamId::parse(
        crate::unique_name(&format!("conformance-{label}")),
        "streamId",
    )
    .expect("a valid stream id")
}

pub(super) fn item(id: &str) -> ItemId {
    ItemId::parse(id, "itemId").expect("a valid item id")
}

pub(super) fn amount(n: u64) -> Amount {
    Amount::new(n).expect("a valid amount")
}

pub(super) fn version(v: i64) -> Version {
    Version::new(v).expect("a valid version")
}

pub(super) fn created(stream: &StreamId, id: &str, n: u64) -> AppendCommand {
    command(
        stream,
        DomainEvent::ItemCreated {
            item_id: item(id),
            amount: amount(n),
        },
    )
}

pub(super) fn changed(stream: &StreamId, id: &str, n: u64) -> AppendCommand {
    command(
        stream,
        DomainEvent::ItemAmountChanged {
            item_id: item(id),
            amount: amount(n),
        },
    )
}

pub(super) fn deleted(stream: &StreamId, id: &str) -> AppendCommand {
    command(stream, DomainEvent::ItemDeleted { item_id: item(id) })
}

/// An event of `event_type`: a new type stops this compiling until it is
/// here, and from then on the cases and properties that draw from
/// `EventType::ALL` hold it too.
pub fn event_of(event_type: EventType, item_id: ItemId, amount: Amount) -> DomainEvent {
    match event_type {
        EventType::ItemCreated => DomainEvent::ItemCreated { item_id, amount },
        EventType::ItemAmountChanged => DomainEvent::ItemAmountChanged { item_id, amount },
        EventType::ItemDeleted => DomainEvent::ItemDeleted { item_id },
    }
}

pub(super) fn command(stream: &StreamId, event: DomainEvent) -> AppendCommand {
    AppendCommand {
        stream_id: stream.clone(),
        event,
        expected_version: None,
        idempotency: None,
        metadata: Default::default(),
    }
}

pub(super) fn expecting(mut command: AppendCommand, v: i64) -> AppendCommand {
    command.expected_version = Some(version(v));
    command
}

/// A distinct instant per `n`, with the millisecond precision stores keep.
/// The `n`th instant of a case: an hour ago plus `n` times a second and a
/// millisecond (so milliseconds must survive), and recent, so a deletion's
/// tombstone is still within its retention.
pub(super) fn at(n: i64) -> DateTime<Utc> {
    let hour_ago = (Utc::now().timestamp() - 3600) * 1000;
    DateTime::from_timestamp_millis(hour_ago + 123 + n * 1_001).expect("a valid instant")
}

/// Appends, retrying only what the port calls retryable (`Contention`).
pub(super) async fn try_append(
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

/// Appends `commands` all at once, each from its own task (the `n`th
/// recorded at `at(n)`), and sorts the outcomes: the appended events in id
/// order, and the rejections. A storage failure fails the case.
pub(super) async fn race(
    stores: &Stores,
    commands: Vec<AppendCommand>,
) -> (Vec<RecordedEvent>, Vec<Rejection>) {
    let tasks: Vec<_> = (0..)
        .zip(commands)
        .map(|(n, command)| {
            let events = stores.events.clone();
            tokio::spawn(async move { try_append(&*events, &command, at(n)).await })
        })
        .collect();
    let (mut appended, mut rejected) = (Vec::new(), Vec::new());
    for result in futures::future::join_all(tasks).await {
        match result.expect("the task ran") {
            Ok(event) => appended.push(event),
            Err(AppendError::Rejected(rejection)) => rejected.push(rejection),
            Err(other) => panic!("a concurrent append failed: {other:?}"),
        }
    }
    appended.sort_by_key(|e| e.event_id);
    (appended, rejected)
}

pub(super) async fn append(stores: &Stores, command: AppendCommand, n: i64) -> RecordedEvent {
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

pub(super) async fn rejection(stores: &Stores, command: AppendCommand) -> Rejection {
    match try_append(&*stores.events, &command, at(999)).await {
        Err(AppendError::Rejected(rejection)) => rejection,
        other => panic!("{command:?} should be rejected, got {other:?}"),
    }
}

/// The whole stream, read in pages.
pub(super) async fn read_all(stores: &Stores, stream: &StreamId) -> Vec<RecordedEvent> {
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

pub(super) fn ids(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.event_id.get()).collect()
}

/// The stream's live items, read in small pages so that every case also
/// exercises the cursor (see [`crate::listed`]).
pub(super) async fn listed(stores: &Stores, stream: &StreamId) -> Vec<(ItemId, Amount)> {
    crate::listed(stores.read_model.as_ref(), stream).await
}

/// Every stored row of the stream, tombstones included, in pages of 2.
pub(super) async fn all_rows(stores: &Stores, stream: &StreamId) -> Vec<StoredItem> {
    let mut all: Vec<StoredItem> = Vec::new();
    loop {
        let after = all.last().map(|row| row.item_id.clone());
        let page = stores
            .read_model
            .rows(stream, after.as_ref(), 2)
            .await
            .expect("rows");
        let done = page.len() < 2;
        all.extend(page);
        if done {
            return all;
        }
    }
}

pub(super) fn live(stream: &StreamId, id: &str, v: u64, n: u64) -> ItemChange {
    ItemChange {
        stream_id: stream.clone(),
        item_id: item(id),
        version: EventId::new(v),
        state: ItemState::Live { amount: amount(n) },
        recorded_at: Utc::now(),
    }
}

pub(super) fn gone(stream: &StreamId, id: &str, v: u64) -> ItemChange {
    ItemChange {
        stream_id: stream.clone(),
        item_id: item(id),
        version: EventId::new(v),
        state: ItemState::Deleted,
        recorded_at: Utc::now(),
    }
}

pub(super) async fn apply(
    stores: &Stores,
    changes: &[ItemChange],
    mode: ApplyMode,
) -> Vec<ApplyOutcome> {
    let outcomes = stores.read_model.apply(changes, mode).await;
    assert_eq!(outcomes.len(), changes.len(), "one outcome per change");
    outcomes
        .into_iter()
        .map(|outcome| outcome.expect("apply"))
        .collect()
}

pub(super) fn items(pairs: &[(&str, u64)]) -> Vec<(ItemId, Amount)> {
    pairs.iter().map(|(id, n)| (item(id), amount(*n))).collect()
}
/// A log that creates, changes, deletes and recreates items.
pub(super) async fn append_mixed_log(stores: &Stores, s: &StreamId) -> Vec<RecordedEvent> {
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

/// A key no other case, run or process uses: keys are global, and the
/// DynamoDB tables are shared.
pub(super) fn unique_key(label: &str) -> IdempotencyKey {
    IdempotencyKey::parse(&unique_name(&format!("key-{label}"))).expect("a valid key")
}

/// `command`, sent with `key`.
pub(super) fn keyed(command: AppendCommand, key: &IdempotencyKey) -> AppendCommand {
    command.with_idempotency_key(key.clone())
}
