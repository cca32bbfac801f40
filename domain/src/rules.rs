//! The stream rules: what may be appended given the stream's current state.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::event::{DomainEvent, EventType, RecordedEvent};
use crate::idempotency::{
    Fingerprint, IDEMPOTENCY_KEY_HEADER, Idempotency, IdempotencyKey, RememberedAppend,
};
use crate::ids::{EventId, ItemId, StreamId, Version};
use crate::metadata::EventMetadata;

/// A validated request to append one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendCommand {
    pub stream_id: StreamId,
    pub event: DomainEvent,
    /// Optimistic concurrency: the version the caller believes current.
    pub expected_version: Option<Version>,
    /// The client's key for this request, if it sent one: the store keeps
    /// it with the event, atomically, and answers a repeat with [`recall`].
    pub idempotency: Option<Idempotency>,
    /// Stored with the event as it is; part of the request's fingerprint.
    pub metadata: EventMetadata,
}

impl AppendCommand {
    pub fn new(stream_id: StreamId, event: DomainEvent, expected_version: Option<Version>) -> Self {
        AppendCommand {
            stream_id,
            event,
            expected_version,
            idempotency: None,
            metadata: EventMetadata::default(),
        }
    }

    /// The same request, named by `key`.
    pub fn with_idempotency_key(mut self, key: IdempotencyKey) -> Self {
        let fingerprint = self.fingerprint();
        self.idempotency = Some(Idempotency { key, fingerprint });
        self
    }

    /// The same request with `metadata`; a key it already has now names
    /// the request with it.
    pub fn with_metadata(mut self, metadata: EventMetadata) -> Self {
        self.metadata = metadata;
        let fingerprint = self.fingerprint();
        if let Some(idempotency) = &mut self.idempotency {
            idempotency.fingerprint = fingerprint;
        }
        self
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_append(
            &self.stream_id,
            &self.event,
            self.expected_version,
            &self.metadata,
        )
    }

    /// The event this command stores, once the store gave it its place.
    pub fn recorded(&self, event_id: EventId, recorded_at: DateTime<Utc>) -> RecordedEvent {
        RecordedEvent {
            stream_id: self.stream_id.clone(),
            event_id,
            recorded_at,
            event: self.event.clone(),
            metadata: self.metadata.clone(),
        }
    }

    /// What the store keeps under the key once the append `recorded` is
    /// stored; `None` without a key.
    pub fn remembered(&self, recorded: &RecordedEvent) -> Option<RememberedAppend> {
        self.idempotency.as_ref().map(|idempotency| {
            RememberedAppend::of(
                idempotency.fingerprint,
                recorded.stream_id.clone(),
                recorded.event_id,
                recorded.recorded_at,
            )
        })
    }
}

/// What a store must know about a stream to decide on an event: its version
/// and whether the event's item is live in it, which is what the item's
/// latest event left it as ([`DomainEvent::item_state_after`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionState {
    pub version: Version,
    pub item_live: bool,
}

/// Why an append was refused by the stream's state (HTTP 409).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    ItemAlreadyExists {
        item_id: ItemId,
    },
    ItemNotFound {
        item_id: ItemId,
        event_type: EventType,
    },
    VersionConflict {
        expected: Version,
        current: Version,
    },
    /// The key named another request (HTTP 422).
    IdempotencyKeyReused {
        key: IdempotencyKey,
    },
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::ItemAlreadyExists { .. } => "ITEM_ALREADY_EXISTS",
            Rejection::ItemNotFound { .. } => "ITEM_NOT_FOUND",
            Rejection::VersionConflict { .. } => "VERSION_CONFLICT",
            Rejection::IdempotencyKeyReused { .. } => "IDEMPOTENCY_KEY_REUSED",
        }
    }

    pub fn field(&self) -> &'static str {
        match self {
            Rejection::ItemAlreadyExists { .. } | Rejection::ItemNotFound { .. } => "data.itemId",
            Rejection::VersionConflict { .. } => "expectedVersion",
            Rejection::IdempotencyKeyReused { .. } => IDEMPOTENCY_KEY_HEADER,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::ItemAlreadyExists { item_id } => write!(
                f,
                "item `{item_id}` already exists in this stream; send ITEM_AMOUNT_CHANGED to change it"
            ),
            Rejection::ItemNotFound {
                item_id,
                event_type,
            } => write!(
                f,
                "item `{item_id}` does not exist in this stream; send ITEM_CREATED before {event_type}"
            ),
            Rejection::VersionConflict { expected, current } => write!(
                f,
                "expectedVersion is {expected} but the stream is at version {current}; read the stream again and retry"
            ),
            Rejection::IdempotencyKeyReused { key } => write!(
                f,
                "{IDEMPOTENCY_KEY_HEADER} `{key}` was sent with another request in the last day; use a new key for a new request"
            ),
        }
    }
}

impl std::error::Error for Rejection {}

