//! The DynamoDB adapter of the storage ports.
//!
//! Four tables:
//! - events: the log, one item per event, keyed (streamId, eventId); its
//!   DynamoDB stream (NEW_IMAGE) feeds the projector.
//! - stream index: the write side's consistent state, so an append reads
//!   everything `decide` needs in one request: per stream a `HEAD` row (the
//!   version) and one `ITEM#<id>` row per item (live or not). It also holds,
//!   each under hash keys no stream's rows share a range key with, the
//!   list of streams (`streams`, a `STREAM#<id>` row per stream), the
//!   change-feed checkpoints, the idempotency keys (a partition each, with
//!   a TTL) and the records the projector parked.
//! - read model: one row per (streamId, itemId) with the version (event id)
//!   that set it; deletes leave tombstones.
//! - replays: each replay job (`job#<id>`) and each replay lane
//!   (`lane#<stream>`, `lane#` for rebuilds of every stream), as JSON; a
//!   commit of a lane and its jobs is one transaction, conditioned on the
//!   lane's revision. A sparse index lists the lanes held.
//!
//! Their keys and attribute names are in [`schema`], which the deployment
//! template reads too.
//!
//! An append to a stream the store has not seen costs two requests:
//! TransactGetItems of HEAD, the item row (and the key's row), then one
//! TransactWriteItems of the event, HEAD and the item row (and the key's
//! row), conditioned on all of them being as read. Then the store
//! remembers the stream ([`append_memory`]) and its next append to it is
//! the write alone, conditioned on what it remembers; a refused write
//! returns the current rows ([`append_refusal`]), so a retry needs no
//! read either.

mod append_memory;
mod append_refusal;
mod append_write;
mod backoff;
mod batch;
mod checkpoints;
mod codec;
mod errors;
mod event_pages;
mod event_store;
mod parked;
mod read_model;
mod replay_jobs;
pub mod schema;
mod streams;
mod tables;

use std::sync::Arc;

use aws_sdk_dynamodb::Client;

use append_memory::AppendMemory;

pub use codec::{attribute_to_json, event_from_item, json_to_attribute};
pub use schema::{
    EVENTS_TABLE_ENV, READ_MODEL_TABLE_ENV, REPLAYS_TABLE_ENV, STREAM_INDEX_TABLE_ENV,
};
pub use streams::complete_stream_list;
pub use tables::{MissingTableName, TableNames, ensure_tables};

/// The storage ports on DynamoDB. Cloning is cheap (the client is shared).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    /// Shared by clones: what this store's appends last saw per stream.
    memory: Arc<AppendMemory>,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        DynamoStore {
            client,
            tables,
            memory: Arc::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }
}
