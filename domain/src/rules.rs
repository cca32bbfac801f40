//! The stream rules: what may be appended given the stream's current state.

use std::fmt;

use crate::event::{DomainEvent, EventType};
use crate::ids::{EventId, ItemId, StreamId, Version};

/// A validated request to append one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendCommand {
    pub stream_id: StreamId,
    pub event: DomainEvent,
    /// Optimistic concurrency: the version the caller believes current.
    pub expected_version: Option<Version>,
}

/// What a store must know about a stream to decide on an event: its version
/// and whether the event's item is live in it.
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
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::ItemAlreadyExists { .. } => "ITEM_ALREADY_EXISTS",
            Rejection::ItemNotFound { .. } => "ITEM_NOT_FOUND",
            Rejection::VersionConflict { .. } => "VERSION_CONFLICT",
        }
    }

    pub fn field(&self) -> &'static str {
        match self {
            Rejection::ItemAlreadyExists { .. } | Rejection::ItemNotFound { .. } => "data.itemId",
            Rejection::VersionConflict { .. } => "expectedVersion",
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
    match (command.event.event_type(), state.item_live) {
        (EventType::ItemCreated, true) => Err(Rejection::ItemAlreadyExists {
            item_id: item_id.clone(),
        }),
        (event_type @ (EventType::ItemAmountChanged | EventType::ItemDeleted), false) => {
            Err(Rejection::ItemNotFound {
                item_id: item_id.clone(),
                event_type,
            })
        }
        _ => Ok(state.version.next_event_id()),
    }
}

/// Whether an item is live after `event` (about that item) is applied.
pub fn live_after(event: &DomainEvent) -> bool {
    !matches!(event, DomainEvent::ItemDeleted { .. })
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
