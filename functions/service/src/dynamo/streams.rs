//! The list of streams: a row per stream in the stream index's
//! [`STREAMS_PARTITION`], written by the stream's first append in the same
//! transaction, so a page of streams is one Query of that partition plus
//! one BatchGetItem of their HEAD rows (version and last write): its cost
//! follows the streams listed, never the events or items stored.
//!
//! Streams appended by earlier versions have no row until
//! [`complete_stream_list`] adds them, once, from a scan of the HEAD rows.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, PutRequest, WriteRequest};
use chrono::{DateTime, Utc};
use domain::event::parse_timestamp;
use domain::{EventId, StoreError, StreamId, StreamPage, StreamSummary};

use super::DynamoStore;
use super::batch;
use super::codec::{Item, index_key, n, number, s, string};
use super::errors::{built, unavailable};
use super::schema::{
    ENTRY, EVENT_ID, HEAD_ENTRY, RECORDED_AT, STREAM_ENTRY_PREFIX, STREAM_ID,
    STREAM_LIST_COMPLETE_ENTRY, STREAMS_PARTITION, VERSION,
};

/// The key of `stream`'s row in the list of streams.
pub(super) fn stream_list_key(stream: &str) -> Item {
    index_key(STREAMS_PARTITION, &format!("{STREAM_ENTRY_PREFIX}{stream}"))
}

/// The put of `stream`'s row in the list, for its first append's
/// transaction.
pub(super) fn stream_list_row(table: &str, stream: &str) -> Result<Put, StoreError> {
    built(
        Put::builder()
            .table_name(table)
            .set_item(Some(stream_list_key(stream)))
            .build(),
    )
}

impl DynamoStore {
    /// A page of the list of streams; see [`domain::EventStore::list_streams`].
    pub(super) async fn stream_page(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<StreamPage, StoreError> {
        let table = &self.tables.stream_index;
        let from = format!("{STREAM_ENTRY_PREFIX}{}", after.map_or("", |s| s.as_str()));
        // Every row after `from` in the partition is a stream's: the only
        // other one, the completion mark, sorts before the prefix.
        let condition = if after.is_some() {
            "#s = :p AND #e > :from"
        } else {
            "#s = :p AND #e >= :from"
        };
        let output = self
            .client
            .query()
            .table_name(table)
            .consistent_read(true)
            .key_condition_expression(condition)
            .expression_attribute_names("#s", STREAM_ID)
            .expression_attribute_names("#e", ENTRY)
            .expression_attribute_values(":p", s(STREAMS_PARTITION))
            .expression_attribute_values(":from", s(&from))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|err| unavailable(format!("listing the streams in {table}"), &err))?;
        let corrupt =
            |problem: String| StoreError::Corrupt(format!("{table} list of streams: {problem}"));
        let mut ids = Vec::new();
        for row in output.items() {
            let entry = string(row, ENTRY).map_err(corrupt)?;
            let Some(id) = entry.strip_prefix(STREAM_ENTRY_PREFIX) else {
                break;
            };
            ids.push(StreamId::parse(id, "streamId").map_err(|err| corrupt(err.message))?);
        }
        let heads = self.heads(&ids).await?;
        let mut streams = Vec::with_capacity(ids.len());
        for stream_id in ids {
            let head = heads.get(stream_id.as_str()).ok_or_else(|| {
                corrupt(format!(
                    "stream `{stream_id}` is listed but has no HEAD row"
                ))
            })?;
            let version: u64 = number(head, VERSION).map_err(corrupt)?;
            let updated_at = match head.get(RECORDED_AT) {
                Some(_) => {
                    let text = string(head, RECORDED_AT).map_err(corrupt)?;
                    parse_timestamp(text).ok_or_else(|| {
                        corrupt(format!("`{RECORDED_AT}` {text:?} of `{stream_id}`"))
                    })?
                }
                // HEAD rows written by earlier versions carry no time.
                None => self.last_write(&stream_id).await?,
            };
            streams.push(StreamSummary {
                stream_id,
                version: EventId::new(version),
                updated_at,
            });
        }
        Ok(StreamPage {
            streams,
            more: output.last_evaluated_key().is_some(),
        })
    }

    /// The HEAD rows of `streams`, by stream id.
    async fn heads(&self, streams: &[StreamId]) -> Result<HashMap<String, Item>, StoreError> {
        let table = &self.tables.stream_index;
        let keys = streams
            .iter()
            .map(|stream| index_key(stream.as_str(), HEAD_ENTRY))
            .collect();
        let rows = batch::get_all(&self.client, table, keys, None, "reading HEAD rows").await?;
        rows.into_iter()
            .map(|row| {
                let stream = string(&row, STREAM_ID).map_err(StoreError::Corrupt)?;
                Ok((stream.to_owned(), row))
            })
            .collect()
    }

    /// When `stream`'s last event was written, from the log itself.
    async fn last_write(&self, stream: &StreamId) -> Result<DateTime<Utc>, StoreError> {
        let table = &self.tables.events;
        let output = self
            .client
            .query()
            .table_name(table)
            .consistent_read(true)
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", STREAM_ID)
            .expression_attribute_values(":s", s(stream.as_str()))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|err| unavailable(format!("reading the last event of `{stream}`"), &err))?;
        let corrupt = |problem: String| {
            StoreError::Corrupt(format!("{table} last event of `{stream}`: {problem}"))
        };
        let row = output
            .items()
            .first()
            .ok_or_else(|| corrupt("none, though its HEAD says it has events".into()))?;
        let text = string(row, RECORDED_AT).map_err(corrupt)?;
        parse_timestamp(text).ok_or_else(|| corrupt(format!("`{RECORDED_AT}` {text:?}")))
    }
}

/// Adds every stream of the stream index `table` to the list of streams,
/// unless the list says it is complete: what streams appended by earlier
/// versions need before a rebuild or `listStreams` can see them. Scans the
/// HEAD rows once (a cost in proportion to the table), then marks the list
/// complete; streams created meanwhile get their row from their first
/// append anyway. Returns how many streams it found.
pub async fn complete_stream_list(client: &Client, table: &str) -> Result<u64, StoreError> {
    let mark = index_key(STREAMS_PARTITION, STREAM_LIST_COMPLETE_ENTRY);
    let marked = client
        .get_item()
        .table_name(table)
        .set_key(Some(mark.clone()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|err| unavailable(format!("reading the list of streams in {table}"), &err))?;
    if marked.item().is_some() {
        return Ok(0);
    }
    let mut found = 0;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("#e = :head")
            .projection_expression("#s")
            .expression_attribute_names("#e", ENTRY)
            .expression_attribute_names("#s", STREAM_ID)
            .expression_attribute_values(":head", s(HEAD_ENTRY))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|err| unavailable(format!("scanning the HEAD rows of {table}"), &err))?;
        let rows: Vec<WriteRequest> = page
            .items()
            .iter()
            .map(|row| {
                let stream = string(row, STREAM_ID).map_err(StoreError::Corrupt)?;
                let put = built(
                    PutRequest::builder()
                        .set_item(Some(stream_list_key(stream)))
                        .build(),
                )?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, StoreError>>()?;
        found += rows.len() as u64;
        batch::write_all(client, table, rows, "listing streams").await?;
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    client
        .put_item()
        .table_name(table)
        .set_item(Some(mark))
        .item(EVENT_ID, n(found))
        .send()
        .await
        .map_err(|err| unavailable(format!("marking the list of streams in {table}"), &err))?;
    Ok(found)
}
