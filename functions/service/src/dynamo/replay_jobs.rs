//! The `ReplayJobs` port: the replays table holds each lane (`lane#<stream>`,
//! or `lane#` for the all-streams lane, with a revision) and each job
//! (`job#<id>`, with its TTL), both as JSON. A commit is one
//! TransactWriteItems: the lane put, conditioned on the revision read, and
//! the job puts. A lane with a running replay carries [`HELD`], which puts
//! it in the sparse index the sweep pages through.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use domain::{LaneKey, ReplayJob, ReplayJobs, ReplayLane, StoreError, StoredLane};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::DynamoStore;
use super::codec::{Item, n, number, s, string};
use super::errors::{built, invalid_transaction, unavailable};
use super::schema::{
    BODY, EXPIRES_AT, HELD, HELD_LANE, HELD_LANES_INDEX, JOB_KEY_PREFIX, LANE_KEY_PREFIX,
    REPLAY_KEY, REVISION,
};

fn lane_key(key: &LaneKey) -> String {
    format!("{LANE_KEY_PREFIX}{}", key.as_key())
}

fn job_key(replay_id: &str) -> String {
    format!("{JOB_KEY_PREFIX}{replay_id}")
}

fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|err| StoreError::Unavailable(format!("cannot encode a replay record: {err}")))
}

impl DynamoStore {
    /// The row keyed `key`, read strongly consistent.
    async fn replay_row(&self, key: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.replays)
            .consistent_read(true)
            .key(REPLAY_KEY, s(key))
            .send()
            .await
            .map_err(|err| {
                unavailable(
                    format!("reading `{key}` from {}", self.tables.replays),
                    &err,
                )
            })?;
        Ok(output.item)
    }

    fn decode<T: DeserializeOwned>(&self, key: &str, row: &Item) -> Result<T, StoreError> {
        string(row, BODY)
            .and_then(|body| serde_json::from_str(body).map_err(|err| err.to_string()))
            .map_err(|problem| {
                StoreError::Corrupt(format!("{} row `{key}`: {problem}", self.tables.replays))
            })
    }
}

#[async_trait]
impl ReplayJobs for DynamoStore {
    async fn lane(&self, lane: &LaneKey) -> Result<Option<StoredLane>, StoreError> {
        let key = lane_key(lane);
        let Some(row) = self.replay_row(&key).await? else {
            return Ok(None);
        };
        let revision = number(&row, REVISION).map_err(|problem| {
            StoreError::Corrupt(format!("{} row `{key}`: {problem}", self.tables.replays))
        })?;
        Ok(Some(StoredLane {
            lane: self.decode(&key, &row)?,
            revision,
        }))
    }

    async fn commit(
        &self,
        lane_name: &LaneKey,
        expected: Option<u64>,
        lane: &ReplayLane,
        jobs: &[ReplayJob],
    ) -> Result<bool, StoreError> {
        let key = lane_key(lane_name);
        let revision = expected.map_or(0, |revision| revision + 1);
        let mut lane_put = Put::builder()
            .table_name(&self.tables.replays)
            .item(REPLAY_KEY, s(&key))
            .item(BODY, s(&to_json(lane)?))
            .item(REVISION, n(revision));
        if lane.running.is_some() {
            lane_put = lane_put.item(HELD, s(HELD_LANE));
        }
        // DynamoDB refuses a name the expression does not use.
        let lane_put = match expected {
            None => lane_put
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", REPLAY_KEY),
            Some(expected) => lane_put
                .condition_expression("#r = :expected")
                .expression_attribute_names("#r", REVISION)
                .expression_attribute_values(":expected", n(expected)),
        };
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .put(built(lane_put.build())?)
                .build(),
        );
        for job in jobs {
            let put = Put::builder()
                .table_name(&self.tables.replays)
                .item(REPLAY_KEY, s(&job_key(&job.replay_id)))
                .item(BODY, s(&to_json(job)?))
                .item(EXPIRES_AT, n(job.expires_at().timestamp()))
                .build();
            request = request.transact_items(TransactWriteItem::builder().put(built(put)?).build());
        }
        let err = match request.send().await {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        let what = format!("committing the replay lane of {lane_name}");
        if let SdkError::ServiceError(service) = &err
            && let TransactWriteItemsError::TransactionCanceledException(cancel) = service.err()
        {
            let reasons = cancel.cancellation_reasons();
            if let Some(invalid) = invalid_transaction(&what, reasons) {
                return Err(invalid);
            }
            // The lane moved (or a concurrent commit collided): decide again.
            let lost = reasons.iter().any(|reason| {
                matches!(
                    reason.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            });
            if lost {
                return Ok(false);
            }
        }
        Err(unavailable(what, &err))
    }

    async fn job(&self, replay_id: &str) -> Result<Option<ReplayJob>, StoreError> {
        let key = job_key(replay_id);
        match self.replay_row(&key).await? {
            None => Ok(None),
            Some(row) => self.decode(&key, &row).map(Some),
        }
    }

    async fn held_lanes(
        &self,
        after: Option<&LaneKey>,
        limit: usize,
    ) -> Result<Vec<LaneKey>, StoreError> {
        let table = &self.tables.replays;
        // Every lane key starts with the prefix; `lane#` itself is the
        // all-streams lane, the first of them.
        let (condition, from) = match after {
            Some(after) => ("#h = :h AND #k > :from", lane_key(after)),
            None => ("#h = :h AND #k >= :from", LANE_KEY_PREFIX.to_owned()),
        };
        let output = self
            .client
            .query()
            .table_name(table)
            .index_name(HELD_LANES_INDEX)
            .key_condition_expression(condition)
            .expression_attribute_names("#h", HELD)
            .expression_attribute_names("#k", REPLAY_KEY)
            .expression_attribute_values(":h", s(HELD_LANE))
            .expression_attribute_values(":from", s(&from))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|err| unavailable(format!("listing the held lanes of {table}"), &err))?;
        output
            .items()
            .iter()
            .map(|row| {
                let key = string(row, REPLAY_KEY).map_err(|problem| {
                    StoreError::Corrupt(format!("{table} index {HELD_LANES_INDEX}: {problem}"))
                })?;
                let name = key.strip_prefix(LANE_KEY_PREFIX).ok_or_else(|| {
                    StoreError::Corrupt(format!("{table} holds a held lane keyed `{key}`"))
                })?;
                LaneKey::from_key(name)
            })
            .collect()
    }
}
