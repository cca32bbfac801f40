//! Attribute names and key layouts, shared with the deployment template.

/// The hash key of all three tables.
pub const STREAM_ID: &str = "streamId";

/// Events table: range key, N.
pub const EVENT_ID: &str = "eventId";
/// Events table: the wire type name, S.
pub const EVENT_TYPE: &str = "type";
/// Events table: the event's `data` object, M.
pub const DATA: &str = "data";
/// Events table: RFC 3339 with milliseconds, S.
pub const RECORDED_AT: &str = "recordedAt";
/// What the events table's DynamoDB stream carries.
pub const EVENTS_STREAM_VIEW: &str = "NEW_IMAGE";

/// Stream index: range key, S.
pub const ENTRY: &str = "entry";
/// Stream index: the row holding a stream's version.
pub const HEAD_ENTRY: &str = "HEAD";
/// Stream index: prefix of an item's row, followed by the item id.
pub const ITEM_ENTRY_PREFIX: &str = "ITEM#";
/// Stream index: prefix of a checkpoint's row, followed by its name.
pub const CHECKPOINT_ENTRY_PREFIX: &str = "CHECKPOINT#";
/// Stream index: the hash key all checkpoint rows share.
pub const CHECKPOINTS_STREAM: &str = "checkpoints";
/// HEAD rows: the stream's last event id, N. Read model: the event id
/// that set the row, N.
pub const VERSION: &str = "version";
/// Item rows: whether the item is live, BOOL.
pub const LIVE: &str = "live";
/// Item rows: the id of the item's latest event, N.
pub const LAST_EVENT_ID: &str = "lastEventId";
/// Checkpoint rows: the saved position, S.
pub const POSITION: &str = "position";

/// Read model: range key, S.
pub const ITEM_ID: &str = "itemId";
/// Read model: the amount of a live item, N (absent on tombstones).
pub const AMOUNT: &str = "amount";
/// Read model: whether the row is a tombstone, BOOL.
pub const DELETED: &str = "deleted";
