//! `GET /readStream` on DynamoDB: a page of a stream's events is one Query
//! of the events table, in the page's direction from its start. Where the
//! stream's last event is not the page's own first (a backward read from
//! the end), its HEAD row is read at the same time for the version: one
//! round trip either way.

use domain::{Direction, EventId, EventsPage, EventsQuery, StoreError, StreamId};

use super::DynamoStore;
use super::codec::{event_from_item, index_key, number, s};
use super::errors::unavailable;
use super::schema::{EVENT_ID, HEAD_ENTRY, STREAM_ID, VERSION};

impl DynamoStore {
    pub(super) async fn events_page(
        &self,
        query: &EventsQuery,
    ) -> Result<Option<EventsPage>, StoreError> {
        if query.direction == Direction::Backward && query.from.is_none() {
            // The first event of the query is the stream's last.
            let events = self.query_events(&query.stream_id, query).await?;
            let Some(last) = events.first().map(|event| event.event_id) else {
                return Ok(None);
            };
            return Ok(Some(EventsPage::cut(query, last, events)));
        }
        let (last, events) = futures::try_join!(
            self.last_event_id(&query.stream_id),
            self.query_events(&query.stream_id, query)
        )?;
        let Some(last) = last.or_else(|| events.last().map(|event| event.event_id)) else {
            return Ok(None);
        };
        Ok(Some(EventsPage::cut(query, last, events)))
    }

    /// The stream's last event id, from its HEAD row; `None` for a stream
    /// with no event.
    async fn last_event_id(&self, stream_id: &StreamId) -> Result<Option<EventId>, StoreError> {
        let table = &self.tables.stream_index;
        let output = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(index_key(stream_id.as_str(), HEAD_ENTRY)))
            .consistent_read(true)
            .projection_expression("#v")
            .expression_attribute_names("#v", VERSION)
            .send()
            .await
            .map_err(|err| unavailable(format!("reading the HEAD of `{stream_id}`"), &err))?;
        let Some(head) = output.item() else {
            return Ok(None);
        };
        let version: i64 = number(head, VERSION).map_err(|problem| {
            StoreError::Corrupt(format!("{table} HEAD of `{stream_id}`: {problem}"))
        })?;
        Ok(u64::try_from(version).ok().map(EventId::new))
    }

    /// Up to `query.limit` events from the query's start in its direction:
    /// one request, which DynamoDB may cut short at 1 MB (the page then
    /// ends there and says where the next starts).
    async fn query_events(
        &self,
        stream_id: &StreamId,
        query: &EventsQuery,
    ) -> Result<Vec<domain::RecordedEvent>, StoreError> {
        let table = &self.tables.events;
        let (condition, from, forward) = match (query.direction, query.from) {
            (Direction::Forward, from) => (
                "#s = :s AND #e >= :from",
                Some(from.unwrap_or(EventId::FIRST)),
                true,
            ),
            (Direction::Backward, Some(from)) => ("#s = :s AND #e <= :from", Some(from), false),
            (Direction::Backward, None) => ("#s = :s", None, false),
        };
        let mut request = self
            .client
            .query()
            .table_name(table)
            .consistent_read(true)
            .key_condition_expression(condition)
            .expression_attribute_names("#s", STREAM_ID)
            .expression_attribute_values(":s", s(stream_id.as_str()))
            .scan_index_forward(forward)
            .limit(i32::try_from(query.limit.get()).unwrap_or(i32::MAX));
        if let Some(from) = from {
            request = request
                .expression_attribute_names("#e", EVENT_ID)
                .expression_attribute_values(":from", super::codec::n(from.get()));
        }
        let output = request.send().await.map_err(|err| {
            unavailable(format!("reading stream `{stream_id}` from {table}"), &err)
        })?;
        output.items().iter().map(event_from_item).collect()
    }
}
