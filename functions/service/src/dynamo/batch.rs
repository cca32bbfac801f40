//! BatchGetItem and BatchWriteItem within their limits: keys in chunks of
//! what one request takes, and what DynamoDB leaves unprocessed asked for
//! again, with backoff, a bounded number of times.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{KeysAndAttributes, WriteRequest};
use domain::StoreError;

use super::backoff::backoff;
use super::codec::Item;
use super::errors::{built, unavailable};

/// BatchGetItem's limit of keys per request.
const GET_MAX: usize = 100;
/// BatchWriteItem's limit of requests per call.
const WRITE_MAX: usize = 25;
/// Rounds of asking again for what a batch left unprocessed.
const ATTEMPTS: u32 = 10;

/// Which attributes a batch read returns: all, or a projection with the
/// names it uses (`#n` style placeholders).
pub(super) struct Projection<'a> {
    pub expression: &'a str,
    pub names: &'a [(&'a str, &'a str)],
}

/// The rows of `table` at `keys` (those that exist), read strongly
/// consistent; `what` names the read in errors.
pub(super) async fn get_all(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    projection: Option<&Projection<'_>>,
    what: &str,
) -> Result<Vec<Item>, StoreError> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(GET_MAX) {
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(chunk.to_vec()))
            .consistent_read(true);
        if let Some(projection) = projection {
            request = request.projection_expression(projection.expression);
            for (placeholder, name) in projection.names {
                request = request.expression_attribute_names(*placeholder, *name);
            }
        }
        let mut keys = built(request.build())?;
        for attempt in 0.. {
            if attempt == ATTEMPTS {
                return Err(StoreError::Unavailable(format!(
                    "{what} from {table}: keys still unprocessed after {ATTEMPTS} attempts"
                )));
            }
            if attempt > 0 {
                backoff(attempt).await;
            }
            let output = client
                .batch_get_item()
                .request_items(table, keys)
                .send()
                .await
                .map_err(|err| unavailable(format!("{what} from {table}"), &err))?;
            rows.extend(
                output
                    .responses
                    .as_ref()
                    .and_then(|tables| tables.get(table))
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            match output
                .unprocessed_keys
                .and_then(|mut left| left.remove(table))
                .filter(|left| !left.keys().is_empty())
            {
                Some(left) => keys = left,
                None => break,
            }
        }
    }
    Ok(rows)
}

/// Writes every request of `requests` to `table`; `what` names the write
/// in errors.
pub(super) async fn write_all(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
    what: &str,
) -> Result<(), StoreError> {
    for chunk in requests.chunks(WRITE_MAX) {
        let mut requests = chunk.to_vec();
        for attempt in 0.. {
            if attempt == ATTEMPTS {
                return Err(StoreError::Unavailable(format!(
                    "{what} in {table}: writes still unprocessed after {ATTEMPTS} attempts"
                )));
            }
            if attempt > 0 {
                backoff(attempt).await;
            }
            let output = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(|err| unavailable(format!("{what} in {table}"), &err))?;
            match output
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .filter(|left| !left.is_empty())
            {
                Some(left) => requests = left,
                None => break,
            }
        }
    }
    Ok(())
}
