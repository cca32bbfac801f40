//! The DynamoDB adapter against moto, in one test binary so the AWS SDK is
//! linked into one test executable instead of one per file.

mod adapter;
mod common;
mod conformance;
mod deadlines;
mod recorded;
mod requests;
mod unanswered;
mod warm_appends;
