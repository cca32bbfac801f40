//! Failure injection: the projector follows a real DynamoDB stream (the
//! emulator's) while an SDK interceptor fails its writes, and one record
//! in the log never decodes. The read model still converges to the fold
//! of the log, and the bad record is parked, not lost and not blocking.

use std::time::{Duration, Instant};

use domain::{EventId, EventStore, ParkedRecords, StreamFold, StreamId};
use service::dynamo::{DynamoStore, TableNames, ensure_tables};
use testkit::aws_calls::{FailingRequests, failing_dynamodb};
use testkit::unique_name;

const CONVERGENCE_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_read_model_converges_through_failing_writes_and_parks_what_never_decodes() {
    let endpoint = testkit::moto::shared_endpoint();
    let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let tables = TableNames::with_prefix(&unique_name("failures"));
    ensure_tables(&client, &tables).await.expect("tables");
    let stream_arn = client
        .describe_table()
        .table_name(&tables.events)
        .send()
        .await
        .expect("describe the events table")
        .table
        .and_then(|table| table.latest_stream_arn)
        .expect("the events table has a stream");
    let writer = DynamoStore::new(client.clone(), tables.clone());

    // 60 events over 10 items, and a row that never decodes.
    let stream = StreamId::parse(unique_name("converges"), "streamId").unwrap();
    let log = testkit::seed_amount_changes(&writer, &stream, 60).await;
    let bad_stream = unique_name("undecodable");
    client
        .put_item()
        .table_name(&tables.events)
        .item("streamId", s(&bad_stream))
        .item(
            "eventId",
            aws_sdk_dynamodb::types::AttributeValue::N("0".into()),
        )
        .item("type", s("ITEM_CREATED"))
        .item("data", s("not a map"))
        .item("recordedAt", s("2026-01-01T00:00:00.000Z"))
        .send()
        .await
        .expect("write the undecodable row");

    // The follower's writes fail one in three, and one in four of its reads.
    let failing = FailingRequests::every(3, &["PutItem", "Query", "GetItem"]);
    let follower_store =
        DynamoStore::new(failing_dynamodb(endpoint, &failing).await, tables.clone());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(local::follow::follow_dynamodb_stream(
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        follower_store,
        stream_arn,
        shutdown,
    ));

    assert_eq!(
        writer.read_stream(&stream, EventId::FIRST, 1000).await,
        Ok(log.clone())
    );
    let expected = StreamFold::of(&log).items();
    let started = Instant::now();
    loop {
        let listed = testkit::listed(&writer, &stream).await;
        let parked = writer.parked(None, 100).await.expect("parked");
        let bad_parked = parked
            .iter()
            .any(|record| record.record.contains(&bad_stream));
        if listed == expected && bad_parked {
            break;
        }
        assert!(
            started.elapsed() < CONVERGENCE_DEADLINE,
            "no convergence within {CONVERGENCE_DEADLINE:?}: listed {listed:?}, expected {expected:?}, parked {parked:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        failing.failed() > 0,
        "the injected failures must have happened"
    );
    stop.send(true).expect("stop the follower");
    tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower stops")
        .expect("the follower task");
}

fn s(text: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(text.to_owned())
}
