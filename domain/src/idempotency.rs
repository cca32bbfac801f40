//! Idempotent appends: the key a client sends with a request, the
//! fingerprint of the request it named, and what a store keeps of the
//! append so that the same request again stores nothing new.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, Invalid};
use crate::event::DomainEvent;
use crate::ids::{EventId, StreamId, Version};
use crate::limits::{IDEMPOTENCY_KEY_RETENTION_SECS, MAX_IDEMPOTENCY_KEY_CHARS};
use crate::metadata::EventMetadata;

/// The header that carries the key, as error messages name it.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// A client's name for one append request: 1 to
/// [`MAX_IDEMPOTENCY_KEY_CHARS`] printable ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let refuse = |problem: &str| {
            Invalid::field(
                ErrorCode::InvalidValue,
                IDEMPOTENCY_KEY_HEADER,
                format!(
                    "{IDEMPOTENCY_KEY_HEADER} {problem}; send 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters, such as a UUID"
                ),
            )
        };
        if raw.is_empty() {
            return Err(refuse("is empty"));
        }
        if raw.len() > MAX_IDEMPOTENCY_KEY_CHARS {
            return Err(refuse(&format!("is {} characters long", raw.len())));
        }
        if let Some(at) = raw.bytes().position(|b| !(b' '..=b'~').contains(&b)) {
            return Err(refuse(&format!(
                "has a character that is not printable ASCII at byte {at}"
            )));
        }
        Ok(IdempotencyKey(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", self.0)
    }
}

/// SHA-256 of what an append request asks, in a fixed encoding of its
/// parts, so two bodies that differ only in spacing or key order count as
/// the same request.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of_append(
        stream_id: &StreamId,
        event: &DomainEvent,
        expected_version: Option<Version>,
        metadata: &EventMetadata,
    ) -> Self {
        let mut hash = Sha256::new();
        // Each part length-prefixed, so no two requests share an encoding.
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        part(b"append/1");
        part(stream_id.as_str().as_bytes());
        part(event.event_type().as_str().as_bytes());
        part(event.item_id().as_str().as_bytes());
        match event {
            DomainEvent::ItemCreated { amount, .. }
            | DomainEvent::ItemAmountChanged { amount, .. } => {
                part(&amount.get().to_be_bytes());
            }
            DomainEvent::ItemDeleted { .. } => part(b""),
        }
        match expected_version {
            Some(version) => part(&version.get().to_be_bytes()),
            None => part(b""),
        }
        // Only when there is some, so a request without metadata keeps the
        // fingerprint it always had (a key stored before metadata existed
        // still answers its retry).
        if !metadata.is_empty() {
            part(b"metadata");
            for (key, value) in metadata.iter() {
                part(key.as_bytes());
                part(value.as_bytes());
            }
        }
        Fingerprint(hash.finalize().into())
    }

    /// Lower-case hex, as the stores keep it.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Fingerprint(bytes))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// An append request's key with the fingerprint of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
}

/// What a store keeps under a key: the request it named and the event
/// that request appended, until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RememberedAppend {
    pub fingerprint: Fingerprint,
    pub stream_id: StreamId,
    pub event_id: EventId,
    pub recorded_at: DateTime<Utc>,
    /// Whole seconds, as DynamoDB's TTL reads it.
    pub expires_at: DateTime<Utc>,
}

impl RememberedAppend {
    /// What an append recorded at `recorded_at` leaves under its key.
    pub fn of(
        fingerprint: Fingerprint,
        stream_id: StreamId,
        event_id: EventId,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        RememberedAppend {
            fingerprint,
            stream_id,
            event_id,
            recorded_at,
            expires_at: remembered_until(recorded_at),
        }
    }

