//! What the Lambda functions share: the handlers (plain async functions), the
//! DynamoDB adapter of the storage ports, and the HTTP helpers.

pub mod api;
pub mod aws;
pub mod deadline;
pub mod dynamo;
pub mod envfile;
pub mod functions;
pub mod http;
pub mod projector;
pub mod proxy;
pub mod replay_runs;
pub mod settings;
pub mod telemetry;
pub mod wiring;

// Re-exported so the function crates and local mode name one version.
pub use aws_lambda_events;
pub use domain;
