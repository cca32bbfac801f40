//! What each function's check does: one scenario per function, run
//! against its binary through the fixture.

use anyhow::{Context, bail, ensure};
use domain::{EventId, ItemView, ReplayState, StreamId};
use serde_json::{Value, json};
use service::functions::{EnvVar, Function};

use super::fixture::Fixture;
use super::process::{Launch, Report};
use super::{api_route, proxy_event};
use crate::runtime_api::Outcome;

pub(super) fn new_stream_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(super) fn item(id: &str, amount: u64) -> Value {
    json!({"itemId": id, "amount": amount})
}

fn items_json(items: &[ItemView]) -> Value {
    serde_json::to_value(items).unwrap_or(Value::Null)
}

/// 201 and the event in the log; 409 for a rule violation; 400 for bad
/// input, with nothing stored on either.
pub(super) async fn add_event(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let route = api_route(Function::AddEvent)?;
    let mut function = fixture.start(launch, Function::AddEvent, &[]).await?;
    let stream = new_stream_id();
    let created = json!({"streamId": stream, "type": "ITEM_CREATED", "data": item("a", 5)});
    let (status, body) = function
        .http(&proxy_event(route, &[], Some(&created)))
        .await?;
    ensure!(status == 201, "expected 201, got {status} {body}");
    ensure!(
        body["streamId"] == stream.as_str() && body["eventId"] == 0,
        "unexpected body {body}"
    );
    ensure!(body["timestamp"].is_string(), "no timestamp in {body}");

    let (status, body) = function
        .http(&proxy_event(route, &[], Some(&created)))
        .await?;
    ensure!(
        status == 409,
        "creating a live item again: expected 409, got {status} {body}"
    );
    let (status, body) = function
        .http(&proxy_event(
            route,
            &[],
            Some(&json!({"streamId": stream, "type": "NOPE"})),
        ))
        .await?;
    ensure!(
        status == 400 && body["error"]["code"].is_string(),
        "bad input: expected 400 with an error, got {status} {body}"
    );

    let events = fixture.log(&stream).await?;
    ensure!(
        events.len() == 1,
        "expected exactly the one accepted event in the log, found {events:?}"
    );
    let stored = events[0].event.data();
    ensure!(
        events[0].event.event_type().as_str() == "ITEM_CREATED" && stored == item("a", 5),
        "the log holds {:?}",
        events[0]
    );
    Ok(function.report())
}

/// 200 and the stream's live items, sorted; the default stream is empty.
pub(super) async fn list_items(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let route = api_route(Function::ListItems)?;
    let stream = new_stream_id();
    fixture
        .append(
            &stream,
            &[
                ("ITEM_CREATED", item("b", 2)),
                ("ITEM_CREATED", item("a", 1)),
                ("ITEM_AMOUNT_CHANGED", item("a", 7)),
                ("ITEM_CREATED", item("c", 3)),
                ("ITEM_DELETED", json!({"itemId": "c"})),
            ],
        )
        .await?;
    fixture.project(&stream).await?;

    let mut function = fixture.start(launch, Function::ListItems, &[]).await?;
    let (status, body) = function
        .http(&proxy_event(route, &[("streamId", &stream)], None))
        .await?;
    ensure!(status == 200, "expected 200, got {status} {body}");
    let expected = json!({"items": [item("a", 7), item("b", 2)]});
    ensure!(body == expected, "expected {expected}, got {body}");

    let (status, body) = function.http(&proxy_event(route, &[], None)).await?;
    ensure!(
        status == 200 && body == json!({"items": []}),
        "the default stream: expected 200 and no items, got {status} {body}"
    );
    Ok(function.report())
}

