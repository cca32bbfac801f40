//! An in-memory adapter of the storage ports: the smallest store that
//! passes the conformance suite, for tests of the handlers and the projector
//! that need no backend. It keeps nothing across processes.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use domain::{
    AppendCommand, AppendError, ApplyMode, ApplyOutcome, Checkpoints, EventId, EventStore,
    EventsPage, EventsQuery, IdempotencyKey, ItemChange, ItemId, ItemPage, ItemState, ItemView,
    LaneKey, ListQuery, ParkedRecord, ParkedRecords, ReadModel, RecordedEvent, RememberedAppend,
    ReplayJob, ReplayJobs, ReplayLane, StoreError, StoredItem, StoredLane, StreamFold, StreamId,
    StreamPage, StreamSummary, decide, recall,
};

/// The event log, the read model and the checkpoints behind one lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    streams: BTreeMap<StreamId, Stream>,
    /// Per (stream, item): the version that set the row, and its state.
    read_model: BTreeMap<(StreamId, ItemId), (EventId, ItemState)>,
    checkpoints: BTreeMap<String, String>,
    /// By [`LaneKey::as_key`], the order lanes are listed in.
    lanes: BTreeMap<String, StoredLane>,
    jobs: BTreeMap<String, ReplayJob>,
    idempotency_keys: BTreeMap<IdempotencyKey, RememberedAppend>,
    parked: BTreeMap<String, ParkedRecord>,
}

/// A stream's log, and its fold: what `decide` needs.
#[derive(Debug, Default)]
struct Stream {
    events: Vec<RecordedEvent>,
    fold: StreamFold,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every write below completes before the guard drops, so a panic
        // elsewhere leaves no half-made change behind.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn append(
        &self,
        command: &AppendCommand,
        recorded_at: DateTime<Utc>,
    ) -> Result<RecordedEvent, AppendError> {
        let mut state = self.state();
        let remembered = command
            .idempotency
            .as_ref()
            .and_then(|idempotency| state.idempotency_keys.get(&idempotency.key));
        if let Some(original) = recall(command, remembered, recorded_at)? {
            return Ok(original);
        }
        let stream = state.streams.entry(command.stream_id.clone()).or_default();
        let event_id = decide(
            &stream.fold.decision_state(command.event.item_id()),
            command,
        )?;
        // The other stores keep milliseconds, as the API shows them.
        let recorded = command.recorded(event_id, recorded_at.trunc_subsecs(3));
        stream.fold.apply(&recorded);
        stream.events.push(recorded.clone());
        if let (Some(idempotency), Some(remembered)) =
            (&command.idempotency, command.remembered(&recorded))
        {
            state
                .idempotency_keys
                .insert(idempotency.key.clone(), remembered);
        }
        Ok(recorded)
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from: EventId,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.state();
        let Some(stream) = state.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        let from = usize::try_from(from.get()).unwrap_or(usize::MAX);
        Ok(stream
            .events
            .iter()
            .skip(from)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn read_events(&self, query: &EventsQuery) -> Result<Option<EventsPage>, StoreError> {
        let state = self.state();
        let Some(last) = state
            .streams
            .get(&query.stream_id)
            .and_then(|stream| stream.events.last())
        else {
            return Ok(None);
        };
        let events = &state.streams[&query.stream_id].events;
        let fetched = query
            .ids(last.event_id)
            .into_iter()
            .filter_map(|id| events.get(usize::try_from(id.get()).ok()?).cloned())
            .collect();
        Ok(Some(EventsPage::cut(query, last.event_id, fetched)))
    }

    async fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<StreamPage, StoreError> {
        use std::ops::Bound::{Excluded, Unbounded};
        let state = self.state();
        let start = after.map_or(Unbounded, |after| Excluded(after.clone()));
        let mut streams =
            state
                .streams
                .range((start, Unbounded))
                .filter_map(|(stream_id, stream)| {
                    let last = stream.events.last()?;
                    Some(StreamSummary {
                        stream_id: stream_id.clone(),
                        version: last.event_id,
                        updated_at: last.recorded_at,
                    })
                });
        let page: Vec<StreamSummary> = streams.by_ref().take(limit).collect();
        let more = streams.next().is_some();
        Ok(StreamPage {
            streams: page,
            more,
        })
    }

    async fn latest_event_ids(
        &self,
        stream_id: &StreamId,
        items: &[ItemId],
    ) -> Result<Vec<Option<EventId>>, StoreError> {
        let state = self.state();
        let events = state
            .streams
            .get(stream_id)
            .map_or(&[][..], |stream| &stream.events[..]);
        Ok(items
            .iter()
            .map(|item_id| {
                events
                    .iter()
                    .rev()
                    .find(|event| event.event.item_id() == item_id)
                    .map(|event| event.event_id)
            })
            .collect())
    }
}

#[async_trait]
impl ReadModel for MemoryStore {
    async fn apply(
        &self,
        changes: &[ItemChange],
        mode: ApplyMode,
    ) -> Vec<Result<ApplyOutcome, StoreError>> {
        let mut state = self.state();
        changes
            .iter()
            .map(|change| {
                let key = (change.stream_id.clone(), change.item_id.clone());
                let lands = match state.read_model.get(&key) {
                    None => true,
                    Some((stored, _)) => match mode {
                        ApplyMode::Projection => *stored < change.version,
                        ApplyMode::Replay => *stored <= change.version,
                    },
                };
                if !lands {
                    return Ok(ApplyOutcome::Superseded);
                }
                state.read_model.insert(key, (change.version, change.state));
                Ok(ApplyOutcome::Written)
            })
            .collect()
    }

    async fn list(&self, query: &ListQuery) -> Result<ItemPage, StoreError> {
        let state = self.state();
        let mut live = state
            .rows_after(&query.stream_id, query.after.as_ref())
            .filter_map(|(item_id, (_, item))| match item {
                ItemState::Live { amount } => Some(ItemView {
                    item_id: item_id.clone(),
                    amount: *amount,
                }),
                ItemState::Deleted => None,
            });
        let items: Vec<ItemView> = live.by_ref().take(query.limit.get()).collect();
        let more = live.next().is_some();
        Ok(ItemPage { items, more })
    }

    async fn rows(
        &self,
        stream_id: &StreamId,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<Vec<StoredItem>, StoreError> {
        let state = self.state();
        Ok(state
            .rows_after(stream_id, after)
            .take(limit)
            .map(|(item_id, (version, item))| StoredItem {
                item_id: item_id.clone(),
                version: *version,
                state: *item,
            })
            .collect())
    }

    async fn remove(
        &self,
        stream_id: &StreamId,
        item_id: &ItemId,
        version: EventId,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = (stream_id.clone(), item_id.clone());
        let at_version = state
            .read_model
            .get(&key)
            .is_some_and(|(stored, _)| *stored == version);
        if at_version {
            state.read_model.remove(&key);
        }
        Ok(at_version)
    }
}

impl State {
    /// The read-model rows of a stream after `after`, in item id order.
    fn rows_after<'a>(
        &'a self,
        stream_id: &'a StreamId,
        after: Option<&ItemId>,
    ) -> impl Iterator<Item = (&'a ItemId, &'a (EventId, ItemState))> + 'a {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = match after {
            Some(item_id) => Excluded((stream_id.clone(), item_id.clone())),
            None => Unbounded,
        };
        self.read_model
            .range((start, Unbounded))
            .skip_while(move |((stream, _), _)| stream < stream_id)
            .take_while(move |((stream, _), _)| stream == stream_id)
            .map(|((_, item_id), row)| (item_id, row))
    }
}

