//! The deployer's integration tests, in one binary so that the AWS SDK is
//! linked into one test executable instead of one per file: the template
//! (`template`, and cfn-lint in `external`), the engine against the
//! emulator (`deploy`) and against recorded responses (`recorded`), and
//! the functions' log lines on the emulator (`logs`), and the rebuild of a
//! new read model over a kept log (`rebuild`).

mod deploy;
mod external;
mod logs;
mod rebuild;
mod recorded;
mod template;
