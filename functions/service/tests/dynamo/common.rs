//! What every test module needs: a client for the shared moto and fresh
//! tables no other test, run or process uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use service::aws::sdk_config_for_endpoint;
use service::dynamo::{DynamoStore, TableNames, ensure_tables};

/// A table-name prefix no other test, run or process uses.
pub fn unique_prefix(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{label}-{}-{nanos:x}-{n}", std::process::id())
}

/// A client for the shared moto.
pub async fn client() -> Client {
    let endpoint = testkit::moto::shared_endpoint();
    Client::new(&sdk_config_for_endpoint(endpoint).await)
}

/// Creates fresh tables named after `label` through `client`.
pub async fn fresh_tables(client: &Client, label: &str) -> TableNames {
    let tables = TableNames::with_prefix(&unique_prefix(label));
    ensure_tables(client, &tables)
        .await
        .expect("creating the tables on moto");
    tables
}

/// A store over fresh tables.
pub async fn fresh_store(label: &str) -> DynamoStore {
    let client = client().await;
    let tables = fresh_tables(&client, label).await;
    DynamoStore::new(client, tables)
}
