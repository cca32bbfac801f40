//! Attribute names and key layouts of the three tables: the one description
//! that `ensure_tables`, `TableNames` and the deployment template read.
//!
//! Plain data, no SDK types, so the template can read it without speaking
//! the DynamoDB SDK.

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
/// Read model: when a tombstone may go, epoch seconds, N; the table's TTL
/// attribute (absent on live rows, which never expire).
pub const EXPIRES_AT: &str = "expiresAt";

/// Environment variables naming the tables (see [`Table::env_var`]).
pub const EVENTS_TABLE_ENV: &str = "EVENTS_TABLE";
pub const STREAM_INDEX_TABLE_ENV: &str = "STREAM_INDEX_TABLE";
pub const READ_MODEL_TABLE_ENV: &str = "READ_MODEL_TABLE";

/// The type of a key attribute, as DynamoDB's attribute definitions name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// `S`.
    String,
    /// `N`.
    Number,
}

impl KeyKind {
    /// `"S"` or `"N"`: the `AttributeType` of a definition.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyKind::String => "S",
            KeyKind::Number => "N",
        }
    }
}

/// One of the three tables, with everything that fixes its layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// The log: one item per event, keyed ([`STREAM_ID`], [`EVENT_ID`]).
    Events,
    /// The write side's state per stream, keyed ([`STREAM_ID`], [`ENTRY`]);
    /// also holds the change-feed checkpoints.
    StreamIndex,
    /// One row per item, keyed ([`STREAM_ID`], [`ITEM_ID`]).
    ReadModel,
}

impl Table {
    /// Every table, in the order they are created.
    pub const ALL: [Table; 3] = [Table::Events, Table::StreamIndex, Table::ReadModel];

    /// The environment variable that names the table for the functions.
    pub const fn env_var(self) -> &'static str {
        match self {
            Table::Events => EVENTS_TABLE_ENV,
            Table::StreamIndex => STREAM_INDEX_TABLE_ENV,
            Table::ReadModel => READ_MODEL_TABLE_ENV,
        }
    }

    /// What `TableNames::with_prefix` puts after `<prefix>-`.
    pub const fn name_suffix(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::StreamIndex => "stream-index",
            Table::ReadModel => "read-model",
        }
    }

    /// The hash (partition) key and its type: [`STREAM_ID`], a string, on
    /// every table.
    pub const fn hash_key(self) -> (&'static str, KeyKind) {
        (STREAM_ID, KeyKind::String)
    }

    /// The range (sort) key and its type.
    pub const fn range_key(self) -> (&'static str, KeyKind) {
        match self {
            Table::Events => (EVENT_ID, KeyKind::Number),
            Table::StreamIndex => (ENTRY, KeyKind::String),
            Table::ReadModel => (ITEM_ID, KeyKind::String),
        }
    }

    /// The attribute DynamoDB's TTL deletes rows by: the read model's
    /// tombstones ([`EXPIRES_AT`]).
    pub const fn ttl_attribute(self) -> Option<&'static str> {
        match self {
            Table::ReadModel => Some(EXPIRES_AT),
            Table::Events | Table::StreamIndex => None,
        }
    }

    /// Whether the table has a DynamoDB stream, of [`EVENTS_STREAM_VIEW`]
    /// images: only the events table, which feeds the projector.
    pub const fn has_stream(self) -> bool {
        matches!(self, Table::Events)
    }
}
