//! Local mode's tests, in one binary so the AWS SDK is linked once: the
//! server end to end over HTTP, the API key kept out of the logs, the
//! projector's convergence property on SQLite, and the SQLite adapter
//! against the conformance suite.

mod e2e;
mod logs;
mod projection_props;
mod sqlite_conformance;
