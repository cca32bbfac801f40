//! The storage conformance suite on the DynamoDB adapter, against moto:
//! fresh tables for every case.

use testkit::conformance::Stores;

use crate::common::fresh_store;

async fn fresh_stores() -> Stores {
    Stores::from_one(fresh_store("conformance").await)
}

testkit::conformance_tests!(fresh_stores());
