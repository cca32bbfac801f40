//! The read model as a pure function of the log.
//!
//! Every event sets its item's whole state (created or changed: live with an
//! amount; deleted: gone), so an item's state is that of its latest event.
//! The read model therefore keeps, per item, the state and the id of the
//! event that set it, and a write only lands over an older id. That makes the
//! projection idempotent and order-insensitive across items: repeated, split
//! or reordered batches converge to the fold of the log.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::event::{Amount, ItemState, RecordedEvent};
use crate::ids::{EventId, ItemId, StreamId, Version};
use crate::limits::TOMBSTONE_RETENTION_SECS;
use crate::rules::DecisionState;

/// One write to the read model: the state `version` (an event id) sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemChange {
    pub stream_id: StreamId,
    pub item_id: ItemId,
    pub version: EventId,
    pub state: ItemState,
    /// When the event that sets this state was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl ItemChange {
    pub fn from_event(recorded: &RecordedEvent) -> Self {
        ItemChange {
            stream_id: recorded.stream_id.clone(),
            item_id: recorded.event.item_id().clone(),
            version: recorded.event_id,
            state: recorded.event.item_state_after(),
            recorded_at: recorded.recorded_at,
        }
    }

    /// For a deletion, when its tombstone may go: no event older than the
    /// deletion can still be delivered by then, so listing and storage stop
    /// paying for the item. Counted from the event, not from the write, so a
    /// replay of an old deletion does not renew it.
    pub fn tombstone_expires_at(&self) -> Option<DateTime<Utc>> {
        match self.state {
            ItemState::Live { .. } => None,
            ItemState::Deleted => {
                Some(self.recorded_at + TimeDelta::seconds(TOMBSTONE_RETENTION_SECS))
            }
        }
    }
}

/// Reduces a batch to at most one change per (stream, item): the latest.
/// The order of the input does not matter; the output is sorted.
pub fn coalesce<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Vec<ItemChange> {
    let mut latest: BTreeMap<(&StreamId, &ItemId), &RecordedEvent> = BTreeMap::new();
    for event in events {
        let key = (&event.stream_id, event.event.item_id());
        match latest.get(&key) {
            Some(kept) if kept.event_id >= event.event_id => {}
            _ => {
                latest.insert(key, event);
            }
        }
    }
    latest.into_values().map(ItemChange::from_event).collect()
}

/// The fold of one stream's log, in order: the reference every read model
/// must equal, and the source of truth for the stream rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamFold {
    last: Option<EventId>,
    items: BTreeMap<ItemId, Amount>,
}

impl StreamFold {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn of<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Self {
        let mut fold = Self::new();
        for event in events {
            fold.apply(event);
        }
        fold
    }

    /// Applies the stream's next event. Panics if `event` is not the next one:
    /// a gap or a repeat means the caller's log is broken.
    pub fn apply(&mut self, recorded: &RecordedEvent) {
        assert_eq!(
            recorded.event_id,
            self.version().next_event_id(),
            "events must be folded in order without gaps"
        );
        self.last = Some(recorded.event_id);
        let item_id = recorded.event.item_id();
        match recorded.event.item_state_after() {
            ItemState::Live { amount } => {
                self.items.insert(item_id.clone(), amount);
            }
            ItemState::Deleted => {
                self.items.remove(item_id);
            }
        }
    }

    pub fn version(&self) -> Version {
        self.last.map_or(Version::EMPTY, Version::of_last)
    }

    /// The live items, sorted by id: what `GET /listTestItems` must show.
    pub fn items(&self) -> Vec<(ItemId, Amount)> {
        self.items
            .iter()
            .map(|(id, amount)| (id.clone(), *amount))
            .collect()
    }

    pub fn decision_state(&self, item_id: &ItemId) -> DecisionState {
        DecisionState {
            version: self.version(),
            item_live: self.items.contains_key(item_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::DomainEvent;
    use chrono::Utc;

    fn event(id: u64, item: &str, amount: Option<u64>) -> RecordedEvent {
        let item_id = ItemId::parse(item, "itemId").unwrap();
        RecordedEvent {
            stream_id: StreamId::parse("s", "streamId").unwrap(),
            event_id: EventId::new(id),
            recorded_at: Utc::now(),
            event: match amount {
                Some(amount) => DomainEvent::ItemAmountChanged {
                    item_id,
                    amount: Amount::new(amount).unwrap(),
                },
                None => DomainEvent::ItemDeleted { item_id },
            },
            metadata: Default::default(),
        }
    }

    #[test]
    fn coalescing_keeps_the_latest_event_per_item_whatever_the_order() {
        let log = [
            event(0, "a", Some(1)),
            event(1, "b", Some(2)),
            event(2, "a", None),
            event(3, "b", Some(5)),
        ];
        let shuffled = [&log[3], &log[0], &log[2], &log[1], &log[0]];
        let changes = coalesce(shuffled);
        assert_eq!(changes.len(), 2);
        assert_eq!(
            (changes[0].version, changes[0].state),
            (EventId::new(2), ItemState::Deleted)
        );
        assert_eq!(
            (changes[1].version, changes[1].state),
            (
                EventId::new(3),
                ItemState::Live {
                    amount: Amount::new(5).unwrap()
                }
            )
        );
    }

    #[test]
    fn the_fold_follows_the_log() {
        let log = [
            event(0, "b", Some(1)),
            event(1, "a", Some(2)),
            event(2, "b", None),
        ];
        let fold = StreamFold::of(&log);
        assert_eq!(fold.version(), Version::new(2).unwrap());
        assert_eq!(
            fold.items(),
            vec![(ItemId::parse("a", "i").unwrap(), Amount::new(2).unwrap())]
        );
    }
}
