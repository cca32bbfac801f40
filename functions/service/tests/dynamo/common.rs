//! What every test module needs: a client for the shared moto and fresh
//! tables no other test, run or process uses.

use aws_sdk_dynamodb::Client;
use service::aws::sdk_config_for_endpoint;
use service::dynamo::{DynamoStore, TableNames, ensure_tables};

/// A client for the shared moto.
pub async fn client() -> Client {
    let endpoint = testkit::moto::shared_endpoint();
    Client::new(&sdk_config_for_endpoint(endpoint).await)
}

/// Creates fresh tables named after `label` through `client`.
pub async fn fresh_tables(client: &Client, label: &str) -> TableNames {
    let tables = TableNames::with_prefix(&testkit::unique_name(label));
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
