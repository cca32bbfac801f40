//! The deployer's integration tests, in one binary so that the AWS SDK is
//! linked into one test executable instead of one per file: the template
//! (`template`, and cfn-lint in `external`), the engine against the
//! emulator (`deploy`) and against recorded responses (`recorded`).

mod deploy;
mod external;
mod recorded;
mod template;
