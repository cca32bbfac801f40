//! The projector following the event table's DynamoDB stream through the
//! Streams API, shard by shard, a child shard after its parent, with a
//! checkpoint per shard.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use domain::Checkpoints;
use serde_json::json;
use service::aws_lambda_events::dynamodb::Event as StreamEvent;
use service::deadline;
use service::dynamo::DynamoStore;
use service::functions::Function;
use service::projector::{compare_sequence_numbers, handle_stream_batch};
use tokio::sync::watch;

use super::{IDLE_POLL, backoff, sleep_or_stop};

/// Tries of one batch before the follower pauses and reads it again: like
/// the event source mapping with no retry limit, it never skips a record
/// that may yet be projected.
const MAX_BATCH_ATTEMPTS: u32 = 4;

/// Where a shard's reading stands.
struct ShardCursor {
    iterator: Option<String>,
    /// The last sequence number projected, to take a fresh iterator from.
    last_sequence: Option<String>,
}

/// Follows the event table's DynamoDB stream through the Streams API, in
/// shard order, feeding the projector handler the same event JSON Lambda
/// would, with the same partial-batch-failure contract.
pub async fn follow_dynamodb_stream(
    streams: aws_sdk_dynamodbstreams::Client,
    store: DynamoStore,
    stream_arn: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut cursors: HashMap<String, ShardCursor> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut attempt = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(err) =
            discover_shards(&streams, &store, &stream_arn, &mut cursors, &finished).await
        {
            tracing::error!(error = %err, "cannot describe the event stream");
            attempt += 1;
            sleep_or_stop(backoff(attempt), &mut shutdown).await;
            continue;
        }
        let mut progressed = false;
        let shard_ids: Vec<String> = cursors.keys().cloned().collect();
        for shard_id in shard_ids {
            match poll_shard(&streams, &store, &stream_arn, &shard_id, &mut cursors).await {
                Ok(Poll::Records) => progressed = true,
                Ok(Poll::Empty) => {}
                Ok(Poll::Failing) => {
                    attempt += 1;
                    sleep_or_stop(backoff(attempt), &mut shutdown).await;
                }
                Ok(Poll::Closed) => {
                    cursors.remove(&shard_id);
                    finished.insert(shard_id);
                }
                Err(err) => {
                    tracing::error!(shard_id, error = %err, "cannot read the event stream");
                    attempt += 1;
                    sleep_or_stop(backoff(attempt), &mut shutdown).await;
                }
            }
        }
        if !progressed {
            sleep_or_stop(IDLE_POLL, &mut shutdown).await;
        } else {
            attempt = 0;
        }
    }
}

enum Poll {
    Records,
    Empty,
    /// Records that keep failing, to read again after a pause.
    Failing,
    Closed,
}

fn checkpoint_name(shard_id: &str) -> String {
    format!("stream-shard:{shard_id}")
}

async fn discover_shards(
    streams: &aws_sdk_dynamodbstreams::Client,
    store: &DynamoStore,
    stream_arn: &str,
    cursors: &mut HashMap<String, ShardCursor>,
    finished: &HashSet<String>,
) -> anyhow::Result<()> {
    let mut shards = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = streams
            .describe_stream()
            .stream_arn(stream_arn)
            .set_exclusive_start_shard_id(start.clone())
            .send()
            .await
            .map_err(streams_error)?;
        let Some(description) = page.stream_description else {
            break;
        };
        shards.extend(description.shards.unwrap_or_default());
        start = description.last_evaluated_shard_id;
        if start.is_none() {
            break;
        }
    }
    let known: HashSet<String> = shards.iter().filter_map(|s| s.shard_id.clone()).collect();
    for shard in shards {
        let Some(shard_id) = shard.shard_id else {
            continue;
        };
        if cursors.contains_key(&shard_id) || finished.contains(&shard_id) {
            continue;
        }
        // A child shard waits until its parent is read to the end, which
        // keeps each stream's events in order across a shard split.
        if let Some(parent) = shard.parent_shard_id
            && known.contains(&parent)
            && !finished.contains(&parent)
        {
            continue;
        }
        let saved = store
            .load(&checkpoint_name(&shard_id))
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let iterator = shard_iterator(streams, stream_arn, &shard_id, saved.as_deref()).await?;
        cursors.insert(
            shard_id,
            ShardCursor {
                iterator,
                last_sequence: saved,
            },
        );
    }
    Ok(())
}

/// A Streams API failure with its whole cause chain.
fn streams_error<E: std::error::Error + Send + Sync + 'static>(err: E) -> anyhow::Error {
    anyhow::anyhow!(
        "{}",
        aws_sdk_dynamodbstreams::error::DisplayErrorContext(err)
    )
}

/// An iterator just after `after`, or at the shard's oldest record.
async fn shard_iterator(
    streams: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
    shard_id: &str,
    after: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let request = streams
        .get_shard_iterator()
        .stream_arn(stream_arn)
        .shard_id(shard_id);
    let request = match after {
        Some(sequence) => request
            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .sequence_number(sequence),
        None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
    };
    Ok(request.send().await.map_err(streams_error)?.shard_iterator)
}

