//! The `EventStore` port: an append reads the stream's state (its last
//! event id, and its item's live flag in `stream_items`), runs `decide`,
//! inserts the event and sets the flag (`append_in`) inside a `BEGIN IMMEDIATE`
//! transaction on the writer: the batch of its group commit
//! (`group_commit`), or the one transaction of `append_all`; the change
//! feed's position moves after the commit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::event::{format_timestamp, parse_timestamp};
use domain::{
    AppendCommand, AppendError, DecisionState, Direction, EventId, EventStore, EventsPage,
    EventsQuery, ItemId, RecordedEvent, StoreError, StreamId, StreamPage, StreamSummary, Version,
    decide, recall,
};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::codec::{EVENT_COLUMNS, corrupt_row, db_error, decode_event, event_id_param, sql_limit};
use super::idempotency_keys::{remember, remembered};
use super::{Inner, SqliteStore};

/// Whether an item of a stream is live (`stream_items`, keyed by both).
const ITEM_LIVE: &str = "SELECT live FROM stream_items WHERE stream_id = ?1 AND item_id = ?2";

/// What an append leaves its item as, decided by the domain.
const SET_ITEM_LIVE: &str =
    "INSERT INTO stream_items (stream_id, item_id, live) VALUES (?1, ?2, ?3)
     ON CONFLICT (stream_id, item_id) DO UPDATE SET live = excluded.live";

fn append_all_blocking(
    inner: &Inner,
    commands: &[AppendCommand],
    recorded_at: DateTime<Utc>,
) -> Result<Vec<RecordedEvent>, AppendError> {
    let mut conn = inner.writer()?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let mut recorded = Vec::with_capacity(commands.len());
    let mut last_seq = None;
    for command in commands {
        let (event, seq) = append_in(&tx, command, recorded_at)?;
        recorded.push(event);
        last_seq = seq.or(last_seq);
    }
    tx.commit().map_err(db_error)?;
    if let Some(seq) = last_seq {
        inner.feed.send_replace(seq);
    }
    Ok(recorded)
}

/// Decides and inserts one event inside `tx` (a transaction, or a savepoint
/// in one); returns it and its feed
/// position, or, for a repeat of an idempotent request, the event it
/// appended first and no position.
pub(super) fn append_in(
    tx: &rusqlite::Connection,
    command: &AppendCommand,
    recorded_at: DateTime<Utc>,
) -> Result<(RecordedEvent, Option<i64>), AppendError> {
    if let Some(idempotency) = &command.idempotency {
        let remembered = remembered(tx, &idempotency.key)?;
        if let Some(original) = recall(command, remembered.as_ref(), recorded_at)? {
            return Ok((original, None));
        }
    }
    let stream = command.stream_id.as_str();
    let item = command.event.item_id().as_str();
    // The log is the truth: its last id, not the `streams` row that
    // follows it.
    let last: Option<i64> = tx
        .prepare_cached("SELECT MAX(event_id) FROM events WHERE stream_id = ?1")
        .and_then(|mut stmt| stmt.query_row([stream], |row| row.get(0)))
        .map_err(db_error)?;
    let version = match last {
        None => Version::EMPTY,
        Some(last) => Version::new(last)
            .ok_or_else(|| corrupt_row(stream, &last.to_string(), "negative event id"))?,
    };
    // Whether the item is live, as its latest event left it: a key lookup.
    let item_live = tx
        .prepare_cached(ITEM_LIVE)
        .and_then(|mut stmt| stmt.query_row([stream, item], |row| row.get(0)).optional())
        .map_err(db_error)?
        .unwrap_or(false);
    let event_id = decide(&DecisionState { version, item_live }, command)?;

    let timestamp = format_timestamp(recorded_at);
    let data = serde_json::to_string(&command.event.data())
        .map_err(|err| StoreError::Unavailable(format!("cannot encode the event: {err}")))?;
    let metadata = (!command.metadata.is_empty()).then(|| command.metadata.to_json().to_string());
    let event_id_column = event_id_param(event_id)?;
    tx.prepare_cached(
        "INSERT INTO events (stream_id, event_id, item_id, type, data, recorded_at, metadata)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            stream,
            event_id_column,
            item,
            command.event.event_type().as_str(),
            data,
            timestamp,
            metadata
        ])
    })
    .map_err(db_error)?;
    let seq = tx.last_insert_rowid();
    tx.prepare_cached(SET_ITEM_LIVE)
        .and_then(|mut upsert| {
            upsert.execute(params![
                stream,
                item,
                command.event.item_state_after().is_live()
            ])
        })
        .map_err(db_error)?;
    tx.prepare_cached(
        "INSERT INTO streams (stream_id, version, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (stream_id) DO UPDATE
         SET version = excluded.version, updated_at = excluded.updated_at",
    )
    .and_then(|mut upsert| upsert.execute(params![stream, event_id_column, timestamp]))
    .map_err(db_error)?;
    // What a read returns: the stored form keeps milliseconds.
    let recorded = command.recorded(event_id, parse_timestamp(&timestamp).unwrap_or(recorded_at));
    if let (Some(idempotency), Some(remembered)) =
        (&command.idempotency, command.remembered(&recorded))
    {
        remember(tx, &idempotency.key, &remembered)?;
    }
    Ok((recorded, Some(seq)))
}

