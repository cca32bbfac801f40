//! The routes that read the event log itself: `GET /listStreams` and
//! `GET /readStream`.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use domain::event::EventData;
use domain::{EventId, EventMetadata, EventsPage, RecordedEvent, StreamId, Version, validate};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Api;
use crate::http::{error_response, invalid, json_response, query_param, store_failure};

impl Api {
    /// `GET /listStreams[?limit=...&cursor=...]`: one page of the streams
    /// in id order, with `nextCursor` only when more follow.
    pub async fn list_streams(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let query = match validate::streams_query(
            query_param(request, "limit"),
            query_param(request, "cursor"),
        ) {
            Ok(query) => query,
            Err(err) => return invalid(&err),
        };
        match self
            .events
            .list_streams(query.after.as_ref(), query.limit.get())
            .await
        {
            Ok(page) => {
                let streams: Vec<Value> = page
                    .streams
                    .iter()
                    .map(|stream| {
                        json!({
                            "streamId": stream.stream_id,
                            "version": stream.version,
                            "updatedAt": domain::event::format_timestamp(stream.updated_at),
                        })
                    })
                    .collect();
                let mut body = json!({ "streams": streams });
                if let Some(cursor) = page.next_cursor() {
                    body["nextCursor"] = json!(cursor.encode());
                }
                json_response(200, &body)
            }
            Err(err) => store_failure(&err),
        }
    }

    /// `GET /readStream?streamId=...[&direction=...&from=...&limit=...]`:
    /// one page of the stream's events, with `next` only when more follow
    /// in that direction; 404 for a stream with no event.
    pub async fn read_stream(&self, request: &ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let query = match validate::events_query(
            query_param(request, "streamId"),
            query_param(request, "direction"),
            query_param(request, "from"),
            query_param(request, "limit"),
        ) {
            Ok(query) => query,
            Err(err) => return invalid(&err),
        };
        match self.events.read_events(&query).await {
            Ok(Some(page)) => json_response(200, &events_page_body(&page)),
            Ok(None) => error_response(
                404,
                "STREAM_NOT_FOUND",
                "no event has been appended to this stream",
                Some("streamId"),
                Map::new(),
            ),
            Err(err) => store_failure(&err),
        }
    }
}

/// What `GET /readStream` answers for `page`, serialised as it is
/// written: no `Value` per event.
pub fn events_page_body(page: &EventsPage) -> impl Serialize + '_ {
    EventsPageBody {
        stream_id: &page.stream_id,
        version: page.version,
        events: page.events.iter().map(EventBody::of).collect(),
        next: page.next,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventsPageBody<'a> {
    stream_id: &'a StreamId,
    version: Version,
    events: Vec<EventBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<EventId>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventBody<'a> {
    event_id: EventId,
    #[serde(rename = "type")]
    event_type: &'static str,
    data: EventData<'a>,
    #[serde(skip_serializing_if = "EventMetadata::is_empty")]
    metadata: &'a EventMetadata,
    timestamp: String,
}

impl<'a> EventBody<'a> {
    fn of(recorded: &'a RecordedEvent) -> Self {
        EventBody {
            event_id: recorded.event_id,
            event_type: recorded.event.event_type().as_str(),
            data: EventData(&recorded.event),
            metadata: &recorded.metadata,
            timestamp: recorded.timestamp(),
        }
    }
}