/// A fresh iterator of the shard from the last record projected (or its
/// start).
async fn iterator_after_last(
    streams: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
    shard_id: &str,
    cursor: &ShardCursor,
) -> anyhow::Result<Option<String>> {
    shard_iterator(
        streams,
        stream_arn,
        shard_id,
        cursor.last_sequence.as_deref(),
    )
    .await
}

async fn poll_shard(
    streams: &aws_sdk_dynamodbstreams::Client,
    store: &DynamoStore,
    stream_arn: &str,
    shard_id: &str,
    cursors: &mut HashMap<String, ShardCursor>,
) -> anyhow::Result<Poll> {
    let Some(cursor) = cursors.get_mut(shard_id) else {
        return Ok(Poll::Empty);
    };
    let Some(iterator) = cursor.iterator.clone() else {
        return Ok(Poll::Closed);
    };
    let output = streams
        .get_records()
        .shard_iterator(iterator)
        .limit(100)
        .send()
        .await
        .map_err(streams_error)?;
    let records = output.records.unwrap_or_default();
    let next_iterator = output.next_shard_iterator;
    if records.is_empty() {
        if next_iterator.is_none() {
            return Ok(Poll::Closed);
        }
        // An idle iterator can go stale: it expires after 15 minutes, and an
        // emulator may replace a shard's record list under it (moto does when
        // it rolls back a cancelled transaction). A fresh one from the last
        // sequence read costs one call and sees every later record.
        cursor.iterator = iterator_after_last(streams, stream_arn, shard_id, cursor).await?;
        return Ok(Poll::Empty);
    }
    let mut pending: Vec<Record> = records;
    let mut attempt = 0;
    loop {
        let batch = lambda_event(stream_arn, &pending)?;
        // The time Lambda would give the projector for the batch: a stalled
        // write fails it in time and it is retried, as there.
        let deadline = tokio::time::Instant::now() + Function::Projector.timeout();
        let response = deadline::within(deadline, handle_stream_batch(store, store, &batch)).await;
        let Some(lowest) = response
            .batch_item_failures
            .iter()
            .filter_map(|failure| failure.item_identifier.clone())
            .min_by(|a, b| compare_sequence_numbers(a, b))
        else {
            break;
        };
        attempt += 1;
        if attempt >= MAX_BATCH_ATTEMPTS {
            // Never skipped: the follower backs off, then reads the shard
            // again from the last record it projected (a fresh iterator,
            // as the one held may expire meanwhile).
            tracing::warn!(shard_id, sequence_number = %lowest, "records still failing after {MAX_BATCH_ATTEMPTS} attempts; reading them again after a pause");
            cursor.iterator = iterator_after_last(streams, stream_arn, shard_id, cursor).await?;
            return Ok(Poll::Failing);
        }
        // Retry from the lowest failed record on, as Lambda does.
        pending.retain(|record| {
            record
                .dynamodb
                .as_ref()
                .and_then(|change| change.sequence_number.as_deref())
                .is_some_and(|sequence| compare_sequence_numbers(sequence, &lowest).is_ge())
        });
        tokio::time::sleep(backoff(attempt)).await;
    }
    let last = pending
        .iter()
        .filter_map(|record| record.dynamodb.as_ref()?.sequence_number.clone())
        .max_by(|a, b| compare_sequence_numbers(a, b));
    cursor.iterator = next_iterator;
    if let Some(last) = last {
        store
            .save(&checkpoint_name(shard_id), &last)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        cursor.last_sequence = Some(last);
    }
    Ok(Poll::Records)
}

/// The JSON a DynamoDB event source mapping hands to Lambda for `records`.
fn lambda_event(stream_arn: &str, records: &[Record]) -> anyhow::Result<StreamEvent> {
    let mut json_records = Vec::with_capacity(records.len());
    for record in records {
        let change = record
            .dynamodb
            .clone()
            .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamRecord::builder().build());
        let keys = serde_dynamo::Item::from(change.keys.clone().unwrap_or_default());
        let new_image = serde_dynamo::Item::from(change.new_image.clone().unwrap_or_default());
        json_records.push(json!({
            "eventID": record.event_id,
            "eventName": record.event_name.as_ref().map(|name| name.as_str().to_owned()),
            "eventVersion": record.event_version,
            "eventSource": record.event_source,
            "awsRegion": record.aws_region,
            "eventSourceARN": stream_arn,
            "dynamodb": {
                "ApproximateCreationDateTime": change.approximate_creation_date_time.map(|at| at.secs()),
                "Keys": keys,
                "NewImage": new_image,
                "SequenceNumber": change.sequence_number,
                "SizeBytes": change.size_bytes,
                "StreamViewType": change.stream_view_type.as_ref().map(|view| view.as_str().to_owned()),
            }
        }));
    }
    Ok(serde_json::from_value(json!({ "Records": json_records }))?)
}
