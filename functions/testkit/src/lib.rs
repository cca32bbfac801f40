//! What the tests share: the storage conformance suite and an in-memory
//! store that passes it, the project venv and the AWS emulator, a Lambda
//! Runtime API stub and the checks that run the function binaries against
//! it, and unique names for what tests create.

pub mod aws_calls;
pub mod conformance;
pub mod function_binary;
pub mod memory;
pub mod moto;
pub mod runtime_api;
pub mod venv;

/// A name no other test, run or process uses: `<label>-<pid>-<time>-<n>`.
/// Tests that share one emulator name everything they create with it.
pub fn unique_name(label: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{label}-{}-{nanos:x}-{n}", std::process::id())
}
