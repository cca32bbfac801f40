//! The event-sourcing core of the service, shared by the Lambda functions,
//! local mode and the tests.
//!
//! Pure by design: no AWS crate and no I/O runtime. Storage is reached only
//! through the ports in [`ports`]; the async functions here ([`replay`]) only
//! await those ports, so any executor can drive them.
//!
//! The modules read bottom-up, each using only those before it
//! ([`MODULES_BOTTOM_UP`], checked by a test): `error` and `limits`; `json`,
//! strict reading of request JSON; `ids`; `metadata` (what a client says
//! about an event besides its data); `paging` (page sizes and cursors); `event`; `idempotency` (keys and
//! what a store remembers under one); `rules` (`decide`, `recall`);
//! `projection`; `reading` (a stream's events a page at a time, forward or
//! backward); `ports`; `replay` (a stream's replay step, a rebuild's
//! progress); `lanes` (replay jobs and lanes, and their port); `jobs`
//! (the rules of the lanes: one replay per stream, resumed when its run
//! dies); `validate`, which turns request bodies into commands.

pub mod error;
pub mod event;
pub mod idempotency;
pub mod ids;
pub mod jobs;
pub mod json;
pub mod lanes;
pub mod limits;
pub mod metadata;
pub mod paging;
pub mod ports;
pub mod projection;
pub mod reading;
pub mod replay;
pub mod rules;
pub mod validate;

pub use error::{ErrorCode, Invalid};
pub use event::{Amount, DomainEvent, EventType, ItemState, RecordedEvent};
pub use idempotency::{Fingerprint, Idempotency, IdempotencyKey, RememberedAppend};
pub use ids::{EventId, ItemId, StreamId, Version};
pub use jobs::{Admission, Claim, Finished, Lent};
pub use lanes::{
    LaneEntry, LaneKey, ReplayJob, ReplayJobs, ReplayLane, ReplayRequest, ReplayState, RunProgress,
    StoredLane, StreamCounts,
};
pub use limits::{MAX_AMOUNT, MAX_BODY_BYTES, MAX_ID_BYTES, MAX_PAGE_ITEMS, MAX_STRING_CHARS};
pub use metadata::EventMetadata;
pub use paging::{Cursor, CursorKey, ListQuery, PageSize, StreamsQuery};
pub use ports::{
    AppendError, ApplyMode, ApplyOutcome, Checkpoints, EventStore, ItemPage, ItemView,
    ParkedRecord, ParkedRecords, ReadModel, StoreError, StoredItem, StreamPage, StreamSummary,
};
pub use projection::{ItemChange, StreamFold, coalesce};
pub use reading::{Direction, EventsPage, EventsQuery};
pub use replay::{
    RebuildChild, RebuildProgress, ReplayPhase, ReplayProgress, ReplayScope, ReplayTarget,
};
pub use rules::{AppendCommand, DecisionState, Rejection, decide, recall};

/// The modules in reading order: each uses only modules before it.
pub const MODULES_BOTTOM_UP: [&str; 16] = [
    "error",
    "limits",
    "json",
    "ids",
    "metadata",
    "paging",
    "event",
    "idempotency",
    "rules",
    "projection",
    "reading",
    "ports",
    "replay",
    "lanes",
    "jobs",
    "validate",
];

#[cfg(test)]
mod tests {
    use super::MODULES_BOTTOM_UP;

    /// The modules `source` names as `crate::<module>`, comments left out.
    fn modules_used(source: &str) -> Vec<&str> {
        source
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .flat_map(|line| {
                line.match_indices("crate::")
                    .map(move |(at, _)| &line[at + 7..])
            })
            .filter_map(|rest| {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                MODULES_BOTTOM_UP
                    .into_iter()
                    .find(|module| *module == &rest[..end])
            })
            .collect()
    }

    #[test]
    fn the_domain_modules_read_bottom_up_with_no_import_circle() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "lib.rs")
            .collect();
        files.sort();
        let mut listed: Vec<String> = MODULES_BOTTOM_UP
            .iter()
            .map(|m| format!("{m}.rs"))
            .collect();
        listed.sort();
        assert_eq!(
            files, listed,
            "every module has its place in MODULES_BOTTOM_UP"
        );

        for (position, module) in MODULES_BOTTOM_UP.iter().enumerate() {
            let source = std::fs::read_to_string(src.join(format!("{module}.rs"))).unwrap();
            for used in modules_used(&source) {
                let used_at = MODULES_BOTTOM_UP.iter().position(|m| *m == used).unwrap();
                assert!(
                    used_at < position || used == *module,
                    "`{module}` uses `{used}`, which comes after it in MODULES_BOTTOM_UP"
                );
            }
        }
    }

    #[test]
    fn the_import_scan_sees_paths_and_skips_comments() {
        let source = "use crate::ids::{EventId};\n// crate::replay in a comment\nlet x = crate::event::Amount::new(1);";
        assert_eq!(modules_used(source), ["ids", "event"]);
    }
}
