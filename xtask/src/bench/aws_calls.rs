//! AWS calls per event on the DynamoDB adapter (moto), counted at the
//! wire: requests per append (with an idempotency key and without),
//! writes per projected item.

use anyhow::bail;
use chrono::Utc;
use domain::{EventStore, IdempotencyKey, StreamId};

use super::report::Report;
use super::{command, nth_event};

pub(super) async fn measure(report: &mut Report, moto: &str) -> anyhow::Result<()> {
    use service::dynamo::{DynamoStore, TableNames, ensure_tables};
    use testkit::aws_calls::{RequestLog, counted_dynamodb};
    let log = RequestLog::default();
    let client = counted_dynamodb(moto, &log).await;
    let tables = TableNames::with_prefix(&format!("bench-{}", uuid::Uuid::new_v4().simple()));
    ensure_tables(&client, &tables).await?;
    let store = DynamoStore::new(client, tables);
    let stream = StreamId::parse("calls", "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
    log.take();
    let mut events = Vec::new();
    for n in 0..100u64 {
        let event = nth_event(n, 10)?;
        events.push(
            store
                .append(&command(&stream, event), Utc::now())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    let appended = log.take().len() as f64;
    let keyed_stream =
        StreamId::parse("calls-keyed", "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
    for n in 0..100u64 {
        let key = IdempotencyKey::parse(&format!("bench-{n}-{}", uuid::Uuid::new_v4().simple()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        store
            .append(
                &command(&keyed_stream, nth_event(n, 10)?).with_idempotency_key(key),
                Utc::now(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let appended_with_keys = log.take().len() as f64;
    let failed = service::projector::project(&store, &events).await;
    if !failed.is_empty() {
        bail!("projecting the bench events failed: {failed:?}");
    }
    let projected = log.take().len() as f64;
    for (name, value, note) in [
        (
            "DynamoDB requests per appended event",
            appended / 100.0,
            "100 appends; target <= 2; the original: 7 calls + 5 managed hops",
        ),
        (
            "DynamoDB requests per appended event, with an Idempotency-Key",
            appended_with_keys / 100.0,
            "100 appends, each with its own key; target <= 2",
        ),
        (
            "DynamoDB writes per touched item, batch of 100",
            projected / 10.0,
            "100 events over 10 items; target <= 1",
        ),
    ] {
        report.add("aws calls", name, value, "", note);
    }
    Ok(())
}
