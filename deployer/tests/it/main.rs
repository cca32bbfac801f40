//! The deployer's integration tests, in one binary so that the AWS SDK is
//! linked into one test executable instead of one per file: the template
//! (`template`, and cfn-lint in `external`), what its policies allow
//! (`policies`), the engine against the emulator (`deploy`) and against
//! recorded responses (`recorded`), and the functions' log lines on the
//! emulator (`logs`).

mod deploy;
mod external;
mod logs;
mod policies;
mod recorded;
mod template;