/// 503 while the replay function does not exist (the dispatch really
/// calls Lambda), and that replay recorded failed; 202 with a replay id
/// once it does; a second trigger while the first holds the stream is
/// queued behind it (202, another id); 400 for bad input.
pub(super) async fn trigger_replay(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let route = api_route(Function::TriggerReplay)?;
    let replay_function = crate::unique_name("replay");
    let mut function = fixture
        .start(
            launch,
            Function::TriggerReplay,
            &[(EnvVar::ReplayFunctionName, replay_function.clone())],
        )
        .await?;
    let stream = new_stream_id();
    let request = json!({"streamId": stream, "fromEventId": 0});
    let event = proxy_event(route, &[], Some(&request));

    let (status, body) = function.http(&event).await?;
    ensure!(
        status == 503,
        "the replay function does not exist yet: expected 503, got {status} {body}"
    );
    let lane = fixture.lane(&stream).await?;
    ensure!(
        lane.running.is_none() && lane.queued.is_none(),
        "a replay that could not start leaves the stream free: {lane:?}"
    );

    fixture.create_lambda_function(&replay_function).await?;
    let (status, body) = function.http(&event).await?;
    ensure!(status == 202, "expected 202, got {status} {body}");
    let replay_id = body["replayId"].as_str().unwrap_or_default().to_owned();
    ensure!(
        uuid::Uuid::parse_str(&replay_id).is_ok()
            && body["streamId"] == stream.as_str()
            && body["fromEventId"] == 0,
        "unexpected body {body}"
    );
    let started = fixture.job(&replay_id).await?;
    ensure!(
        started.state == ReplayState::Queued,
        "the started replay is recorded queued until its run reports: {started:?}"
    );

    // moto runs no code: the first replay holds the stream's lane.
    let (status, queued) = function.http(&event).await?;
    ensure!(
        status == 202 && queued["replayId"] != replay_id.as_str(),
        "a trigger while a replay holds the stream: expected 202 with a queued replay, got {status} {queued}"
    );
    let lane = fixture.lane(&stream).await?;
    ensure!(
        lane.running.map(|entry| entry.replay_id) == Some(replay_id.clone())
            && lane.queued.map(|entry| entry.replay_id).as_deref() == queued["replayId"].as_str(),
        "the first replay runs and the second waits behind it"
    );

    let (status, body) = function
        .http(&proxy_event(
            route,
            &[],
            Some(&json!({"streamId": stream, "fromEventId": -1})),
        ))
        .await?;
    ensure!(
        status == 400,
        "bad input: expected 400, got {status} {body}"
    );
    Ok(function.report())
}

/// 200 with the state of a recorded replay; 404 for an unknown id; 400
/// without an id.
pub(super) async fn replay_status(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let route = api_route(Function::ReplayStatus)?;
    let stream = new_stream_id();
    let replay_id = uuid::Uuid::new_v4().to_string();
    let scope = domain::ReplayScope::Stream(domain::ReplayTarget {
        stream_id: StreamId::parse(stream.as_str(), "streamId")
            .map_err(|err| anyhow::anyhow!("{err}"))?,
        from_event_id: EventId::new(3),
    });
    // Its lane held for a while yet: the status read has nothing to resume.
    domain::jobs::admit(&fixture.store, &replay_id, &scope, chrono::Utc::now())
        .await
        .map_err(|err| anyhow::anyhow!("recording a replay: {err}"))?;

    let mut function = fixture.start(launch, Function::ReplayStatus, &[]).await?;
    let (status, body) = function
        .http(&proxy_event(route, &[("replayId", &replay_id)], None))
        .await?;
    ensure!(
        status == 200
            && body["replayId"] == replay_id.as_str()
            && body["streamId"] == stream.as_str()
            && body["fromEventId"] == 3
            && body["state"] == "queued"
            && body["eventsApplied"] == 0,
        "expected the queued replay, got {status} {body}"
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, body) = function
        .http(&proxy_event(route, &[("replayId", &unknown)], None))
        .await?;
    ensure!(
        status == 404 && body["error"]["code"] == "REPLAY_NOT_FOUND",
        "an unknown id: expected 404, got {status} {body}"
    );
    let (status, body) = function.http(&proxy_event(route, &[], None)).await?;
    ensure!(
        status == 400 && body["error"]["field"] == "replayId",
        "no id: expected 400 naming replayId, got {status} {body}"
    );
    Ok(function.report())
}

