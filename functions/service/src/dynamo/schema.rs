//! Attribute names and key layouts of the tables: the one description
//! that `ensure_tables`, `TableNames` and the deployment template read.
//!
//! Plain data, no SDK types, so the template can read it without speaking
//! the DynamoDB SDK.

/// The hash key of the events, stream-index and read-model tables.
pub const STREAM_ID: &str = "streamId";

/// Events table: range key, N.
pub const EVENT_ID: &str = "eventId";
/// Events table: the wire type name, S.
pub const EVENT_TYPE: &str = "type";
/// Events table: the event's `data` object, M.
pub const DATA: &str = "data";
/// Events table: RFC 3339 with milliseconds, S.
pub const RECORDED_AT: &str = "recordedAt";
/// Events table: the event's metadata, M of S; absent when it has none.
pub const METADATA: &str = "metadata";
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
/// Stream index: prefix of an idempotency key's hash key, followed by the
/// key: each key in a partition of its own.
pub const IDEMPOTENCY_KEY_PARTITION_PREFIX: &str = "idempotency-key#";
/// Stream index: the range key of an idempotency key's row, which no
/// stream's row has.
pub const IDEMPOTENCY_KEY_ENTRY: &str = "IDEMPOTENCY_KEY";
/// Idempotency key rows: the SHA-256 hex of the request the key named, S.
pub const FINGERPRINT: &str = "fingerprint";
/// Idempotency key rows: the stream the request appended to, S. Its event
/// id and time are in [`EVENT_ID`] and [`RECORDED_AT`], and the row
/// expires at [`EXPIRES_AT`].
pub const APPENDED_TO: &str = "appendedTo";
/// Stream index: the hash key all parked records share (parking is rare).
pub const PARKED_RECORDS_STREAM: &str = "parked-records";
/// Stream index: prefix of a parked record's row, followed by its source.
pub const PARKED_ENTRY_PREFIX: &str = "PARKED#";
/// Parked rows: why the record cannot be projected, S.
pub const REASON: &str = "reason";
/// Parked rows: the record's text, S.
pub const RECORD: &str = "record";
/// Parked rows: when it was parked, RFC 3339 with milliseconds, S.
pub const PARKED_AT: &str = "parkedAt";
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
/// Read model: when a tombstone may go; stream index: when an idempotency
/// key may go. Epoch seconds, N; the tables' TTL attribute (absent on the
/// rows that never expire).
pub const EXPIRES_AT: &str = "expiresAt";

/// Replays table: the hash key, S: [`LANE_KEY_PREFIX`] + a stream id, or
/// [`JOB_KEY_PREFIX`] + a replay id.
pub const REPLAY_KEY: &str = "key";
/// Replays table: prefix of a stream's replay lane row.
pub const LANE_KEY_PREFIX: &str = "lane#";
/// Replays table: prefix of a replay job's row.
pub const JOB_KEY_PREFIX: &str = "job#";
/// Replays table: the lane or job as JSON, S.
pub const BODY: &str = "body";
/// Replays table, lane rows: the revision a commit must find, N.
pub const REVISION: &str = "revision";
/// Replays table, lane rows with a running replay only: [`HELD_LANE`], S.
/// The hash key of [`HELD_LANES_INDEX`], which holds no other row.
pub const HELD: &str = "held";
/// The value of [`HELD`]: every held lane in one partition of the index,
/// sorted by [`REPLAY_KEY`], for the sweep to page through.
pub const HELD_LANE: &str = "lane";
/// Replays table: the sparse index of the lanes with a running replay.
pub const HELD_LANES_INDEX: &str = "held-lanes";

/// Stream index: the hash key of the list of streams (one row per stream,
/// written with its first event).
pub const STREAMS_PARTITION: &str = "streams";
/// Stream index: prefix of a stream's row in [`STREAMS_PARTITION`],
/// followed by its id: the rows sort as the ids do.
pub const STREAM_ENTRY_PREFIX: &str = "STREAM#";
/// Stream index: the row in [`STREAMS_PARTITION`] saying that every
/// stream has its row (streams of earlier versions were added to the
/// list by [`crate::dynamo::complete_stream_list`]).
pub const STREAM_LIST_COMPLETE_ENTRY: &str = "COMPLETE";

/// Environment variables naming the tables (see [`Table::env_var`]).
pub const EVENTS_TABLE_ENV: &str = "EVENTS_TABLE";
pub const STREAM_INDEX_TABLE_ENV: &str = "STREAM_INDEX_TABLE";
pub const READ_MODEL_TABLE_ENV: &str = "READ_MODEL_TABLE";
pub const REPLAYS_TABLE_ENV: &str = "REPLAYS_TABLE";

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

