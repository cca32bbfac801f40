//! The checks of the functions that read the event log: the streams
//! listed in pages, and a stream's events read both ways.

use anyhow::ensure;
use serde_json::{Value, json};
use service::functions::Function;

use super::fixture::Fixture;
use super::process::{Launch, Report};
use super::scenarios::{item, new_stream_id};
use super::{api_route, proxy_event};

/// 200 with the streams after the cursor, in id order, each with its
/// version; a bad limit is a 400 naming it.
pub(super) async fn list_streams(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let route = api_route(Function::ListStreams)?;
    let mut streams = [new_stream_id(), new_stream_id(), new_stream_id()];
    streams.sort();
    for (n, stream) in streams.iter().enumerate() {
        let mut events = vec![("ITEM_CREATED", item("a", 1))];
        events.extend((0..n).map(|k| ("ITEM_AMOUNT_CHANGED", item("a", k as u64 + 2))));
        fixture.append(stream, &events).await?;
    }
    let mut function = fixture.start(launch, Function::ListStreams, &[]).await?;
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "2".to_owned())];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = function.http(&proxy_event(route, &query, None)).await?;
        ensure!(status == 200, "expected 200, got {status} {body}");
        let page = body["streams"].as_array().cloned().unwrap_or_default();
        ensure!(
            page.len() <= 2,
            "a page of {} streams for limit 2",
            page.len()
        );
        listed.extend(page);
        match body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let versions: Vec<(String, i64)> = listed
        .iter()
        .map(|s| {
            (
                s["streamId"].as_str().unwrap_or_default().to_owned(),
                s["version"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let expected: Vec<(String, i64)> = (0..).zip(&streams).map(|(n, s)| (s.clone(), n)).collect();
    ensure!(
        versions == expected,
        "expected {expected:?}, got {versions:?}"
    );
    ensure!(
        listed.iter().all(|s| s["updatedAt"].is_string()),
        "every stream says when it was written: {listed:?}"
    );
    let (status, body) = function
        .http(&proxy_event(route, &[("limit", "0")], None))
        .await?;
    ensure!(
        status == 400 && body["error"]["field"] == "limit",
        "limit 0: expected 400 naming `limit`, got {status} {body}"
    );
    Ok(function.report())
}

/// 200 with a page of events forward and backward, `next` where more
/// follow; 404 for an unknown stream.
pub(super) async fn read_stream(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let route = api_route(Function::ReadStream)?;
    let stream = new_stream_id();
    fixture
        .append(
            &stream,
            &[
                ("ITEM_CREATED", item("a", 1)),
                ("ITEM_AMOUNT_CHANGED", item("a", 2)),
                ("ITEM_DELETED", json!({"itemId": "a"})),
            ],
        )
        .await?;
    let mut function = fixture.start(launch, Function::ReadStream, &[]).await?;
    let ids = |body: &Value| -> Vec<i64> {
        body["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter_map(|e| e["eventId"].as_i64())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, body) = function
        .http(&proxy_event(
            route,
            &[("streamId", &stream), ("limit", "2")],
            None,
        ))
        .await?;
    ensure!(
        status == 200 && ids(&body) == [0, 1] && body["next"] == 2 && body["version"] == 2,
        "forward: expected events 0 and 1, next 2, version 2; got {status} {body}"
    );
    ensure!(
        body["events"][0]["type"] == "ITEM_CREATED" && body["events"][0]["data"] == item("a", 1),
        "the first event as appended: {body}"
    );
    let (status, body) = function
        .http(&proxy_event(
            route,
            &[("streamId", &stream), ("direction", "backward")],
            None,
        ))
        .await?;
    ensure!(
        status == 200 && ids(&body) == [2, 1, 0] && body.get("next").is_none(),
        "backward: expected events 2, 1, 0 and no next; got {status} {body}"
    );
    let unknown = new_stream_id();
    let (status, body) = function
        .http(&proxy_event(route, &[("streamId", &unknown)], None))
        .await?;
    ensure!(
        status == 404 && body["error"]["code"] == "STREAM_NOT_FOUND",
        "an unknown stream: expected 404 STREAM_NOT_FOUND, got {status} {body}"
    );
    Ok(function.report())
}