/// Real stream records (read from moto's DynamoDB Streams) in; no failures
/// out; the read model holds the fold. A repeated batch changes nothing.
pub(super) async fn projector(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let stream = new_stream_id();
    fixture
        .append(
            &stream,
            &[
                ("ITEM_CREATED", item("x", 10)),
                ("ITEM_CREATED", item("y", 20)),
                ("ITEM_AMOUNT_CHANGED", item("x", 11)),
                ("ITEM_DELETED", json!({"itemId": "y"})),
            ],
        )
        .await?;
    let records = fixture.stream_records().await?;
    ensure!(
        records.len() == 4,
        "expected 4 stream records, got {}",
        records.len()
    );
    let event = json!({"Records": records});

    let mut function = fixture.start(launch, Function::Projector, &[]).await?;
    for attempt in ["first", "repeated"] {
        let response = function.respond(&event).await?;
        ensure!(
            response["batchItemFailures"] == json!([]),
            "{attempt} batch: expected no failures, got {response}"
        );
        let items = items_json(&fixture.items(&stream).await?);
        ensure!(
            items == json!([item("x", 11)]),
            "{attempt} batch: the read model holds {items}"
        );
    }
    Ok(function.report())
}

/// A replay from 0 rebuilds a stream's read model that is wrong (stale,
/// with an item the log deleted) to the fold of the log.
pub(super) async fn replay(fixture: &Fixture, launch: &Launch) -> anyhow::Result<Report> {
    let stream = new_stream_id();
    fixture
        .append(
            &stream,
            &[
                ("ITEM_CREATED", item("p", 1)),
                ("ITEM_CREATED", item("q", 2)),
            ],
        )
        .await?;
    fixture.project(&stream).await?;
    // Events the projector never saw: the read model is now behind.
    fixture
        .append(
            &stream,
            &[
                ("ITEM_AMOUNT_CHANGED", item("p", 9)),
                ("ITEM_DELETED", json!({"itemId": "q"})),
                ("ITEM_CREATED", item("r", 3)),
            ],
        )
        .await?;
    let stale = items_json(&fixture.items(&stream).await?);
    ensure!(
        stale == json!([item("p", 1), item("q", 2)]),
        "seeding: {stale}"
    );

    let mut function = fixture.start(launch, Function::Replay, &[]).await?;
    // Triggered as POST /triggerReplay does: the replay holds the lane.
    let replay_id = crate::unique_name("replay");
    let scope = domain::ReplayScope::Stream(domain::ReplayTarget {
        stream_id: StreamId::parse(stream.as_str(), "streamId")
            .map_err(|err| anyhow::anyhow!("{err}"))?,
        from_event_id: EventId::new(0),
    });
    let admitted = domain::jobs::admit(&fixture.store, &replay_id, &scope, chrono::Utc::now())
        .await
        .map_err(|err| anyhow::anyhow!("recording the replay: {err}"))?;
    let request = admitted
        .start
        .context("a fresh stream's lane is free, so its replay starts")?;
    let report = function.respond(&serde_json::to_value(&request)?).await?;
    ensure!(
        report["eventsApplied"] == 5 && report["state"] == "done",
        "expected the replay to apply 5 events and finish, got {report}"
    );
    let recorded = fixture.job(&request.replay_id).await?;
    ensure!(
        recorded.state == ReplayState::Done && fixture.lane(&stream).await?.running.is_none(),
        "the job is recorded done and the stream free: {recorded:?}"
    );
    let rebuilt = items_json(&fixture.items(&stream).await?);
    ensure!(
        rebuilt == json!([item("p", 9), item("r", 3)]),
        "the replayed read model holds {rebuilt}"
    );

    match function
        .invoke(&json!({"replayId": "x", "streamId": ""}))
        .await?
    {
        Outcome::Error { .. } => {}
        Outcome::Response(value) => bail!("an invalid replay request succeeded: {value}"),
    }
    Ok(function.report())
}