/// Decides whether `command` may be appended to a stream in `state`, and if
/// so under which event id. Every store calls this, atomically with its write.
pub fn decide(state: &DecisionState, command: &AppendCommand) -> Result<EventId, Rejection> {
    if let Some(expected) = command.expected_version
        && expected != state.version
    {
        return Err(Rejection::VersionConflict {
            expected,
            current: state.version,
        });
    }
    let item_id = command.event.item_id();
    let event_type = command.event.event_type();
    match (command.event.needs_live_item(), state.item_live) {
        (false, true) => Err(Rejection::ItemAlreadyExists {
            item_id: item_id.clone(),
        }),
        (true, false) => Err(Rejection::ItemNotFound {
            item_id: item_id.clone(),
            event_type,
        }),
        (false, false) | (true, true) => Ok(state.version.next_event_id()),
    }
}

/// What the store found under the command's key (`remembered`, read in
/// the append's transaction) makes of an append at `now`: `None` when
/// there is nothing standing to recall (no key, never used, or expired),
/// so the append goes on to [`decide`]; the event the key's first request
/// appended, when `command` is that request again; a refusal when the key
/// named another request. Nothing new is stored in the last two cases.
pub fn recall(
    command: &AppendCommand,
    remembered: Option<&RememberedAppend>,
    now: DateTime<Utc>,
) -> Result<Option<RecordedEvent>, Rejection> {
    let (Some(idempotency), Some(remembered)) = (&command.idempotency, remembered) else {
        return Ok(None);
    };
    if !remembered.stands_at(now) {
        return Ok(None);
    }
    if idempotency.fingerprint != remembered.fingerprint {
        return Err(Rejection::IdempotencyKeyReused {
            key: idempotency.key.clone(),
        });
    }
    Ok(Some(RecordedEvent {
        stream_id: remembered.stream_id.clone(),
        event_id: remembered.event_id,
        recorded_at: remembered.recorded_at,
        // The same fingerprint: the same event.
        event: command.event.clone(),
        metadata: command.metadata.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Amount;

    fn command(event: DomainEvent, expected: Option<i64>) -> AppendCommand {
        AppendCommand {
            stream_id: StreamId::parse("s", "streamId").unwrap(),
            event,
            expected_version: expected.map(|v| Version::new(v).unwrap()),
            idempotency: None,
            metadata: Default::default(),
        }
    }

    fn item() -> ItemId {
        ItemId::parse("1", "itemId").unwrap()
    }

    fn created() -> DomainEvent {
        DomainEvent::ItemCreated {
            item_id: item(),
            amount: Amount::new(1).unwrap(),
        }
    }

    #[test]
    fn an_item_is_created_once_and_changed_only_while_live() {
        let empty = DecisionState {
            version: Version::EMPTY,
            item_live: false,
        };
        assert_eq!(
            decide(&empty, &command(created(), None)),
            Ok(EventId::FIRST)
        );
        let live = DecisionState {
            version: Version::new(0).unwrap(),
            item_live: true,
        };
        assert!(matches!(
            decide(&live, &command(created(), None)),
            Err(Rejection::ItemAlreadyExists { .. })
        ));
        let deleted = DomainEvent::ItemDeleted { item_id: item() };
        assert_eq!(
            decide(&live, &command(deleted.clone(), None)),
            Ok(EventId::new(1))
        );
        assert!(matches!(
            decide(&empty, &command(deleted, None)),
            Err(Rejection::ItemNotFound { .. })
        ));
    }

    #[test]
    fn a_remembered_key_answers_its_own_request_and_refuses_another_for_a_day() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let key = IdempotencyKey::parse("retry-1").unwrap();
        let first = command(created(), None).with_idempotency_key(key.clone());
        let recorded = RecordedEvent {
            stream_id: first.stream_id.clone(),
            event_id: EventId::new(7),
            recorded_at: at,
            event: first.event.clone(),
            metadata: Default::default(),
        };
        let remembered = first.remembered(&recorded).unwrap();
        let later = at + chrono::Duration::hours(23);

        assert_eq!(recall(&first, None, later), Ok(None));
        assert_eq!(recall(&first, Some(&remembered), later), Ok(Some(recorded)));
        let other = command(DomainEvent::ItemDeleted { item_id: item() }, None)
            .with_idempotency_key(key.clone());
        assert_eq!(
            recall(&other, Some(&remembered), later),
            Err(Rejection::IdempotencyKeyReused { key })
        );
        let a_day_on = at + chrono::Duration::hours(24);
        assert_eq!(recall(&other, Some(&remembered), a_day_on), Ok(None));
        // No key: nothing to recall, whatever is stored.
        assert_eq!(
            recall(&command(created(), None), Some(&remembered), later),
            Ok(None)
        );
    }

    #[test]
    fn a_stale_expected_version_reports_the_current_one() {
        let state = DecisionState {
            version: Version::new(4).unwrap(),
            item_live: false,
        };
        let err = decide(&state, &command(created(), Some(3))).unwrap_err();
        assert_eq!(
            err,
            Rejection::VersionConflict {
                expected: Version::new(3).unwrap(),
                current: Version::new(4).unwrap()
            }
        );
        assert_eq!(
            decide(&state, &command(created(), Some(4))),
            Ok(EventId::new(5))
        );
        let empty = DecisionState {
            version: Version::EMPTY,
            item_live: false,
        };
        assert_eq!(
            decide(&empty, &command(created(), Some(-1))),
            Ok(EventId::FIRST)
        );
    }
}