/// What a key attribute is to its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyRole {
    /// The partition key (`HASH`).
    Hash,
    /// The sort key (`RANGE`).
    Range,
}

impl KeyRole {
    /// `"HASH"` or `"RANGE"`: the `KeyType` of a key schema element.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyRole::Hash => "HASH",
            KeyRole::Range => "RANGE",
        }
    }
}

/// A global secondary index: its name, keys, and the keys only projected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub hash_key: (&'static str, KeyKind),
    pub range_key: Option<(&'static str, KeyKind)>,
}

impl Index {
    /// The hash key, then the range key if any: the index's key schema.
    pub fn key_schema(self) -> impl Iterator<Item = ((&'static str, KeyKind), KeyRole)> {
        std::iter::once((self.hash_key, KeyRole::Hash))
            .chain(self.range_key.map(|key| (key, KeyRole::Range)))
    }
}

/// One of the tables, with everything that fixes its layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// The log: one item per event, keyed ([`STREAM_ID`], [`EVENT_ID`]).
    Events,
    /// The write side's state per stream, keyed ([`STREAM_ID`], [`ENTRY`]);
    /// also holds the change-feed checkpoints.
    StreamIndex,
    /// One row per item, keyed ([`STREAM_ID`], [`ITEM_ID`]).
    ReadModel,
    /// Replay jobs and each stream's replay lane, keyed [`REPLAY_KEY`].
    Replays,
}

impl Table {
    /// Every table, in the order they are created.
    pub const ALL: [Table; 4] = [
        Table::Events,
        Table::StreamIndex,
        Table::ReadModel,
        Table::Replays,
    ];

    /// The environment variable that names the table for the functions.
    pub const fn env_var(self) -> &'static str {
        match self {
            Table::Events => EVENTS_TABLE_ENV,
            Table::StreamIndex => STREAM_INDEX_TABLE_ENV,
            Table::ReadModel => READ_MODEL_TABLE_ENV,
            Table::Replays => REPLAYS_TABLE_ENV,
        }
    }

    /// What `TableNames::with_prefix` puts after `<prefix>-`.
    pub const fn name_suffix(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::StreamIndex => "stream-index",
            Table::ReadModel => "read-model",
            Table::Replays => "replays",
        }
    }

    /// The hash (partition) key and its type, a string on every table.
    pub const fn hash_key(self) -> (&'static str, KeyKind) {
        match self {
            Table::Events | Table::StreamIndex | Table::ReadModel => (STREAM_ID, KeyKind::String),
            Table::Replays => (REPLAY_KEY, KeyKind::String),
        }
    }

    /// The range (sort) key and its type, if the table has one.
    pub const fn range_key(self) -> Option<(&'static str, KeyKind)> {
        match self {
            Table::Events => Some((EVENT_ID, KeyKind::Number)),
            Table::StreamIndex => Some((ENTRY, KeyKind::String)),
            Table::ReadModel => Some((ITEM_ID, KeyKind::String)),
            Table::Replays => None,
        }
    }

    /// The hash key, then the range key if any: the table's key schema.
    pub fn key_schema(self) -> impl Iterator<Item = ((&'static str, KeyKind), KeyRole)> {
        std::iter::once((self.hash_key(), KeyRole::Hash))
            .chain(self.range_key().map(|key| (key, KeyRole::Range)))
    }

    /// The table's global secondary indexes: the replays table's sparse
    /// index of held lanes, which the sweep reads.
    pub const fn indexes(self) -> &'static [Index] {
        match self {
            Table::Replays => &[Index {
                name: HELD_LANES_INDEX,
                hash_key: (HELD, KeyKind::String),
                range_key: Some((REPLAY_KEY, KeyKind::String)),
            }],
            Table::Events | Table::StreamIndex | Table::ReadModel => &[],
        }
    }

    /// Every key attribute of the table and its indexes, once each: its
    /// attribute definitions.
    pub fn key_attributes(self) -> Vec<(&'static str, KeyKind)> {
        let mut keys: Vec<(&'static str, KeyKind)> =
            self.key_schema().map(|(key, _)| key).collect();
        for index in self.indexes() {
            for (key, _) in index.key_schema() {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// The attribute DynamoDB's TTL deletes rows by ([`EXPIRES_AT`]): the
    /// read model's tombstones, idempotency keys a day after their append,
    /// and replay jobs a week after they last changed.
    pub const fn ttl_attribute(self) -> Option<&'static str> {
        match self {
            Table::StreamIndex | Table::ReadModel | Table::Replays => Some(EXPIRES_AT),
            Table::Events => None,
        }
    }

    /// Whether the table has a DynamoDB stream, of [`EVENTS_STREAM_VIEW`]
    /// images: only the events table, which feeds the projector.
    pub const fn has_stream(self) -> bool {
        matches!(self, Table::Events)
    }
}
