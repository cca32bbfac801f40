//! Capacity units per request, at the client: an SDK interceptor that asks
//! DynamoDB for `ReturnConsumedCapacity: TOTAL` on every request that takes
//! it, adds up what the answers report, and also computes the units from
//! the items sent and received by DynamoDB's documented rules, for an
//! endpoint (the emulator) that reports none:
//! - item size: the UTF-8 bytes of each attribute name and value; a number
//!   about one byte per two significant digits plus one; a boolean or null
//!   one byte; a list or map 3 bytes plus one per element
//!   (docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html);
//! - a write: 1 write unit per 1 KB of item, 2 when transactional; a read:
//!   1 read unit per 4 KB strongly consistent, half that eventually
//!   consistent, 2 when transactional
//!   (docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
//!
//! A refused transaction is counted like a completed one (an upper bound).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemInput, DeleteItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_get_items::{
    TransactGetItemsInput, TransactGetItemsOutput,
};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};

/// An item's size in bytes, by DynamoDB's rules.
pub fn item_size<'a>(item: impl IntoIterator<Item = (&'a String, &'a AttributeValue)>) -> u64 {
    item.into_iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

fn number_size(text: &str) -> u64 {
    let digits = text
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len() as u64;
    significant.max(1).div_ceil(2) + 1
}

fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(text) => text.len() as u64,
        AttributeValue::N(text) => number_size(text),
        AttributeValue::B(blob) => blob.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(texts) => texts.iter().map(|t| t.len() as u64).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(|b| b.as_ref().len() as u64).sum(),
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(name, v)| 1 + name.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        _ => 0,
    }
}

/// Write units of writing an item of `size` bytes.
fn write_units(size: u64) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Read units of reading `size` bytes in one strongly consistent request.
fn read_units(size: u64) -> f64 {
    size.div_ceil(4096).max(1) as f64
}

/// What a meter has counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub requests: u64,
    /// Computed from the items by the documented rules.
    pub read: f64,
    pub write: f64,
    /// What the answers reported (`ConsumedCapacity`), and how many did.
    pub reported: f64,
    pub reporting: u64,
}

/// Counts the requests and capacity units of the client it is given to.
#[derive(Clone, Debug, Default)]
pub struct CapacityMeter(Arc<Mutex<Units>>);

impl CapacityMeter {
    /// What it counted since the last call.
    pub fn take(&self) -> Units {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn add(&self, change: impl FnOnce(&mut Units)) {
        change(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn reported<'a>(&self, capacity: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        let capacity: Vec<&ConsumedCapacity> = capacity.into_iter().collect();
        if capacity.is_empty() {
            return;
        }
        let units: f64 = capacity.iter().filter_map(|c| c.capacity_units()).sum();
        self.add(|u| {
            u.reported += units;
            u.reporting += 1;
        });
    }
}

/// A DynamoDB client for `endpoint` whose requests `meter` counts.
pub async fn metered_dynamodb(endpoint: &str, meter: &CapacityMeter) -> aws_sdk_dynamodb::Client {
    let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(meter.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

const TOTAL: Option<ReturnConsumedCapacity> = Some(ReturnConsumedCapacity::Total);

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let mut write = 0.0;
        if let Some(input) = input.downcast_mut::<TransactWriteItemsInput>() {
            input.return_consumed_capacity = TOTAL;
            for part in input.transact_items() {
                // A put is sized by its item; other parts are small rows.
                write += 2.0
                    * part
                        .put()
                        .map_or(1.0, |put| write_units(item_size(put.item())));
            }
        } else if let Some(input) = input.downcast_mut::<PutItemInput>() {
            input.return_consumed_capacity = TOTAL;
            write += write_units(item_size(input.item().into_iter().flatten()));
        } else if let Some(input) = input.downcast_mut::<BatchWriteItemInput>() {
            input.return_consumed_capacity = TOTAL;
            for request in input
                .request_items()
                .into_iter()
                .flat_map(|m| m.values().flatten())
            {
                write += request
                    .put_request()
                    .map_or(1.0, |put| write_units(item_size(put.item())));
            }
        } else if let Some(input) = input.downcast_mut::<DeleteItemInput>() {
            input.return_consumed_capacity = TOTAL;
            write += 1.0;
        } else if let Some(input) = input.downcast_mut::<TransactGetItemsInput>() {
            input.return_consumed_capacity = TOTAL;
        } else if let Some(input) = input.downcast_mut::<GetItemInput>() {
            input.return_consumed_capacity = TOTAL;
        } else if let Some(input) = input.downcast_mut::<QueryInput>() {
            input.return_consumed_capacity = TOTAL;
        } else if let Some(input) = input.downcast_mut::<BatchGetItemInput>() {
            input.return_consumed_capacity = TOTAL;
        }
        self.add(|u| {
            u.requests += 1;
            u.write += write;
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let mut read = 0.0;
        if let Some(output) = output.downcast_ref::<TransactGetItemsOutput>() {
            self.reported(output.consumed_capacity());
            // Each part is read, found or not: 2 units per 4 KB.
            for response in output.responses() {
                read += 2.0 * read_units(response.item().map_or(0, item_size));
            }
        } else if let Some(output) = output.downcast_ref::<QueryOutput>() {
            self.reported(output.consumed_capacity());
            let size: u64 = output.items().iter().map(item_size).sum();
            read += read_units(size);
        } else if let Some(output) = output.downcast_ref::<GetItemOutput>() {
            self.reported(output.consumed_capacity());
            read += read_units(output.item().map_or(0, item_size));
        } else if let Some(output) = output.downcast_ref::<BatchGetItemOutput>() {
            self.reported(output.consumed_capacity());
            for item in output
                .responses()
                .into_iter()
                .flat_map(|m| m.values().flatten())
            {
                read += read_units(item_size(item));
            }
        } else if let Some(output) = output.downcast_ref::<TransactWriteItemsOutput>() {
            self.reported(output.consumed_capacity());
        } else if let Some(output) = output.downcast_ref::<PutItemOutput>() {
            self.reported(output.consumed_capacity());
        } else if let Some(output) = output.downcast_ref::<BatchWriteItemOutput>() {
            self.reported(output.consumed_capacity());
        } else if let Some(output) = output.downcast_ref::<DeleteItemOutput>() {
            self.reported(output.consumed_capacity());
        }
        self.add(|u| u.read += read);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Item sizes by the documented rules.

    use super::*;
    use std::collections::HashMap;

    #[test]
    fn sizes_follow_the_documented_rules() {
        let item = HashMap::from([
            ("id".to_owned(), AttributeValue::S("abc".to_owned())),
            ("n".to_owned(), AttributeValue::N("12345".to_owned())),
            ("b".to_owned(), AttributeValue::Bool(true)),
            (
                "m".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "k".to_owned(),
                    AttributeValue::S("v".to_owned()),
                )])),
            ),
        ]);
        // 2+3, 1+(3 digits +1), 1+1, 1+(3 + 1+1+1)
        assert_eq!(item_size(&item), 5 + 5 + 2 + 7);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(0), 1.0);
        assert_eq!(read_units(4097), 2.0);
    }
}