    /// Whether the key still stands at `now`: stores may keep a row past
    /// its expiry (DynamoDB's TTL deletes within days), and must read such
    /// a row as absent.
    pub fn stands_at(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// When a key used at `recorded_at` may be forgotten, in whole seconds.
pub fn remembered_until(recorded_at: DateTime<Utc>) -> DateTime<Utc> {
    let until = recorded_at + Duration::seconds(IDEMPOTENCY_KEY_RETENTION_SECS);
    DateTime::from_timestamp(until.timestamp(), 0).unwrap_or(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Amount;
    use crate::ids::ItemId;

    /// SHA-256 of `append/1`, `s`, `ITEM_CREATED`, `1`, 5 and no version.
    const PINNED_FINGERPRINT: &str =
        "1311af154065f5758c4d53d0c3a806b10674209823c298324370ba966b1ef704";

    fn stream(id: &str) -> StreamId {
        StreamId::parse(id, "streamId").unwrap()
    }

    fn created(item: &str, amount: u64) -> DomainEvent {
        DomainEvent::ItemCreated {
            item_id: ItemId::parse(item, "itemId").unwrap(),
            amount: Amount::new(amount).unwrap(),
        }
    }

    #[test]
    fn a_key_is_one_to_128_printable_ascii_characters() {
        for good in ["a", "6f1c2d7e-uuid", " spaced key ~", &"k".repeat(128)] {
            assert_eq!(IdempotencyKey::parse(good).unwrap().as_str(), good);
        }
        for (bad, says) in [
            ("", "is empty"),
            (&"k".repeat(129) as &str, "129 characters"),
            ("tab\there", "not printable ASCII at byte 3"),
            ("é", "not printable ASCII at byte 0"),
        ] {
            let err = IdempotencyKey::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidValue);
            assert_eq!(err.field.as_deref(), Some(IDEMPOTENCY_KEY_HEADER));
            assert!(err.message.contains(says), "{bad:?}: {}", err.message);
        }
    }

    fn fingerprint(
        stream_id: &StreamId,
        event: &DomainEvent,
        version: Option<Version>,
    ) -> Fingerprint {
        Fingerprint::of_append(stream_id, event, version, &EventMetadata::default())
    }

    fn with_metadata(metadata: serde_json::Value) -> Fingerprint {
        let metadata = EventMetadata::from_json(&metadata, "metadata").unwrap();
        Fingerprint::of_append(&stream("s"), &created("1", 5), None, &metadata)
    }

    #[test]
    fn the_fingerprint_tells_every_part_of_a_request_apart() {
        let base = fingerprint(&stream("s"), &created("1", 5), None);
        assert_eq!(base, fingerprint(&stream("s"), &created("1", 5), None));
        let others = [
            fingerprint(&stream("t"), &created("1", 5), None),
            fingerprint(&stream("s"), &created("2", 5), None),
            fingerprint(&stream("s"), &created("1", 6), None),
            fingerprint(&stream("s"), &created("1", 5), Version::new(-1)),
            fingerprint(
                &stream("s"),
                &DomainEvent::ItemAmountChanged {
                    item_id: ItemId::parse("1", "itemId").unwrap(),
                    amount: Amount::new(5).unwrap(),
                },
                None,
            ),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        // Length prefixes keep the parts from running into each other.
        assert_ne!(
            fingerprint(&stream("s"), &created("1x", 5), None),
            fingerprint(&stream("s1"), &created("x", 5), None)
        );
    }

    #[test]
    fn metadata_is_part_of_the_fingerprint_whatever_its_key_order() {
        let base = fingerprint(&stream("s"), &created("1", 5), None);
        let tagged = with_metadata(serde_json::json!({"correlationId": "c", "a": "1"}));
        assert_ne!(base, tagged);
        assert_eq!(
            tagged,
            with_metadata(serde_json::json!({"a": "1", "correlationId": "c"}))
        );
        assert_ne!(
            tagged,
            with_metadata(serde_json::json!({"correlationId": "c", "a": "2"}))
        );
        // Length prefixes keep a key from running into its value.
        assert_ne!(
            with_metadata(serde_json::json!({"correlationId": "ca"})),
            with_metadata(serde_json::json!({"correlationIdc": "a"}))
        );
        // Sent empty is sent none.
        assert_eq!(base, with_metadata(serde_json::json!({})));
    }

    /// A key stored before metadata existed still names the same request:
    /// a request without metadata hashes as it always did.
    #[test]
    fn a_request_without_metadata_keeps_its_fingerprint() {
        assert_eq!(
            fingerprint(&stream("s"), &created("1", 5), None).to_hex(),
            PINNED_FINGERPRINT
        );
    }

    #[test]
    fn a_fingerprint_round_trips_through_hex() {
        let print = fingerprint(&stream("s"), &created("1", 5), None);
        assert_eq!(Fingerprint::from_hex(&print.to_hex()), Some(print));
        assert_eq!(Fingerprint::from_hex("zz"), None);
        assert_eq!(Fingerprint::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn a_key_stands_for_a_day_in_whole_seconds() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.750Z")
            .unwrap()
            .with_timezone(&Utc);
        let remembered = RememberedAppend::of(
            fingerprint(&stream("s"), &created("1", 5), None),
            stream("s"),
            EventId::new(0),
            at,
        );
        assert_eq!(
            remembered.expires_at.to_rfc3339(),
            "2026-01-02T00:00:00+00:00"
        );
        assert!(remembered.stands_at(at + Duration::hours(23)));
        assert!(!remembered.stands_at(at + Duration::hours(24)));
    }
}