impl SqliteStore {
    /// Appends `commands` in order in one transaction: all or none. For
    /// loading a stream at once (the bench's seeding, imports); each is
    /// decided against the stream as the ones before it left it.
    pub async fn append_all(
        &self,
        commands: Vec<AppendCommand>,
        recorded_at: DateTime<Utc>,
    ) -> Result<Vec<RecordedEvent>, AppendError> {
        self.blocking(move |inner| append_all_blocking(inner, &commands, recorded_at))
            .await
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        command: &AppendCommand,
        recorded_at: DateTime<Utc>,
    ) -> Result<RecordedEvent, AppendError> {
        self.appends.append(command.clone(), recorded_at).await
    }

    async fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<StreamPage, StoreError> {
        // Every stream id is non-empty: after "" is from the first.
        let after = after.map_or(String::new(), |after| after.as_str().to_owned());
        self.blocking(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT stream_id, version, updated_at FROM streams
                         WHERE stream_id > ?1 ORDER BY stream_id LIMIT ?2",
                    )
                    .map_err(db_error)?;
                let mut rows = stmt
                    .query(params![after, sql_limit(limit.saturating_add(1))])
                    .map_err(db_error)?;
                let mut streams = Vec::new();
                while let Some(row) = rows.next().map_err(db_error)? {
                    let (id, version, updated_at): (String, i64, String) = (
                        row.get(0).map_err(db_error)?,
                        row.get(1).map_err(db_error)?,
                        row.get(2).map_err(db_error)?,
                    );
                    let corrupt = |problem: &str| corrupt_row(&id, &version.to_string(), problem);
                    streams.push(StreamSummary {
                        stream_id: StreamId::parse(id.as_str(), "streamId")
                            .map_err(|_| corrupt("an invalid stream id"))?,
                        version: u64::try_from(version)
                            .map(EventId::new)
                            .map_err(|_| corrupt("a negative version"))?,
                        updated_at: parse_timestamp(&updated_at)
                            .ok_or_else(|| corrupt("an unreadable time"))?,
                    });
                }
                let more = streams.len() > limit;
                streams.truncate(limit);
                Ok(StreamPage { streams, more })
            })
        })
        .await
    }

    async fn latest_event_ids(
        &self,
        stream_id: &StreamId,
        items: &[ItemId],
    ) -> Result<Vec<Option<EventId>>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let stream = stream_id.as_str().to_owned();
        let items: Vec<String> = items.iter().map(|id| id.as_str().to_owned()).collect();
        self.blocking(move |inner| {
            inner.read(|conn| {
                // One snapshot for every answer; dropped (rolled back) at the
                // end, as it only read.
                let tx = conn.unchecked_transaction().map_err(db_error)?;
                // MAX over the `events_by_item` index (stream, item,
                // event_id): one seek per item.
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT MAX(event_id) FROM events INDEXED BY events_by_item
                         WHERE stream_id = ?1 AND item_id = ?2",
                    )
                    .map_err(db_error)?;
                items
                    .iter()
                    .map(|item| {
                        let latest: Option<i64> = stmt
                            .query_row(params![stream, item], |row| row.get(0))
                            .map_err(db_error)?;
                        latest
                            .map(|raw| {
                                u64::try_from(raw).map(EventId::new).map_err(|_| {
                                    corrupt_row(&stream, &raw.to_string(), "negative event id")
                                })
                            })
                            .transpose()
                    })
                    .collect()
            })
        })
        .await
    }

    async fn read_events(&self, query: &EventsQuery) -> Result<Option<EventsPage>, StoreError> {
        let query = query.clone();
        self.blocking(move |inner| {
            inner.read(|conn| {
                let stream = query.stream_id.as_str();
                let last: Option<i64> = conn
                    .prepare_cached("SELECT version FROM streams WHERE stream_id = ?1")
                    .and_then(|mut stmt| stmt.query_row([stream], |row| row.get(0)).optional())
                    .map_err(db_error)?;
                let Some(last) = last else {
                    return Ok(None);
                };
                let last = u64::try_from(last)
                    .map(EventId::new)
                    .map_err(|_| corrupt_row(stream, &last.to_string(), "negative version"))?;
                let Some(start) = query.start(last) else {
                    return Ok(Some(EventsPage::cut(&query, last, Vec::new())));
                };
                let sql = match query.direction {
                    Direction::Forward => format!(
                        "SELECT {EVENT_COLUMNS} FROM events
                         WHERE stream_id = ?1 AND event_id >= ?2 ORDER BY event_id LIMIT ?3"
                    ),
                    Direction::Backward => format!(
                        "SELECT {EVENT_COLUMNS} FROM events
                         WHERE stream_id = ?1 AND event_id <= ?2 ORDER BY event_id DESC LIMIT ?3"
                    ),
                };
                let mut stmt = conn.prepare_cached(&sql).map_err(db_error)?;
                let mut rows = stmt
                    .query(params![
                        stream,
                        event_id_param(start)?,
                        sql_limit(query.limit.get())
                    ])
                    .map_err(db_error)?;
                let mut events = Vec::new();
                while let Some(row) = rows.next().map_err(db_error)? {
                    events.push(decode_event(row)?);
                }
                Ok(Some(EventsPage::cut(&query, last, events)))
            })
        })
        .await
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from: EventId,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream_id.as_str().to_owned();
        let from = event_id_param(from)?;
        self.blocking(move |inner| {
            inner.read(|conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS} FROM events
                         WHERE stream_id = ?1 AND event_id >= ?2 ORDER BY event_id LIMIT ?3"
                    ))
                    .map_err(db_error)?;
                let mut rows = stmt
                    .query(params![stream, from, sql_limit(limit)])
                    .map_err(db_error)?;
                let mut events = Vec::new();
                while let Some(row) = rows.next().map_err(db_error)? {
                    events.push(decode_event(row)?);
                }
                Ok(events)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use domain::{Amount, DomainEvent, ItemId, Rejection};

    use super::*;

    fn create(item: &str) -> AppendCommand {
        AppendCommand {
            stream_id: StreamId::parse("s", "streamId").unwrap(),
            event: DomainEvent::ItemCreated {
                item_id: ItemId::parse(item, "itemId").unwrap(),
                amount: Amount::new(1).unwrap(),
            },
            expected_version: None,
            idempotency: None,
            metadata: Default::default(),
        }
    }

    #[tokio::test]
    async fn append_all_decides_each_in_order_and_stores_all_or_none() {
        let store = SqliteStore::open_in_memory().unwrap();
        let stream = StreamId::parse("s", "streamId").unwrap();
        let stored = store
            .append_all(vec![create("a"), create("b")], Utc::now())
            .await
            .unwrap();
        let ids: Vec<u64> = stored.iter().map(|e| e.event_id.get()).collect();
        assert_eq!(ids, [0, 1]);
        // "c" is fine, the second "c" is not: neither is stored.
        let err = store
            .append_all(vec![create("c"), create("c")], Utc::now())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                AppendError::Rejected(Rejection::ItemAlreadyExists { .. })
            ),
            "{err:?}"
        );
        let log = store
            .read_stream(&stream, EventId::FIRST, 10)
            .await
            .unwrap();
        assert_eq!(log, stored);
    }

    /// The decision reads the item's flag by its key, not the log: a flag
    /// cleared by hand lets the item be created again.
    #[tokio::test]
    async fn the_decision_reads_the_items_live_flag_by_its_key() {
        let store = SqliteStore::open_in_memory().unwrap();
        store
            .append_all(vec![create("a")], Utc::now())
            .await
            .unwrap();
        {
            let conn = store.inner.writer().unwrap();
            let live: bool = conn
                .query_row(ITEM_LIVE, ["s", "a"], |row| row.get(0))
                .unwrap();
            assert!(live);
            let plan: String = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {ITEM_LIVE}"))
                .unwrap()
                .query_map(["s", "a"], |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .join("; ");
            assert!(
                plan.contains("USING PRIMARY KEY (stream_id=? AND item_id=?)"),
                "{plan}"
            );
            conn.execute("UPDATE stream_items SET live = 0", [])
                .unwrap();
        }
        let again = store
            .append_all(vec![create("a")], Utc::now())
            .await
            .unwrap();
        assert_eq!(again[0].event_id, EventId::new(1));
    }
}
