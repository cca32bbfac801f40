//! The domain events, declared once with their wire names, their data, what
//! each leaves its item as (`ItemState`), and the recorded event the stores
//! hold.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

use crate::error::{ErrorCode, Invalid};
use crate::ids::{EventId, ItemId, StreamId};
use crate::json::{ObjectReader, integer_in_range};
use crate::limits::MAX_AMOUNT;
use crate::metadata::EventMetadata;

/// An item's amount: an integer in 0..=2^53-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Amount(u64);

impl Amount {
    pub fn new(value: u64) -> Option<Self> {
        (value <= MAX_AMOUNT).then_some(Amount(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// Declares [`EventType`] from one list of its variants and their wire
/// names, so that `ALL`, `as_str` and `from_wire` cannot miss one.
macro_rules! event_types {
    ($($variant:ident => $wire:literal,)+) => {
        /// The event types the service knows, by their wire names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant,)+
        }

        impl EventType {
            /// Every event type, in the order declared.
            pub const ALL: [EventType; [$($wire),+].len()] = [$(EventType::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $wire,)+
                }
            }
        }
    };
}

event_types! {
    ItemCreated => "ITEM_CREATED",
    ItemAmountChanged => "ITEM_AMOUNT_CHANGED",
    ItemDeleted => "ITEM_DELETED",
}

impl EventType {
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An item's state: what an event leaves of its item in the stream, and
/// what the read model keeps of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemState {
    Live {
        amount: Amount,
    },
    /// Kept in the read model as a tombstone so a late, older event cannot
    /// bring it back, until `ItemChange::tombstone_expires_at`.
    Deleted,
}

impl ItemState {
    pub fn is_live(&self) -> bool {
        match self {
            ItemState::Live { .. } => true,
            ItemState::Deleted => false,
        }
    }
}

/// What happened, with its validated data. Every event is about one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    ItemCreated { item_id: ItemId, amount: Amount },
    ItemAmountChanged { item_id: ItemId, amount: Amount },
    ItemDeleted { item_id: ItemId },
}

impl DomainEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            DomainEvent::ItemCreated { .. } => EventType::ItemCreated,
            DomainEvent::ItemAmountChanged { .. } => EventType::ItemAmountChanged,
            DomainEvent::ItemDeleted { .. } => EventType::ItemDeleted,
        }
    }

    pub fn item_id(&self) -> &ItemId {
        match self {
            DomainEvent::ItemCreated { item_id, .. }
            | DomainEvent::ItemAmountChanged { item_id, .. }
            | DomainEvent::ItemDeleted { item_id } => item_id,
        }
    }

    /// Whether this event asks its item to be live before it (a change or
    /// a delete) or new (a creation): the stream rules' one question about
    /// the item.
    pub fn needs_live_item(&self) -> bool {
        match self {
            DomainEvent::ItemCreated { .. } => false,
            DomainEvent::ItemAmountChanged { .. } | DomainEvent::ItemDeleted { .. } => true,
        }
    }

    /// The state this event leaves its item in: every event sets its item's
    /// whole state. The one answer to "is the item live after this event?",
    /// which the stream rules, the projection and every store read.
    pub fn item_state_after(&self) -> ItemState {
        match self {
            DomainEvent::ItemCreated { amount, .. }
            | DomainEvent::ItemAmountChanged { amount, .. } => ItemState::Live { amount: *amount },
            DomainEvent::ItemDeleted { .. } => ItemState::Deleted,
        }
    }

    /// The `data` object as it travels on the wire and is stored.
    pub fn data(&self) -> Value {
        // Maps of strings and integers always serialise.
        serde_json::to_value(EventData(self)).unwrap_or(Value::Null)
    }

    /// Builds an event from its wire type name and `data`, with the same
    /// strict rules for a request body and for a stored record.
    pub fn from_wire(type_name: &str, data: &Value) -> Result<Self, Invalid> {
        let event_type = EventType::from_wire(type_name).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            Invalid::field(
                ErrorCode::UnknownEventType,
                "type",
                format!(
                    "unknown event type `{type_name}`; expected one of {}",
                    known.join(", ")
                ),
            )
        })?;
        let data = data.as_object().ok_or_else(|| {
            Invalid::field(ErrorCode::WrongType, "data", "`data` must be a JSON object")
        })?;
        Self::from_data(event_type, data)
    }

    fn from_data(event_type: EventType, data: &Map<String, Value>) -> Result<Self, Invalid> {
        let allowed: &[&str] = match event_type {
            EventType::ItemCreated | EventType::ItemAmountChanged => &["itemId", "amount"],
            EventType::ItemDeleted => &["itemId"],
        };
        let reader = ObjectReader::new(data, "data.", allowed)?;
        let item_id = ItemId::parse(reader.required_str("itemId")?, "data.itemId")?;
        let amount = || -> Result<Amount, Invalid> {
            let value = reader.required("amount")?;
            let raw = integer_in_range(value, "data.amount", 0, MAX_AMOUNT as i64)?;
            Ok(Amount(raw as u64))
        };
        Ok(match event_type {
            EventType::ItemCreated => DomainEvent::ItemCreated {
                item_id,
                amount: amount()?,
            },
            EventType::ItemAmountChanged => DomainEvent::ItemAmountChanged {
                item_id,
                amount: amount()?,
            },
            EventType::ItemDeleted => DomainEvent::ItemDeleted { item_id },
        })
    }
}

/// An event's `data` object, written straight to a serialiser (a page of
/// a thousand events builds no `Value` per event); the one wire form,
/// which [`DomainEvent::data`] also reads.
pub struct EventData<'a>(pub &'a DomainEvent);

impl Serialize for EventData<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            DomainEvent::ItemCreated { item_id, amount }
            | DomainEvent::ItemAmountChanged { item_id, amount } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("itemId", item_id.as_str())?;
                map.serialize_entry("amount", amount)?;
                map.end()
            }
            DomainEvent::ItemDeleted { item_id } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("itemId", item_id.as_str())?;
                map.end()
            }
        }
    }
}

/// An event as the store holds it: its place in the stream and when it was
/// accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    pub stream_id: StreamId,
    pub event_id: EventId,
    pub recorded_at: DateTime<Utc>,
    pub event: DomainEvent,
    /// What the client said about the event; empty when it said nothing.
    pub metadata: EventMetadata,
}

impl RecordedEvent {
    /// The timestamp as the API and the stores write it (RFC 3339, UTC, ms).
    pub fn timestamp(&self) -> String {
        format_timestamp(self.recorded_at)
    }
}

pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn data_round_trips_through_its_wire_form() {
        let event = DomainEvent::ItemCreated {
            item_id: ItemId::parse("1", "itemId").unwrap(),
            amount: Amount::new(225).unwrap(),
        };
        let back = DomainEvent::from_wire("ITEM_CREATED", &event.data()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn every_event_type_reads_back_from_its_wire_name() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::from_wire(event_type.as_str()), Some(event_type));
        }
        assert_eq!(EventType::from_wire("item_created"), None);
    }

    #[test]
    fn deleted_events_refuse_an_amount() {
        let err = DomainEvent::from_wire("ITEM_DELETED", &json!({"itemId": "1", "amount": 3}))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownField);
        assert_eq!(err.field.as_deref(), Some("data.amount"));
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        let at = parse_timestamp("2026-11-26T10:00:00.123Z").unwrap();
        assert_eq!(format_timestamp(at), "2026-11-26T10:00:00.123Z");
    }
}
