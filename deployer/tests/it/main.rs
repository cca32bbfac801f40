//! The deployer's integration tests, in one binary so that the AWS SDK is
//! linked into one test executable instead of one per file: the template
//! (`template`, and cfn-lint in `external`), what its policies allow
//! (`policies`), the engine against the emulator (`deploy`; whose stacks
//! are whose, `ownership`; a data stack deleted by hand, `retained`; the
//! account's CloudWatch role, `logging_role`; the rebuild of a new read
//! model over a kept log, `rebuild`; each on a deployment of its own,
//! `emulated`) and against recorded responses (`recorded`), and the
//! functions' log lines on the emulator (`logs`).

mod deploy;
mod emulated;
mod external;
mod logging_role;
mod logs;
mod ownership;
mod policies;
mod rebuild;
mod recorded;
mod retained;
mod template;
