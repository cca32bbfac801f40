//! The storage conformance suite on the DynamoDB adapter, against moto:
//! fresh tables for every case.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use service::aws::sdk_config_for_endpoint;
use service::dynamo::{DynamoStore, TableNames, ensure_tables};
use testkit::conformance::Stores;

async fn fresh_stores() -> Stores {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("conformance-{}-{nanos:x}-{n}", std::process::id());
    let endpoint = testkit::moto::shared_endpoint();
    let client = aws_sdk_dynamodb::Client::new(&sdk_config_for_endpoint(endpoint).await);
    let tables = TableNames::with_prefix(&prefix);
    ensure_tables(&client, &tables)
        .await
        .expect("creating the tables on moto");
    Stores::from_one(DynamoStore::new(client, tables))
}

testkit::conformance_tests!(fresh_stores());
