//! The `ParkedRecords` port: one stream-index row per parked record, under
//! the shared `PARKED_RECORDS_STREAM` hash key, ranged by source.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use domain::event::{format_timestamp, parse_timestamp};
use domain::{ParkedRecord, ParkedRecords, StoreError};

use super::DynamoStore;
use super::codec::{index_key, s, string};
use super::errors::unavailable;
use super::schema::{
    ENTRY, PARKED_AT, PARKED_ENTRY_PREFIX, PARKED_RECORDS_STREAM, REASON, RECORD, STREAM_ID,
};

#[async_trait]
impl ParkedRecords for DynamoStore {
    async fn park(&self, record: &ParkedRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.stream_index)
            .set_item(Some(index_key(
                PARKED_RECORDS_STREAM,
                &format!("{PARKED_ENTRY_PREFIX}{}", record.source),
            )))
            .item(REASON, s(&record.reason))
            .item(RECORD, s(&record.record))
            .item(PARKED_AT, s(&format_timestamp(record.parked_at)))
            // The first parking of a source stands.
            .condition_expression("attribute_not_exists(#e)")
            .expression_attribute_names("#e", ENTRY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    PutItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(unavailable(
                format!("parking record {:?}", record.source),
                &err,
            )),
        }
    }

    async fn parked(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ParkedRecord>, StoreError> {
        let table = &self.tables.stream_index;
        let mut parked = Vec::new();
        let mut start_key = None;
        // Every row of the partition starts with the prefix, so the one
        // after `after` is the first greater than the prefix plus it.
        let from = format!("{PARKED_ENTRY_PREFIX}{}", after.unwrap_or(""));
        while parked.len() < limit {
            let page = i32::try_from(limit - parked.len()).unwrap_or(i32::MAX);
            let output = self
                .client
                .query()
                .table_name(table)
                .consistent_read(true)
                .key_condition_expression("#s = :s AND #e > :from")
                .expression_attribute_names("#s", STREAM_ID)
                .expression_attribute_names("#e", ENTRY)
                .expression_attribute_values(":s", s(PARKED_RECORDS_STREAM))
                .expression_attribute_values(":from", s(&from))
                .limit(page)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|err| unavailable(format!("listing parked records in {table}"), &err))?;
            for row in output.items() {
                let decode = || -> Result<ParkedRecord, String> {
                    let entry = string(row, ENTRY)?;
                    let parked_at = string(row, PARKED_AT)?;
                    Ok(ParkedRecord {
                        source: entry
                            .strip_prefix(PARKED_ENTRY_PREFIX)
                            .ok_or_else(|| format!("`{ENTRY}` {entry:?} lacks its prefix"))?
                            .to_owned(),
                        reason: string(row, REASON)?.to_owned(),
                        record: string(row, RECORD)?.to_owned(),
                        parked_at: parse_timestamp(parked_at).ok_or_else(|| {
                            format!("`{PARKED_AT}` {parked_at:?} is not RFC 3339")
                        })?,
                    })
                };
                parked.push(decode().map_err(|problem| {
                    StoreError::Corrupt(format!("{table} parked record: {problem}"))
                })?);
            }
            start_key = output.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        parked.truncate(limit);
        Ok(parked)
    }
}