#[async_trait]
impl ParkedRecords for MemoryStore {
    async fn park(&self, record: &ParkedRecord) -> Result<(), StoreError> {
        let mut record = record.clone();
        record.parked_at = record.parked_at.trunc_subsecs(3);
        self.state()
            .parked
            .entry(record.source.clone())
            .or_insert(record);
        Ok(())
    }

    async fn parked(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ParkedRecord>, StoreError> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, |after| Excluded(after.to_owned()));
        Ok(self
            .state()
            .parked
            .range((start, Unbounded))
            .take(limit)
            .map(|(_, record)| record.clone())
            .collect())
    }
}

#[async_trait]
impl Checkpoints for MemoryStore {
    async fn load(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.state().checkpoints.get(name).cloned())
    }

    async fn save(&self, name: &str, position: &str) -> Result<(), StoreError> {
        self.state()
            .checkpoints
            .insert(name.to_owned(), position.to_owned());
        Ok(())
    }
}

#[async_trait]
impl ReplayJobs for MemoryStore {
    async fn lane(&self, key: &LaneKey) -> Result<Option<StoredLane>, StoreError> {
        Ok(self.state().lanes.get(key.as_key()).cloned())
    }

    async fn commit(
        &self,
        key: &LaneKey,
        expected: Option<u64>,
        lane: &ReplayLane,
        jobs: &[ReplayJob],
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let stored = state.lanes.get(key.as_key()).map(|stored| stored.revision);
        if stored != expected {
            return Ok(false);
        }
        let revision = expected.map_or(0, |revision| revision + 1);
        let lane = StoredLane {
            lane: lane.clone(),
            revision,
        };
        state.lanes.insert(key.as_key().to_owned(), lane);
        for job in jobs {
            state.jobs.insert(job.replay_id.clone(), job.clone());
        }
        Ok(true)
    }

    async fn job(&self, replay_id: &str) -> Result<Option<ReplayJob>, StoreError> {
        Ok(self.state().jobs.get(replay_id).cloned())
    }

    async fn held_lanes(
        &self,
        after: Option<&LaneKey>,
        limit: usize,
    ) -> Result<Vec<LaneKey>, StoreError> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, |after| Excluded(after.as_key().to_owned()));
        self.state()
            .lanes
            .range((start, Unbounded))
            .filter(|(_, stored)| stored.lane.running.is_some())
            .take(limit)
            .map(|(key, _)| LaneKey::from_key(key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;
    use crate::conformance::Stores;

    crate::conformance_tests!(async { Stores::from_one(MemoryStore::new()) });
}
