//! The limits on what the API accepts: one definition each, read by the
//! validation here and by the adapters and the template elsewhere.

/// The largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The longest string (in characters) accepted for any id.
pub const MAX_STRING_CHARS: usize = 256;
/// The largest id in bytes of UTF-8: DynamoDB caps a sort key at 1,024
/// bytes, and the stream index keys an item as `ITEM#` + its id.
pub const MAX_ID_BYTES: usize = 1000;
/// The most items one `GET /listTestItems` page holds, and its default.
pub const MAX_PAGE_ITEMS: usize = 1000;
/// How long a read-model tombstone outlives the deletion that set it, in
/// seconds. A tombstone only has to stop a late, older event from bringing
/// its item back; DynamoDB Streams keeps a record 24 hours, so no event can
/// arrive later than that, and a week leaves a wide margin.
pub const TOMBSTONE_RETENTION_SECS: i64 = 7 * 24 * 60 * 60;
/// How long `GET /replayStatus` knows a replay after its last change, in
/// seconds: a day at least, as the API promises, and a week in fact.
pub const REPLAY_STATUS_RETENTION_SECS: i64 = 7 * 24 * 60 * 60;
/// The longest `Idempotency-Key`, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;
/// How long an `Idempotency-Key` keeps answering with its first append, in
/// seconds: the day the API promises. A client retrying later is not
/// retrying a lost answer.
pub const IDEMPOTENCY_KEY_RETENTION_SECS: i64 = 24 * 60 * 60;
/// The largest amount: the largest integer JSON numbers carry exactly.
pub const MAX_AMOUNT: u64 = (1 << 53) - 1;
/// The most keys an event's `metadata` holds.
pub const MAX_METADATA_KEYS: usize = 32;
/// The largest `metadata`, in bytes of its compact JSON.
pub const MAX_METADATA_BYTES: usize = 4 * 1024;
/// The longest `metadata` key, in characters.
pub const MAX_METADATA_KEY_CHARS: usize = 128;
/// The streams a `GET /listStreams` page holds unless asked for fewer or
/// more (up to [`MAX_PAGE_ITEMS`]).
pub const DEFAULT_STREAMS_PAGE: usize = 100;
/// The events a `GET /readStream` page holds unless asked for fewer or
/// more (up to [`MAX_PAGE_ITEMS`]).
pub const DEFAULT_EVENTS_PAGE: usize = 100;
/// The most bytes of event data and metadata one `GET /readStream` page
/// carries; the rest follows through `next`. Far below Lambda's 6 MB
/// response payload and DynamoDB's 1 MB per query, whatever the events'
/// size (a thousand events of the largest kind would not be).
pub const MAX_EVENTS_PAGE_BYTES: usize = 512 * 1024;
